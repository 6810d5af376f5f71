"""One experiment shape: a config block read into a Kind (every bad value refused at load,
naming its full key path) and the shared runner (target, fit with either backend, NetCDF record,
summary table) on a tiny column experiment."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from eegfit import experiments, io
from eegfit.experiments import runner, summary
from eegfit.experiments.base import as_float, import_path
from eegfit.experiments.chunks import chunk_targets
from eegfit.experiments.column import Column

ROOT = Path(__file__).resolve().parents[1]
SMALL = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
NAME = "small_C_rms"
AT = f"experiments.{NAME}"


def load_with(edit):
    """experiments.load on a copy of .test/config.yaml with ``edit`` applied to its block."""
    config = copy.deepcopy(SMALL)
    edit(config["experiments"][NAME])
    return experiments.load(config)


def test_the_small_config_loads():
    kinds = experiments.load(copy.deepcopy(SMALL))
    kind = kinds[NAME]
    assert isinstance(kind, Column) and kind.spec.names == ("C",)
    assert [(t.label, t.truth, t.seed) for t in kind.targets()] == [
        ("C=138", {"C": 138.0}, 0), ("C=150", {"C": 150.0}, 0)]
    assert kind.spec.backend("grad").n_steps == 40 and kind.units() == {"C": "1"}
    # a kind named by its import path is the same kind
    block = {**SMALL["experiments"][NAME], "kind": "eegfit.experiments.column:Column"}
    assert isinstance(experiments.build(NAME, block), Column)


def _set(*path_and_value):
    """An edit setting block[path...] = value."""
    *path, key, value = path_and_value

    def edit(block):
        for part in path:
            block = block[part]
        block[key] = value
    return edit


def _rename_c(block):
    block["parameters"]["Cx"] = block["parameters"].pop("C")


BAD = {
    "NaN bound": (_set("parameters", "C", "bounds", [float("nan"), 170]),
                  f"{AT}.parameters.C.bounds"),
    "inverted bounds": (_set("parameters", "C", "bounds", [170, 110]),
                        f"{AT}.parameters.C.bounds"),
    "start outside": (_set("parameters", "C", "start", 200), f"{AT}.parameters.C.start"),
    "truth outside": (_set("parameters", "C", "truths", [138, 500]),
                      f"{AT}.parameters.C.truths"),
    "unknown parameter": (_rename_c, f"{AT}.parameters.Cx"),
    "unknown key": (_set("oops", 1), f"{AT} has unknown key(s) ['oops']"),
    "unknown kind": (_set("kind", "nope"), f"{AT}.kind"),
    "duplicate seeds": (_set("seeds", [0, 0]), f"{AT}.seeds"),
    "seed beyond int32": (_set("seeds", [0, 2 ** 31]), f"{AT}.seeds[1]"),
    "bad integrator": (_set("simulation", "integrator", "rk5"), f"{AT}.simulation.integrator"),
    "unknown feature": (_set("features", "loudness", {}), f"{AT}.features.loudness"),
    "unknown feature option": (_set("features", "spectral_peak_hz", {"oops": 1}),
                               f"{AT}.features.spectral_peak_hz.oops"),
    "empty band": (_set("features", "spectral_peak_hz", {"band_hz": []}),
                   f"{AT}.features.spectral_peak_hz.band_hz"),
    "string band": (_set("features", "spectral_peak_hz", {"band_hz": "oops"}),
                    f"{AT}.features.spectral_peak_hz.band_hz"),
    "negative learning rate": (_set("backends", "grad", "learning_rate", -1.0),
                               f"{AT}.backends.grad.learning_rate"),
    "unknown grad optimizer": (_set("backends", "grad", "optimizer", "adamm"),
                               f"{AT}.backends.grad.optimizer"),
    "unknown nevergrad optimizer": (_set("backends", "nevergrad", "optimizer", "NoSuchOpt"),
                                    f"{AT}.backends.nevergrad.optimizer"),
    "unknown nevergrad option": (_set("backends", "nevergrad", "options", "oops", 1),
                                 f"{AT}.backends.nevergrad"),
    "bad nevergrad option value": (_set("backends", "nevergrad", "options", "popsize", "big"),
                                   f"{AT}.backends.nevergrad.options"),
}


@pytest.mark.parametrize("edit, culprit", BAD.values(), ids=list(BAD))
def test_bad_config_is_refused_at_load_naming_the_key(edit, culprit):
    with pytest.raises(ValueError) as info:
        load_with(edit)
    assert culprit in str(info.value), str(info.value)


def test_old_shape_config_is_refused_with_the_new_shape_shown():
    old = {"experiment": "case_study", "parameter": {"name": "C", "bounds": [110, 170],
                                                     "start": 115, "truths": [150]},
           "seeds": [0], "backends": SMALL["experiments"][NAME]["backends"]}
    with pytest.raises(ValueError, match="old shape") as info:
        experiments.load(old)
    assert "experiments:" in str(info.value) and "parameter" in str(info.value)
    with pytest.raises(ValueError, match="experiments:"):
        experiments.load({"experiments": {}})


# ---- the runner on a tiny column experiment ------------------------------------------------------

TINY = copy.deepcopy(SMALL["experiments"][NAME])
TINY["parameters"]["C"]["truths"] = [150]  # the slow regime: RMS pins C down (well posed)
TINY["scan"] = {"n_points": 6, "features": ["rms", "spectral_peak_hz"]}


@pytest.fixture(scope="module")
def tiny():
    """``(kind, target, target_ds)`` of the tiny experiment's one target."""
    kind = experiments.build("tiny", TINY)
    (target,) = kind.targets()
    return kind, target, runner.make_target(kind, target)


