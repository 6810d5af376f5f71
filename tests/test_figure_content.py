"""Figures and logs carry the numbers of the result files: what a figure draws is the data of its
NetCDF (lines, points, counts), and the fits' progress lines report the losses their records
hold. Bare labelled axes, or a figure drawn from the wrong file, fail here."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from eegfit import plots  # noqa: E402
from test_pipeline import EXP  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(small_run):
    return small_run / "results" / EXP


def _fits(run):
    return [xr.load_dataset(p) for p in sorted(run.glob("fits/*/*/seed=*.nc"))]


def test_convergence_draws_every_fits_best_loss_so_far(run):
    """The pipeline's summary carries each fit's progress; a few fits are drawn one by one."""
    fits = _fits(run)
    summary = xr.load_dataset(run / "summary.nc")
    fig = plots.convergence(summary)
    drawn = [line.get_ydata() for ax in fig.axes for line in ax.get_lines()]
    assert len(drawn) == len(fits)
    for fit in fits:
        expected = np.clip(fit["best_loss_so_far"].values, 1e-12, None)
        assert any(np.array_equal(y, expected) for y in drawn), fit.attrs["target"]
    assert summary["best_loss_so_far"].attrs["loss"] in fig.axes[0].get_ylabel()
    plt.close(fig)


def test_comparison_draws_each_fit_at_its_truth_and_fitted_value(run):
    summary = xr.load_dataset(run / "summary.nc")
    fig = plots.comparison(summary)
    points = np.concatenate([c.get_offsets() for c in fig.axes[0].collections])
    assert len(points) == summary.sizes["fit"]
    for truth, fitted in zip(summary["truth"].values, summary["fitted"].values):
        near = np.abs(points[:, 0] - truth) < 0.01 * abs(truth)  # backends are offset a little
        assert np.any(near & np.isclose(points[:, 1], fitted)), (truth, fitted)
    plt.close(fig)


def test_landscape_draws_the_scan(run):
    scan = xr.load_dataset(run / "scan.nc")
    fig = plots.landscape(scan)
    curves = [line for ax in fig.axes for line in ax.get_lines()
              if len(line.get_xdata()) == scan.sizes["value"]]
    for feature in ("rms", "spectral_peak_hz"):
        assert any(np.array_equal(line.get_ydata(), scan[feature].values) for line in curves), \
            feature
    plt.close(fig)


def test_progress_lines_report_the_losses_of_the_records(run):
    """A chunk's fits advance as one batch: each of its progress lines carries the lowest best
    loss so far over the chunk's fits at that step, and each fit's closing line its own best
    loss, as the records hold them."""
    logs = run.parents[1] / "logs" / "fits" / EXP
    records = {(f.attrs["backend"], f.attrs["target"], int(f.attrs["seed"])): f
               for f in _fits(run)}
    seen = set()
    for backend in ("grad", "nevergrad"):
        for log in sorted((logs / backend).glob("chunk*.log")):
            text = log.read_text()
            closing = re.findall(rf"^.* {EXP} (\S+) seed (\d+), {backend}: \w+, best .*, loss "
                                 r"([0-9.eE+-]+)$", text, flags=re.M)
            fits = [records[(backend, label, int(seed))] for label, seed, _ in closing]
            for (label, seed, loss), fit in zip(closing, fits):
                assert np.isclose(float(loss), float(fit["best_loss"]), rtol=1e-5), (label, loss)
                seen.add((backend, label, int(seed)))
            steps = [(int(s), float(v)) for s, v in
                     re.findall(r"step (\d+)/\d+, best loss ([0-9.eE+-]+)", text)]
            assert steps, log
            for step, value in steps:
                lowest = min(float(f["best_loss_so_far"].values[step - 1]) for f in fits)
                assert np.isclose(value, lowest, rtol=1e-5), (log.name, step, value, lowest)
    assert seen == set(records)  # every fit closed its log with its own line