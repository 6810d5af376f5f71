"""Figures of one cortical column fitted to its EEG features: the feature landscape over the
fitted parameter, target and fitted traces, and the loss surface of a two-parameter fit with each
fit's path and Laplace ellipse."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np

from eegfit.plots.style import (DOUBLE_COLUMN_IN, SINGLE_COLUMN_IN, STYLE, TARGET_COLOR,
                                axis_label, color, figure, legend_unique, marker, placeholder)

FEW_TRUTHS = 8
"""Up to this many ground truths, the landscape draws a guide line at each."""
FEATURE_LABELS = {"rms": "RMS amplitude", "spectral_peak_hz": "spectral peak",
                  "band_power": "band power"}


def eeg_fit(rows) -> plt.Figure:
    """Target vs fitted EEG, one row per target: the target in black, each backend's fit dashed
    in its colour; one y label for the figure and the legend below the rows (never over a
    trace).

    Args:
        rows: ``(title, target dataset, fit datasets)`` per row (``eeg`` and ``fitted_eeg`` on
            ``time`` in ms).
    """
    if not rows:
        return placeholder("no fit has a finite best value to simulate")
    with plt.rc_context(STYLE):
        fig, axes = figure(DOUBLE_COLUMN_IN * 0.6, 0.75 * len(rows) + 0.7, nrows=len(rows),
                           squeeze=False, sharex=True)
        for ax, (title, target, fits) in zip(axes[:, 0], rows):
            ax.plot(target["time"], target["eeg"], color="black", lw=0.8, label="target")
            for fit in fits:
                backend = fit.attrs["backend"]
                ax.plot(fit["time"], fit["fitted_eeg"], "--", color=color(backend), lw=0.8,
                        label=f"fit ({backend})")
            ax.set_title(title, loc="left")
            ax.yaxis.set_major_locator(MaxNLocator(3))
        first = rows[0][1]["eeg"].attrs
        fig.supylabel(axis_label(first.get("long_name", "EEG"), first.get("units", "mV")),
                      fontsize=STYLE["axes.labelsize"])
        axes[-1, 0].set_xlabel(axis_label("time", rows[0][1]["time"].attrs.get("units", "ms")))
        handles = {}
        for ax in axes[:, 0]:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, handle)
        fig.legend(handles.values(), handles.keys(), loc="outside lower center",
                   ncols=len(handles))
    return fig


def _with_strip(n_rows: int, verdict) -> dict:
    """Subplot settings of ``n_rows`` panels, and a thin one below for a verdict strip."""
    if verdict is None:
        return {"nrows": n_rows}
    return {"nrows": n_rows + 1, "height_ratios": [1.0] * n_rows + [0.16]}


def landscape(ds, truths=(), features=None, verdict=None) -> plt.Figure:
    """Each feature vs the fitted parameter over a grid, with the ground truths marked and the
    stretches where the feature does not identify the parameter (flat, or a value met twice)
    shaded; with ``verdict`` (a posterior verdict scan), the posterior's identifiability verdict
    over the box as a strip below (:func:`eegfit.plots.posterior.verdict_strip`)."""
    features = features or [v for v in ds.data_vars if not v.endswith("_identifiable")]
    name = ds.attrs.get("parameter", "parameter")
    with plt.rc_context(STYLE):
        fig, axes = figure(SINGLE_COLUMN_IN, 0.9 * len(features) + 0.5 + 0.5 * (
            verdict is not None), squeeze=False, sharex=True, **_with_strip(len(features),
                                                                            verdict))
        x = ds["value"].values
        for ax, feat in zip(axes[:, 0], features):
            ax.plot(x, ds[feat].values, color="black", lw=0.8)
            if f"{feat}_identifiable" in ds:
                ambiguous = ds[f"{feat}_identifiable"].values == 0
                ax.fill_between(x, 0, 1, where=ambiguous, transform=ax.get_xaxis_transform(),
                                color="0.85", lw=0, step="mid", label="not identifiable")
            if len(truths):  # one line of markers (and a few guide lines), however many
                if len(truths) <= FEW_TRUTHS:
                    ax.vlines(truths, 0, 1, transform=ax.get_xaxis_transform(), color="0.6",
                              lw=0.5, ls=":")
                ax.plot(truths, np.interp(truths, x, ds[feat].values), "v", ls="none",
                        color=TARGET_COLOR, ms=3 if len(truths) <= FEW_TRUTHS else 2,
                        label="ground truths")
            ax.set_ylabel(f"{feat} ({ds[feat].attrs.get('units', '1')})")
        unit = ds["value"].attrs.get("units", "1")
        if verdict is not None:
            from eegfit.plots.posterior import verdict_strip  # noqa: PLC0415

            verdict_strip(axes[-1, 0], verdict)
        axes[-1, 0].set_xlabel(axis_label(name, unit))
        handles, labels = axes[0, 0].get_legend_handles_labels()
        if handles:  # below the panels: never over the curve
            fig.legend(handles, labels, loc="outside lower center", ncols=len(handles))
    return fig


def target_traces(targets: dict, features: dict | None = None) -> plt.Figure:
    """The target EEG at each ground truth (its first seed), one row per truth.

    Args:
        targets: ``(truth, seed) -> target dataset`` (``eeg`` in mV on ``time`` in ms).
        features: ``(truth, seed) -> features dataset``; where given, each row's title gives the
            target's RMS amplitude and spectral peak, which name its regime.
    """
    first = {}
    for (truth, seed), ds in sorted(targets.items()):
        first.setdefault(truth, (seed, ds))
    with plt.rc_context(STYLE):
        fig, axes = figure(SINGLE_COLUMN_IN, 0.62 * len(first) + 0.45, nrows=len(first),
                           squeeze=False, sharex=True)
        for ax, (truth, (seed, ds)) in zip(axes[:, 0], first.items()):
            ax.plot(ds["time"].values, ds["eeg"].values, color="black", lw=0.7)
            title = f"{ds.attrs.get('parameter', 'parameter')}* = {truth:g}"
            feats = (features or {}).get((truth, seed))
            if feats is not None and {"rms", "spectral_peak_hz"} <= set(feats.data_vars):
                title += (f":  RMS {float(feats['rms']):.2g} {feats['rms'].attrs['units']},  "
                          f"spectral peak {float(feats['spectral_peak_hz']):.3g} "
                          f"{feats['spectral_peak_hz'].attrs['units']}")
            ax.set_title(title, loc="left")
            ax.yaxis.set_major_locator(MaxNLocator(3))
        unit = first[next(iter(first))][1]["time"].attrs.get("units", "ms")
        axes[-1, 0].set_xlabel(axis_label("time", unit))
        fig.supylabel(axis_label("EEG, y1 \u2212 y2", "mV"), fontsize=STYLE["axes.labelsize"])
    return fig


def feature_landscape(landscape, target_features: dict | None = None,
                      names=None, verdict=None) -> plt.Figure:
    """Each feature against the fitted parameter over the landscape grid, targets marked.

    Args:
        landscape: the landscape dataset (features on a ``value`` grid of the parameter).
        target_features: ``(truth, seed) -> features dataset``: each target is drawn at its
            ground truth and its measured feature value.
        names: the features to draw (default: RMS and spectral peak, where present).
        verdict: a posterior verdict scan: the identifiability verdict as a strip below.
    """
    names = list(names or [n for n in ("rms", "spectral_peak_hz") if n in landscape]
                 or landscape.data_vars)
    name = landscape.attrs.get("parameter", "parameter")
    x = landscape["value"].values
    with plt.rc_context(STYLE):
        fig, axes = figure(SINGLE_COLUMN_IN, 1.05 * len(names) + 0.4 + 0.5 * (
            verdict is not None), squeeze=False, sharex=True, **_with_strip(len(names), verdict))
        for ax, feat in zip(axes[:, 0], names):
            ax.plot(x, landscape[feat].values, color="black", lw=0.8, label="model on the grid")
            points = sorted((t, float(ds[feat])) for (t, _), ds in (target_features or {}).items()
                            if feat in ds)
            for truth in sorted({t for t, _ in points}):
                ax.axvline(truth, color="0.75", lw=0.5, ls=":", zorder=0)
            if points:
                ax.plot(*zip(*points), "o", color=TARGET_COLOR, mfc="none", ms=3.5, mew=0.8,
                        label="targets")
            ax.set_ylabel(axis_label(FEATURE_LABELS.get(feat, feat),
                                     landscape[feat].attrs.get("units", "1")))
        axes[0, 0].legend(loc="upper left")
        if verdict is not None:
            from eegfit.plots.posterior import verdict_strip  # noqa: PLC0415

            verdict_strip(axes[-1, 0], verdict)
        axes[-1, 0].set_xlabel(axis_label(name, landscape["value"].attrs.get("units", "1")))
    return fig


def _ellipse(center, covariance, n_sigma: float = 2.0, n: int = 100) -> np.ndarray:
    """Points ``(n, 2)`` of the ``n_sigma`` ellipse of a 2x2 covariance around ``center``."""
    vals, vecs = np.linalg.eigh(np.asarray(covariance, dtype=float))
    angle = np.linspace(0.0, 2.0 * np.pi, n)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    return (np.asarray(center)[:, None] + vecs @ (n_sigma * np.sqrt(vals)[:, None] * circle)).T


def _fit_on_surface(ax, fit, xname: str, yname: str) -> None:
    """One fit on its loss surface: the grad path as a line (one per start of a multi-start
    fit), the nevergrad candidates as dots,
    the best point as a marker with its 2-sigma Laplace ellipse where the Hessian is positive
    definite."""
    backend, c = fit.attrs["backend"], color(fit.attrs["backend"])
    px, py = fit[f"param_{xname}"].values, fit[f"param_{yname}"].values
    if backend == "grad":
        for start in range(px.shape[1]):
            ax.plot(px[:, start], py[:, start], "-", color=c, lw=0.8, label=backend)
    else:
        ax.plot(px.ravel(), py.ravel(), ".", color=c, ms=1.5, alpha=0.6, label=backend)
    best = np.array([float(fit[f"best_{xname}"]), float(fit[f"best_{yname}"])])
    ax.plot(*best, marker(backend), color=c, ms=4, mec="white", mew=0.5)
    if int(fit.attrs.get("hessian_positive_definite", 0)):
        ell = _ellipse(best, fit["covariance"].values)
        ax.plot(ell[:, 0], ell[:, 1], color=c, lw=0.6, ls="--")


def loss_surface(surfaces, fits) -> plt.Figure:
    """Log loss over the two-parameter box, one panel per target, with each fit's path on it.

    Args:
        surfaces: loss surface datasets (``loss`` on a grid of the two parameters; attrs
            ``target`` and ``truth.<name>`` per parameter).
        fits: multi-parameter fit datasets (attr ``target``): the grad path as a line, the
            nevergrad candidates as dots, every best point as a marker with its 2-sigma Laplace
            ellipse where the Hessian is positive definite; the truth as a green star.
    """
    ncols, nrows = min(len(surfaces), 2), int(np.ceil(len(surfaces) / 2))
    with plt.rc_context(STYLE):
        fig, axes = figure(DOUBLE_COLUMN_IN * 0.5 * ncols + 0.3, SINGLE_COLUMN_IN * 0.75 * nrows,
                           ncols=ncols, nrows=nrows, squeeze=False)
        for ax in axes.ravel()[len(surfaces):]:
            ax.set_axis_off()
        for ax, surf in zip(axes.ravel(), surfaces):
            xname, yname = surf["loss"].dims
            x, y = surf[xname].values, surf[yname].values
            log_loss = np.log10(np.clip(surf["loss"].values, 1e-8, None))
            mesh = ax.pcolormesh(x, y, log_loss.T, cmap="Greys_r", shading="nearest",
                                 rasterized=True)
            ax.contour(x, y, log_loss.T, levels=6, colors="white", linewidths=0.3)
            for fit in (f for f in fits if f.attrs["target"] == surf.attrs["target"]):
                _fit_on_surface(ax, fit, xname, yname)
            truth = [float(surf.attrs[f"truth.{n}"]) for n in (xname, yname)]
            ax.plot(*truth, "*", color=TARGET_COLOR, ms=7, mec="white", mew=0.4, label="truth")
            ax.set_xlim(x[0], x[-1])
            ax.set_ylim(y[0], y[-1])
            ax.set_xlabel(axis_label(xname, surf[xname].attrs.get("units", "1")))
            ax.set_ylabel(axis_label(yname, surf[yname].attrs.get("units", "1")))
            ax.set_title(", ".join(f"{n}* = {t:g}" for n, t in zip((xname, yname), truth)),
                         loc="left")
            fig.colorbar(mesh, ax=ax, label="log10 loss", shrink=0.8)
        legend_unique(axes.ravel()[0], loc="upper left")
    return fig


def column_kind_figures(kind, fits, targets, scan, summary) -> dict:
    """The column kind's own figures (``FigureKind.draws`` of
    :class:`eegfit.experiments.column.Column`): one parameter, the fits' traces against their
    targets (the first seed of a few truths) and the feature landscape; two, the loss surface
    with each fit's path. ``kind``: the experiment's Kind (its ``spec`` and ``scan_dims``)."""
    del summary
    if kind.scan_dims == 2:
        attrs = {str(t.attrs["target"]): t.attrs for t in targets}
        surfaces = [scan.sel(target=label).assign_attrs(
            target=str(label), **{k: v for k, v in attrs[str(label)].items()
                                  if k.startswith("truth.")})
            for label in scan["target"].values]
        return {"loss_surface": loss_surface(surfaces, fits)}
    if kind.scan_dims != 1:
        return {}
    name = kind.spec.names[0]
    first_seed = kind.spec.seeds[0]
    rows = []
    for target in targets:  # the figure targets: the first seed of a few truths
        if int(target.attrs["seed"]) != first_seed:
            continue
        mine = [f for f in fits if f.attrs["target"] == target.attrs["target"]
                and int(f.attrs["seed"]) == first_seed and "fitted_eeg" in f]
        if mine:
            rows.append((f"{name}* = {float(target.attrs['truth']):g}, seed {first_seed}",
                         target, mine))
    return {"eeg_fit": eeg_fit(rows),
            "landscape": landscape(scan, truths=kind.spec.parameters[0].truths)}
