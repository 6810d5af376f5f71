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
            ax.set_title(", ".join(f"{n}* = {t:g}" for n, t in zip((xname, yname), truth)),
                         loc="left")
            fig.colorbar(mesh, ax=ax, label="log10 loss", shrink=0.8)
        handles, labels = axes.ravel()[0].get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        axes.ravel()[0].legend(unique.values(), unique.keys(), loc="upper left")
    return fig


# ---- measured recordings (eegfit.recording_experiment) -----------------------------------------

RECORDING_COLOR = "black"  # the recording, never a backend


def _fitted_band(spec: dict | None) -> tuple[float, float]:
    """The widest band the fitted features read (Hz), for shading."""
    from eegfit import spectra  # noqa: PLC0415

    bands = [b for _, b in spectra.feature_bands(spec or spectra.DEFAULT_FEATURES)]
    return min(b[0] for b in bands), max(b[1] for b in bands)


def recording_psd(features, fits, spec: dict | None = None) -> plt.Figure:
    """The recording's Welch PSD against each fitted model's PSD, both normalised over the fitted
    band (their absolute scales differ by an unknown gain), the band shaded; the recording's
    spread over segments as a shaded range."""
    low, high = _fitted_band(spec)
    freqs = features["frequency"].values
    band = (freqs >= low) & (freqs <= high)
    df = freqs[1] - freqs[0]

    def normalise(power):
        return power / (np.sum(power[..., band], axis=-1, keepdims=True) * df)

    with plt.rc_context(STYLE):
        fig, ax = figure()
        seg = normalise(features["psd_segment"].values)
        lo, hi = np.percentile(seg, [16, 84], axis=0)
        show = freqs <= min(freqs[-1], 1.25 * high)
        ax.fill_between(freqs[show], lo[show], hi[show], color="0.85", lw=0,
                        label="recording, segments 16-84 %")
        ax.plot(freqs[show], normalise(features["psd"].values)[show], color=RECORDING_COLOR,
                label=f"recording ({features.attrs.get('channel', '')})")
        for fit in fits:
            if "model_psd" in fit:
                backend = fit.attrs["backend"]
                ax.plot(freqs[show], normalise(fit["model_psd"].values)[show], "--",
                        color=color(backend), label=f"model, {backend} fit")
        ax.axvspan(low, high, color=TARGET_COLOR, alpha=0.08, lw=0, label="fitted band")
        ax.set_yscale("log")
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel(f"PSD / power in {low:g}-{high:g} Hz (1/Hz)")
        ax.legend(loc="upper right")
    return fig


