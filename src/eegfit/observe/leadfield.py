"""The EEG forward model as arrays: a region-level lead field and the projection of a network's
node activity onto the electrodes (the files it is read from are :mod:`eegfit.data.tvb`'s job).

A surface lead field ``G_v`` (electrodes x vertices) gives the potential at each electrode of a
unit dipole at each vertex of the cortical surface, oriented normal to it. A region-level
simulation has one activity per region, taken to be the activity of every vertex of the region, so
the region's gain is the **sum** of its vertices' gains (what TVB's EEG monitor does for a region
simulation):

    G[e, r] = sum over vertices v with region(v) = r of G_v[e, v]

Summing, not averaging, keeps the physics: a larger region is a larger dipole layer and gives a
larger signal, and vertices whose normals point against each other (the two walls of a sulcus)
cancel, as their currents do. ``how="mean"`` (a region as one typical vertex, every region the
same size) is there to compare. Units: those of ``G_v`` (tvb-data states none) per unit of node
activity; the sensor signal of a node observable in mV is in gain units x mV. The fits that use it
compare shapes and spectra, not absolute amplitudes.

:func:`project` maps node activity ``(time, regions)`` to sensors ``(time, electrodes)``,
``x @ G.T``, with an optional average reference (the mean over the electrodes used is subtracted
at every sample, equivalently from each column of ``G``); it is linear and differentiable in JAX.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

HOW = ("sum", "mean")
REFERENCES = ("none", "average")


@dataclasses.dataclass(frozen=True)
class LeadField:
    """A region-level lead field with the names of its rows and columns.

    Attributes:
        gain: ``(n_electrodes, n_regions)`` potential per unit region activity (finite).
        electrodes: electrode names, one per row (the first name where the source gives several).
        positions_mm: ``(n_electrodes, 3)`` electrode positions, mm, in the source's frame.
        regions: region labels, one per column (the connectome's order).
        aliases: ``(n_electrodes,)`` tuples of other names of each electrode (``("T4",)`` for
            ``T8``).
        how: ``"sum"`` or ``"mean"`` over each region's vertices.
        units: the gain's units (``"a.u."`` where the source states none).
        source: where it came from.
    """

    gain: np.ndarray
    electrodes: tuple[str, ...]
    positions_mm: np.ndarray
    regions: tuple[str, ...]
    aliases: tuple[tuple[str, ...], ...]
    how: str = "sum"
    units: str = "a.u."
    source: str = ""

    def __post_init__(self):
        check_gain(self.gain, self.electrodes, self.regions)
        if np.shape(self.positions_mm) != (len(self.electrodes), 3):
            raise ValueError(f"positions_mm must have shape ({len(self.electrodes)}, 3), got "
                             f"{np.shape(self.positions_mm)}")
        if len(self.aliases) != len(self.electrodes):
            raise ValueError(f"aliases must have one entry per electrode ({len(self.electrodes)}),"
                             f" got {len(self.aliases)}")

    @property
    def shape(self) -> tuple[int, int]:
        return self.gain.shape

    def take(self, rows) -> LeadField:
        """The lead field of the electrodes at indices ``rows``, in that order."""
        rows = [int(i) for i in rows]
        return dataclasses.replace(
            self, gain=self.gain[rows], electrodes=tuple(self.electrodes[i] for i in rows),
            positions_mm=self.positions_mm[rows], aliases=tuple(self.aliases[i] for i in rows))


def check_gain(gain, electrodes, regions) -> np.ndarray:
    """``gain`` as a float array, checked: 2-D, ``(len(electrodes), len(regions))``, finite.

    Raises:
        ValueError: naming the shape, or the electrodes whose rows hold NaN/inf.
    """
    g = np.asarray(gain, dtype=float)
    if g.ndim != 2 or g.shape != (len(electrodes), len(regions)):
        raise ValueError(f"gain must have shape (electrodes, regions) = ({len(electrodes)}, "
                         f"{len(regions)}), got {g.shape}")
    bad = [electrodes[i] for i in np.flatnonzero(~np.isfinite(g).all(axis=1))]
    if bad:
        raise ValueError(f"gain has NaN/inf in the rows of electrodes {bad}: drop them by name")
    return g


def region_gain(vertex_gain, region_mapping, n_regions: int, how: str = "sum") -> np.ndarray:
    """The region-level lead field ``(electrodes, n_regions)`` of a surface lead field
    ``vertex_gain`` ``(electrodes, vertices)`` and ``region_mapping`` ``(vertices,)`` (the region
    index of each vertex): each region's vertices' columns summed (``how="sum"``) or averaged.
    NaN rows stay NaN (drop them by name before :class:`LeadField` checks them).

    Raises:
        ValueError: a mapping that does not match the vertices, an index outside ``[0,
            n_regions)``, a region without vertices, or an unknown ``how``.
    """
    if how not in HOW:
        raise ValueError(f"how must be one of {HOW}, got {how!r}")
    g = np.asarray(vertex_gain, dtype=float)
    rmap = np.asarray(region_mapping)
    if g.ndim != 2 or rmap.shape != (g.shape[1],):
        raise ValueError(f"region_mapping must have one entry per vertex (column) of the lead "
                         f"field {g.shape}, got shape {rmap.shape}")
    if not np.issubdtype(rmap.dtype, np.integer) or rmap.min() < 0 or rmap.max() >= n_regions:
        raise ValueError(f"region_mapping must hold integer region indices in [0, {n_regions}), "
                         f"got {rmap.dtype} in [{rmap.min()}, {rmap.max()}]")
    counts = np.bincount(rmap, minlength=n_regions)
    if (counts == 0).any():
        raise ValueError(f"regions {np.flatnonzero(counts == 0).tolist()} have no vertex in "
                         "region_mapping")
    onehot = np.zeros((rmap.size, n_regions))
    onehot[np.arange(rmap.size), rmap] = 1.0
    out = g @ onehot
    return out / counts if how == "mean" else out


def drop_rows(gain, electrodes, drop) -> tuple[np.ndarray, tuple[str, ...]]:
    """``gain`` and ``electrodes`` without the rows named in ``drop`` (each must be there)."""
    electrodes = tuple(electrodes)
    missing = [name for name in drop if name not in electrodes]
    if missing:
        raise ValueError(f"drop: {missing} are not electrodes of the lead field {list(electrodes)}")
    keep = [i for i, name in enumerate(electrodes) if name not in set(drop)]
    return np.asarray(gain)[keep], tuple(electrodes[i] for i in keep)


def referenced(gain, reference: str = "average"):
    """The gain under ``reference``: ``"average"`` subtracts each column's mean over the
    electrodes (the average reference of every projected sample), ``"none"`` keeps it."""
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    gain = jnp.asarray(gain)
    return gain - gain.mean(axis=0) if reference == "average" else gain


def project(activity, gain, *, reference: str = "average") -> jax.Array:
    """Sensor signals ``(time, electrodes)`` of node activity ``(time, regions)`` through
    ``gain`` ``(electrodes, regions)``: ``activity @ gain.T`` under ``reference`` (see
    :func:`referenced`). Linear, differentiable in both arguments; extra leading axes of
    ``activity`` (a batch) are kept.

    Raises:
        ValueError: the regions of ``activity`` and ``gain`` differ, or an unknown reference.
    """
    g = referenced(gain, reference)
    if g.ndim != 2 or jnp.shape(activity)[-1] != g.shape[1]:
        raise ValueError(f"activity has {jnp.shape(activity)[-1]} regions on its last axis; the "
                         f"gain {g.shape} has {g.shape[1] if g.ndim == 2 else '?'} columns")
    return jnp.asarray(activity) @ g.T


__all__ = ["HOW", "REFERENCES", "LeadField", "check_gain", "drop_rows", "project",
           "referenced", "region_gain"]
