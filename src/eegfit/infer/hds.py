"""Highest-density sets of a one-parameter marginal, and the identifiability verdict.

A marginal is a piecewise-constant density on contiguous segments (:class:`Marginal`): exact for
a grid posterior (:func:`marginal_of_cells`), a kernel density estimate for draws
(:func:`marginal_of_draws`). Its ``prob`` highest-density set (HDS) takes the densest segments
until they hold ``prob`` of the mass; the set is one interval or several, each with its bounds and
mass. The parameter is *identified* when the 90 % HDS is one interval narrower than ``max_width``
(10 %) of the box (:func:`identifiability`); inside the RMS dip of C it is two or three intervals,
one per branch of C that gives the same RMS.

The truth's position: ``truth_level`` is the mass of the segments denser than the truth's, so the
truth lies inside the ``p`` HDS exactly when ``truth_level < p``; its position reads ``inside``,
``below``, ``above`` or ``between`` (the intervals).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Marginal:
    """A density on contiguous segments: ``edges`` (m + 1, increasing) and the ``mass`` (m,) of
    each segment (summing to 1)."""

    edges: np.ndarray
    mass: np.ndarray

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges)

    @property
    def density(self) -> np.ndarray:
        return self.mass / self.widths

    @property
    def centres(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    def mean(self) -> float:
        return float(np.sum(self.mass * self.centres))

    def sd(self) -> float:
        mean = self.mean()
        second = np.sum(self.mass * (self.centres ** 2 + self.widths ** 2 / 12.0))
        return float(np.sqrt(max(second - mean ** 2, 0.0)))

    def quantile(self, p) -> np.ndarray:
        """Exact quantiles of the piecewise-constant density (linear within a segment)."""
        cdf = np.concatenate([[0.0], np.cumsum(self.mass)])
        cdf /= cdf[-1]
        return np.interp(p, cdf, self.edges)

    def _order(self) -> np.ndarray:
        return np.lexsort((np.arange(len(self.mass)), -self.density))  # densest first

    def hds(self, prob: float = 0.9) -> list[tuple[float, float, float]]:
        """The ``prob`` highest-density set: ``[(low, high, mass), ...]`` in increasing order."""
        if not 0 < prob < 1:
            raise ValueError(f"an HDS probability must lie in (0, 1), got {prob!r}")
        order = self._order()
        cum = np.cumsum(self.mass[order])
        k = int(np.searchsorted(cum, prob * cum[-1]))  # the segment that reaches prob
        chosen = np.zeros(len(self.mass), dtype=bool)
        chosen[order[:k + 1]] = True
        out, i = [], 0
        while i < len(chosen):
            if not chosen[i]:
                i += 1
                continue
            j = i
            while j + 1 < len(chosen) and chosen[j + 1]:
                j += 1
            out.append((float(self.edges[i]), float(self.edges[j + 1]),
                        float(self.mass[i:j + 1].sum())))
            i = j + 1
        return out

    def level_at(self, x: float) -> float:
        """Mass of the segments denser than the one holding ``x`` (1.0 outside the support):
        ``x`` is inside the ``p`` HDS exactly when this is < ``p``."""
        if not self.edges[0] <= x <= self.edges[-1]:
            return 1.0
        seg = min(int(np.searchsorted(self.edges, x, side="right")) - 1, len(self.mass) - 1)
        order = self._order()
        rank = int(np.flatnonzero(order == seg)[0])
        return float(self.mass[order[:rank]].sum() / self.mass.sum())


def _merge_close(values: np.ndarray, tol: float) -> np.ndarray:
    values = np.sort(values)
    keep = np.concatenate([[True], np.diff(values) > tol])
    return values[keep]


def marginal_of_cells(centre: np.ndarray, width: np.ndarray, mass: np.ndarray) -> Marginal:
    """The exact marginal along one axis of cells (``centre``, ``width`` on that axis, ``mass``):
    each cell's mass spread evenly over its extent, on the union of all cells' edges."""
    low, high = centre - width / 2, centre + width / 2
    tol = 1e-9 * (high.max() - low.min())
    edges = _merge_close(np.concatenate([low, high]), tol)
    i0 = np.searchsorted(edges, low - tol)
    i1 = np.searchsorted(edges, high - tol)
    step = np.zeros(len(edges))
    np.add.at(step, i0, mass / width)
    np.add.at(step, i1, -mass / width)
    density = np.cumsum(step)[:-1]
    seg_mass = np.clip(density, 0.0, None) * np.diff(edges)
    return Marginal(edges, seg_mass / seg_mass.sum())


def marginal_of_draws(draws, box: tuple[float, float], n_bins: int = 512) -> Marginal:
    """A Gaussian kernel density estimate of pooled draws on ``n_bins`` segments: Silverman's
    bandwidth, reflected at the box's edges so no mass leaks out of the box."""
    x = np.asarray(draws, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size < 2:
        raise ValueError(f"a density estimate needs at least 2 finite draws, got {x.size}")
    lo, hi = box
    spread = min(np.std(x, ddof=1), np.subtract(*np.percentile(x, [75, 25])) / 1.34)
    bw = 0.9 * (spread if spread > 0 else np.std(x) or 1e-6 * (hi - lo)) * x.size ** -0.2
    a, b = max(lo, x.min() - 4 * bw), min(hi, x.max() + 4 * bw)
    edges = np.linspace(a, b, n_bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    density = np.zeros(n_bins)
    for source in (x, 2 * lo - x, 2 * hi - x):
        for start in range(0, source.size, 2048):
            z = (centres[:, None] - source[None, start:start + 2048]) / bw
            density += np.exp(-0.5 * z * z).sum(axis=1)
    mass = density * np.diff(edges)
    return Marginal(edges, mass / mass.sum())


@dataclasses.dataclass(frozen=True)
class Identifiability:
    """The verdict on one parameter (see the module docstring).

    Attributes:
        name: the parameter.
        intervals: the HDS as ``((low, high, mass), ...)``, in the parameter's units.
        prob: the HDS probability (0.9); ``max_width``: the widest identified set, as a fraction
            of the box; ``box``: the parameter's box.
        identified: one interval narrower than ``max_width`` of the box.
        truth: the ground truth (None for measured data); ``truth_level``: the mass denser than
            the truth's segment (NaN without a truth); ``truth_position``: ``inside``, ``below``,
            ``above``, ``between`` or ``n/a``.
    """

    name: str
    intervals: tuple[tuple[float, float, float], ...]
    prob: float
    max_width: float
    box: tuple[float, float]
    identified: bool
    truth: float | None
    truth_level: float
    truth_position: str

    @property
    def width(self) -> float:
        """Total width of the set, in the parameter's units."""
        return float(sum(h - lo for lo, h, _ in self.intervals))

    @property
    def width_fraction(self) -> float:
        return self.width / (self.box[1] - self.box[0])

    def describe(self) -> str:
        """The set as text: ``[144.71, 144.80] [146.10, 147.20]``."""
        return " ".join(f"[{lo:.6g}, {hi:.6g}]" for lo, hi, _ in self.intervals)


def identifiability(name: str, marginal: Marginal, box, *, prob: float = 0.9,
                    max_width: float = 0.1, truth: float | None = None) -> Identifiability:
    """The identifiability verdict of one marginal (see the module docstring)."""
    if not 0 < max_width <= 1:
        raise ValueError(f"max_width must lie in (0, 1], got {max_width!r}")
    intervals = tuple(marginal.hds(prob))
    box = (float(box[0]), float(box[1]))
    width = sum(h - lo for lo, h, _ in intervals)
    identified = len(intervals) == 1 and width < max_width * (box[1] - box[0])
    if truth is None or not np.isfinite(truth):
        level, position, truth = float("nan"), "n/a", None
    else:
        truth = float(truth)
        level = marginal.level_at(truth)
        if any(lo <= truth <= hi for lo, hi, _ in intervals):
            position = "inside"
        elif truth < intervals[0][0]:
            position = "below"
        elif truth > intervals[-1][1]:
            position = "above"
        else:
            position = "between"
    return Identifiability(name, intervals, float(prob), float(max_width), box, bool(identified),
                           truth, level, position)


__all__ = ["Identifiability", "Marginal", "identifiability", "marginal_of_cells",
           "marginal_of_draws"]
