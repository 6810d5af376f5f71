"""A recording experiment in the pipeline, run for real by Snakemake on a tiny generated EDF (the
pipeline makes it: rule make_input)."""

from __future__ import annotations

import copy
import hashlib

import pytest
import xarray as xr

from test_pipeline import SMALL, copy_workflow, snakemake

pytest.importorskip("mne")
pytestmark = pytest.mark.slow

NAME = "tiny_recording"
OUT = f"results/{NAME}"
EDF = f"{OUT}/inputs/demo.edf"
RECORDING = {
    "kind": "recording",
    "files": {"demo": EDF},
    "channels": ["O1", "O2"],
    "segment_s": 2.0,
    "features": {"peak_frequency": {"band_hz": [6, 14]},
                 "relative_power": {"bands": {"theta": [4, 8], "alpha": [8, 13]},
                                    "total_hz": [2, 40]},
                 "normalised_psd": {"band_hz": [2, 40]}},
    "model": {"drive": {"kind": "uniform_noise", "low_hz": 120.0, "high_hz": 320.0}},
    "simulation": {"dt_ms": 1.0, "duration_ms": 5000.0, "transient_ms": 1000.0,
                   "grad_horizon_ms": 250.0},
    "parameters": {"a": {"bounds": [80, 120], "start": 90}, "b": {"bounds": [40, 60],
                                                                  "start": 55}},
    "seeds": [0],
    "backends": {"grad": {"optimizer": "adam", "learning_rate": 0.02,
                          "learning_rate_units": "box", "n_steps": 5, "n_starts": 2,
                          "screen": 4},
                 "nevergrad": {"optimizer": "DE", "num_candidates": 4, "n_steps": 2,
                               "options": {"popsize": 4}},
                 "hybrid": {"search": {"optimizer": "DE", "num_candidates": 4, "n_steps": 1,
                                       "options": {"popsize": 4}},
                            "polish": {"optimizer": "adam", "learning_rate": 0.02,
                                       "learning_rate_units": "box", "n_steps": 3},
                            "n_polish": 2}},
    "demo": {"path": EDF, "truth": {"a": 100.0, "b": 50.0},
             "sfreq_hz": 250, "duration_s": 20, "gain_uv_per_mv": 10.0, "noise_uv": 2.0,
             "seed": 1, "channels": {"O1": 1.0, "O2": 0.9, "Cz": 0.4}},
}
CONFIG = {**SMALL, "experiments": {**SMALL["experiments"], NAME: RECORDING}}
TARGET = f"{OUT}/targets/demo/seed=0.nc"
FITS = [f"{OUT}/fits/{backend}/demo/seed=0.nc" for backend in ("grad", "nevergrad", "hybrid")]
TARGETS = [f"{OUT}/figures/{name}.{ext}" for name in ("psd_demo", "windows_demo", "convergence")
           for ext in ("pdf", "png")] + [f"{OUT}/summary.csv"]


def with_key(key, value) -> dict:
    bad = copy.deepcopy(CONFIG)
    bad["experiments"][NAME][key] = value
    return bad


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("recording"))
    snakemake(workdir, *TARGETS, config=CONFIG)
    return workdir


