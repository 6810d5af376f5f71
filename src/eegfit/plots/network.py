"""Figures of a network fitted to functional connectivity (FC): the SC, target and fitted FC
matrices, the FC objective and correlation over the coupling, and the figures of a fit to an
empirical (HCP BOLD) FC."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np

from eegfit.plots.column import loss_surface
from eegfit.plots.tables import fitted_parameter
from eegfit.plots.style import (DOUBLE_COLUMN_IN, SINGLE_COLUMN_IN, STYLE, TARGET_COLOR,
                                axis_label, backend_order, color, figure, legend_unique, marker)


def _best_values(fit) -> str:
    return ", ".join(f"{n} = {float(fit[f'best_{n}']):.3g}"
                     for n in fit.attrs["fitted_parameters"].split(","))


def fc_matrices(target, fits) -> plt.Figure:
    """SC, target FC and the FC at each backend's best values (first fit of each backend on the
    target's truth and seed), as matrices over the nodes."""
    label, seed = str(target.attrs["target"]), int(target.attrs["seed"])
    chosen = {}
    for fit in fits:
        if str(fit.attrs["target"]) == label and int(fit.attrs["seed"]) == seed:
            chosen.setdefault(fit.attrs["backend"], fit)
    panels = [("structural connectivity", target["sc"].values, "Greys"),
              ("target FC", target["fc"].values, "RdBu_r")]
    for backend in backend_order(list(chosen)):
        panels.append((f"fit, {backend}: {_best_values(chosen[backend])}",
                       chosen[backend]["fitted_fc"].values, "RdBu_r"))
    return _matrix_row(panels, f"{_truth_title(target)}, seed {seed}")


def _matrix_row(panels: list, suptitle: str) -> plt.Figure:
    """One row of node x node matrices, ``(title, matrix, cmap)`` each with its colorbar: FCs on
    [-1, 1] (``RdBu_r``), an SC on [0, its maximum] (``Greys``)."""
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
        fig.suptitle(suptitle, fontsize=7)
    return fig


def _truth_title(target) -> str:
    """``k* = 60`` (one parameter) or ``k* = 60, speed_m_s* = 6`` from a target's attrs."""
    truths = {k.partition(".")[2]: v for k, v in target.attrs.items() if k.startswith("truth.")}
    return ", ".join(f"{n}* = {float(v):g}" for n, v in truths.items()) or \
        f"truth {target.attrs['target']}"


def fc_with_and_without_delays(target) -> plt.Figure:
    """What conduction delays do to the FC: the target's FC (with delays) beside the FC of the
    same truth and noise without them, and their difference, with the two FCs' correlation."""
    with_delays, without = target["fc"].values, target["fc_no_delays"].values
    upper = np.triu_indices(with_delays.shape[0], 1)
    r = float(np.corrcoef(with_delays[upper], without[upper])[0, 1])
    panels = [("FC without delays", without, "RdBu_r"),
              ("FC with delays (target)", with_delays, "RdBu_r"),
              ("with \u2212 without", with_delays - without, "RdBu_r")]
    return _matrix_row(panels, f"{_truth_title(target)}, seed {int(target.attrs['seed'])}: "
                               f"correlation of the two FCs (upper triangle) {r:.2f}")


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


# --- A fit to an empirical FC (HCP resting-state BOLD) -------------------------------------------

