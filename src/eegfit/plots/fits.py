"""Figures common to every fit of every experiment kind, drawn from the summary alone (what they
read from it: :mod:`eegfit.plots.tables`).

A summary (``summary.nc``) has a row per fit and parameter with ``backend``, ``optimizer``,
``parameter``, ``truth``, ``fitted`` and ``status``, and each fit's progress: ``best_loss_so_far``
on (``fit``, ``step``), ``n_steps``, ``evaluations_per_step``. The figures stay readable and
quick at a sweep's thousand fits: a few fits are drawn one by one, many as a median and a band,
each backend's points as one collection, legends below the panels.
"""

from __future__ import annotations

import textwrap

from matplotlib.collections import LineCollection
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator, NullLocator
import numpy as np

from eegfit.plots.style import (DOUBLE_COLUMN_IN, SINGLE_COLUMN_IN, STYLE, axis_label,
                                backend_order, color, figure, marker, placeholder)
from eegfit.plots.tables import BAND_PERCENT, USABLE, band, fit_rows, progress

FEW_FITS = 6
"""Up to this many fits of a backend, the convergence figure draws each; beyond, their band."""
TITLE_CHARS = 30  # a convergence panel title wraps here, so neighbours never overlap
MANY_POINTS = 200
"""Beyond this many points of a backend, the comparison draws them small and translucent."""


