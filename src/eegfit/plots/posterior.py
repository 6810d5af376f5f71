"""Figures of posteriors (the groups of a posterior file, :func:`eegfit.infer.idata.read`): the
marginal posterior per target with its highest-density set, the truth and both point fits; a
pair plot for two parameters; the identifiability verdict over the box as a strip."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from eegfit.infer.hds import marginal_of_cells, marginal_of_draws
from eegfit.plots.style import (DOUBLE_COLUMN_IN, SINGLE_COLUMN_IN, STYLE, TARGET_COLOR,
                                axis_label, color, figure, legend_unique, marker,
                                placeholder)

HDS_COLOR = "0.8"


def first_seeds(posteriors) -> list[dict]:
    """One posterior per target: its lowest seed's, in the order of the targets' first seen."""
    first = {}
    for groups in sorted(posteriors, key=lambda g: int(g["identifiability"].attrs["seed"])):
        first.setdefault(str(groups["identifiability"].attrs["target"]), groups)
    return list(first.values())


def marginal(groups: dict, name: str):
    """The marginal of ``name``: exact from the grid cells where the method was the grid, a
    density estimate of the draws otherwise."""
    grid, post = groups.get("grid"), groups["posterior"]
    if grid is not None and post.attrs.get("sampled_from") == "grid":
        return marginal_of_cells(grid[name].values, grid[f"width_{name}"].values,
                                 grid["mass"].values)
    const = groups["constant_data"]
    box = (float(const[f"low_{name}"]), float(const[f"high_{name}"]))
    return marginal_of_draws(post[name].values, box)


def _fits_of(fits, groups) -> list:
    attrs = groups["identifiability"].attrs
    return [f for f in fits if str(f.attrs["target"]) == str(attrs["target"])
            and int(f.attrs["seed"]) == int(attrs["seed"])]


def _view(groups, name, fits) -> tuple[float, float]:
    """The x range of a panel: the HDS, the truth and the point fits, padded, inside the box."""
    ident = groups["identifiability"].sel(parameter=name)
    const = groups["constant_data"]
    lo, hi = float(const[f"low_{name}"]), float(const[f"high_{name}"])
    n = int(ident["n_intervals"])
    points = [float(ident["lower"][0]), float(ident["upper"][n - 1])]
    if np.isfinite(float(ident["truth"])):
        points.append(float(ident["truth"]))
    points += [float(f[f"best_{name}"]) for f in fits if np.isfinite(float(f[f"best_{name}"]))]
    a, b = min(points), max(points)
    pad = max(0.4 * (b - a), 0.005 * (hi - lo))
    return max(lo, a - pad), min(hi, b + pad)


def _marginal_panel(ax, groups, name, fits) -> None:
    ident = groups["identifiability"].sel(parameter=name)
    m = marginal(groups, name)
    a, b = _view(groups, name, fits)
    ax.stairs(m.density, m.edges, color="black", lw=0.8, label="posterior")
    for i in range(int(ident["n_intervals"])):
        ax.axvspan(float(ident["lower"][i]), float(ident["upper"][i]), color=HDS_COLOR, lw=0,
                   zorder=0, label=f"{groups['identifiability'].attrs['hds_prob']:.0%} HDS")
    truth = float(ident["truth"])
    if np.isfinite(truth):
        ax.axvline(truth, color=TARGET_COLOR, lw=1.0, label="truth")
    top = float(np.max(m.density[(m.edges[1:] >= a) & (m.edges[:-1] <= b)], initial=0.0))
    for fit in fits:
        backend, best = fit.attrs["backend"], float(fit[f"best_{name}"])
        ax.plot([best], [1.06 * top], marker(backend), color=color(backend), ms=4,
                clip_on=False, label=f"{backend} fit")
    ax.set_xlim(a, b)
    ax.set_ylim(0, 1.15 * top if top > 0 else 1)
    verdict = "identified" if int(ident["identified"]) else "not identified"
    ax.set_title(f"{groups['identifiability'].attrs['target']}: {verdict} "
                 f"({int(ident['n_intervals'])} interval"
                 f"{'s' if int(ident['n_intervals']) > 1 else ''})", loc="left")
    ax.set_xlabel(axis_label(name, str(ident["units_of_parameter"].values)))
    ax.set_yticks([])


def posterior_marginals(posteriors, fits, width_in: float = DOUBLE_COLUMN_IN * 0.6) -> plt.Figure:
    """The marginal posterior of each parameter (columns) for each target (rows, its first seed),
    the highest-density set shaded, the truth as a green line and each backend's best fit as a
    marker above the density."""
    posteriors = first_seeds(posteriors)
    if not posteriors:
        return placeholder("no posterior")
    names = [str(n) for n in posteriors[0]["identifiability"]["parameter"].values]
    with plt.rc_context(STYLE):
        fig, axes = figure(width_in, 1.05 * len(posteriors) + 0.4, nrows=len(posteriors),
                           ncols=len(names), squeeze=False)
        for row, groups in zip(axes, posteriors):
            for ax, name in zip(row, names):
                _marginal_panel(ax, groups, name, _fits_of(fits, groups))
        legend_unique(axes[0, 0], loc="upper left", fontsize=5)
        fig.supylabel("posterior density", fontsize=STYLE["axes.labelsize"])
    return fig


def posterior_pairs(posteriors, fits) -> plt.Figure:
    """Two parameters: per target (its first seed) the marginals on the diagonal and the
    posterior draws below it, with the truth (green star) and both best fits."""
    posteriors = first_seeds(posteriors)
    names = [str(n) for n in posteriors[0]["identifiability"]["parameter"].values]
    if len(names) != 2:
        return placeholder("a pair plot needs two parameters")
    n = len(posteriors)
    with plt.rc_context(STYLE):
        fig, axes = figure(DOUBLE_COLUMN_IN * min(n, 2) / 2 + 0.2,
                           SINGLE_COLUMN_IN * 0.95 * int(np.ceil(n / 2)),
                           nrows=2 * int(np.ceil(n / 2)), ncols=2 * min(n, 2), squeeze=False)
        for ax in axes.ravel():
            ax.set_axis_off()
        for k, groups in enumerate(posteriors):
            r, c = 2 * (k // 2), 2 * (k % 2)
            mine = _fits_of(fits, groups)
            ident = groups["identifiability"]
            for i, name in enumerate(names):
                ax = axes[r + i, c + i]
                ax.set_axis_on()
                _marginal_panel(ax, groups, name, mine)
                ax.set_title(name if i else f"{ident.attrs['target']}", loc="left")
            ax = axes[r + 1, c]
            ax.set_axis_on()
            post = groups["posterior"]
            ax.plot(post[names[0]].values.ravel(), post[names[1]].values.ravel(), ".",
                    color="black", ms=0.8, alpha=0.25, rasterized=True, label="draws")
            truth = [float(ident["truth"].sel(parameter=n)) for n in names]
            if all(np.isfinite(truth)):
                ax.plot(*truth, "*", color=TARGET_COLOR, ms=7, mec="white", mew=0.4,
                        label="truth")
            for fit in mine:
                backend = fit.attrs["backend"]
                ax.plot(float(fit[f"best_{names[0]}"]), float(fit[f"best_{names[1]}"]),
                        marker(backend), color=color(backend), ms=4, mec="white", mew=0.4,
                        label=f"{backend} fit")
            ax.set_xlim(axes[r, c].get_xlim())
            ax.set_ylim(axes[r + 1, c + 1].get_xlim())
            units = [str(ident["units_of_parameter"].sel(parameter=n).values) for n in names]
            ax.set_xlabel(axis_label(names[0], units[0]))
            ax.set_ylabel(axis_label(names[1], units[1]))
            legend_unique(ax, loc="best", fontsize=5)
    return fig


def verdict_strip(ax, verdict) -> None:
    """The identifiability verdict over the box (``verdict.nc``) as a strip on ``ax``: black
    where identified, grey where the set is one wide interval, light where it is several."""
    x = verdict["value"].values
    identified = verdict["identified"].values.astype(bool)
    several = verdict["n_intervals"].values > 1
    edges = np.concatenate([[x[0] - (x[1] - x[0]) / 2], (x[1:] + x[:-1]) / 2,
                            [x[-1] + (x[-1] - x[-2]) / 2]]) if len(x) > 1 else np.array(
        [x[0] - 0.5, x[0] + 0.5])
    colours = np.where(identified, "black", np.where(several, "#E69F00", "0.7"))
    for i, c in enumerate(colours):
        ax.axvspan(edges[i], edges[i + 1], color=c, lw=0)
    ax.set_yticks([])
    ax.set_xlim(edges[0], edges[-1])
    prob = verdict.attrs.get("hds_prob", 0.9)
    ax.set_ylabel("identified", rotation=0, ha="right", va="center")
    from matplotlib.patches import Patch  # noqa: PLC0415

    handles = [Patch(color="black", label="identified"),
               Patch(color="#E69F00", label=f"{prob:.0%} set: several intervals"),
               Patch(color="0.7", label=f"{prob:.0%} set: one, too wide")]
    ax.figure.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=5,
                     frameon=False)


__all__ = ["first_seeds", "marginal", "posterior_marginals", "posterior_pairs", "verdict_strip"]
