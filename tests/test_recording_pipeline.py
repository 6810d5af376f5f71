"""The recording section of the pipeline, run for real by Snakemake on a tiny generated EDF."""

from __future__ import annotations

import copy
import hashlib

import pytest
import xarray as xr

from test_pipeline import SMALL, copy_workflow, snakemake

pytest.importorskip("mne")
pytestmark = pytest.mark.slow

RECORDING = {
    "files": {"demo": "results/recording/demo.edf"},
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
    "backends": {"grad": {"optimizer": "adam", "learning_rate": 0.02, "n_steps": 5},
                 "nevergrad": {"optimizer": "DE", "num_candidates": 4, "n_steps": 2,
                               "options": {"popsize": 4}}},
    "demo": {"path": "results/recording/demo.edf", "truth": {"a": 100.0, "b": 50.0},
             "sfreq_hz": 250, "duration_s": 20, "gain_uv_per_mv": 10.0, "noise_uv": 2.0,
             "seed": 1, "channels": {"O1": 1.0, "O2": 0.9, "Cz": 0.4}},
}
CONFIG = {**SMALL, "recording": RECORDING}
OUT = "results/recording/demo"
TARGETS = [f"{OUT}/figures/{name}.{ext}" for name in ("psd", "windows", "convergence")
           for ext in ("pdf", "png")]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("recording"))
    snakemake(workdir, *TARGETS, config=CONFIG)
    return workdir


def test_every_output_explains_itself(run):
    for name in ("preprocessed", "features", "fits/grad", "fits/nevergrad"):
        with xr.open_dataset(run / OUT / f"{name}.nc") as ds:
            for var, value in {**ds.data_vars, **ds.coords}.items():
                assert "long_name" in value.attrs, (name, var)
                if var not in ("band", "step", "candidate", "segment"):
                    assert "units" in value.attrs, (name, var)
            assert ds.attrs["eegfit_version"] and "config_json" in ds.attrs
    with xr.open_dataset(run / OUT / "features.nc") as ds:
        assert ds.sizes["segment"] == 19 and ds["window_peak_frequency"].dims == ("segment",)
        assert 9.5 < float(ds["peak_frequency"]) < 11.5
    with xr.open_dataset(run / OUT / "fits/grad.nc") as fit:
        assert fit.attrs["fitted_parameters"] == "a,b" and float(fit["true_a"]) == 100.0
        assert fit["model_psd"].dims == ("frequency",)
    for target in TARGETS:
        assert (run / target).stat().st_size > 1000
    for rule in ("demo", "demo/preprocess", "demo/features", "demo/fit_grad", "demo/figures"):
        assert (run / "results/benchmarks/recording" / f"{rule}.tsv").is_file()


def test_rerun_is_noop_and_lint_is_clean(run):
    dry = snakemake(run, "-n", *TARGETS, config=CONFIG)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    lint = snakemake(run, "--lint", config=CONFIG)
    assert "Lints for" not in lint.stdout + lint.stderr


@pytest.mark.parametrize("key, value, culprit", [("channels", ["Oz"], "'Oz'")])
def test_bad_input_stops_before_any_fit_and_keeps_earlier_fits(run, key, value, culprit):
    fits = sorted((run / OUT / "fits").glob("*.nc"))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in fits}
    bad = copy.deepcopy(CONFIG)
    bad["recording"][key] = value
    proc = snakemake(run, *TARGETS, config=bad, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "RecordingError" in out and culprit in out and "demo.edf" in out, out[-3000:]
    assert "rule recording_fit:" not in out  # no fit was started
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in fits} == before
