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
from test_pipeline import EXP, small_run  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return small_run(tmp_path_factory) / "results" / EXP


def _fits(run):
    return [xr.load_dataset(p) for p in sorted(run.glob("fits/*/*/seed=*.nc"))]


def test_convergence_draws_every_fits_best_loss_so_far(run):
    fits = _fits(run)
    fig = plots.convergence(fits)
    drawn = [line.get_ydata() for ax in fig.axes for line in ax.get_lines()]
    assert len(drawn) == len(fits)
    for fit in fits:
        expected = np.clip(fit["best_loss_so_far"].values, 1e-12, None)
        assert any(np.array_equal(y, expected) for y in drawn), fit.attrs["target"]
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
    """Each nevergrad step's progress line carries the record's best loss so far at that step,
    and each grad chunk's line the best loss at its last step."""
    logs = run.parents[1] / "logs" / "fits" / EXP
    for backend in ("grad", "nevergrad"):
        text = "\n".join(p.read_text() for p in sorted((logs / backend).glob("chunk*.log")))
        steps = [(int(s), float(v)) for s, v in
                 re.findall(r"step (\d+)/\d+, best loss ([0-9.eE+-]+)", text)]
        fits = [f for f in _fits(run) if f.attrs["backend"] == backend]
        assert len(steps) >= len(fits)
        for fit in fits:
            best = fit["best_loss_so_far"].values
            n = int(fit.sizes["step"])
            reported = [v for s, v in steps if s == n]
            assert any(np.isclose(v, best[-1], rtol=1e-5) for v in reported), \
                (backend, fit.attrs["target"], best[-1], reported)
