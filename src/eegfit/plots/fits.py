"""Figures common to every fit of every experiment kind, and the helpers that read fit datasets
and summary tables for the figures of each kind.

A fit dataset has ``best_loss_so_far`` on ``step``, a ``candidate`` dimension (evaluations per
step), ``true_<name>`` / ``best_<name>`` and the attrs ``backend``, ``status`` and
``fitted_parameters``; a summary table has one row per fit with ``backend``, ``truth``,
``fitted`` and ``status``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from eegfit.plots.style import (DOUBLE_COLUMN_IN, SINGLE_COLUMN_IN, STYLE, color, figure,
                                legend_unique, marker)

USABLE = ("converged", "max_steps")  # statuses whose best value is a result


def fitted_parameter(fit) -> str:
    """The (first) fitted parameter's name of a fit dataset."""
    return fit.attrs["fitted_parameters"].split(",")[0]


def spread(values) -> tuple[float, float, float]:
    """Median and the (min, max) range of the finite values."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return np.nan, np.nan, np.nan
    return float(np.median(values)), float(values.min()), float(values.max())


def table_column(table, name: str) -> np.ndarray:
    """One column of a summary table (``summary.csv`` DataFrame or ``summary.nc``) as an array."""
    if name not in table:
        raise KeyError(f"the summary has no column {name!r} (wall times are in summary.csv, "
                       f"not summary.nc)")
    return np.asarray(table[name])


def table_parameter(table) -> tuple[str, str]:
    """(parameter name, units) of a summary table (summary.csv DataFrame or summary.nc)."""
    if "parameter" in table:
        unit = str(table_column(table, "units")[0]) if "units" in table else "1"
        return str(table_column(table, "parameter")[0]), unit
    return (table.attrs.get("parameter", "parameter"),
            getattr(table["truth"], "attrs", {}).get("units", "1"))


def convergence(fits) -> plt.Figure:
    """Best loss so far vs step, one panel per backend, one line per fit (log scale)."""
    backends = sorted({f.attrs["backend"] for f in fits})
    with plt.rc_context(STYLE):
        fig, axes = figure(DOUBLE_COLUMN_IN * 0.6, SINGLE_COLUMN_IN * 0.6, ncols=len(backends),
                           squeeze=False, sharey=True)
        truths = {str(f.attrs["target"]): tuple(float(v) for k, v in sorted(f.attrs.items())
                                                if k.startswith("truth.")) for f in fits}
        labels = sorted(truths, key=lambda t: (truths[t], t))
        shades = {t: 0.35 + 0.65 * i / max(1, len(labels) - 1) for i, t in enumerate(labels)}
        for ax, backend in zip(axes[0], backends):
            for fit in (f for f in fits if f.attrs["backend"] == backend):
                label = str(fit.attrs["target"])
                loss = np.clip(fit["best_loss_so_far"].values, 1e-12, None)
                style = "-" if fit.attrs["status"] in USABLE else ":"
                ax.plot(fit["step"].values, loss, style, color=color(backend),
                        alpha=shades[label], label=label)
                per_step = fit.sizes["candidate"]
            ax.set_yscale("log")
            ax.set_title(f"{backend}\n(<= {per_step} evaluation{'s' * (per_step > 1)}/step)")
            ax.set_xlabel("step")
        axes[0][0].set_ylabel("best loss so far (squared rel. error)")
        legend_unique(axes[0][-1], loc="upper right")
    return fig


def comparison(summary) -> plt.Figure:
    """Fitted vs true parameter per backend, with the identity line; failed fits as crosses."""
    with plt.rc_context(STYLE):
        fig, ax = figure()
        true, fitted = summary["truth"].values, summary["fitted"].values
        lo, hi = np.nanmin(np.r_[true, fitted]), np.nanmax(np.r_[true, fitted])
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.6", lw=0.6, zorder=0,
                label="identity")
        ok = np.isin(summary["status"].values, USABLE)
        for backend in sorted(set(summary["backend"].values)):
            mine = summary["backend"].values == backend
            offset = 0.004 * (hi - lo) * (1 if backend == "nevergrad" else -1)
            ax.scatter(true[mine & ok] + offset, fitted[mine & ok], s=10, color=color(backend),
                       marker=marker(backend), label=backend, alpha=0.8)
            if np.any(mine & ~ok):
                ax.scatter(true[mine & ~ok] + offset, np.nan_to_num(fitted[mine & ~ok], nan=lo),
                           s=14, color=color(backend), marker="x", label=f"{backend} (failed)")
        name, unit = summary.attrs.get("parameter", "parameter"), summary["truth"].attrs.get(
            "units", "1")
        suffix = "" if unit == "1" else f" ({unit})"
        ax.set_xlabel(f"true {name}{suffix}")
        ax.set_ylabel(f"fitted {name}{suffix}")
        ax.legend(loc="upper left")
    return fig
