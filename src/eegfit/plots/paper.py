"""The paper's figures: single-column (89 mm) figures of the whole study, each from the result
files alone (see :func:`eegfit.results.load`).

Save them with ``save(fig, stem, tight=False)`` so that every PNG is exactly 1051 px (89 mm at
300 dpi) wide. The targets and the feature landscape are drawn by
:func:`eegfit.plots.column.target_traces` and :func:`eegfit.plots.column.feature_landscape`.
"""

from __future__ import annotations

from matplotlib.lines import Line2D
import matplotlib.pyplot as plt
from matplotlib.ticker import NullLocator
import numpy as np

from eegfit.plots.tables import (USABLE, fitted_parameter, spread, table_column,
                                 table_parameter)
from eegfit.plots.style import (SINGLE_COLUMN_IN, STYLE, axis_label, backend_order, color,
                                figure, marker)

PAPER_FIGURES = ("targets", "landscape", "convergence_seeds", "recovery", "cost")
TRUTH_LINESTYLES = ("-", "--", ":", "-.")


def _seed_band(ax, group, backend: str, linestyle: str) -> None:
    """The median over seeds of the lowest loss so far, shaded from the best to the worst seed."""
    n_steps = max(f.sizes["step"] for f in group)
    # A fit that stopped early (tol) keeps its best loss for the steps it skipped.
    curves = np.stack([np.pad(f["best_loss_so_far"].values,
                              (0, n_steps - f.sizes["step"]), mode="edge")
                       for f in group])
    curves = np.where(np.isfinite(curves), np.clip(curves, 1e-12, None), np.nan)
    evaluations = np.arange(1, n_steps + 1) * group[0].sizes["candidate"]
    with np.errstate(all="ignore"):
        median = np.nanmedian(curves, axis=0)
        low, high = np.nanmin(curves, axis=0), np.nanmax(curves, axis=0)
    ax.fill_between(evaluations, low, high, color=color(backend), alpha=0.15, lw=0)
    ax.plot(evaluations, median, linestyle, color=color(backend))


def convergence_over_seeds(fits) -> plt.Figure:
    """Lowest loss so far against model evaluations: one panel per backend, one line per truth
    (median over seeds), shaded from the best to the worst seed."""
    backends = backend_order([f.attrs["backend"] for f in fits])
    truths = sorted({float(f.attrs["truth"]) for f in fits})
    name = fitted_parameter(fits[0])
    with plt.rc_context(STYLE):
        fig, axes = figure(SINGLE_COLUMN_IN, 0.62 * SINGLE_COLUMN_IN, ncols=len(backends),
                           squeeze=False, sharey=True)
        for ax, backend in zip(axes[0], backends):
            mine = [f for f in fits if f.attrs["backend"] == backend]
            for i, truth in enumerate(truths):
                group = [f for f in mine if float(f.attrs["truth"]) == truth]
                if group:
                    _seed_band(ax, group, backend, TRUTH_LINESTYLES[i % len(TRUTH_LINESTYLES)])
            ax.set_yscale("log")
            ax.yaxis.set_minor_locator(NullLocator())  # decades only: readable at 89 mm
            ax.set_title(f"{backend}: {mine[0].attrs['optimizer']}")
            ax.set_xlabel("model evaluations")
        axes[0, 0].set_ylabel("lowest loss so far\n(squared relative error)")
        proxies = [Line2D([], [], color="0.3", ls=TRUTH_LINESTYLES[i % len(TRUTH_LINESTYLES)])
                   for i in range(len(truths))]
        fig.legend(proxies, [f"{name}* = {t:g}" for t in truths], loc="outside lower center",
                   ncols=min(len(truths), 4))
    return fig