def recording_windows(features, fits) -> plt.Figure:
    """Each scalar feature per Welch segment (dots), the target (mean PSD's value, line) with its
    spread over segments (shaded, the noise floor), and each fit's value (dashed)."""
    panels = []
    if "window_peak_frequency" in features:
        panels.append(("peak_frequency", None, "peak frequency (Hz)"))
    if "window_relative_power" in features:
        panels += [("relative_power", b, f"relative power, {b}")
                   for b in features["band"].values.tolist()]
    if not panels:
        fig, ax = figure()
        ax.text(0.5, 0.5, "no scalar feature fitted", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    with plt.rc_context(STYLE):
        ncols = min(3, len(panels))
        nrows = -(-len(panels) // ncols)
        fig, axes = figure(DOUBLE_COLUMN_IN * 0.8, 1.4 * nrows + 0.3, nrows=nrows, ncols=ncols,
                           squeeze=False, sharex=True)
        t = features["segment_start"].values
        for ax, (name, band, label) in zip(axes.ravel(), panels):
            sel = (lambda v: v) if band is None else (lambda v: v.sel(band=band))  # noqa: E731
            values = sel(features[f"window_{name}"]).values
            target, noise = float(sel(features[name])), float(sel(features[f"spread_{name}"]))
            ax.axhspan(target - noise, target + noise, color="0.88", lw=0,
                       label="target ± spread")
            ax.plot(t, values, ".", color="0.45", ms=2.5, label="per segment")
            ax.axhline(target, color=RECORDING_COLOR, lw=0.8, label="target (mean PSD)")
            for fit in fits:
                if f"model_{name}" in fit:
                    ax.axhline(float(sel(fit[f"model_{name}"])), ls="--",
                               color=color(fit.attrs["backend"]),
                               label=f"{fit.attrs['backend']} fit")
            ax.set_title(label, loc="left")
        for ax in axes.ravel()[len(panels):]:
            ax.set_axis_off()
        for ax in axes[-1]:
            ax.set_xlabel("segment start (s)")
        axes[0, 0].legend(loc="best", fontsize=5)
    return fig


def recording_convergence(fits) -> plt.Figure:
    """Best loss so far vs evaluations, one line per backend; 1 = one spread from the target."""
    with plt.rc_context(STYLE):
        fig, ax = figure()
        for fit in fits:
            backend = fit.attrs["backend"]
            n_eval = (fit["step"].values + 1) * fit.sizes["candidate"]
            loss = np.clip(fit["best_loss_so_far"].values, 1e-6, None)
            ax.plot(n_eval, loss, color=color(backend), marker=BACKEND_MARKERS.get(backend, "o"),
                    ms=2, label=f"{backend} ({fit.attrs['status']})")
        ax.axhline(1.0, color="0.5", lw=0.6, ls=":", label="one window-to-window spread")
        ax.set_yscale("log")
        ax.set_xlabel("loss evaluations")
        ax.set_ylabel("best loss so far (mean sq. error / spread²)")
        ax.legend(loc="upper right")
    return fig


# --- Networks fitted to functional connectivity -------------------------------------------------

def fc_matrices(target, fits) -> plt.Figure:
    """SC, target FC and the FC at each backend's best value (first fit of each backend on the
    target's truth and seed), as matrices over the nodes."""
    truth, seed = float(target.attrs["truth"]), int(target.attrs["seed"])
    chosen = {}
    for fit in fits:
        if float(fit[f"true_{_param(fit)}"]) == truth and int(fit.attrs["seed"]) == seed:
            chosen.setdefault(fit.attrs["backend"], fit)
    panels = [("structural connectivity", target["sc"].values, "Greys"),
              ("target FC", target["fc"].values, "RdBu_r")]
    for backend in _backends(list(chosen)):
        fit = chosen[backend]
        best = float(fit[f"best_{_param(fit)}"])
        panels.append((f"fit, {backend}: {_param(fit)} = {best:.3g}",
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
        fig.suptitle(f"{_param(next(iter(chosen.values())))}* = {truth:g}, seed {seed}"
                     if chosen else f"truth {truth:g}, seed {seed}", fontsize=7)
    return fig


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
            x = scan["value"].values
            grey = str(round(float(shade), 2))
            label = f"seed {int(scan.attrs['seed'])}"
            top.plot(x, scan["objective"].values, color=grey, lw=0.8, label=label)
            bottom.plot(x, scan["fc_correlation"].values, color=grey, lw=0.8)
            mine = [f for f in fits if int(f.attrs["seed"]) == int(scan.attrs["seed"])
                    and float(f[f"true_{_param(f)}"]) == float(scan.attrs["truth"])]
            if mine:
                top.axhline(float(mine[0]["noise_floor_loss"]), color=grey, lw=0.6, ls="--")
                bottom.axhline(float(mine[0]["fc_correlation_ceiling"]), color=grey, lw=0.6,
                               ls="--")
            for fit in mine:
                backend, best = fit.attrs["backend"], float(fit[f"best_{_param(fit)}"])
                top.plot([best], [float(fit["best_loss"])], BACKEND_MARKERS.get(backend, "o"),
                         color=color(backend), ms=3.5, label=backend)
                bottom.plot([best], [float(fit["best_fc_correlation"])],
                            BACKEND_MARKERS.get(backend, "o"), color=color(backend), ms=3.5)
        for truth in sorted({float(s.attrs["truth"]) for s in scans}):
            for ax in (top, bottom):
                ax.axvline(truth, color=TARGET_COLOR, lw=0.8)
        name = scans[0]["value"].attrs.get("long_name", "parameter") if scans else "parameter"
        top.set_ylabel(axis_label(scans[0]["objective"].attrs.get("long_name", "objective")
                                  if scans else "objective", "1"))
        bottom.set_ylabel(axis_label("FC correlation", "1"))
        bottom.set_xlabel(axis_label(name, scans[0]["value"].attrs.get("units", "1")
                                     if scans else "1"))
        handles, labels = top.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        top.legend(unique.values(), unique.keys(), loc="upper left", ncols=2)
    return fig
