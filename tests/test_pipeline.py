"""The Snakemake pipeline, run for real in a temporary copy of the workflow on the small config."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

ROOT = Path(__file__).resolve().parents[1]
SMALL = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
NAME = "small_C_rms"
EXP = SMALL["experiments"][NAME]
pytestmark = pytest.mark.slow


def copy_workflow(dest: Path) -> Path:
    """The workflow files in ``dest`` (the root Snakefile, workflow/, config/, envs/, profiles/)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Snakefile", dest)
    for folder in ("workflow", "config", "envs", "profiles", ".test"):
        shutil.copytree(ROOT / folder, dest / folder, dirs_exist_ok=True)
    return dest


def snakemake(workdir: Path, *args, config: dict | None = None, check=True):
    """Run the snakemake CLI in ``workdir`` (with ``config`` written to a file if given)."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    if config is not None:
        path = workdir / "test_config.yaml"
        path.write_text(yaml.safe_dump(config))
        cmd += ["--configfile", str(path)]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.nc"))}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("pipeline"))
    snakemake(workdir, config=SMALL)
    return workdir


def test_outputs_exist_and_fits_recover_truth(run):
    results = run / "results" / NAME
    for truth in EXP["parameters"]["C"]["truths"]:
        for seed in EXP["seeds"]:
            assert (results / f"targets/C={truth:g}/seed={seed}.nc").is_file()
            for backend in EXP["backends"]:
                assert (results / f"fits/{backend}/C={truth:g}/seed={seed}.nc").is_file()
    # --configfile replaced the default config: its other experiments did not run
    assert {p.name for p in results.iterdir()} >= {"targets", "fits", "figures"}
    assert {p.name for p in (run / "results").iterdir()} <= {NAME, "benchmarks"}
    table = pd.read_csv(results / "summary.csv")
    assert len(table) == len(EXP["parameters"]["C"]["truths"]) * len(EXP["seeds"]) * 2
    assert set(table["status"]) <= {"max_steps", "converged"}
    assert (table["rel_error"] < 0.01).all(), table
    assert (table["wall_time_s"] > 0).all()
    assert (table["noise_floor_loss"] == 0).all()  # constant drive: the truth hits the target


def test_netcdf_files_explain_themselves(run):
    results = run / "results" / NAME
    with xr.open_dataset(results / "targets/C=150/seed=0.nc") as target:
        assert target["eeg"].dims == ("time",)
        assert target["eeg"].attrs["units"] == "mV"
        assert target["time"].attrs["units"] == "ms"
        assert float(target["time"][0]) == pytest.approx(200.1)
        assert target.attrs["eegfit_version"]
        assert json.loads(target.attrs["config_json"])["simulation"]["dt_ms"] == 0.1
        assert target.attrs["config.simulation.duration_ms"] == 600.0
    with xr.open_dataset(results / "fits/nevergrad/C=150/seed=0.nc") as fit:
        assert fit["loss"].dims == ("step", "candidate")
        assert fit.sizes["candidate"] == EXP["backends"]["nevergrad"]["num_candidates"]
        assert fit.sizes["step"] == EXP["backends"]["nevergrad"]["n_steps"]
        for name, var in fit.data_vars.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
        assert fit.attrs["backend"] == "nevergrad" and fit.attrs["seed"] == 0
        assert fit.attrs["status"] in ("max_steps", "converged")
        assert "wall" not in " ".join(fit.attrs)  # timings live in results/timings/
        best = int(np.nanargmin(fit["loss"].values))
        assert float(fit["param_C"].values.ravel()[best]) == float(fit["best_C"])
    with xr.open_dataset(results / "summary.nc") as summary:
        assert summary.sizes["fit"] == 4 and summary["fitted"].attrs["units"] == "1"


def test_figures_are_nonempty_images(run):
    from matplotlib.image import imread

    for name in ("convergence", "comparison", "eeg_fit", "landscape"):
        png = run / "results" / NAME / "figures" / f"{name}.png"
        image = imread(png)
        assert image.shape[0] > 300 and image.shape[1] > 300
        assert image[..., :3].std() > 0.01, f"{name}.png is blank"
        assert (run / "results" / NAME / "figures" / f"{name}.pdf").stat().st_size > 1000


def test_rerun_is_noop_and_lint_is_clean(run):
    dry = snakemake(run, "-n", config=SMALL)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    lint = snakemake(run, "--lint", config=SMALL)
    assert "Lints for" not in lint.stdout + lint.stderr


def test_changing_one_backend_setting_reruns_only_its_fits(run):
    changed = copy.deepcopy(SMALL)
    changed["experiments"][NAME]["backends"]["nevergrad"]["n_steps"] = 9
    dry = snakemake(run, "-n", config=changed)
    out = dry.stdout + dry.stderr
    jobs = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert any(job.startswith(f"fit_{NAME}_nevergrad_") for job in jobs), out
    assert not any(job.startswith((f"fit_{NAME}_grad_", "targets_", "scan")) for job in jobs), out


def test_rerun_and_unbatched_run_give_byte_identical_netcdf(run, tmp_path):
    """A fresh run, one job per fit instead of chunks of two, writes the very same bytes."""
    assert SMALL["batching"]["chunk_size"] > 1
    unbatched = copy.deepcopy(SMALL)
    unbatched["batching"]["chunk_size"] = 1
    again = copy_workflow(tmp_path / "again")
    snakemake(again, config=unbatched)
    assert digests(again / "results") == digests(run / "results")


def test_report_builds(run):
    snakemake(run, "--report", "results/report.html", config=SMALL)
    html = (run / "results" / "report.html").read_text(errors="replace")
    assert "convergence" in html and len(html) > 10_000


E = ("experiments", "small_C_rms")
BAD_CONFIGS = [
    ("wrong type", (*E, "seeds"), "zero", "seeds"),
    ("unknown key", ("colour",), "red", "colour"),
    ("unknown backend", (*E, "backends", "annealing"), {"n_steps": 3}, "annealing"),
    ("unknown grad optimizer", (*E, "backends", "grad", "optimizer"), "adamm", "adamm"),
    ("unknown nevergrad optimizer", (*E, "backends", "nevergrad", "optimizer"), "DEE", "DEE"),
    ("unknown feature", (*E, "features"), {"amplitude": {}}, "amplitude"),
    ("empty seeds", (*E, "seeds"), [], "seeds"),
    ("dt <= 0", (*E, "simulation", "dt_ms"), 0.0, "dt_ms"),
    ("transient >= duration", (*E, "simulation", "transient_ms"), 600.0, "transient_ms"),
    ("bounds low >= high", (*E, "parameters", "C", "bounds"), [170, 110], "C.bounds"),
    ("start outside bounds", (*E, "parameters", "C", "start"), 200, "C.start"),
    ("bad posterior method", (*E, "posterior"), {"method": "mcmc"}, "posterior"),
]


@pytest.mark.parametrize("label, path, value, culprit", BAD_CONFIGS,
                         ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_stops_before_any_job(tmp_path, label, path, value, culprit):
    workdir = copy_workflow(tmp_path)
    bad = copy.deepcopy(SMALL)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    proc = snakemake(workdir, "-n", config=bad, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"{label}: accepted"
    assert culprit in out, f"{label}: message does not name {culprit!r}:\n{out[-2000:]}"
    assert not (workdir / "results").exists()


def test_forced_divergence_is_recorded_and_pipeline_completes(tmp_path):
    """Fitting the time constant a from a start where Euler at dt 0.1 ms blows up (a dt > 2)."""
    config = copy.deepcopy(SMALL)
    exp = config["experiments"][NAME]
    exp["parameters"] = {"a": {"truths": [100.0], "bounds": [50.0, 30000.0], "start": 25000.0}}
    exp["backends"]["grad"]["n_steps"] = 3
    exp["backends"]["nevergrad"]["n_steps"] = 2
    exp["scan"]["n_points"] = 5
    workdir = copy_workflow(tmp_path)
    snakemake(workdir, config=config)
    table = pd.read_csv(workdir / "results" / NAME / "summary.csv")
    grad = table[table["backend"] == "grad"].iloc[0]
    assert grad["status"] in ("failed", "diverged") and grad["n_nonfinite"] >= 1
    with xr.open_dataset(workdir / f"results/{NAME}/fits/grad/a=100/seed=0.nc") as fit:
        assert fit.attrs["status"] == grad["status"]
        assert "finite" in fit.attrs["status_message"]
    assert (workdir / "results" / NAME / "figures" / "comparison.png").is_file()