def test_target_record(tiny):
    kind, target, ds = tiny
    assert ds.attrs["experiment"] == "tiny" and ds.attrs["kind"] == "column"
    assert ds.attrs["record"] == "target" and ds.attrs["target"] == "C=150"
    assert ds.attrs["truth"] == 150.0 and ds.attrs["truth.C"] == 150.0
    assert ds["eeg"].dims == ("time",) and ds["eeg"].attrs["units"] == "mV"
    assert kind.observed(ds) == {"rms": pytest.approx(float(ds["rms"]))}
    assert float(ds["rms"]) > 0 and 1.0 < float(ds["spectral_peak_hz"]) < 40.0


@pytest.fixture(scope="module")
def round_trip(tiny, tmp_path_factory):
    """Both backends fitted, written, and collected: ``(table, fit paths)``."""
    kind, target, target_ds = tiny
    out = tmp_path_factory.mktemp("runner")
    fits, timings = [], []
    for backend in ("nevergrad", "grad"):  # collect sorts them
        fit_ds, timing = runner.fit(kind, backend, target, target_ds)
        fits.append(io.write_netcdf(fit_ds, out / f"{backend}.nc"))
        timings.append(out / f"{backend}.json")
        timings[-1].write_text(json.dumps(timing))
    return summary.collect(fits, timings), fits


def test_fit_records_are_self_describing(round_trip):
    _, fits = round_trip
    for path in fits:
        with xr.open_dataset(path) as ds:
            for name, var in ds.data_vars.items():
                assert "units" in var.attrs and "long_name" in var.attrs, name
            assert ds.attrs["record"] == "fit" and ds.attrs["experiment"] == "tiny"
            assert ds.attrs["config.parameters.C.start"] == 115
            assert float(ds["true_C"]) == 150.0 and ds["best_C"].attrs["units"] == "1"
            assert float(ds["noise_floor_loss"]) == 0.0  # a constant drive: no noise
            assert ds["fitted_eeg"].dims == ("time",) and "target_rms" in ds
            assert "wall_time_s" not in ds and "wall_time_s" not in ds.attrs


def test_summary_table_of_the_round_trip(round_trip):
    table, _ = round_trip
    assert list(table.columns) == [*summary.COLUMNS, *summary.POSTERIOR_COLUMNS,
                                   *summary.AGREEMENT_COLUMNS, "wall_time_s"]
    assert (table[list(summary.POSTERIOR_COLUMNS)] == "n/a").all().all()  # no posterior block
    assert list(table["backend"]) == ["grad", "nevergrad"]
    assert list(table["optimizer"].str[:2]) == ["ad", "DE"]
    for _, row in table.iterrows():
        assert (row["experiment"], row["kind"], row["target"], row["parameter"],
                row["units"], row["seed"]) == ("tiny", "column", "C=150", "C", "1", 0)
        assert row["truth"] == 150.0 and row["start"] == 115.0
        assert row["status"] in ("converged", "max_steps") and row["n_nonfinite"] == 0
        assert row["rel_error"] == pytest.approx(abs(row["fitted"] - 150.0) / 150.0)
        assert row["rel_error"] < 0.01, row.to_dict()  # well posed: C comes back
        assert row["best_loss"] < 1e-3 and row["noise_floor_loss"] == 0.0
        assert np.isnan(row["std"]) and row["wall_time_s"] > 0
    assert list(table["n_evaluations"]) == [40, 8 * 6]
    ds = summary.to_dataset(table, attrs={"experiment": "tiny"})
    assert "wall_time_s" not in ds and ds.sizes["fit"] == 2
    assert ds["fitted"].attrs["units"] == "1" and ds["rel_error"].attrs["units"] == "1"
    assert ds.attrs["parameter"] == "C"


