"""NetCDF writing: atomic, self-describing, byte-identical; summaries; experiment keys."""

import hashlib

import jax.numpy as jnp
import numpy as np
import optax
import pytest
import xarray as xr

from eegfit import Fitter, JansenRit, Param, experiment, io, rms, simulate, summary

SIM = dict(duration_ms=300.0, transient_ms=100.0)


@pytest.fixture(scope="module")
def fit_result():
    target = float(rms(simulate(JansenRit(C=140.0), **SIM).eeg_mv))

    def loss_fn(model):
        value = rms(simulate(model, **SIM).eeg_mv)
        return ((value - target) / target) ** 2, {"rms": value}
    model = JansenRit(C=Param(130.0, bounds=(110.0, 170.0)))
    return Fitter(model, optax.adam(1.0), loss_fn=loss_fn).fit(5)


def test_write_is_atomic_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.nc"
    good = xr.Dataset({"v": ("t", np.arange(3.0), {"units": "mV"})})
    io.write_netcdf(good, path)
    before = path.read_bytes()
    bad = xr.Dataset({"v": ("t", np.arange(3.0))}, attrs={"nested": {"a": 1}})
    with pytest.raises(TypeError):
        io.write_netcdf(bad, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.nc"]  # no temporary file left


def test_fit_dataset_round_trip(fit_result, tmp_path):
    attrs = io.provenance({"simulation": {"dt_ms": 0.1, "window": [100, 300]}}, seed=3)
    ds = io.fit_dataset(fit_result, param_units={"C": "1"}, aux_units={"rms": "mV"},
                        truth={"C": 140.0}, attrs=attrs)
    path = io.write_netcdf(ds, tmp_path / "fit.nc")
    with xr.open_dataset(path) as back:
        assert back["loss"].shape == (5, 1)
        np.testing.assert_array_equal(back["param_C"].values[:, 0],
                                      fit_result.history.params["C"][:, 0])
        assert back["aux_rms"].attrs["units"] == "mV"
        assert float(back["best_C"]) == pytest.approx(float(fit_result.best_params["C"]))
        assert back.attrs["config.simulation.dt_ms"] == 0.1
        np.testing.assert_array_equal(back.attrs["config.simulation.window"], [100.0, 300.0])
        assert back.attrs["status"] == fit_result.status and back.attrs["seed"] == 0
    again = io.write_netcdf(ds, tmp_path / "again.nc")
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(
        path.read_bytes()).digest()


def test_summary_table(fit_result, tmp_path):
    ds = io.fit_dataset(fit_result, param_units={"C": "1"}, truth={"C": 140.0}, attrs={})
    path = io.write_netcdf(ds, tmp_path / "fit.nc")
    table = summary.collect([path])
    row = table.iloc[0]
    assert row["truth"] == 140.0 and row["backend"] == "grad"
    assert row["rel_error"] == pytest.approx(abs(row["fitted"] - 140.0) / 140.0)
    out = summary.to_dataset(table, attrs={})
    assert "wall_time_s" not in out and out["fitted"].attrs["units"] == "1"


def test_target_and_fit_noise_come_from_different_keys():
    config = {"parameter": {"name": "C"}, "simulation": {"dt_ms": 0.1, "duration_ms": 200.0,
                                                          "transient_ms": 0.0},
              "model": {"drive": {"kind": "uniform_noise"}}}
    target_key, fit_key = experiment.keys(0)
    a = experiment.simulate_at(config, 135.0, target_key).eeg_mv
    b = experiment.simulate_at(config, 135.0, fit_key).eeg_mv
    c = experiment.target(config, 135.0, 0).eeg_mv
    assert not jnp.allclose(a, b)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(c))


def test_diverging_target_is_an_error():
    config = {"parameter": {"name": "a"}, "simulation": {"dt_ms": 0.1, "duration_ms": 300.0,
                                                          "transient_ms": 0.0}}
    with pytest.raises(FloatingPointError, match="a=25000"):
        experiment.target(config, 25000.0, 0)


def test_unknown_model_parameter_is_named():
    config = {"parameter": {"name": "D"}, "simulation": {"dt_ms": 0.1, "duration_ms": 300.0,
                                                          "transient_ms": 0.0}}
    with pytest.raises(ValueError, match="'D'"):
        experiment.target(config, 1.0, 0)


def test_identifiable_marks_flat_and_repeated_stretches():
    x = np.linspace(0.0, 10.0, 101)
    monotone = 2.0 * x + 1.0
    assert experiment.identifiable(monotone).all()
    dip = np.where(x < 5, x, np.where(x < 6, 10 - x, x - 2))  # rises, dips back, rises again
    ok = experiment.identifiable(dip)
    assert ok[x < 3].all() and ok[x > 9].all()
    assert not ok[(x > 4.1) & (x < 5.9)].any()
    flat = np.where(x < 4, 1.0, x - 3.0)
    assert not experiment.identifiable(flat)[x < 3.5].any()


def test_noise_floor_is_zero_for_a_constant_drive_and_positive_for_a_noisy_one():
    config = {"parameter": {"name": "C"}, "feature": {"name": "rms"},
              "simulation": {"dt_ms": 0.1, "duration_ms": 400.0, "transient_ms": 100.0}}
    target = float(rms(experiment.target(config, 140.0, 0).eeg_mv))
    assert experiment.noise_floor_loss(config, 140.0, target, 0) == 0.0
    config["model"] = {"drive": {"kind": "uniform_noise"}}
    noisy_target = float(rms(experiment.target(config, 140.0, 0).eeg_mv))
    assert experiment.noise_floor_loss(config, 140.0, noisy_target, 0) > 1e-6
