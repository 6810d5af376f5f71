"""Figures from result datasets (NetCDF opened with xarray), in one shared style.

Each function returns a matplotlib Figure; :func:`save` writes it as vector PDF and 300 dpi PNG
with no timestamp embedded, so a rerun gives the same files. Colours are fixed per backend across
every figure; sizes target a journal's single column (89 mm) or double column (183 mm).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullLocator  # noqa: E402
import numpy as np  # noqa: E402

MM = 1 / 25.4
SINGLE_COLUMN_IN = 89 * MM
DOUBLE_COLUMN_IN = 183 * MM
BACKEND_COLORS = {"grad": "#0072B2", "nevergrad": "#D55E00"}  # Okabe-Ito, colour-blind safe
BACKEND_MARKERS = {"grad": "o", "nevergrad": "s"}
STYLE = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "legend.fontsize": 6,
    "xtick.labelsize": 6, "ytick.labelsize": 6, "lines.linewidth": 1.0, "axes.linewidth": 0.6,
    "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
    "savefig.bbox": "tight", "savefig.pad_inches": 0.02, "pdf.fonttype": 42, "svg.hashsalt": "eegfit",
}


def color(backend: str) -> str:
    return BACKEND_COLORS.get(backend, "0.3")


def figure(width_in: float = SINGLE_COLUMN_IN, height_in: float | None = None, **subplots):
    """A figure in the shared style (``plt.subplots`` arguments pass through)."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(figsize=(width_in, height_in or width_in * 0.75),
                                 layout="constrained", **subplots)
    return fig, axes