def test_column_scan_is_the_features_over_the_box(tiny):
    kind, _, target_ds = tiny
    scan = runner.scan(kind, [target_ds])
    assert scan.attrs["record"] == "scan" and scan.attrs["parameter"] == "C"
    np.testing.assert_allclose(scan["value"].values, np.linspace(110, 170, 6))
    assert scan["value"].attrs["units"] == "1"
    for name in ("rms", "spectral_peak_hz"):
        assert scan[name].dims == ("value",) and np.all(np.isfinite(scan[name].values))
        assert set(np.unique(scan[f"{name}_identifiable"].values)) <= {0, 1}
    # each point is the model there (seed 0's target noise)
    at_end = kind.simulate({"C": as_float(170.0)}, experiments.keys(0)[0]).observable
    assert float(scan["rms"][-1]) == pytest.approx(
        float(kind.feature_values(at_end, ["rms"])["rms"]), rel=1e-4)


# ---- a chunk of fits as one batch ------------------------------------------------------------------

def test_a_chunk_is_fitted_like_each_target_alone():
    """runner.fit_chunk fits its targets as one batch (start: random, so starts differ too):
    each record agrees with the same fit alone to float rounding, and only its timing knows."""
    block = copy.deepcopy(TINY)
    block["parameters"]["C"].update(truths=[140, 150], start="random")
    block["seeds"] = [0, 1]
    kind = experiments.build("tiny_chunk", block)
    targets = kind.targets()
    datasets = [runner.make_target(kind, t) for t in targets]
    for backend in ("grad", "nevergrad"):
        chunk = runner.fit_chunk(kind, backend, targets, datasets)
        for target, ds, (together, timing) in zip(targets, datasets, chunk):
            alone, _ = runner.fit(kind, backend, target, ds)
            assert timing["batch_size"] == 4
            assert together.attrs["status"] == alone.attrs["status"]
            assert float(together["start_C"]) == float(alone["start_C"])
            np.testing.assert_allclose(float(together["best_C"]), float(alone["best_C"]),
                                       rtol=1e-4)


def test_one_fits_loss_alone_is_the_batch_loss_closed_over_its_data(tiny):
    """``fit_loss`` (the kind's loss closed over one fit's data, where code needs one fit
    alone) fits that target to the same result as the runner's batch of one."""
    kind, target, target_ds = tiny
    settings = kind.spec.backend("grad")
    one = runner.fitter(kind, "grad", kind.observed(target_ds), target.seed)
    alone = one.fit(settings.n_steps, seed=int(target.seed), tol=settings.tol)
    batched, timing = runner.fit(kind, "grad", target, target_ds)
    assert timing["batch_size"] == 1
    np.testing.assert_allclose(alone.history.loss, batched["loss"].values, rtol=1e-5)


class OldProtocol(experiments.Kind):
    """A kind written for the protocol before loss(model, data)."""

    def base_model(self):
        return Column.base_model(self)

    def make_target(self, target):
        raise NotImplementedError

    def observed(self, target_ds):
        raise NotImplementedError

    def loss_fn(self, observed, seed):
        raise NotImplementedError


def test_a_kind_must_write_loss_and_opt_into_optional_protocols(tiny):
    """One loss protocol: a kind without ``loss(model, data)`` is refused, naming it, before any
    work; a method of an optional protocol written without deriving from it is refused where
    the class is defined (the pipeline would skip it)."""
    kind, _, _ = tiny
    block = {**TINY, "kind": "test_experiments:OldProtocol"}
    with pytest.raises(ValueError, match=r"experiments\.old\.kind: .*does not write \['loss'\].*"
                                         r"loss_fn\(observed, seed\) was the protocol before"):
        experiments.build("old", block)
    with pytest.raises(TypeError, match=r"writes \['figures'\] of the optional protocol "
                                        r"FigureKind"):
        class Drawn(experiments.Kind):
            def figures(self, fits, targets, scan, summary):
                return {}
    assert isinstance(kind, experiments.ScanKind) and not isinstance(kind, experiments.InputKind)


def draw_for_test(kind, fits, targets, scan, summary):
    return {"drawn": (kind.spec.name, len(fits), len(targets), scan, summary)}