def _say(ax, text: str) -> None:
    """Why a panel has nothing to draw, in its middle."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    # tick_params, not set_yticks([]): the panels share their y axis, and its ticks
    ax.tick_params(left=False, labelleft=False, bottom=False, labelbottom=False)


def _few(ax, steps, curves, usable, c) -> None:
    """Each fit as a line (dotted where its status is not usable; dots where one step)."""
    style = dict(color=c, marker="o" if steps.size == 1 else None, ms=3)
    for curve, ok in zip(curves, usable):
        ax.plot(steps, curve, "-" if ok else ":", label="fit" if ok else "fit (not usable)",
                **style)


def _many(ax, steps, curves, truths, c, norm) -> LineCollection | None:
    """The median of each truth's fits as one collection coloured by truth (``norm``), over it
    the band of every fit and their median; returns the collection (None where one truth)."""
    lines = None
    values = np.unique(truths[np.isfinite(truths)])
    if values.size > 1 and steps.size > 1:
        medians = np.stack([band(curves[truths == t])[0] for t in values])
        lines = LineCollection([np.column_stack([steps, m]) for m in medians], array=values,
                               cmap="viridis", norm=norm, lw=0.4, alpha=0.6, zorder=1)
        ax.add_collection(lines)
    median, low, high = band(curves)
    low_pct, high_pct = BAND_PERCENT
    label = f"{low_pct}\u2013{high_pct} % of fits"
    if steps.size == 1:  # one step: a point and its range, not an invisible line
        ax.errorbar(steps, median, yerr=[median - low, high - median], fmt="o", color=c, ms=3,
                    capsize=2, label=f"median of fits, {label}", gid="median")
        return lines
    ax.fill_between(steps, low, high, color=c, alpha=0.3, lw=0, zorder=2, label=label)
    ax.plot(steps, median, color=c, lw=1.4, zorder=3, label="median of fits", gid="median")
    return lines


def convergence(summary) -> plt.Figure:
    """Lowest loss so far against optimizer step, one panel per backend (log scale).

    Up to :data:`FEW_FITS` fits of a backend are drawn one by one (dotted where the fit is not
    usable); more as their median and 10-90 % band at each step, over the median of each truth
    coloured by truth (a colorbar). The y axis names the kind's loss and units (the summary's
    ``best_loss_so_far`` attrs); the legend sits below the panels; a panel with no finite loss
    says so.

    Args:
        summary: ``summary.nc`` (:func:`eegfit.experiments.summary.to_dataset` with progress).
    """
    if "best_loss_so_far" not in summary:
        raise KeyError("the summary has no best_loss_so_far (summary.to_dataset without "
                       "progress, or a summary.nc made before it held the fits' progress: "
                       "rerun the summary rule)")
    rows = fit_rows(summary)
    if not rows.size:
        return placeholder("no fit in the summary")
    backend_of = np.asarray(summary["backend"].values).astype(str)[rows]
    backends = backend_order(backend_of)
    attrs = summary["best_loss_so_far"].attrs
    name, unit = summary["parameter"].values[rows[0]], summary["units"].values[rows[0]]
    truths = np.asarray(summary["truth"].values, dtype=float)
    finite = truths[rows][np.isfinite(truths[rows])]
    norm = plt.Normalize(finite.min(), finite.max()) if finite.size else None
    coloured = None
    with plt.rc_context(STYLE):
        fig, axes = figure(DOUBLE_COLUMN_IN * 0.75, SINGLE_COLUMN_IN * 0.72,
                           ncols=len(backends), squeeze=False, sharey=True)
        for ax, backend in zip(axes[0], backends):
            mine = rows[backend_of == backend]
            coloured = _convergence_panel(ax, summary, mine, backend, truths[mine],
                                          norm) or coloured
        if coloured is not None:
            fig.colorbar(coloured, ax=axes.ravel().tolist(), pad=0.02, fraction=0.04,
                         label=axis_label(f"true {name}", unit))
            axes[0, -1].plot([], [], color="0.5", lw=0.4, label="median of one truth's fits "
                                                                 "(colour: the truth)")
        axes[0, 0].set_ylabel(axis_label("lowest loss so far", attrs.get("units", "1"))
                              + f"\n{attrs.get('loss', 'loss')}")
        _legend_below(fig, axes.ravel())
    return fig


def _convergence_panel(ax, summary, mine, backend: str, truths, norm) -> LineCollection | None:
    """One backend's panel of :func:`convergence`: its fits (summary rows ``mine``) one by one
    or as a band, titled by optimizer, fits and evaluations per step; returns the collection
    coloured by truth (None where there is none)."""
    curves, c = progress(summary, mine), color(backend)
    steps = np.arange(curves.shape[1])
    per_step = int(np.max(summary["evaluations_per_step"].values[mine]))
    optimizer = textwrap.fill(f"{backend}: {summary['optimizer'].values[mine[0]]}",
                              TITLE_CHARS)  # three panels' titles side by side
    ax.set_title(f"{optimizer}\n{mine.size} fit{'s' * (mine.size > 1)}, {per_step} "
                 f"evaluation{'s' * (per_step > 1)} per step", loc="left", fontsize="small")
    ax.set_xlabel("optimizer step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not np.isfinite(curves).any():
        statuses = ", ".join(sorted(set(summary["status"].values[mine].astype(str))))
        _say(ax, f"no finite loss in any of its {mine.size} fits\n(status: {statuses})")
        return None
    curves = np.clip(curves, 1e-12, None)
    ax.set_yscale("log")
    ax.yaxis.set_minor_locator(NullLocator())  # decades only: quicker, and readable
    coloured = None
    if mine.size <= FEW_FITS:
        usable = np.isin(summary["status"].values[mine].astype(str), USABLE)
        _few(ax, steps, curves, usable, c)
    else:
        coloured = _many(ax, steps, curves, truths, c, norm)
    if steps.size == 1:
        ax.set_xlim(-1, 1)
        ax.set_xticks([0])
    return coloured


def _legend_below(fig, axes) -> None:
    """One legend of every panel's labels (one entry per label), below the panels: never over
    a panel's data."""
    unique = {}
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        for handle, label in zip(handles, labels):
            unique.setdefault(label, handle)
    if unique:
        fig.legend(unique.values(), unique.keys(), loc="outside lower center",
                   ncols=min(len(unique), 4), markerscale=2)


