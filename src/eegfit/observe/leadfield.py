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

:func:`sphere_gain` is the second model (:data:`MODELS`): MNE's spherical head model (concentric
shells, MNE's default radii and conductivities, fitted to the electrodes or of a given radius)
and one current dipole per region at its centre, oriented along its mean normal, in V/(A m): the
potential per unit dipole moment.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

HOW = ("sum", "mean")
REFERENCES = ("none", "average")
MODELS = ("surface", "sphere")
"""The lead fields: tvb-data's surface lead field summed by region, or MNE's spherical head model
with one dipole per region (:func:`sphere_gain`)."""
INSIDE_TOLERANCE_MM = 5.0
"""How far outside the sphere's innermost shell a region centre may lie and be moved onto 0.995
of its radius (further: refused). tvb-data's frames agree to about 4 mm (:mod:`eegfit.data.tvb`)."""


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
        how: ``"sum"`` or ``"mean"`` over each region's vertices (the surface model).
        units: the gain's units (``"a.u."`` where the source states none).
        source: where it came from.
        model: ``"surface"`` or ``"sphere"`` (:data:`MODELS`).
    """

    gain: np.ndarray
    electrodes: tuple[str, ...]
    positions_mm: np.ndarray
    regions: tuple[str, ...]
    aliases: tuple[tuple[str, ...], ...]
    how: str = "sum"
    units: str = "a.u."
    source: str = ""
    model: str = "surface"

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


def brainstorm_to_head(xyz):
    """Brainstorm's frame (x to the nasion, y to the left ear, z up) to MNE's head frame (x to
    the right ear, y to the nasion, z up): ``(x, y, z)`` -> ``(-y, x, z)``, same units."""
    xyz = np.asarray(xyz, dtype=float)
    return np.column_stack([-xyz[:, 1], xyz[:, 0], xyz[:, 2]])


def sphere_gain(electrodes, positions_mm, centres_mm, orientations, *, head_radius_mm=None,
                r0_mm=None, relative_radii=None, sigmas=None) -> tuple[np.ndarray, dict]:
    """The lead field ``(electrodes, regions)`` of one dipole per region in MNE's spherical head
    model, V/(A m): the dipole at ``centres_mm`` ``(regions, 3)`` along the unit vector of
    ``orientations`` ``(regions, 3)``, the electrodes at ``positions_mm``; both in mm in
    Brainstorm's frame (:func:`brainstorm_to_head`), the same origin.

    The sphere (``mne.make_sphere_model``): its centre ``r0_mm`` (None: fitted to the electrodes)
    and outer radius ``head_radius_mm`` (None: fitted), MNE's default shells and conductivities
    unless given (``relative_radii``, ``sigmas`` in S/m). MNE projects each electrode radially
    onto the outer sphere. A centre outside the innermost shell (the brain's) by at most
    :data:`INSIDE_TOLERANCE_MM` is moved radially to 0.995 of its radius; the forward solution is
    MNE's with free orientations (3 columns per dipole), projected onto the orientations.

    Returns:
        ``(gain, geometry)``: ``geometry`` holds ``r0_mm`` (Brainstorm's frame), ``radius_mm``,
        ``inner_radius_mm`` and ``moved_mm`` (how far each centre was moved, 0 for most).

    Raises:
        ValueError: a non-positive ``head_radius_mm``, shapes that do not match, orientations of
            zero length, or a centre further outside the inner shell than the tolerance.
    """
    import mne  # noqa: PLC0415 (the eeg extra)

    if head_radius_mm is not None and not head_radius_mm > 0:
        raise ValueError(f"head_radius_mm must be > 0 (mm) or None (fitted), got "
                         f"{head_radius_mm!r}")
    electrodes = [str(e) for e in electrodes]
    pos = np.asarray(positions_mm, dtype=float)
    centres = np.asarray(centres_mm, dtype=float)
    normals = np.asarray(orientations, dtype=float)
    if pos.shape != (len(electrodes), 3) or centres.ndim != 2 or centres.shape[1] != 3 or (
            normals.shape != centres.shape):
        raise ValueError(f"positions_mm {pos.shape} must be (electrodes, 3) for "
                         f"{len(electrodes)} electrodes; centres_mm {centres.shape} and "
                         f"orientations {normals.shape} the same (regions, 3)")
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    if not np.all(length > 0):
        raise ValueError(f"orientations of regions {np.flatnonzero(length[:, 0] <= 0).tolist()} "
                         "have zero length")
    normals = brainstorm_to_head(normals / length)
    info = mne.create_info(electrodes, 1000.0, "eeg")
    info.set_montage(mne.channels.make_dig_montage(
        ch_pos=dict(zip(electrodes, brainstorm_to_head(pos) / 1e3)), coord_frame="head"))
    kw = {k: v for k, v in (("relative_radii", relative_radii), ("sigmas", sigmas)) if v}
    sphere = mne.make_sphere_model(
        "auto" if r0_mm is None else brainstorm_to_head([r0_mm])[0] / 1e3,
        "auto" if head_radius_mm is None else head_radius_mm / 1e3, info, verbose=False, **kw)
    r0, inner = np.asarray(sphere["r0"]), float(sphere["layers"][0]["rad"])
    offset = brainstorm_to_head(centres) / 1e3 - r0
    distance = np.linalg.norm(offset, axis=1)
    moved = np.maximum(distance - 0.995 * inner, 0.0)
    if moved.max() * 1e3 > INSIDE_TOLERANCE_MM:
        far = np.flatnonzero(moved * 1e3 > INSIDE_TOLERANCE_MM).tolist()
        raise ValueError(f"region centres {far} lie more than {INSIDE_TOLERANCE_MM:g} mm outside the "
                         f"sphere's inner shell (radius {inner * 1e3:.1f} mm): a head_radius_mm "
                         f"too small for the head")
    rr = r0 + offset * np.minimum(1.0, 0.995 * inner / distance)[:, None]
    src = mne.setup_volume_source_space(pos={"rr": rr, "nn": normals}, sphere=sphere,
                                        verbose=False)
    fwd = mne.make_forward_solution(info, trans=None, src=src, bem=sphere, eeg=True,
                                    meg=False, verbose=False)
    free = fwd["sol"]["data"].reshape(len(electrodes), len(centres), 3)
    r0_bs = np.array([r0[1], -r0[0], r0[2]]) * 1e3
    return np.einsum("erk,rk->er", free, normals), {
        "r0_mm": r0_bs, "radius_mm": float(sphere.radius) * 1e3,
        "inner_radius_mm": inner * 1e3, "moved_mm": moved * 1e3}


__all__ = ["HOW", "INSIDE_TOLERANCE_MM", "MODELS", "REFERENCES", "LeadField", "brainstorm_to_head",
           "sphere_gain", "check_gain", "drop_rows", "project",
           "referenced", "region_gain"]
