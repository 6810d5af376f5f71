"""The Snakemake pipeline, run for real in a temporary copy of the workflow on the small config
(.test/config.yaml: experiment ``small_C_rms``, its files under results/small_C_rms/)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
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
EXP = "small_C_rms"  # the small config's one experiment
BLOCK = SMALL["experiments"][EXP]
pytestmark = pytest.mark.slow


def copy_workflow(dest: Path) -> Path:
    """The workflow files in ``dest`` (the root Snakefile, workflow/, config/, envs/, profiles/)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Snakefile", dest)
    for folder in ("workflow", "config", "envs", "profiles", ".test"):
        shutil.copytree(ROOT / folder, dest / folder, dirs_exist_ok=True)
    return dest


def snakemake(workdir: Path, *args, config: dict | None = None, check=True, env=None):
    """Run the snakemake CLI in ``workdir`` (with ``config`` written to a file if given)."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    if config is not None:
        path = workdir / "test_config.yaml"
        path.write_text(yaml.safe_dump(config))
        cmd += ["--configfile", str(path)]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900,
                          env=None if env is None else {**os.environ, **env})
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.nc"))}


def job_counts(out: str) -> dict[str, int]:
    """The job table of a dry run: rule name -> number of jobs."""
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}


def with_key(config: dict, path: tuple, value) -> dict:
    """A copy of ``config`` with ``experiments.<EXP>.<path>`` set to ``value``."""
    new = copy.deepcopy(config)
    node = new["experiments"][EXP]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return new


@pytest.fixture(scope="module")
def run(small_run):
    """The small config run once per session (conftest.small_run: test_paper.py and
    test_figure_content.py read the same run)."""
    return small_run


def test_outputs_exist_and_fits_recover_truth(run):
    res = run / "results" / EXP
    truths, seeds = BLOCK["parameters"]["C"]["truths"], BLOCK["seeds"]
    for truth in truths:
        for seed in seeds:
            assert (res / f"targets/C={truth:g}/seed={seed}.nc").is_file()
            for backend in BLOCK["backends"]:
                assert (res / f"fits/{backend}/C={truth:g}/seed={seed}.nc").is_file()
                timing = json.loads((res / f"timings/{backend}/C={truth:g}/seed={seed}.json")
                                    .read_text())
                assert timing["wall_time_s"] > 0 and timing["n_evaluations"] > 0
    # --configfile replaced the default config: none of its experiments ran
    made = {p.name for p in (run / "results").iterdir()} - {"report.html"}  # test_report_builds
    assert made == {EXP, "benchmarks"}
    assert {p.name for p in res.iterdir()} >= {"targets", "fits", "timings", "scan.nc",
                                               "summary.nc", "summary.csv", "figures"}
    table = pd.read_csv(res / "summary.csv", dtype={"target": str, "units": str})
    assert list(table.columns[:18]) == [
        "experiment", "kind", "target", "parameter", "units", "backend", "optimizer", "seed",
        "truth", "start", "fitted", "rel_error", "std", "best_loss", "noise_floor_loss", "status",
        "n_evaluations", "n_nonfinite"]
    assert len(table) == len(truths) * len(seeds) * len(BLOCK["backends"])
    assert set(table["experiment"]) == {EXP} and set(table["kind"]) == {"column"}
    assert set(table["parameter"]) == {"C"} and set(table["units"]) == {"1"}
    assert sorted(set(table["truth"])) == sorted(truths)
    assert set(table["status"]) <= {"max_steps", "converged"}
    assert (table["rel_error"] < 0.01).all(), table
    assert (table["wall_time_s"] > 0).all()
    assert (table["noise_floor_loss"] == 0).all()  # constant drive: the truth hits the target


def test_netcdf_files_explain_themselves(run):
    res = run / "results" / EXP
    with xr.open_dataset(res / "targets/C=150/seed=0.nc") as target:
        assert target["eeg"].dims == ("time",)
        assert target["eeg"].attrs["units"] == "mV"
        assert target["time"].attrs["units"] == "ms"
        assert float(target["time"][0]) == pytest.approx(200.1)
        # the target's features are scalar variables of its file
        assert target["rms"].dims == () and target["rms"].attrs["units"] == "mV"
        for name, var in target.data_vars.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
        assert target.attrs["eegfit_version"]
        assert target.attrs["experiment"] == EXP and target.attrs["kind"] == "column"
        assert target.attrs["target"] == "C=150" and target.attrs["seed"] == 0
        assert target.attrs["truth.C"] == 150.0
        assert json.loads(target.attrs["config_json"])["simulation"]["dt_ms"] == 0.1
        assert target.attrs["config.simulation.duration_ms"] == 600.0
    nevergrad = BLOCK["backends"]["nevergrad"]
    with xr.open_dataset(res / "fits/nevergrad/C=150/seed=0.nc") as fit:
        assert fit["loss"].dims == ("step", "candidate")
        assert fit.sizes["candidate"] == nevergrad["num_candidates"]
        assert fit.sizes["step"] == nevergrad["n_steps"]
        for name, var in fit.data_vars.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
        assert fit.attrs["backend"] == "nevergrad" and fit.attrs["seed"] == 0
        assert fit.attrs["experiment"] == EXP and fit.attrs["target"] == "C=150"
        assert fit.attrs["status"] in ("max_steps", "converged")
        assert "wall" not in " ".join(fit.attrs)  # timings live in results/<exp>/timings/
        best = int(np.nanargmin(fit["loss"].values))
        assert float(fit["param_C"].values.ravel()[best]) == float(fit["best_C"])
    with xr.open_dataset(res / "summary.nc") as summary:
        assert summary.sizes["fit"] == 4 and summary["fitted"].attrs["units"] == "1"
        assert "wall_time_s" not in summary
    with xr.open_dataset(res / "scan.nc") as scan:
        assert scan.attrs["record"] == "scan" and set(scan.data_vars) >= {"rms",
                                                                          "spectral_peak_hz"}
        assert scan.sizes["value"] == BLOCK["scan"]["n_points"]


def test_figures_are_nonempty_images(run):
    from matplotlib.image import imread

    for name in ("convergence", "comparison", "eeg_fit", "landscape"):
        png = run / "results" / EXP / "figures" / f"{name}.png"
        image = imread(png)
        assert image.shape[0] > 300 and image.shape[1] > 300
        assert image[..., :3].std() > 0.01, f"{name}.png is blank"
        assert png.with_suffix(".pdf").stat().st_size > 1000


def test_logs_and_benchmarks_per_stage(run):
    for stage in ("targets", "fits", "scan", "summary", "figures", "paper"):
        assert list((run / "logs" / stage).rglob("*.log")), stage
        assert list((run / "results" / "benchmarks" / stage).rglob("*.tsv")), stage


def test_rerun_is_noop_and_lint_is_clean(run):
    dry = snakemake(run, "-n", config=SMALL)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    lint = snakemake(run, "--lint", config=SMALL)
    assert "Lints for" not in lint.stdout + lint.stderr, lint.stdout + lint.stderr


def test_changing_one_backend_setting_reruns_only_its_fits(run):
    changed = with_key(SMALL, ("backends", "nevergrad", "n_steps"), 9)
    dry = snakemake(run, "-n", config=changed)
    out = dry.stdout + dry.stderr
    jobs = job_counts(out)
    assert any(job.startswith(f"fit_{EXP}_nevergrad_") for job in jobs), out
    assert not any(job.startswith((f"fit_{EXP}_grad_", f"targets_{EXP}_", "scan"))
                   for job in jobs), out


def test_a_new_truth_reruns_the_fits_and_figures_but_not_the_scan(run):
    """A one-parameter column's scan reads no target (the features over the box alone): a new
    truth adds targets and fits and redraws, and leaves the scan as it is."""
    truths = BLOCK["parameters"]["C"]["truths"]
    changed = with_key(SMALL, ("parameters", "C", "truths"), [*truths, 160])
    dry = snakemake(run, "-n", config=changed)
    out = dry.stdout + dry.stderr
    jobs = job_counts(out)
    assert any(job.startswith(f"targets_{EXP}_") for job in jobs), out
    assert {"summary", f"figures_{EXP}"} <= set(jobs), out
    assert "scan" not in jobs, out


def test_post_fit_jobs_wait_only_for_what_they_read(tmp_path):
    """From nothing: the scan needs no target, the kind's figures need the scan and the fits
    (not the summary), the common figures only the summary, so they can run side by side."""
    work = copy_workflow(tmp_path / "plan")
    for until, absent in (("scan", ("targets", "fit_", "summary")),
                          (f"kind_figures_{EXP}", ("summary", f"figures_{EXP}")),
                          (f"figures_{EXP}", ("scan", f"kind_figures_{EXP}"))):
        dry = snakemake(work, "-n", "--until", until, config=SMALL)
        jobs = job_counts(dry.stdout + dry.stderr)
        assert until in jobs, (until, jobs)
        assert not any(job.startswith(absent) for job in jobs if job != until), (until, jobs)


def test_unbatched_run_gives_the_same_fits(run, tmp_path):
    """A fresh run, one job per fit instead of chunks of two fitted as one batch: the same
    targets (bytes) and the same fits up to float rounding (a batch of 9 or more fits runs in
    another memory layout than a fit alone): best values within rtol 1e-4, same status. A rerun
    with the same chunks writes the very same bytes (test_workflow_guarantees.py)."""
    assert SMALL["batching"]["chunk_size"] > 1
    unbatched = copy.deepcopy(SMALL)
    unbatched["batching"]["chunk_size"] = 1
    again = copy_workflow(tmp_path / "again")
    snakemake(again, "--until", "summary", "scan", config=unbatched)
    first, second = digests(run / "results"), digests(again / "results")
    assert len(first) == 8 and set(second) == set(first)  # 2 targets, 4 fits, scan, summary
    for path in first:
        if "/targets/" in path or path.endswith("scan.nc"):
            assert second[path] == first[path], path
        elif "/fits/" in path:
            with xr.open_dataset(run / "results" / path) as a, \
                    xr.open_dataset(again / "results" / path) as b:
                assert a.attrs["status"] == b.attrs["status"], path
                np.testing.assert_allclose(float(a["best_C"]), float(b["best_C"]), rtol=1e-4)


def test_report_builds(run):
    snakemake(run, "--report", "results/report.html", config=SMALL)
    html = (run / "results" / "report.html").read_text(errors="replace")
    assert "convergence" in html and len(html) > 10_000


def quick_start_commands() -> list[str]:
    """The README Quick start's Snakemake commands, in the order shown (comments dropped),
    extracted from the file: the bash block after "the pipeline is plain Snakemake"."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("the pipeline is plain Snakemake"):]
    block = block[block.index("```bash") + len("```bash"):]
    block = block[:block.index("```")]
    return [line.split("#")[0].strip() for line in block.splitlines()
            if line.strip().startswith("snakemake")]