def _empirical_matrices(target_ds, fits) -> plt.Figure:
    """SC, the empirical BOLD FC and each fit's model BOLD FC."""
    panels = [("structural connectivity", target_ds["sc"].values, "Greys"),
              ("empirical BOLD FC", target_ds["fc"].values, "RdBu_r")]
    for fit in fits:
        name = fit.attrs["fitted_parameters"]
        title = (f"model BOLD FC, {fit.attrs['backend']}\n{name} = "
                 f"{float(fit[f'best_{name}']):.3g}, r = {float(fit['best_fc_correlation']):.2f}")
        panels.append((title, fit["fitted_fc"].values, "RdBu_r"))
    fig, axes = figure(DOUBLE_COLUMN_IN, 2.3, ncols=len(panels))
    for ax, (title, mat, cmap) in zip(np.atleast_1d(axes), panels):
        vmin, vmax = (0, float(np.max(mat))) if cmap == "Greys" else (-1, 1)
        im = ax.imshow(mat, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(title, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=list(np.atleast_1d(axes)), shrink=0.8, label="correlation")
    return fig


def _empirical_fc_vs_coupling(scan_ds, fits) -> plt.Figure:
    """FC correlation with the empirical FC over the coupling (range over noise seeds) and each
    fit's value with its noise floor."""
    fig, ax = figure(SINGLE_COLUMN_IN, 2.6)
    x, corr = scan_ds["value"].values, scan_ds["fc_correlation"].values
    ax.fill_between(x, corr.min(axis=0), corr.max(axis=0), color="0.8",
                    label=f"range over {corr.shape[0]} noise seeds")
    ax.plot(x, corr.mean(axis=0), color="0.3", lw=1, label="mean")
    for fit in fits:
        backend, name = fit.attrs["backend"], fit.attrs["fitted_parameters"]
        best = float(fit[f"best_{name}"])
        ax.errorbar([best], [float(fit["floor_mean"])], yerr=[float(fit["floor_std"])],
                    fmt=marker(backend), color=color(backend),
                    capsize=3, label=f"{backend} fit (floor mean ± sd)")
    ax.set_xlabel(axis_label(scan_ds["value"].attrs.get("long_name", "k"),
                             scan_ds["value"].attrs.get("units", "1")))
    ax.set_ylabel("FC correlation with empirical FC")
    ax.legend(fontsize=6, frameon=False)
    return fig


def _empirical_convergence(fits) -> plt.Figure:
    """Best loss so far per optimizer step, one line per backend."""
    fig, ax = figure(SINGLE_COLUMN_IN, 2.4)
    for fit in fits:
        backend = fit.attrs["backend"]
        ax.plot(fit["step"].values, fit["best_loss_so_far"].values, color=color(backend),
                label=f"{backend} ({fit.attrs['optimizer']})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("best loss so far (1 − FC correlation)")
    ax.legend(fontsize=6, frameon=False)
    return fig


def empirical_fc_figures(target_ds, fits, scan_ds) -> dict[str, plt.Figure]:
    """``{"fc_matrices", "fc_vs_k", "convergence"}`` figures of a fit to an empirical FC.

    Args:
        target_ds: the target dataset (``sc`` and the empirical ``fc``, node by node).
        fits: fit datasets (``best_<name>``, ``best_fc_correlation``, ``fitted_fc``,
            ``floor_mean``, ``floor_std``, ``best_loss_so_far`` on ``step``).
        scan_ds: ``fc_correlation`` over (noise seed, ``value`` of the coupling).
    """
    return {"fc_matrices": _empirical_matrices(target_ds, fits),
            "fc_vs_k": _empirical_fc_vs_coupling(scan_ds, fits),
            "convergence": _empirical_convergence(fits)}


def network_kind_figures(kind, fits, targets, scan, summary) -> dict:
    """The network kind's own figures (``FigureKind.draws`` of
    :class:`eegfit.experiments.network.Network`): the FC matrices; with delays, the FC with and
    without them; one parameter, the FC correlation over the box with the fits; two, the loss
    surface of each target's first scan with its seed's fits. ``kind``: the experiment's Kind
    (its ``spec``)."""
    del summary
    out = {"fc_matrices": fc_matrices(targets[0], fits)}
    if kind.spec.connectome.get("delays"):
        out["fc_delays"] = fc_with_and_without_delays(targets[0])
    if len(kind.spec.names) > 1:  # each target's first scan, with its seed's fits
        first = {}
        for i, label in enumerate(scan["target"].values):
            first.setdefault(str(label), i)
        attrs = {str(t.attrs["target"]): t.attrs for t in targets}
        surfaces = [scan.isel(run=i).drop_vars(("run", "seed", "target")).rename(
            objective="loss").assign_attrs(target=label, **{
                k: v for k, v in attrs[label].items() if k.startswith("truth.")})
            for label, i in first.items()]
        seeds = {label: int(scan["seed"][i]) for label, i in first.items()}
        shown = [f for f in fits if int(f.attrs["seed"]) == seeds.get(f.attrs["target"])]
        out["loss_surface"] = loss_surface(surfaces, shown)
        return out
    truths = {str(t.attrs["target"]): t.attrs.get("truth") for t in targets}
    scans = [scan.isel(run=i).assign_attrs(seed=int(scan["seed"][i]), truth=truths[
        str(run).rpartition("/seed=")[0]]) for i, run in enumerate(scan["run"].values)]
    out["fc_vs_k"] = fc_vs_parameter(scans, fits)
    return out


def empirical_fc_kind_figures(kind, fits, targets, scan, summary) -> dict:
    """The empirical-FC kind's own figures (``FigureKind.draws`` of
    :class:`eegfit.experiments.empirical_fc.EmpiricalFC`): :func:`empirical_fc_figures` less its
    convergence, which the common figures draw."""
    del kind, summary
    out = empirical_fc_figures(targets[0], fits, scan)
    out.pop("convergence")  # the common convergence figure draws it
    return out
