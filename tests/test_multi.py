"""Two parameters of a column (C and the drive p) fitted at once from RMS and spectral peak, with
a Laplace (Hessian) uncertainty per fit: a ``column`` experiment with two parameters and
``uncertainty: {rel_sd}``."""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from eegfit import experiments, io
from eegfit.experiments import runner, summary
from eegfit.fit.uncertainty import laplace

NAME = "test_C_p"
BLOCK = {
    "kind": "column",
    "parameters": {"C": {"bounds": [150, 180], "start": 155, "truths": [160]},
                   "drive.rate_hz": {"bounds": [160, 260], "start": 180, "truths": [200]}},
    "seeds": [0],
    "model": {"params": {}, "drive": {"kind": "constant"}},
    "simulation": {"dt_ms": 0.1, "duration_ms": 600.0, "transient_ms": 200.0,
                   "integrator": "euler"},
    "features": {"rms": {}, "spectral_peak_hz": {"band_hz": [2, 20]}},
    "backends": {"grad": {"optimizer": "adam", "learning_rate": 2.0, "n_steps": 40},
                 "nevergrad": {"optimizer": "DE", "num_candidates": 8, "n_steps": 8,
                               "options": {"popsize": 8, "initialization": "LHS"}}},
    "uncertainty": {"rel_sd": 0.01},
    "scan": {"n_points": 3},
}
TRUTH = {"C": 160.0, "drive.rate_hz": 200.0}


@pytest.fixture(scope="module")
def experiment():
    """``(kind, target, target_ds)`` of the one target."""
    kind = experiments.build(NAME, BLOCK)
    (target,) = kind.targets()
    return kind, target, runner.make_target(kind, target)


@pytest.fixture(scope="module")
def target_features(experiment):
    kind, _, target_ds = experiment
    return kind.observed(target_ds)


@pytest.fixture(scope="module", params=["grad", "nevergrad"])
def fitted(request, experiment):
    """``(backend, fit record)`` of each backend."""
    kind, target, target_ds = experiment
    return request.param, runner.fit(kind, request.param, target, target_ds)[0]


def test_both_features_are_needed(experiment, target_features):
    """The features pin different directions: the peak moves with p, the RMS mostly with C."""
    kind, _, _ = experiment
    eeg = kind.simulate({"C": jnp.asarray([160.0, 170.0, 160.0]),
                         "drive.rate_hz": jnp.asarray([200.0, 200.0, 230.0])},
                        experiments.keys(0)[0]).observable
    grid = kind.feature_values(eeg)
    rms, peak = np.asarray(grid["rms"]), np.asarray(grid["spectral_peak_hz"])
    assert rms[1] - rms[0] > 0.3 and abs(peak[1] - peak[0]) < 0.05      # C: amplitude only
    assert peak[2] - peak[0] > 0.3                                      # p: the frequency
    assert target_features["spectral_peak_hz"] == pytest.approx(peak[0], rel=1e-4)


def test_two_parameters_recovered_within_uncertainty(fitted):
    backend, ds = fitted
    assert ds.attrs["status"] in ("converged", "max_steps"), ds.attrs["status_message"]
    assert ds.attrs["fitted_parameters"] == "C,drive.rate_hz"
    for name, truth in TRUTH.items():
        error = abs(float(ds[f"best_{name}"]) - truth)
        assert error / truth < 0.01, (backend, name, float(ds[f"best_{name}"]))
        assert error < 3.0 * float(ds[f"std_{name}"]), (backend, name, error,
                                                         float(ds[f"std_{name}"]))


def test_hessian_positive_definite_and_matches_finite_differences(fitted, experiment,
                                                                   target_features):
    backend, ds = fitted
    names = ds.attrs["fitted_parameters"].split(",")
    std = np.array([float(ds[f"std_{n}"]) for n in names])
    assert int(ds["hessian_positive_definite"]) == 1
    assert np.all(ds["hessian_eigenvalues"].values > 0)
    assert np.all(np.isfinite(std)) and np.all(std > 0)
    assert np.allclose(np.diag(ds["correlation"].values), 1.0)
    # Central differences of the gradient at the best point agree with the AD Hessian.
    kind, target, _ = experiment
    fit = runner.fitter(kind, backend, target_features, target.seed)
    grad = jax.jit(jax.grad(lambda x: fit.loss_fn(fit.model_at(
        {n: x[i] for i, n in enumerate(names)}))[0]))
    x0 = jnp.asarray([float(ds[f"best_{n}"]) for n in names])
    cols = [(grad(x0.at[i].add(0.5)) - grad(x0.at[i].add(-0.5))) / 1.0 for i in range(2)]
    fd = np.stack([np.asarray(c) for c in cols], axis=1)
    hessian = ds["hessian"].values
    assert np.allclose(hessian, 0.5 * (fd + fd.T), rtol=0.05, atol=2e-6), (hessian, fd)


