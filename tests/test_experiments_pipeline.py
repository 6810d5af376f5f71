"""The multi-parameter and network blocks of the pipeline, run for real by Snakemake on tiny
configs (.test/multi.yaml, .test/network.yaml) added to the small config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from test_pipeline import copy_workflow

pytestmark = pytest.mark.slow
CONFIGS = [".test/config.yaml", ".test/multi.yaml", ".test/network.yaml"]
TARGETS = ["results/multi/summary.csv", "results/multi/figures/loss_surface.png",
           "results/network/summary.csv", "results/network/figures/fc_vs_k.png"]


def snakemake(workdir: Path, *args, targets=TARGETS):
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args, *targets,
           "--configfile", *CONFIGS]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("experiments"))
    snakemake(workdir)
    return workdir


def test_small_config_alone_runs_neither_block(run):
    """A config without the blocks runs neither (the default config's blocks do not leak)."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2",
                           "--configfile", ".test/config.yaml"], cwd=run, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-2000:]
    assert "multi_" not in out and "network_" not in out


def test_multi_outputs(run):
    res = run / "results" / "multi"
    fit_path = res / "fits/grad/C=160_drive.rate_hz=200/seed=0.nc"
    with xr.open_dataset(fit_path) as fit:
        for name, var in fit.data_vars.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
        assert fit["hessian"].shape == (2, 2) and "std_C" in fit and "std_drive.rate_hz" in fit
        assert fit.attrs["eegfit_version"] and fit.attrs["config.multi.experiment"] == "tiny_C_p"
    with xr.open_dataset(res / "surface/C=160_drive.rate_hz=200.nc") as surface:
        assert surface["loss"].shape == (6, 6)
    table = pd.read_csv(res / "summary.csv")
    assert len(table) == 2 and {"std_C", "z_drive.rate_hz", "wall_time_s"} <= set(table)


def test_network_outputs(run):
    res = run / "results" / "network"
    with xr.open_dataset(res / "fits/nevergrad/k=60/seed=0.nc") as fit:
        for name, var in fit.data_vars.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
        assert fit["target_fc"].shape == (6, 6) and float(fit["noise_floor_loss"]) > 0
        assert fit.attrs["connectome_source"] == "synthetic:seed=0"
    with xr.open_dataset(res / "targets/k=60/seed=0.nc") as target:
        assert target["eeg"].dims == ("time", "node") and target["sc"].attrs["units"] == "1"
    table = pd.read_csv(res / "summary.csv")
    assert len(table) == 2 and {"noise_floor_loss", "fc_correlation_ceiling"} <= set(table)


def test_figures_are_nonempty_images(run):
    from matplotlib.image import imread

    figures = [run / "results/multi/figures" / f"{n}.png" for n in ("loss_surface",
                                                                     "convergence")]
    figures += [run / "results/network/figures" / f"{n}.png" for n in ("fc_matrices", "fc_vs_k",
                                                                       "convergence")]
    for png in figures:
        image = imread(png)
        assert image.shape[0] > 300 and image.shape[1] > 300, png
        assert image[..., :3].std() > 0.01, f"{png.name} is blank"
        assert png.with_suffix(".pdf").stat().st_size > 1000


def test_rerun_is_noop_lint_clean_and_netcdf_byte_identical(run):
    out = snakemake(run, "-n")
    assert "Nothing to be done" in out
    lint = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--configfile", *CONFIGS],
                          cwd=run, capture_output=True, text=True, timeout=300)
    text = lint.stdout + lint.stderr
    for rules in ("multi.smk", "network.smk", "experiments_common.smk"):
        assert f"Lints for snakefile {run}/workflow/rules/{rules}" not in text, text
    # Rewriting targets and summaries in place gives the very same bytes (no wall times, no
    # dates in a NetCDF); -f forces just the named files, not what they depend on.
    redo = ["results/multi/targets/C=160_drive.rate_hz=200.nc", "results/multi/summary.nc",
            "results/network/targets/k=60/seed=0.nc", "results/network/summary.nc"]
    before = {p: (run / p).read_bytes() for p in redo}
    snakemake(run, "-f", targets=redo)
    for p in redo:
        assert (run / p).read_bytes() == before[p], p
