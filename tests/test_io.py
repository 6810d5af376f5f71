"""NetCDF writing: atomic, self-describing, byte-identical; summaries; a column experiment's
noise keys, targets and noise floor."""

import hashlib

import jax.numpy as jnp
import numpy as np
import optax
import pytest
import xarray as xr

from eegfit import Fitter, JansenRit, Param, experiments, io, rms, simulate
from eegfit.experiments import Kind, Target, summary
from eegfit.experiments.base import as_float
from eegfit.experiments.scan import identifiable

SIM = dict(duration_ms=300.0, transient_ms=100.0)


@pytest.fixture(scope="module")
def fit_result():
    target = float(rms(simulate(JansenRit(C=140.0), **SIM).observable))

    def loss_fn(model):
        value = rms(simulate(model, **SIM).observable)
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


def every_type() -> xr.Dataset:
    """A dataset with every kind of value the results hold."""
    return xr.Dataset(
        {"v": ("t", np.arange(3.0), {"units": "mV", "long_name": "a float"}),
         "scalar": ((), np.float64(2.5), {"units": "1"}),
         "single": ("t", np.arange(3, dtype=np.float32)),
         "flag": ("t", np.array([True, False, True])),
         "count": ("t", np.arange(3)),
         "small": ("t", np.arange(3, dtype=np.int8)),
         "unsigned": ("t", np.arange(3, dtype=np.uint8)),
         "label": ("node", np.array(["V1", "béta"])),
         "matrix": (("node", "t"), np.arange(6.0).reshape(2, 3))},
        coords={"t": ("t", np.arange(3), {"units": "ms"}), "node": ["x", "yz"],
                "onset_ms": ("t", [1.0, 2.0, 3.0])},
        attrs={"n": 1, "x": 2.5, "text": "µV, ±", "empty": "", "window": [1.0, 2.0],
               "seed": np.int64(7), "half": np.float16(1.5), "single": np.float32(0.25)})


@pytest.mark.parametrize("engine", ["netcdf4", "scipy"])
def test_every_type_reads_back_identical(tmp_path, engine):
    ds = every_type()
    path = io.write_netcdf(ds, tmp_path / "x.nc")
    with xr.open_dataset(path, engine=engine) as back:
        assert back.identical(ds)
        assert back["flag"].dtype == bool and back["label"].values.tolist() == ["V1", "béta"]
        assert "onset_ms" in back.coords and back.attrs["text"] == "µV, ±"


def test_names_beyond_ascii_read_back_identical(tmp_path):
    """A band or node named in Greek or with a micro sign (config keys become attr names)."""
    ds = xr.Dataset({"power_α": ("t", np.arange(3.0), {"units": "µV²"})},
                    attrs={"config.features.relative_power.bands.µ": [8.0, 13.0]})
    path = io.write_netcdf(ds, tmp_path / "x.nc")
    with xr.open_dataset(path) as back:
        assert back.identical(ds)


def test_an_empty_dimension_reads_back_identical(tmp_path):
    ds = xr.Dataset({"interval": ("n", np.zeros(0), {"units": "1"}), "v": ("t", np.arange(3.0))},
                    attrs={"seed": 1})
    path = io.write_netcdf(ds, tmp_path / "x.nc")
    with xr.open_dataset(path) as back:
        assert back.identical(ds) and back.sizes["n"] == 0


@pytest.mark.parametrize("bad, named", [
    ({"attrs": {"config": {"nested": 1}}}, "'config'"),
    ({"attrs": {"flag": True}}, "'flag'"),
    ({"attrs": {"big": 2 ** 40}}, "'big'"),
    ({"data_vars": {"when": ("t", np.array(["2026-01-01"] * 3, dtype="datetime64[ns]"))}},
     "'when'"),
    ({"data_vars": {"huge": ("t", np.array([0, 1, 2 ** 40]))}}, "'huge'"),
    ({"data_vars": {"mixed": ("t", np.array([1, "a", None], dtype=object))}}, "'mixed'")],
    ids=["nested-attr", "bool-attr", "int64-attr", "datetime", "int64-values", "objects"])
def test_values_the_format_cannot_hold_are_named_before_writing(tmp_path, bad, named):
    ds = xr.Dataset({"v": ("t", np.arange(3.0))}, attrs=bad.get("attrs", {}))
    ds = ds.assign(bad.get("data_vars", {}))
    with pytest.raises((TypeError, ValueError), match=named):
        io.write_netcdf(ds, tmp_path / "x.nc")
    assert not list(tmp_path.iterdir())


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