def recovery(summary) -> plt.Figure:
    """Fitted against true parameter per backend (median over seeds, bars from the lowest to the
    highest seed) and, below, the signed relative error in percent. Fits whose status is not
    usable (diverged, stalled, failed) are left out of the medians and drawn as crosses.

    Args:
        summary: the summary table (``summary.csv`` as a DataFrame, or ``summary.nc``).
    """
    name, unit = table_parameter(summary)
    backend_of = table_column(summary, "backend").astype(str)
    true = table_column(summary, "truth").astype(float)
    fitted = table_column(summary, "fitted").astype(float)
    ok = np.isin(table_column(summary, "status").astype(str), USABLE) & np.isfinite(fitted)
    truths = np.unique(true)
    backends = backend_order(backend_of)
    span = float(np.ptp(truths)) or abs(float(truths[0])) or 1.0
    with plt.rc_context(STYLE):
        fig, (ax_fit, ax_err) = figure(SINGLE_COLUMN_IN, 0.95 * SINGLE_COLUMN_IN, nrows=2,
                                       sharex=True, height_ratios=[1.4, 1.0])
        pad = 0.06 * span
        ends = [truths[0] - pad, truths[-1] + pad]
        ax_fit.plot(ends, ends, color="0.6", lw=0.6, zorder=0, label="identity")
        ax_err.axhline(0.0, color="0.6", lw=0.6, zorder=0)
        for j, backend in enumerate(backends):
            offset = (j - (len(backends) - 1) / 2) * 0.015 * span
            mine = backend_of == backend
            stats = np.array([spread(fitted[mine & ok & (true == t)]) for t in truths])
            errors = np.array([spread(100 * (fitted[mine & ok & (true == t)] - t) / t)
                               for t in truths])
            style = dict(fmt=marker(backend), color=color(backend), ms=3,
                         capsize=1.5, elinewidth=0.7, capthick=0.7)
            for ax, (mid, low, high) in ((ax_fit, stats.T), (ax_err, errors.T)):
                ax.errorbar(truths + offset, mid, yerr=[mid - low, high - mid],
                            label=backend if ax is ax_fit else None, **style)
            bad = mine & ~ok & np.isfinite(fitted)
            if bad.any():
                ax_fit.plot(true[bad] + offset, fitted[bad], "x", color=color(backend), ms=3.5,
                            label=f"{backend} (not usable)")
        ax_fit.set_ylabel(axis_label(f"fitted {name}", unit))
        ax_err.set_ylabel("relative error (%)")
        ax_err.set_xlabel(axis_label(f"true {name}", unit))
        ax_fit.legend(loc="upper left")
    return fig


def cost(summary) -> plt.Figure:
    """Model evaluations and wall time per fit, per backend: bars at the median, one dot per fit.

    Args:
        summary: ``summary.csv`` as a DataFrame (the wall times are only there).
    """
    backend_of = table_column(summary, "backend").astype(str)
    backends = backend_order(backend_of)
    panels = (("n_evaluations", "model evaluations per fit"),
              ("wall_time_s", axis_label("wall time per fit", "s")))
    with plt.rc_context(STYLE):
        fig, axes = figure(SINGLE_COLUMN_IN, 0.5 * SINGLE_COLUMN_IN, ncols=len(panels),
                           squeeze=False)
        for ax, (column, label) in zip(axes[0], panels):
            values = table_column(summary, column).astype(float)
            for j, backend in enumerate(backends):
                mine = values[backend_of == backend]
                ax.bar(j, spread(mine)[0], width=0.6, color=color(backend), alpha=0.3, lw=0)
                # Spread the dots evenly (not randomly) so the figure is the same on every run.
                jitter = np.linspace(-0.18, 0.18, mine.size) if mine.size > 1 else np.zeros(1)
                ax.plot(j + jitter, mine, marker(backend), color=color(backend), ms=2.5, mew=0)
            ax.set_xticks(range(len(backends)), backends)
            ax.set_xlim(-0.6, len(backends) - 0.4)
            ax.set_ylim(bottom=0)
            ax.set_ylabel(label)
    return fig
