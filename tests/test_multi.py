"""Two parameters of a column (C and the drive p) fitted at once from RMS and spectral peak, with
a Laplace (Hessian) uncertainty per fit."""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from eegfit import experiments_multi as em
from eegfit import io
from eegfit.fit.uncertainty import laplace

CFG = {
    "experiment": "test_C_p",
    "parameters": [{"name": "C", "bounds": [150, 180], "start": 155},
                   {"name": "drive.rate_hz", "bounds": [160, 260], "start": 180}],
    "truths": [[160, 200]], "seeds": [0],
    "simulation": {"dt_ms": 0.1, "duration_ms": 600.0, "transient_ms": 200.0,
                   "integrator": "euler"},
    "features": {"rms": {}, "spectral_peak_hz": {"band_hz": [2, 20]}},
    "backends": {"grad": {"optimizer": "adam", "learning_rate": 2.0, "n_steps": 40},
                 "nevergrad": {"optimizer": "DE", "num_candidates": 8, "n_steps": 8,
                               "options": {"popsize": 8, "initialization": "LHS"}}},
    "uncertainty": {"rel_sd": 0.01},
}
TRUTH = {"C": 160.0, "drive.rate_hz": 200.0}


@pytest.fixture(scope="module")
def target_features():
    return em.target(CFG, CFG["truths"][0])[1]


@pytest.fixture(scope="module", params=["grad", "nevergrad"])
def fitted(request, target_features):
    return request.param, *em.run_fit(CFG, request.param, target_features, seed=0)


def test_both_features_are_needed(target_features):
    """The features pin different directions: the peak moves with p, the RMS mostly with C."""
    grid = em.features_of(CFG, em.simulate_at(CFG, {
        "C": jnp.asarray([160.0, 170.0, 160.0]),
        "drive.rate_hz": jnp.asarray([200.0, 200.0, 230.0])}).eeg_mv)
    rms, peak = np.asarray(grid["rms"]), np.asarray(grid["spectral_peak_hz"])
    assert rms[1] - rms[0] > 0.3 and abs(peak[1] - peak[0]) < 0.05      # C: amplitude only
    assert peak[2] - peak[0] > 0.3                                      # p: the frequency
    assert target_features["spectral_peak_hz"] == pytest.approx(peak[0], rel=1e-4)


def test_two_parameters_recovered_within_uncertainty(fitted):
    backend, result, curv = fitted
    assert result.ok, result.message
    for i, name in enumerate(result.names):
        error = abs(float(result.best_params[name]) - TRUTH[name])
        assert error / TRUTH[name] < 0.01, (backend, name, result.best_params)
        assert error < 3.0 * curv.std[i], (backend, name, error, curv.std)


def test_hessian_positive_definite_and_matches_finite_differences(fitted, target_features):
    backend, result, curv = fitted
    assert curv.positive_definite and np.all(curv.eigenvalues > 0)
    assert np.all(np.isfinite(curv.std)) and np.all(curv.std > 0)
    assert np.allclose(np.diag(curv.correlation), 1.0)
    # Central differences of the gradient at the best point agree with the AD Hessian.
    fit = em.fitter(CFG, backend, target_features)
    names = result.names
    grad = jax.jit(jax.grad(lambda x: fit.loss_fn(fit.model_at(
        {n: x[i] for i, n in enumerate(names)}))[0]))
    x0 = jnp.asarray([float(result.best_params[n]) for n in names])
    cols = [(grad(x0.at[i].add(0.5)) - grad(x0.at[i].add(-0.5))) / 1.0 for i in range(2)]
    fd = np.stack([np.asarray(c) for c in cols], axis=1)
    assert np.allclose(curv.hessian, 0.5 * (fd + fd.T), rtol=0.05, atol=2e-6), (curv.hessian, fd)


def test_uncertainty_stored_in_netcdf(fitted, target_features, tmp_path):
    backend, result, curv = fitted
    ds = em.fit_dataset(CFG, result, curv, CFG["truths"][0], target_features,
                        attrs=io.provenance({"multi": CFG}, kind="multi_fit",
                                            truth_label=em.label(CFG, CFG["truths"][0])))
    io.write_netcdf(ds, tmp_path / "fit.nc")
    with xr.open_dataset(tmp_path / "fit.nc") as back:
        for name, var in back.data_vars.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
        assert back["hessian"].shape == (2, 2)
        assert float(back["std_C"]) > 0 and back["std_drive.rate_hz"].attrs["units"] == "Hz"
        assert back.attrs["hessian_positive_definite"] == 1
        assert float(back["true_drive.rate_hz"]) == 200.0
        np.testing.assert_allclose(back["covariance"].values, curv.covariance)


def test_laplace_of_a_flat_direction_has_no_uncertainty():
    curv = laplace(("a", "b"), [[1.0, 0.0], [0.0, 0.0]], rel_sd=0.01)
    assert not curv.positive_definite and np.all(np.isnan(curv.std))
    good = laplace(("a",), [[2.0]], rel_sd=0.1)
    assert good.std[0] == pytest.approx(0.1)  # 2 * 0.1^2 / 2 = 0.01
    with pytest.raises(ValueError, match="rel_sd"):
        laplace(("a",), [[1.0]], rel_sd=0.0)
    with pytest.raises(ValueError, match="shape"):
        laplace(("a", "b"), [[1.0]], rel_sd=0.1)


@pytest.mark.parametrize("edit, culprit", [
    (lambda c: c["parameters"][0].update(bounds=[180, 150]), "bounds"),
    (lambda c: c["parameters"][1].update(start=500), "start"),
    (lambda c: c["truths"].append([160]), "truths"),
    (lambda c: c["truths"].append([100, 200]), "C=100"),
    (lambda c: c["parameters"][0].update(name="Q"), "'Q'"),
    (lambda c: c["features"].update(loudness={}), "loudness"),
])
def test_bad_multi_config_names_the_culprit(edit, culprit):
    bad = copy.deepcopy(CFG)
    edit(bad)
    with pytest.raises(ValueError, match=culprit):
        em.check(bad)