def test_a_figure_kind_states_what_draws_its_figures(tiny):
    """A FigureKind names the function that draws its figures (``draws``); the protocol imports
    and calls it with the kind and the datasets; without one, ``figures`` says what to set. Each
    built-in kind's ``draws`` names a function that exists."""
    kind, _, _ = tiny

    class Drawn(type(kind)):
        draws = "test_experiments:draw_for_test"

    class Undrawn(type(kind)):
        draws = ""

    assert Drawn(kind.spec).figures([1, 2], [3], "scan", None) == {
        "drawn": (kind.spec.name, 2, 1, "scan", None)}
    with pytest.raises(TypeError, match=r"Undrawn .*draws = 'package.module:function'"):
        Undrawn(kind.spec).figures([], [], None, None)
    for name in experiments.KINDS:
        cls = experiments.kind_class(name)
        if issubclass(cls, experiments.FigureKind) and cls.draws:
            assert callable(import_path(cls.draws)), name


def test_a_columns_own_fit_extras_reach_its_record(tiny):
    """A Column subclass that adds to ``fit_extras`` keeps its variables (the chunk's extras are
    computed one fit at a time through it, not batched past it)."""
    kind, target, target_ds = tiny

    class Extra(Column):
        def fit_extras(self, target, observed, result):
            out = super().fit_extras(target, observed, result)
            return {**out, "my_extra": ((), 42.0, {"units": "1", "long_name": "mine"})}
    record, _ = runner.fit(Extra(kind.spec), "grad", target, target_ds)
    plain, _ = runner.fit(kind, "grad", target, target_ds)
    assert float(record["my_extra"]) == 42.0 and "my_extra" not in plain
    assert float(record["noise_floor_loss"]) == float(plain["noise_floor_loss"])
    np.testing.assert_array_equal(record["fitted_eeg"].values, plain["fitted_eeg"].values)


def test_auto_chunks_one_per_core_nearly_equal_and_capped():
    targets = list(range(500))
    chunks = chunk_targets(targets, "auto", cores=2)
    assert [len(c) for c in chunks] == [250, 250] and sum(chunks, []) == targets
    assert [len(c) for c in chunk_targets(targets[:12], "auto", cores=8)] == [
        1, 2, 1, 2, 1, 2, 1, 2]  # nearly equal, in order
    assert len(chunk_targets(list(range(2000)), "auto", cores=2)) == 8  # <= 256 each
    assert chunk_targets(targets[:3], "auto", cores=16) == [[0], [1], [2]]
    assert [len(c) for c in chunk_targets(targets[:5], 2)] == [2, 2, 1]
    with pytest.raises(ValueError, match="chunk_size"):
        chunk_targets(targets, 0)


def test_a_job_that_fits_nothing_with_nevergrad_does_not_import_it():
    """Summary, figures, scan and target jobs read their (planned, checked) block without
    trying the nevergrad optimizer: its import is 1.4 s or more of each such job's start. The
    planning's full check still refuses an unknown optimizer."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = ("import json, sys; from eegfit import experiments, io, plots; "
            f"kind = experiments.build('tiny', json.loads({json.dumps(json.dumps(TINY))}), "
            "check_optimizers=False); "
            "assert kind.spec.backend('nevergrad').options == {'popsize': 6, "
            "'initialization': 'LHS'}; print('nevergrad' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "False"
    bad = copy.deepcopy(TINY)
    bad["backends"]["nevergrad"]["optimizer"] = "NoSuchOptimizer"
    with pytest.raises(ValueError, match="NoSuchOptimizer"):
        experiments.build("tiny", bad)


@pytest.mark.parametrize("kind", ["column", "recording"])
def test_the_drive_is_checked_against_the_checked_step(kind):
    """``simulation.dt_ms`` is read once (``Simulation.read``) and handed to the kind's
    ``read_extra``: a noisy drive's step warning uses it, and a step that is not a number is
    refused at ``simulation.dt_ms``, before the kind's own keys."""
    import warnings

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    name, block = next((n, copy.deepcopy(b)) for n, b in config["experiments"].items()
                       if b["kind"] == kind)
    block["model"]["drive"] = {"kind": "white_noise", "mean_hz": 220.0, "sigma_hz_sqrt_s": 0.5}
    block.pop("npe", None)  # an NPE takes a constant drive
    block["simulation"]["dt_ms"] = 1.0
    with pytest.warns(UserWarning, match=r"model\.drive: .* 1 ms lies outside"):
        experiments.build(name, block)
    block["simulation"]["dt_ms"] = 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        experiments.build(name, block)
    block["simulation"]["dt_ms"] = "0.1"
    with pytest.raises(ValueError, match=rf"experiments\.{name}\.simulation\.dt_ms must be a "
                                         r"finite number"):
        experiments.build(name, block)