def _scatter(ax, x, y, backend: str, n_points: int, **kw) -> None:
    """One collection of a backend's points; small and translucent when there are many."""
    many = n_points > MANY_POINTS
    ax.scatter(x, y, s=3 if many else 10, alpha=0.35 if many else 0.8, lw=0,
               color=color(backend), **kw)


def _intervals(text: str) -> list[tuple[float, float]]:
    """The ``[low, high]`` intervals of a summary's ``hds_intervals`` cell (none for ``n/a``)."""
    return [tuple(float(v) for v in part.split(",")) for part in
            str(text).replace("]", "").split("[")[1:]]


def fitted_per_target(summary) -> plt.Figure:
    """Targets without a ground truth (measured data): each backend's fitted value per target,
    one panel per parameter, with its 90 % set: the target's posterior highest-density set where
    the experiment has a ``posterior:`` block (the same for every backend: drawn as a band), the
    Laplace set ``fitted +- 1.645 std`` where it has ``uncertainty:``; a panel says when there is
    neither. The legend sits below the panels."""
    parameter = np.asarray(summary["parameter"].values).astype(str)
    target = np.asarray(summary["target"].values).astype(str)
    fitted = np.asarray(summary["fitted"].values, dtype=float)
    std = (np.asarray(summary["std"].values, dtype=float) if "std" in summary
           else np.full(fitted.shape, np.nan))
    hds = (np.asarray(summary["hds_intervals"].values).astype(str) if "hds_intervals" in summary
           else np.full(fitted.shape, "n/a"))
    ok = np.isin(np.asarray(summary["status"].values).astype(str), USABLE) & np.isfinite(fitted)
    backend_of = np.asarray(summary["backend"].values).astype(str)
    units = np.asarray(summary["units"].values).astype(str) if "units" in summary else None
    names, targets = list(dict.fromkeys(parameter)), list(dict.fromkeys(target))
    backends = backend_order(backend_of)
    with plt.rc_context(STYLE):
        fig, axes = figure(max(SINGLE_COLUMN_IN, 0.9 * len(targets) + 1.2) * len(names),
                           SINGLE_COLUMN_IN * 0.8, ncols=len(names), squeeze=False)
        for ax, name in zip(axes[0], names):
            here = parameter == name
            any_set = False
            for i, label in enumerate(targets):
                rows = here & (target == label)
                any_set |= _target_sets(ax, i, rows, hds, fitted, std, ok, backend_of, backends)
            if not any_set:
                ax.text(0.5, 0.02, "no 90 % set: add a posterior: or uncertainty: block",
                        transform=ax.transAxes, ha="center", va="bottom", fontsize="small",
                        color="0.4")
            unit = str(units[here][0]) if units is not None else "1"
            ax.set_xticks(range(len(targets)), targets)
            ax.set_xlim(-0.6, len(targets) - 0.4)
            ax.set_xlabel("target (no ground truth)")
            ax.set_ylabel(axis_label(f"fitted {name}", unit))
        _legend_below(fig, axes.ravel())
    return fig


def _target_sets(ax, i: int, rows, hds, fitted, std, ok, backend_of, backends) -> bool:
    """Target ``i`` of :func:`fitted_per_target` (summary ``rows``): its posterior sets as
    bands, each backend's usable fits with their Laplace sets; whether it drew any set."""
    any_set = False
    for low, high in _intervals(next(iter(hds[rows]), "n/a")):
        ax.fill_between([i - 0.4, i + 0.4], low, high, color="0.85", lw=0,
                        label="posterior 90 % set", zorder=0)
        any_set = True
    for k, backend in enumerate(backends):
        mine = np.flatnonzero(rows & (backend_of == backend) & ok)
        if not mine.size:
            continue
        x = i + (k - (len(backends) - 1) / 2) * 0.25 + 0.02 * np.arange(mine.size)
        err = 1.645 * std[mine]
        any_set |= bool(np.isfinite(err).any())
        ax.errorbar(x, fitted[mine], yerr=np.where(np.isfinite(err), err, 0.0),
                    fmt=marker(backend), color=color(backend), ms=4, capsize=2, lw=0.8,
                    label=f"{backend} (fitted, Laplace 90 % set)" if np.isfinite(err).any()
                    else f"{backend} (fitted)")
    return any_set