def test_uncertainty_stored_in_netcdf(fitted, tmp_path):
    backend, ds = fitted
    io.write_netcdf(ds, tmp_path / "fit.nc")
    with xr.open_dataset(tmp_path / "fit.nc") as back:
        for name, var in back.data_vars.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
        assert back["hessian"].shape == (2, 2)
        assert list(back["parameter"].values) == ["C", "drive.rate_hz"]
        assert float(back["std_C"]) > 0 and back["std_drive.rate_hz"].attrs["units"] == "Hz"
        assert int(back["hessian_positive_definite"]) == 1
        assert back.attrs["uncertainty_rel_sd"] == 0.01 and back.attrs["kind"] == "column"
        assert float(back["true_drive.rate_hz"]) == 200.0
        assert back.attrs["target"] == "C=160_drive.rate_hz=200"
        curv = laplace(("C", "drive.rate_hz"), back["hessian"].values, rel_sd=0.01)
        np.testing.assert_allclose(back["covariance"].values, curv.covariance, rtol=1e-6)
        np.testing.assert_allclose([float(back["std_C"]), float(back["std_drive.rate_hz"])],
                                   curv.std, rtol=1e-6)


def test_summary_has_a_row_per_parameter_with_its_uncertainty(fitted, tmp_path):
    backend, ds = fitted
    table = summary.collect([io.write_netcdf(ds, tmp_path / "fit.nc")])
    assert list(table["parameter"]) == ["C", "drive.rate_hz"]
    assert list(table["units"]) == ["1", "Hz"] and set(table["backend"]) == {backend}
    for _, row in table.iterrows():
        assert row["truth"] == TRUTH[row["parameter"]]
        assert row["std"] == pytest.approx(float(ds[f"std_{row['parameter']}"]))
        assert row["rel_error"] < 0.01
    out = summary.to_dataset(table, attrs={})
    assert out["fitted"].attrs["units"].startswith("mixed")
    assert out.attrs["parameter"] == "C,drive.rate_hz"


def test_loss_surface_over_the_box(experiment):
    kind, _, target_ds = experiment
    scan = runner.scan(kind, [target_ds])
    assert scan["loss"].dims == ("target", "C", "drive.rate_hz")
    assert scan["loss"].shape == (1, 3, 3) and list(scan["target"].values) == [
        "C=160_drive.rate_hz=200"]
    assert np.all(np.isfinite(scan["loss"].values)) and np.all(scan["loss"].values >= 0)
    np.testing.assert_allclose(scan["drive.rate_hz"].values, [160.0, 210.0, 260.0])
    assert scan["drive.rate_hz"].attrs["units"] == "Hz"


def test_laplace_of_a_flat_direction_has_no_uncertainty():
    curv = laplace(("a", "b"), [[1.0, 0.0], [0.0, 0.0]], rel_sd=0.01)
    assert not curv.positive_definite and np.all(np.isnan(curv.std))
    good = laplace(("a",), [[2.0]], rel_sd=0.1)
    assert good.std[0] == pytest.approx(0.1)  # 2 * 0.1^2 / 2 = 0.01
    with pytest.raises(ValueError, match="rel_sd"):
        laplace(("a",), [[1.0]], rel_sd=0.0)
    with pytest.raises(ValueError, match="shape"):
        laplace(("a", "b"), [[1.0]], rel_sd=0.1)


P = f"experiments.{NAME}.parameters"


@pytest.mark.parametrize("edit, culprit", [
    (lambda c: c["parameters"]["C"].update(bounds=[180, 150]), f"{P}.C.bounds"),
    (lambda c: c["parameters"]["drive.rate_hz"].update(start=500), f"{P}.drive.rate_hz.start"),
    (lambda c: c["parameters"]["C"]["truths"].append(170), "as many truths"),
    (lambda c: c["parameters"]["C"].update(truths=[100]), f"{P}.C.truths [100.0]"),
    (lambda c: c["parameters"].update(Q=c["parameters"].pop("C")), "'Q'"),
    (lambda c: c["features"].update(loudness={}), "loudness"),
    (lambda c: c["model"].update(drive={"kind": "uniform_noise"}), f"{P}.drive.rate_hz"),
    (lambda c: c.update(model={"drive": {"kind": "uniform_noise"}}, parameters={
        "drive.low_hz": {"bounds": [50, 150], "start": 100, "truths": [120]}}),
     f"{P}.drive.low_hz: fitting the drive needs model.drive.kind: constant"),
    (lambda c: c["uncertainty"].update(rel_sd=0), f"experiments.{NAME}.uncertainty.rel_sd"),
])
def test_bad_multi_config_names_the_culprit(edit, culprit):
    bad = copy.deepcopy(BLOCK)
    edit(bad)
    with pytest.raises(ValueError) as info:
        experiments.build(NAME, bad)
    assert culprit in str(info.value), str(info.value)
