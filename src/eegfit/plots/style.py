"""The one figure style of eegfit: rcParams, journal sizes, a colour and marker per backend, and
the small helpers every figure module shares.

Each figure function returns a matplotlib Figure; :func:`save` writes it as vector PDF and 300 dpi
PNG with no timestamp embedded, so a rerun gives the same files. Colours are fixed per backend
across every figure; sizes target a journal's single column (89 mm) or double column (183 mm).
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
BACKEND_COLORS = {"grad": "#0072B2", "nevergrad": "#D55E00", "hybrid": "#E69F00"}  # Okabe-Ito
BACKEND_MARKERS = {"grad": "o", "nevergrad": "s", "hybrid": "^"}
TARGET_COLOR = "#009E73"  # Okabe-Ito green: the targets, never a backend
STYLE = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "legend.fontsize": 6,
    "xtick.labelsize": 6, "ytick.labelsize": 6, "lines.linewidth": 1.0, "axes.linewidth": 0.6,
    "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
    "savefig.bbox": "tight", "savefig.pad_inches": 0.02, "pdf.fonttype": 42, "svg.hashsalt": "eegfit",
}


def color(backend: str) -> str:
    """The backend's colour (grey for a backend without one)."""
    return BACKEND_COLORS.get(backend, "0.3")


def marker(backend: str) -> str:
    """The backend's marker (a circle for a backend without one)."""
    return BACKEND_MARKERS.get(backend, "o")


def backend_order(values) -> list[str]:
    """Backends in a fixed order (the known ones first), so colours and positions never swap."""
    present = set(np.asarray(values).astype(str))
    return [b for b in BACKEND_COLORS if b in present] + sorted(present - set(BACKEND_COLORS))


def axis_label(quantity: str, unit: str) -> str:
    """``"quantity (unit)"``, with ``"dimensionless"`` for unit ``"1"``."""
    unit = "dimensionless" if unit in ("1", "") else unit.replace("^2", "\u00b2")
    return f"{quantity} ({unit})"


def figure(width_in: float = SINGLE_COLUMN_IN, height_in: float | None = None, **subplots):
    """A figure in the shared style (``plt.subplots`` arguments pass through)."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(figsize=(width_in, height_in or width_in * 0.75),
                                 layout="constrained", **subplots)
    return fig, axes


def placeholder(text: str) -> plt.Figure:
    """A figure that only says why there is nothing to draw."""
    fig, ax = figure()
    ax.text(0.5, 0.5, text, ha="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def legend_unique(ax, **legend) -> None:
    """A legend on ``ax`` with one entry per label (many lines share a label)."""
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), **legend)


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