def comparison(summary) -> plt.Figure:
    """Fitted against true value (the identity line drawn) and, below, the signed relative
    error (%) against the true value, one column per fitted parameter; each backend's fits as
    one collection, failed fits as crosses at the panel's lower edge. Readable at a thousand
    fits: small translucent markers beyond :data:`MANY_POINTS` per backend, the legend below.
    Measured data without ground truth: :func:`fitted_per_target` instead.

    Args:
        summary: ``summary.nc`` (or any dataset with its columns on ``fit``).
    """
    parameter = np.asarray(summary["parameter"].values).astype(str)
    true = np.asarray(summary["truth"].values, dtype=float)
    if not np.isfinite(true).any():
        return fitted_per_target(summary)
    fitted = np.asarray(summary["fitted"].values, dtype=float)
    ok = np.isin(np.asarray(summary["status"].values).astype(str), USABLE) & np.isfinite(fitted)
    backend_of = np.asarray(summary["backend"].values).astype(str)
    names = list(dict.fromkeys(parameter))
    units = np.asarray(summary["units"].values).astype(str) if "units" in summary else None
    with plt.rc_context(STYLE):
        fig, axes = figure(SINGLE_COLUMN_IN * len(names), SINGLE_COLUMN_IN * 1.1, nrows=2,
                           ncols=len(names), squeeze=False, sharex="col",
                           height_ratios=[1.4, 1.0])
        for j, name in enumerate(names):
            ax_fit, ax_err = axes[:, j]
            here = parameter == name
            unit = str(units[here][0]) if units is not None else summary["truth"].attrs.get(
                "units", "1")
            t, f = true[here], fitted[here]
            lo, hi = np.nanmin(np.r_[t, f[ok[here]]]), np.nanmax(np.r_[t, f[ok[here]]])
            pad = 0.05 * (hi - lo or abs(hi) or 1.0)
            ax_fit.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.6", lw=0.6,
                        zorder=0, label="identity")
            ax_err.axhline(0.0, color="0.6", lw=0.6, zorder=0)
            for k, backend in enumerate(backend_order(backend_of[here])):
                _backend_points(ax_fit, ax_err, backend, here & (backend_of == backend), ok,
                                true, fitted, (k - 0.5) * 0.008 * (hi - lo), lo - pad)
            ax_fit.set_ylim(lo - pad, hi + pad)
            ax_fit.set_ylabel(axis_label(f"fitted {name}", unit))
            ax_err.set_ylabel("relative error (%)")
            ax_err.set_xlabel(axis_label(f"true {name}", unit))
        _legend_below(fig, axes.ravel())
    return fig


def _backend_points(ax_fit, ax_err, backend: str, mine, ok, true, fitted, offset: float,
                    edge: float) -> None:
    """A backend's fits of one parameter (``mine``) in :func:`comparison`: fitted and relative
    error against the truth (shifted by ``offset``), failed fits as crosses at ``edge``."""
    good, bad = mine & ok, mine & ~ok
    error = 100 * (fitted[good] - true[good]) / np.abs(true[good])
    _scatter(ax_fit, true[good] + offset, fitted[good], backend, good.sum(),
             marker=marker(backend), label=backend)
    _scatter(ax_err, true[good] + offset, error, backend, good.sum(), marker=marker(backend))
    if bad.any():
        ax_fit.scatter(true[bad] + offset, np.full(bad.sum(), edge), s=14, color=color(backend),
                       marker="x", lw=0.8, clip_on=False,
                       label=f"{backend} (failed: at the lower edge)")
