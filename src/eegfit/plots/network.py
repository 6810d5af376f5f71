"""Figures of a network fitted to functional connectivity (FC): the SC, target and fitted FC
matrices, and the FC objective and correlation over the coupling."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np

from eegfit.plots.fits import fitted_parameter
from eegfit.plots.style import (DOUBLE_COLUMN_IN, SINGLE_COLUMN_IN, STYLE, TARGET_COLOR,
                                axis_label, backend_order, color, figure, legend_unique, marker)


def fc_matrices(target, fits) -> plt.Figure:
    """SC, target FC and the FC at each backend's best value (first fit of each backend on the
    target's truth and seed), as matrices over the nodes."""
    truth, seed = float(target.attrs["truth"]), int(target.attrs["seed"])
    chosen = {}
    for fit in fits:
        if (float(fit[f"true_{fitted_parameter(fit)}"]) == truth
                and int(fit.attrs["seed"]) == seed):
            chosen.setdefault(fit.attrs["backend"], fit)
    panels = [("structural connectivity", target["sc"].values, "Greys"),
              ("target FC", target["fc"].values, "RdBu_r")]
    for backend in backend_order(list(chosen)):
        fit = chosen[backend]
        name = fitted_parameter(fit)
        panels.append((f"fit, {backend}: {name} = {float(fit[f'best_{name}']):.3g}",
                       fit["fitted_fc"].values, "RdBu_r"))
    with plt.rc_context(STYLE):
        fig, axes = figure(DOUBLE_COLUMN_IN, DOUBLE_COLUMN_IN / len(panels) + 0.4,
                           ncols=len(panels), squeeze=False)
        for ax, (title, matrix, cmap) in zip(axes[0], panels):
            vmin, vmax = (0.0, float(np.nanmax(matrix)) or 1.0) if cmap == "Greys" else (-1, 1)
            image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_title(title, loc="left")
            ax.set_xlabel("node")
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            fig.colorbar(image, ax=ax, shrink=0.7)
        axes[0, 0].set_ylabel("node")
        fig.suptitle(f"{fitted_parameter(next(iter(chosen.values())))}* = {truth:g}, seed {seed}"
                     if chosen else f"truth {truth:g}, seed {seed}", fontsize=7)
    return fig


def _scan_with_fits(top, bottom, scan, fits, grey: str) -> None:
    """One scan's objective (top) and FC correlation (bottom), the noise floor of its fits
    (dashed) and their fitted values (markers)."""
    x, label = scan["value"].values, f"seed {int(scan.attrs['seed'])}"
    top.plot(x, scan["objective"].values, color=grey, lw=0.8, label=label)
    bottom.plot(x, scan["fc_correlation"].values, color=grey, lw=0.8)
    mine = [f for f in fits if int(f.attrs["seed"]) == int(scan.attrs["seed"])
            and float(f[f"true_{fitted_parameter(f)}"]) == float(scan.attrs["truth"])]
    if mine:
        top.axhline(float(mine[0]["noise_floor_loss"]), color=grey, lw=0.6, ls="--")
        bottom.axhline(float(mine[0]["fc_correlation_ceiling"]), color=grey, lw=0.6, ls="--")
    for fit in mine:
        backend, best = fit.attrs["backend"], float(fit[f"best_{fitted_parameter(fit)}"])
        top.plot([best], [float(fit["best_loss"])], marker(backend), color=color(backend),
                 ms=3.5, label=backend)
        bottom.plot([best], [float(fit["best_fc_correlation"])], marker(backend),
                    color=color(backend), ms=3.5)


def fc_vs_parameter(scans, fits) -> plt.Figure:
    """FC objective (top) and FC correlation (bottom) over the fitted parameter, one line per
    scan (target and fit noise), with each fit's noise floor (dashed), the truth (vertical) and
    the fitted values (markers, one colour per backend)."""
    with plt.rc_context(STYLE):
        fig, axes = figure(SINGLE_COLUMN_IN, SINGLE_COLUMN_IN * 1.1, nrows=2, squeeze=False,
                           sharex=True)
        top, bottom = axes[0, 0], axes[1, 0]
        shades = np.linspace(0.2, 0.6, max(1, len(scans)))
        for shade, scan in zip(shades, scans):
            _scan_with_fits(top, bottom, scan, fits, str(round(float(shade), 2)))
        for truth in sorted({float(s.attrs["truth"]) for s in scans}):
            for ax in (top, bottom):
                ax.axvline(truth, color=TARGET_COLOR, lw=0.8)
        name = scans[0]["value"].attrs.get("long_name", "parameter") if scans else "parameter"
        top.set_ylabel(axis_label(scans[0]["objective"].attrs.get("long_name", "objective")
                                  if scans else "objective", "1"))
        bottom.set_ylabel(axis_label("FC correlation", "1"))
        bottom.set_xlabel(axis_label(name, scans[0]["value"].attrs.get("units", "1")
                                     if scans else "1"))
        legend_unique(top, loc="upper left", ncols=2)
    return fig