def save(fig, stem, formats=("pdf", "png"), dpi: int = 300, tight: bool = True) -> list[Path]:
    """Write ``stem.pdf`` and ``stem.png`` (no creation date embedded) and close the figure.

    ``tight=False`` keeps the figure's own size (the constrained layout already fits every label
    inside it), so a single-column figure is exactly 89 mm wide: 1051 px at 300 dpi.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    style = STYLE if tight else {**STYLE, "savefig.bbox": "standard", "savefig.pad_inches": 0}
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None} \
            if fmt == "png" else None
        with plt.rc_context(style):
            fig.savefig(path, dpi=dpi, metadata=metadata)
        paths.append(path)
    plt.close(fig)
    return paths


def _param(fit) -> str:
    return fit.attrs["fitted_parameters"].split(",")[0]


def convergence(fits) -> plt.Figure:
    """Best loss so far vs step, one panel per backend, one line per fit (log scale)."""
    backends = sorted({f.attrs["backend"] for f in fits})
    with plt.rc_context(STYLE):
        fig, axes = figure(DOUBLE_COLUMN_IN * 0.6, SINGLE_COLUMN_IN * 0.6, ncols=len(backends),
                           squeeze=False, sharey=True)
        truths = sorted({float(f[f"true_{_param(f)}"]) for f in fits})
        shades = {t: 0.35 + 0.65 * i / max(1, len(truths) - 1) for i, t in enumerate(truths)}
        for ax, backend in zip(axes[0], backends):
            for fit in (f for f in fits if f.attrs["backend"] == backend):
                truth = float(fit[f"true_{_param(fit)}"])
                loss = np.clip(fit["best_loss_so_far"].values, 1e-12, None)
                style = "-" if fit.attrs["status"] in ("converged", "max_steps") else ":"
                ax.plot(fit["step"].values, loss, style, color=color(backend),
                        alpha=shades[truth], label=f"{_param(fit)}*={truth:g}")
                per_step = fit.sizes["candidate"]
            ax.set_yscale("log")
            ax.set_title(f"{backend} ({per_step} evaluation{'s' * (per_step > 1)} per step)")
            ax.set_xlabel("step")
        axes[0][0].set_ylabel("best loss so far (squared rel. error)")
        handles, labels = axes[0][-1].get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        axes[0][-1].legend(unique.values(), unique.keys(), loc="upper right")
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
        ok = np.isin(summary["status"].values, ["converged", "max_steps"])
        for backend in sorted(set(summary["backend"].values)):
            mine = summary["backend"].values == backend
            offset = 0.004 * (hi - lo) * (1 if backend == "nevergrad" else -1)
            ax.scatter(true[mine & ok] + offset, fitted[mine & ok], s=10, color=color(backend),
                       marker=BACKEND_MARKERS.get(backend, "o"), label=backend, alpha=0.8)
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


def eeg_fit(pairs) -> plt.Figure:
    """Target vs fitted EEG, one row per (label, target dataset, fit dataset)."""
    if not pairs:
        fig, ax = figure()
        ax.text(0.5, 0.5, "no fit has a finite best value to simulate", ha="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    with plt.rc_context(STYLE):
        fig, axes = figure(DOUBLE_COLUMN_IN * 0.6, 0.9 * len(pairs) + 0.4, nrows=len(pairs),
                           squeeze=False, sharex=True)
        for ax, (label, target, fit) in zip(axes[:, 0], pairs):
            ax.plot(target["time"], target["eeg"], color="black", lw=0.8, label="target")
            backend = fit.attrs["backend"]
            ax.plot(fit["time"], fit["fitted_eeg"], "--", color=color(backend), lw=0.8,
                    label=f"fit ({backend})")
            ax.set_ylabel("EEG (mV)")
            ax.set_title(label, loc="left")
        axes[-1, 0].set_xlabel("time (ms)")
        axes[0, 0].legend(loc="upper right", ncols=2)
    return fig


def landscape(ds, truths=(), features=None) -> plt.Figure:
    """Each feature vs the fitted parameter over a grid, with the ground truths marked and the
    stretches where the feature does not identify the parameter (flat, or a value met twice)
    shaded."""
    features = features or [v for v in ds.data_vars if not v.endswith("_identifiable")]
    name = ds.attrs.get("parameter", "parameter")
    with plt.rc_context(STYLE):
        fig, axes = figure(SINGLE_COLUMN_IN, 0.9 * len(features) + 0.5, nrows=len(features),
                           squeeze=False, sharex=True)
        x = ds["value"].values
        for ax, feat in zip(axes[:, 0], features):
            ax.plot(x, ds[feat].values, color="black", lw=0.8)
            if f"{feat}_identifiable" in ds:
                ambiguous = ds[f"{feat}_identifiable"].values == 0
                ax.fill_between(x, 0, 1, where=ambiguous, transform=ax.get_xaxis_transform(),
                                color="0.85", lw=0, step="mid", label="not identifiable")
            for t in truths:
                ax.axvline(t, color="0.6", lw=0.5, ls=":")
                ax.plot([t], [np.interp(t, x, ds[feat].values)], "v", color="#009E73", ms=3)
            ax.set_ylabel(f"{feat} ({ds[feat].attrs.get('units', '1')})")
        unit = ds["value"].attrs.get("units", "1")
        axes[-1, 0].set_xlabel(name + ("" if unit == "1" else f" ({unit})"))
        if any(f"{feat}_identifiable" in ds for feat in features):
            axes[0, 0].legend(loc="upper left")
    return fig


# --- Paper figures -------------------------------------------------------------------------------
# Single-column (89 mm) figures of the whole study, each from the result files alone (see
# eegfit.results.load). Save them with ``save(fig, stem, tight=False)`` so that every PNG is
# exactly 1051 px (89 mm at 300 dpi) wide.

PAPER_FIGURES = ("targets", "landscape", "convergence_seeds", "recovery", "cost")
TARGET_COLOR = "#009E73"  # Okabe-Ito green: the targets, never a backend
FEATURE_LABELS = {"rms": "RMS amplitude", "spectral_peak_hz": "spectral peak",
                  "band_power": "band power"}
USABLE = ("converged", "max_steps")
TRUTH_LINESTYLES = ("-", "--", ":", "-.")


def axis_label(quantity: str, unit: str) -> str:
    """``"quantity (unit)"``, with ``"dimensionless"`` for unit ``"1"``."""
    unit = "dimensionless" if unit in ("1", "") else unit.replace("^2", "\u00b2")
    return f"{quantity} ({unit})"


def _backends(values) -> list[str]:
    """Backends in a fixed order (the known ones first), so colours and positions never swap."""
    present = set(np.asarray(values).astype(str))
    return [b for b in BACKEND_COLORS if b in present] + sorted(present - set(BACKEND_COLORS))


def _column(table, name: str) -> np.ndarray:
    if name not in table:
        raise KeyError(f"the summary has no column {name!r} (wall times are in summary.csv, "
                       f"not summary.nc)")
    return np.asarray(table[name])


def _table_parameter(table) -> tuple[str, str]:
    """(parameter name, units) of a summary table (summary.csv DataFrame or summary.nc)."""
    if "parameter" in table:
        unit = str(_column(table, "units")[0]) if "units" in table else "1"
        return str(_column(table, "parameter")[0]), unit
    return (table.attrs.get("parameter", "parameter"),
            getattr(table["truth"], "attrs", {}).get("units", "1"))


def _spread(values) -> tuple[float, float, float]:
    """Median and the (min, max) range of the finite values."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return np.nan, np.nan, np.nan
    return float(np.median(values)), float(values.min()), float(values.max())


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
                      names=None) -> plt.Figure:
    """Each feature against the fitted parameter over the landscape grid, targets marked.

    Args:
        landscape: the landscape dataset (features on a ``value`` grid of the parameter).
        target_features: ``(truth, seed) -> features dataset``: each target is drawn at its
            ground truth and its measured feature value.
        names: the features to draw (default: RMS and spectral peak, where present).
    """
    names = list(names or [n for n in ("rms", "spectral_peak_hz") if n in landscape]
                 or landscape.data_vars)
    name = landscape.attrs.get("parameter", "parameter")
    x = landscape["value"].values
    with plt.rc_context(STYLE):
        fig, axes = figure(SINGLE_COLUMN_IN, 1.05 * len(names) + 0.4, nrows=len(names),
                           squeeze=False, sharex=True)
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
        axes[-1, 0].set_xlabel(axis_label(name, landscape["value"].attrs.get("units", "1")))
    return fig


