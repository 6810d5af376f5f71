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


def save(fig, stem, formats=("pdf", "png"), dpi: int = 300) -> list[Path]:
    """Write ``stem.pdf`` and ``stem.png`` (no creation date embedded) and close the figure."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None} \
            if fmt == "png" else None
        with plt.rc_context(STYLE):
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
    """Each feature vs the fitted parameter over a grid, with the ground truths marked."""
    features = features or [v for v in ds.data_vars]
    name = ds.attrs.get("parameter", "parameter")
    with plt.rc_context(STYLE):
        fig, axes = figure(SINGLE_COLUMN_IN, 0.9 * len(features) + 0.5, nrows=len(features),
                           squeeze=False, sharex=True)
        x = ds["value"].values
        for ax, feat in zip(axes[:, 0], features):
            ax.plot(x, ds[feat].values, color="black", lw=0.8)
            for t in truths:
                ax.axvline(t, color="0.6", lw=0.5, ls=":")
                ax.plot([t], [np.interp(t, x, ds[feat].values)], "v", color="#009E73", ms=3)
            ax.set_ylabel(f"{feat} ({ds[feat].attrs.get('units', '1')})")
        unit = ds["value"].attrs.get("units", "1")
        axes[-1, 0].set_xlabel(name + ("" if unit == "1" else f" ({unit})"))
    return fig
