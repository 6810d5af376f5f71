"""A two-parameter column and network experiments in the pipeline, run for real by Snakemake on
tiny configs (.test/multi.yaml: ``tiny_C_p``; .test/network.yaml: ``tiny_network_k`` and the
delayed ``tiny_network_delays``, k and the speed together) merged with the small config under
``experiments:``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr


pytestmark = pytest.mark.slow
CONFIGS = [".test/config.yaml", ".test/multi.yaml", ".test/network.yaml"]
MULTI, NETWORK = "results/tiny_C_p", "results/tiny_network_k"
DELAYED = "results/tiny_network_delays"
TARGETS = [f"{MULTI}/summary.csv", f"{MULTI}/figures/loss_surface.png",
           f"{NETWORK}/summary.csv", f"{NETWORK}/figures/fc_vs_k.png"]


def snakemake(workdir: Path, *args, targets=TARGETS):
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args, *targets,
           "--configfile", *CONFIGS]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def run(blocks_run):
    """The three configs run once (the session's run, shared with the workflow guarantees)."""
    return blocks_run


def test_small_config_alone_runs_neither_experiment(run):
    """A config without the experiments runs neither (the default config's do not leak)."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2",
                           "--configfile", ".test/config.yaml"], cwd=run, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-2000:]
    for name in ("tiny_C_p", "tiny_network_k", "jansen_rit_C_p", "jr_network_hcp10_k",
                 "recording_demo"):
        assert name not in out, name


def test_multi_outputs(run):
    res = run / MULTI
    label = "C=160_drive.rate_hz=200"
    with xr.open_dataset(res / f"fits/grad/{label}/seed=0.nc") as fit:
        for name, var in fit.data_vars.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
        assert fit["hessian"].shape == (2, 2) and "std_C" in fit and "std_drive.rate_hz" in fit
        assert fit.attrs["eegfit_version"] and fit.attrs["experiment"] == "tiny_C_p"
        assert fit.attrs["fitted_parameters"] == "C,drive.rate_hz"
        assert fit.attrs["truth.C"] == 160.0 and fit.attrs["truth.drive.rate_hz"] == 200.0
    with xr.open_dataset(res / f"targets/{label}/seed=0.nc") as target:
        assert {"eeg", "rms", "spectral_peak_hz"} <= set(target.data_vars)
        assert target["spectral_peak_hz"].attrs["units"] == "Hz"
    with xr.open_dataset(res / "scan.nc") as scan:  # the loss surface of each target
        assert scan["loss"].sel(target=label).shape == (6, 6)
        assert scan["loss"].dims == ("target", "C", "drive.rate_hz")
    table = pd.read_csv(res / "summary.csv", dtype={"units": str})
    # one row per fit and parameter: 2 backends x 2 parameters
    assert len(table) == 4 and {"std", "wall_time_s"} <= set(table)
    assert list(table["parameter"]) == ["C", "drive.rate_hz"] * 2
    assert dict(zip(table["parameter"], table["units"])) == {"C": "1", "drive.rate_hz": "Hz"}
    assert dict(zip(table["parameter"], table["truth"])) == {"C": 160.0, "drive.rate_hz": 200.0}
    assert table["std"].notna().sum() >= 2  # the Laplace 1-sigma of a fit, per parameter


def test_network_outputs(run):
    res = run / NETWORK
    with xr.open_dataset(res / "fits/nevergrad/k=60/seed=0.nc") as fit:
        for name, var in fit.data_vars.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
        assert fit["target_fc"].shape == (6, 6) and float(fit["noise_floor_loss"]) > 0
        assert fit.attrs["experiment"] == "tiny_network_k" and fit.attrs["kind"] == "network"
    with xr.open_dataset(res / "targets/k=60/seed=0.nc") as target:
        assert target["eeg"].dims == ("time", "node") and target["sc"].attrs["units"] == "1"
        assert target.attrs["connectome_source"] == "synthetic:seed=0"
    with xr.open_dataset(res / "scan.nc") as scan:
        assert scan["objective"].dims == ("run", "value") and scan.sizes["value"] == 5
    table = pd.read_csv(res / "summary.csv")
    assert len(table) == 2 and {"noise_floor_loss", "fc_correlation_ceiling",
                                "best_fc_correlation"} <= set(table)
    assert set(table["kind"]) == {"network"} and set(table["parameter"]) == {"k"}


def test_delayed_network_outputs(run):
    """k and the speed fitted together: both in every fit, the surface over both, the target's
    FC without delays beside its FC."""
    res, label = run / DELAYED, "k=30_speed_m_s=5"
    with xr.open_dataset(res / f"fits/grad/{label}/seed=0.nc") as fit:
        assert fit.attrs["fitted_parameters"] == "k,speed_m_s"
        assert fit["best_speed_m_s"].attrs["units"] == "m/s" and fit["hessian"].shape == (2, 2)
        assert fit["param_k"].shape == fit["param_speed_m_s"].shape  # the path on the surface
    with xr.open_dataset(res / f"targets/{label}/seed=0.nc") as target:
        assert target["fc_no_delays"].shape == (5, 5)
        assert "conduction delays" in target["tract_length"].attrs["long_name"]
    with xr.open_dataset(res / "scan.nc") as scan:
        assert scan["objective"].dims == ("run", "k", "speed_m_s")
        assert scan["objective"].shape == (1, 5, 5)
    table = pd.read_csv(res / "summary.csv")
    assert list(table["parameter"]) == ["k", "speed_m_s"] * 2


def test_figures_are_nonempty_images(run):
    from matplotlib.image import imread

    figures = [run / MULTI / "figures" / f"{n}.png" for n in ("loss_surface", "convergence",
                                                              "comparison")]
    figures += [run / NETWORK / "figures" / f"{n}.png" for n in ("fc_matrices", "fc_vs_k",
                                                                 "convergence", "comparison")]
    figures += [run / DELAYED / "figures" / f"{n}.png" for n in ("fc_matrices", "loss_surface",
                                                                 "fc_delays", "convergence")]
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
    assert "Lints for" not in text, text
    # Rewriting targets and summaries in place gives the very same bytes (no wall times, no
    # dates in a NetCDF); -f forces just the named files' jobs, not what they depend on.
    redo = [f"{MULTI}/targets/C=160_drive.rate_hz=200/seed=0.nc", f"{MULTI}/summary.nc",
            f"{NETWORK}/targets/k=60/seed=0.nc", f"{NETWORK}/summary.nc",
            f"{DELAYED}/targets/k=30_speed_m_s=5/seed=0.nc", f"{DELAYED}/summary.nc"]
    before = {p: (run / p).read_bytes() for p in redo}
    snakemake(run, "-f", targets=redo)
    for p in redo:
        assert (run / p).read_bytes() == before[p], p