def convergence_over_seeds(fits) -> plt.Figure:
    """Lowest loss so far against model evaluations: one panel per backend, one line per truth
    (median over seeds), shaded from the best to the worst seed."""
    backends = _backends([f.attrs["backend"] for f in fits])
    truths = sorted({float(f.attrs["truth"]) for f in fits})
    name = _param(fits[0])
    with plt.rc_context(STYLE):
        fig, axes = figure(SINGLE_COLUMN_IN, 0.62 * SINGLE_COLUMN_IN, ncols=len(backends),
                           squeeze=False, sharey=True)
        for ax, backend in zip(axes[0], backends):
            mine = [f for f in fits if f.attrs["backend"] == backend]
            for i, truth in enumerate(truths):
                group = [f for f in mine if float(f.attrs["truth"]) == truth]
                if not group:
                    continue
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
                ax.plot(evaluations, median, TRUTH_LINESTYLES[i % len(TRUTH_LINESTYLES)],
                        color=color(backend))
            ax.set_yscale("log")
            ax.yaxis.set_minor_locator(NullLocator())  # decades only: readable at 89 mm
            ax.set_title(f"{backend}: {mine[0].attrs['optimizer']}")
            ax.set_xlabel("model evaluations")
        axes[0, 0].set_ylabel("lowest loss so far\n(squared relative error)")
        proxies = [Line2D([], [], color="0.3",
                                           ls=TRUTH_LINESTYLES[i % len(TRUTH_LINESTYLES)])
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
    name, unit = _table_parameter(summary)
    backend_of = _column(summary, "backend").astype(str)
    true, fitted = _column(summary, "truth").astype(float), _column(summary, "fitted").astype(
        float)
    ok = np.isin(_column(summary, "status").astype(str), USABLE) & np.isfinite(fitted)
    truths = np.unique(true)
    backends = _backends(backend_of)
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
            stats = np.array([_spread(fitted[mine & ok & (true == t)]) for t in truths])
            errors = np.array([_spread(100 * (fitted[mine & ok & (true == t)] - t) / t)
                               for t in truths])
            style = dict(fmt=BACKEND_MARKERS.get(backend, "o"), color=color(backend), ms=3,
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
    backend_of = _column(summary, "backend").astype(str)
    backends = _backends(backend_of)
    panels = (("n_evaluations", "model evaluations per fit"),
              ("wall_time_s", axis_label("wall time per fit", "s")))
    with plt.rc_context(STYLE):
        fig, axes = figure(SINGLE_COLUMN_IN, 0.5 * SINGLE_COLUMN_IN, ncols=len(panels),
                           squeeze=False)
        for ax, (column, label) in zip(axes[0], panels):
            values = _column(summary, column).astype(float)
            for j, backend in enumerate(backends):
                mine = values[backend_of == backend]
                ax.bar(j, _spread(mine)[0], width=0.6, color=color(backend), alpha=0.3, lw=0)
                # Spread the dots evenly (not randomly) so the figure is the same on every run.
                jitter = np.linspace(-0.18, 0.18, mine.size) if mine.size > 1 else np.zeros(1)
                ax.plot(j + jitter, mine, BACKEND_MARKERS.get(backend, "o"), color=color(backend),
                        ms=2.5, mew=0)
            ax.set_xticks(range(len(backends)), backends)
            ax.set_xlim(-0.6, len(backends) - 0.4)
            ax.set_ylim(bottom=0)
            ax.set_ylabel(label)
    return fig


# --- Multi-parameter fits ------------------------------------------------------------------------

def _ellipse(center, covariance, n_sigma: float = 2.0, n: int = 100) -> np.ndarray:
    """Points ``(n, 2)`` of the ``n_sigma`` ellipse of a 2x2 covariance around ``center``."""
    vals, vecs = np.linalg.eigh(np.asarray(covariance, dtype=float))
    angle = np.linspace(0.0, 2.0 * np.pi, n)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    return (np.asarray(center)[:, None] + vecs @ (n_sigma * np.sqrt(vals)[:, None] * circle)).T


def loss_surface(surfaces, fits) -> plt.Figure:
    """Log loss over the two-parameter box, one panel per target, with each fit's path on it.

    Args:
        surfaces: datasets of :func:`eegfit.experiments_multi.surface` (attr ``truth_label``).
        fits: multi-parameter fit datasets (attr ``truth_label``): the grad path as a line, the
            nevergrad candidates as dots, every best point as a marker with its 2-sigma Laplace
            ellipse where the Hessian is positive definite; the truth as a green star.
    """
    with plt.rc_context(STYLE):
        fig, axes = figure(DOUBLE_COLUMN_IN * 0.5 * min(len(surfaces), 2) + 0.3,
                           SINGLE_COLUMN_IN * 0.75 * int(np.ceil(len(surfaces) / 2)),
                           ncols=min(len(surfaces), 2), nrows=int(np.ceil(len(surfaces) / 2)),
                           squeeze=False)
        for ax in axes.ravel()[len(surfaces):]:
            ax.set_axis_off()
        for ax, surf in zip(axes.ravel(), surfaces):
            xname, yname = surf["loss"].dims
            x, y = surf[xname].values, surf[yname].values
            log_loss = np.log10(np.clip(surf["loss"].values, 1e-8, None))
            mesh = ax.pcolormesh(x, y, log_loss.T, cmap="Greys_r", shading="nearest",
                                 rasterized=True)
            ax.contour(x, y, log_loss.T, levels=6, colors="white", linewidths=0.3)
            label = surf.attrs["truth_label"]
            for fit in (f for f in fits if f.attrs["truth_label"] == label):
                backend, c = fit.attrs["backend"], color(fit.attrs["backend"])
                px, py = fit[f"param_{xname}"].values, fit[f"param_{yname}"].values
                if backend == "grad":
                    ax.plot(px[:, 0], py[:, 0], "-", color=c, lw=0.8, label=backend)
                else:
                    ax.plot(px.ravel(), py.ravel(), ".", color=c, ms=1.5, alpha=0.6,
                            label=backend)
                best = np.array([float(fit[f"best_{xname}"]), float(fit[f"best_{yname}"])])
                ax.plot(*best, BACKEND_MARKERS.get(backend, "o"), color=c, ms=4, mec="white",
                        mew=0.5)
                if int(fit.attrs.get("hessian_positive_definite", 0)):
                    ell = _ellipse(best, fit["covariance"].values)
                    ax.plot(ell[:, 0], ell[:, 1], color=c, lw=0.6, ls="--")
            truth = [float(surf.attrs[f"truth.{n}"]) for n in (xname, yname)]
            ax.plot(*truth, "*", color=TARGET_COLOR, ms=7, mec="white", mew=0.4, label="truth")
            ax.set_xlim(x[0], x[-1])
            ax.set_ylim(y[0], y[-1])
            ax.set_xlabel(axis_label(xname, surf[xname].attrs.get("units", "1")))
            ax.set_ylabel(axis_label(yname, surf[yname].attrs.get("units", "1")))
            ax.set_title(label.replace("_", ", "), loc="left")
            fig.colorbar(mesh, ax=ax, label="log10 loss", shrink=0.8)
        handles, labels = axes.ravel()[0].get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        axes.ravel()[0].legend(unique.values(), unique.keys(), loc="upper left")
    return fig