def test_every_output_explains_itself(run):
    assert (run / EDF).stat().st_size > 10_000  # the demo recording the pipeline made
    for path in (TARGET, *FITS):
        with xr.open_dataset(run / path) as ds:
            for var, value in {**ds.data_vars, **ds.coords}.items():
                assert "long_name" in value.attrs, (path, var)
                if var not in ("band", "step", "candidate", "segment", "start", "screen"):
                    assert "units" in value.attrs, (path, var)
            assert ds.attrs["eegfit_version"] and "config_json" in ds.attrs
            assert ds.attrs["experiment"] == NAME and ds.attrs["kind"] == "recording"
    # the target holds the preprocessed channel, its Welch spectra and its features
    with xr.open_dataset(run / TARGET) as ds:
        assert ds["eeg"].dims == ("time",) and ds["psd"].dims == ("frequency",)
        assert ds.sizes["segment"] == 19 and ds["window_peak_frequency"].dims == ("segment",)
        assert 9.5 < float(ds["peak_frequency"]) < 11.5
    with xr.open_dataset(run / FITS[0]) as fit:
        assert fit.attrs["fitted_parameters"] == "a,b" and float(fit["true_a"]) == 100.0
        assert fit["model_psd"].dims == ("frequency",)
        assert fit.attrs["optimizer"] == "adam(lr=0.02 x box width)"
        assert fit.attrs["n_starts"] == 2 and fit.attrs["n_screened"] == 4
        assert fit["screen_loss"].dims == ("screen",) and fit["screen_a"].attrs["units"] == "1/s"
    with xr.open_dataset(run / FITS[2]) as fit:  # the hybrid: 4 searched, 2 polished
        assert fit.attrs["backend"] == "hybrid" and fit.sizes["start"] == 2
        assert 2 <= fit.sizes["step"] <= 1 + 3 and fit.attrs["n_evaluations"] <= 4 + 2 * 3
        assert fit["loss"].sizes["candidate"] == 4  # the search's 4, the polish's 2 padded
    for target in TARGETS:
        if "/figures/" in target:
            assert (run / target).stat().st_size > 1000, target
    for bench in (f"inputs/{NAME}/demo.edf", f"targets/{NAME}/chunk0", f"fits/{NAME}/grad/chunk0",
                  f"fits/{NAME}/nevergrad/chunk0", f"fits/{NAME}/hybrid/chunk0",
                  f"figures/{NAME}"):
        assert (run / "results/benchmarks" / f"{bench}.tsv").is_file(), bench


def test_summary_has_a_row_per_fit_and_parameter(run):
    import pandas as pd

    table = pd.read_csv(run / OUT / "summary.csv")
    assert len(table) == 6 and list(table["parameter"]) == ["a", "b"] * 3
    assert set(table["loss_above_lowest"]) <= {"yes", "no"}
    assert (table["lowest_loss"] == table["best_loss"].min()).all()
    assert set(table["kind"]) == {"recording"} and set(table["target"]) == {"demo"}
    # the demo recording has a ground truth (demo.truth); a real one would not (NaN)
    assert dict(zip(table["parameter"], table["truth"])) == {"a": 100.0, "b": 50.0}
    assert table["fitted"].notna().all()


def test_rerun_is_noop_and_lint_is_clean(run):
    dry = snakemake(run, "-n", *TARGETS, config=CONFIG)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    lint = snakemake(run, "--lint", config=CONFIG)
    assert "Lints for" not in lint.stdout + lint.stderr, lint.stdout + lint.stderr


def test_bad_config_value_stops_at_planning(run):
    proc = snakemake(run, "-n", *TARGETS, config=with_key("windows_s", [[5, 2]]), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"experiments.{NAME}.windows_s[0]" in out, out[-3000:]


def test_a_channel_the_recording_lacks_stops_at_planning_and_keeps_earlier_fits(run):
    """The demo file exists after the first run: a channel it lacks is refused when the config
    is read, naming the key, the value and the file's channels, and no job starts."""
    before = {p: hashlib.sha256((run / p).read_bytes()).hexdigest() for p in FITS}
    proc = snakemake(run, *TARGETS, config=with_key("channels", ["Oz"]), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert (f"config experiments.{NAME}.channels: 'Oz' matches no channel of recording file "
            f"'{EDF}'") in out and "the file's channels: ['Cz', 'O1', 'O2']" in out, out[-3000:]
    assert f"rule targets_{NAME}_0" not in out and f"rule fit_{NAME}_" not in out
    assert {p: hashlib.sha256((run / p).read_bytes()).hexdigest() for p in FITS} == before


def test_a_flat_channel_stops_before_any_fit_and_keeps_earlier_fits(run):
    """What only the samples show (a flat channel) stops the targets job, before any fit."""
    import numpy as np

    from eegfit.data import recordings as rec

    before = {p: hashlib.sha256((run / p).read_bytes()).hexdigest() for p in FITS}
    flat = run / "data" / "flat.edf"
    rec.write(flat, {"O1": np.full(2500, 0.01), "O2": np.sin(np.arange(2500) / 4.0) / 50}, 250.0)
    bad = with_key("files", {"demo": EDF, "flat": str(flat)})
    proc = snakemake(run, *TARGETS, config=bad, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "RecordingError" in out and "flat.edf" in out, out[-3000:]
    assert "channel 'O1' (channels 'O1') is flat" in out, out[-3000:]
    assert f"rule targets_{NAME}_0" in out  # it failed in its targets job
    assert f"rule fit_{NAME}_" not in out  # no fit was started
    assert {p: hashlib.sha256((run / p).read_bytes()).hexdigest() for p in FITS} == before