def test_quick_start_commands_run_in_order(run):
    """Each Quick start command as written, in order, in the small run's directory: those on the
    small config (`--configfile .test/...`) run for real (the run, then its report); those on the
    default config or a cluster profile are planned (`-n`): the default run takes minutes
    (`make run` does it) and the SLURM run is tests/test_slurm.py's. The default run's report
    needs the default run's results, so it is the one command not run here."""
    commands = quick_start_commands()
    assert len(commands) >= 4 and any("--report" in c and ".test/" in c for c in commands)
    for command in commands:
        args = command.split()[1:]
        if "--report" in args and ".test/" not in command:
            continue
        if ".test/" not in command:
            args = [*args, "-n"]
        proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=run,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, (f"README Quick start: `{command}` fails:\n"
                                      f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    assert (run / "results" / "test.html").stat().st_size > 10_000


P = f"experiments.{EXP}"
BAD_CONFIGS = [  # label, key path under experiments.<EXP>, value, what the message names
    ("wrong type", ("seeds",), "zero", f"{P}.seeds"),
    ("unknown key", ("colour",), "red", "colour"),
    ("unknown backend", ("backends", "annealing"), {"n_steps": 3}, f"{P}.backends.annealing"),
    ("unknown grad optimizer", ("backends", "grad", "optimizer"), "adamm", "adamm"),
    ("unknown nevergrad optimizer", ("backends", "nevergrad", "optimizer"), "DEE", "DEE"),
    ("unknown feature", ("features",), {"amplitude": {}}, f"{P}.features.amplitude"),
    ("empty seeds", ("seeds",), [], f"{P}.seeds"),
    ("dt <= 0", ("simulation", "dt_ms"), 0.0, f"{P}.simulation.dt_ms"),
    ("transient >= duration", ("simulation", "transient_ms"), 600.0,
     f"{P}.simulation.transient_ms"),
    ("bounds low >= high", ("parameters", "C", "bounds"), [170, 110], f"{P}.parameters.C.bounds"),
    ("start outside bounds", ("parameters", "C", "start"), 200, f"{P}.parameters.C.start"),
    # passed planning before issue 10
    ("NaN truth", ("parameters", "C", "truths"), [float("nan"), 150],
     f"{P}.parameters.C.truths[0]"),
    ("unknown fitted parameter", ("parameters", "Q"),
     {"bounds": [0, 1], "start": 0.5, "truths": [0.5, 0.5]}, f"{P}.parameters.Q"),
    ("bad feature band", ("features", "spectral_peak_hz"), {"band_hz": "oops"},
     f"{P}.features.spectral_peak_hz.band_hz"),
    ("bad nevergrad option value", ("backends", "nevergrad", "options", "popsize"), "many",
     f"{P}.backends.nevergrad"),
]


def _refused_at_planning(workdir: Path, config: dict, label: str, culprit: str) -> str:
    proc = snakemake(workdir, "-n", config=config, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"{label}: accepted"
    assert culprit in out, f"{label}: message does not name {culprit!r}:\n{out[-2000:]}"
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()
    return out


@pytest.mark.parametrize("label, path, value, culprit", BAD_CONFIGS,
                         ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_stops_before_any_job(tmp_path, label, path, value, culprit):
    _refused_at_planning(copy_workflow(tmp_path), with_key(SMALL, path, value), label, culprit)


def test_old_shape_config_is_refused_with_the_new_shape(tmp_path):
    old = {"experiment": "small_C_rms", "seeds": [0],
           "parameter": {"name": "C", "truths": [150], "bounds": [110, 170], "start": 115}}
    out = _refused_at_planning(copy_workflow(tmp_path), old, "old shape", "old shape")
    assert "experiments:" in out and "parameters:" in out, out[-2000:]


def test_a_job_that_fails_says_why_in_its_log(tmp_path):
    """A target that diverges (Euler at dt 0.1 ms with a = 25,000 /s) stops its job: the error,
    naming the target, is in the job's log file, which Snakemake prints with the failed rule."""
    config = copy.deepcopy(SMALL)
    block = config["experiments"][EXP]
    block["parameters"] = {"a": {"truths": [25000.0], "bounds": [50.0, 30000.0],
                                 "start": 100.0}}
    workdir = copy_workflow(tmp_path)
    proc = snakemake(workdir, config=config, check=False)
    assert proc.returncode != 0
    text = (workdir / "logs" / "targets" / EXP / "chunk0.log").read_text()
    assert "job failed: FloatingPointError" in text and "a=25000" in text and "diverged" in text
    assert "Traceback" in text
    assert "job failed: FloatingPointError" in proc.stdout + proc.stderr  # shown with the rule


def test_forced_divergence_is_recorded_and_pipeline_completes(tmp_path):
    """Fitting the time constant a from a start where Euler at dt 0.1 ms blows up (a dt > 2)."""
    config = copy.deepcopy(SMALL)
    block = config["experiments"][EXP]
    block["parameters"] = {"a": {"truths": [100.0], "bounds": [50.0, 30000.0],
                                 "start": 25000.0}}
    block["backends"]["grad"]["n_steps"] = 3
    block["backends"]["nevergrad"]["n_steps"] = 2
    block["scan"]["n_points"] = 5
    workdir = copy_workflow(tmp_path)
    snakemake(workdir, config=config)
    res = workdir / "results" / EXP
    table = pd.read_csv(res / "summary.csv")
    grad = table[table["backend"] == "grad"].iloc[0]
    # the first attempt diverged (recorded), and the fit tried again from 8 screened starts
    assert grad["retried"] in ("failed", "diverged") and grad["n_nonfinite"] >= 1
    with xr.open_dataset(res / "fits/grad/a=100/seed=0.nc") as fit:
        assert fit.attrs["status"] == grad["status"]
        assert fit.attrs["first_attempt_status"] == grad["retried"]
        assert "finite" in fit.attrs["status_message"] or grad["retried"] in fit.attrs[
            "status_message"]
    assert (res / "figures" / "comparison.png").is_file()