def test_load_netcdf_reads_what_xarray_reads(fit_result, tmp_path):
    """The fast reader gives back every file the writer makes as ``xarray.load_dataset`` does
    (:func:`io.load_variables` the same attrs and variables, without the Dataset):
    every type of value, a fit record, a summary with text columns, and (through xarray) a
    NetCDF-4 file."""
    fit = io.fit_dataset(fit_result, param_units={"C": "1"}, truth={"C": 140.0},
                         attrs={"experiment": "case", "kind": "column", "target": "C=140"})
    fit_path = io.write_netcdf(fit, tmp_path / "fit.nc")
    table = summary.collect([fit_path])
    datasets = {"every": every_type(), "fit": fit,
                "summary": summary.to_dataset(table, attrs={"record": "summary"}),
                "netcdf4": xr.Dataset({"v": ("n", np.zeros(0))}, attrs={"seed": 1})}
    for name, ds in datasets.items():
        path = io.write_netcdf(ds, tmp_path / f"{name}.nc")
        back, reference = io.load_netcdf(path), xr.load_dataset(path)
        xr.testing.assert_identical(back, reference)
        assert back.identical(ds), name
        assert all(v.dtype.isnative for v in back.variables.values()), name
        attrs, variables = io.load_variables(path)  # the same, without the Dataset
        assert attrs.keys() == back.attrs.keys() and set(variables) == set(back.variables)
        for key, var in variables.items():
            assert var.identical(back.variables[key]), (name, key)
    assert io.load_netcdf(tmp_path / "every.nc")["label"].values.tolist() == ["V1", "béta"]


def test_summary_table(fit_result, tmp_path):
    ds = io.fit_dataset(fit_result, param_units={"C": "1"}, truth={"C": 140.0},
                        attrs={"experiment": "case", "kind": "column", "target": "C=140"})
    path = io.write_netcdf(ds, tmp_path / "fit.nc")
    table = summary.collect([path])
    row = table.iloc[0]
    assert row["truth"] == 140.0 and row["backend"] == "grad" and row["target"] == "C=140"
    assert row["rel_error"] == pytest.approx(abs(row["fitted"] - 140.0) / 140.0)
    assert np.isnan(row["std"]) and np.isnan(row["noise_floor_loss"])  # not in this record
    out = summary.to_dataset(table, attrs={})
    assert "wall_time_s" not in out and out["fitted"].attrs["units"] == "1"


def column(parameter="C", *, drive=None, duration_ms=300.0, **params):
    """A column experiment fitting ``parameter`` (box and truth wide enough for any valid value:
    the box must lie in the parameter's valid range, > 0 for a time constant)."""
    block = {"kind": "column",
             "parameters": {parameter: {"bounds": [1e-6, 1e6], "start": 1.0, "truths": [1.0]}},
             "model": {"params": params, "drive": drive or {"kind": "constant"}},
             "simulation": {"dt_ms": 0.1, "duration_ms": duration_ms, "transient_ms": 100.0},
             "features": {"rms": {}},
             "backends": {"grad": {"optimizer": "adam", "learning_rate": 1.0, "n_steps": 1}}}
    return experiments.build("io", block)


def target_at(kind, value, seed=0):
    (name,) = kind.spec.names
    return Target(f"{name}={value:g}", {name: value}, seed)


def test_target_and_fit_noise_come_from_different_keys():
    kind = column(drive={"kind": "uniform_noise"}, duration_ms=200.0)
    target_key, fit_key = experiments.keys(0)
    a = kind.simulate({"C": as_float(135.0)}, target_key).observable
    b = kind.simulate({"C": as_float(135.0)}, fit_key).observable
    c = kind.make_target(target_at(kind, 135.0))["eeg"].values
    assert not jnp.allclose(a, b)
    np.testing.assert_array_equal(np.asarray(a), c)


def test_diverging_target_is_an_error():
    kind = column("a")
    with pytest.raises(FloatingPointError, match="a=25000"):
        kind.make_target(target_at(kind, 25000.0))


def test_unknown_model_parameter_is_named():
    with pytest.raises(ValueError, match="'D'"):
        column("D")


def test_identifiable_marks_flat_and_repeated_stretches():
    x = np.linspace(0.0, 10.0, 101)
    monotone = 2.0 * x + 1.0
    assert identifiable(monotone).all()
    dip = np.where(x < 5, x, np.where(x < 6, 10 - x, x - 2))  # rises, dips back, rises again
    ok = identifiable(dip)
    assert ok[x < 3].all() and ok[x > 9].all()
    assert not ok[(x > 4.1) & (x < 5.9)].any()
    flat = np.where(x < 4, 1.0, x - 3.0)
    assert not identifiable(flat)[x < 3.5].any()


def noise_floor(kind, truth=140.0, seed=0):
    """The loss at the truth under the fit's noise, as the runner records it."""
    target = target_at(kind, truth, seed)
    observed = kind.observed(kind.make_target(target))
    extras = Kind.fit_extras(kind, target, observed, None)
    return extras["noise_floor_loss"][1]


def test_noise_floor_is_zero_for_a_constant_drive_and_positive_for_a_noisy_one():
    assert noise_floor(column(duration_ms=400.0)) == 0.0
    assert noise_floor(column(duration_ms=400.0, drive={"kind": "uniform_noise"})) > 1e-6
