"""Figures of an amortized posterior (NPE): the SBC rank histograms, the expected-coverage curve
(from the calibration dataset, :func:`eegfit.infer.sbc.calibrate`), and the NPE against the grid
posterior per target (from both InferenceData files)."""

from __future__ import annotations

import numpy as np

from eegfit.plots.posterior import first_seeds, marginal
from eegfit.plots.style import (DOUBLE_COLUMN_IN, SINGLE_COLUMN_IN, TARGET_COLOR, axis_label,
                                figure)

NPE_COLOR = "#CC79A7"  # Okabe-Ito purple: the NPE, never a backend
GRID_COLOR = "0.2"


def sbc_ranks(calibration):
    """One panel per parameter: the runs per rank bin, the uniform expectation and its 99 %
    binomial band, the chi-square p-value in the title."""
    names = list(calibration["parameter"].values)
    fig, axes = figure(SINGLE_COLUMN_IN * max(1, len(names)) * 0.8 + 0.5, SINGLE_COLUMN_IN * 0.6,
                       ncols=len(names), squeeze=False)
    runs, bins = int(calibration.attrs["runs"]), calibration.sizes["bin"]
    from scipy.stats import binom  # noqa: PLC0415  (0.5 s to import: only where drawn)

    lo, hi = binom.ppf([0.005, 0.995], runs, 1.0 / bins)
    for ax, name in zip(axes[0], names):
        counts = calibration["rank_count"].sel(parameter=name).values
        ax.axhspan(lo, hi, color="0.88")  # 99 % of uniform ranks' bins fall in it
        ax.axhline(runs / bins, color="0.5", lw=0.8)
        ax.bar(np.arange(bins), counts, width=0.85, color=NPE_COLOR)
        p = float(calibration["chi2_p"].sel(parameter=name))
        ax.set_title(f"{name}: chi-square p = {p:.2g}")
        ax.set_xlabel(f"rank bin (of {bins}; {calibration.attrs['draws']} draws)")
        ax.set_ylabel("runs")
    return fig


def coverage(calibration):
    """The fraction of held-out runs whose x % set holds the truth, against x: per parameter's
    central interval and the joint highest-density set; the diagonal is calibration."""
    fig, ax = figure()
    level = calibration["level"].values
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--", label="calibrated")
    for name in calibration["parameter"].values:
        ax.plot(level, calibration["coverage_central"].sel(parameter=name).values, marker="o",
                ms=3, label=f"central interval of {name}")
    ax.plot(level, calibration["coverage_hpd"].values, color=NPE_COLOR, marker="s", ms=3,
            label="joint HDS")
    ax.set_xlabel("credibility level of the set")
    ax.set_ylabel("runs whose set holds the truth")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small")
    return fig


def npe_vs_grid(npe_posteriors, grid_posteriors):
    """A panel per target (its first seed) and parameter: the posterior block's marginal density
    (exact where it is a grid; a density estimate of NUTS draws otherwise) and a histogram of the
    NPE's draws, the truth marked."""
    npe = first_seeds(npe_posteriors)
    grids = {str(g["identifiability"].attrs["target"]): g for g in first_seeds(grid_posteriors)}
    names = list(npe[0]["posterior"].data_vars)
    fig, axes = figure(DOUBLE_COLUMN_IN, 1.6 * len(npe) + 0.4, nrows=len(npe),
                       ncols=len(names), squeeze=False)
    units = npe[0]["identifiability"]["units_of_parameter"]
    for row, groups in zip(axes, npe):
        target = str(groups["identifiability"].attrs["target"])
        for ax, name in zip(row, names):
            draws = groups["posterior"][name].values.ravel()
            lo, hi = np.quantile(draws, [0.01, 0.99])  # the view: the bulk of both
            if target in grids:
                m = marginal(grids[target], name)
                method = grids[target]["posterior"].attrs.get("sampled_from", "grid")
                ax.stairs(m.density, m.edges, color=GRID_COLOR, lw=1.0, label=method)
                q = m.quantile([0.005, 0.995])
                lo, hi = min(lo, q[0]), max(hi, q[1])
            pad = 0.15 * (hi - lo) or 1.0
            ax.hist(draws, bins=40, range=(lo - pad, hi + pad), density=True, color=NPE_COLOR,
                    alpha=0.6, label="NPE")
            truth = float(groups["identifiability"]["truth"].sel(parameter=name))
            if np.isfinite(truth):
                ax.axvline(truth, color=TARGET_COLOR, lw=1.0, label="truth")
            ax.set_xlim(lo - pad, hi + pad)
            ax.set_title(f"{target}", fontsize="small")
            ax.set_xlabel(axis_label(name, str(units.sel(parameter=name).values)))
            ax.set_yticks([])
    axes[0][0].legend(fontsize="small")
    return fig


__all__ = ["NPE_COLOR", "coverage", "npe_vs_grid", "sbc_ranks"]
