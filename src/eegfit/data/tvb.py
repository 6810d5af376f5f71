"""TVB's default subject from the ``tvb-data`` package: the 76-region connectome, the 65 EEG
electrodes and the lead field from the 16k-vertex cortical surface, as arrays.

``tvb-data`` (3.0.0, GPL-3, The Virtual Brain project) is read from the installed package at run
time, never copied into this repository: ``pip install tvb-data==3.0.0``, or the ``eeg`` extra.
Files (paths inside the package):

- ``connectivity/connectivity_76.zip``: ``weights.txt`` (a.u., ``[i, j]`` as stored; not
  symmetric, non-zero diagonal), ``tract_lengths.txt`` (mm), ``centres.txt`` (labels and mm: each
  centre is the mean of its region's surface vertices), ``average_orientations.txt`` (unit
  vectors), ``areas.txt`` (mm^2);
- ``regionMapping/regionMapping_16k_76.txt``: the region (0..75) of each of the 16,384 vertices;
- ``projectionMatrix/projection_eeg_65_surface_16k.npy``: the surface lead field, 65 x 16,384,
  no unit stated; rows IO1 and IO2 are all NaN (:data:`NAN_ROWS`, dropped by name);
- ``sensors/eeg_brainstorm_65.txt``: electrode name and position (mm). Positions are in the
  electrodes' own frame (Brainstorm's: x front, y left, z up, origin between the ears), not the
  surface's (the cortex's vertex mean at the origin, the same axes): their z reaches 148 mm where
  the cortex ends at 68 mm;
- ``surfaceData/scalp_1082.zip``: the scalp, 1,082 vertices in the surface's frame (mm).

The two frames differ by a translation (:func:`electrode_offset_mm`): fitted by moving the
electrodes onto the scalp (nearest vertex, iterated), it is (10.4, -0.2, 61.3) mm, with the
electrodes a median 4.3 mm (at most 9.7 mm) from a scalp vertex (the vertices lie about 10 mm
apart). Checked with the second lead field (:func:`sphere_lead_field`), which needs the regions in
the electrodes' frame: its region topographies correlate with the surface lead field's at a
median 0.98 (tests/test_sphere_leadfield.py); the electrodes lie on MNE's sphere fitted to them (median
radius 1.00 of the sphere's) and the region centres inside its inner shell.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np

from eegfit.data import montage
from eegfit.observe.leadfield import MODELS, LeadField, drop_rows, region_gain, sphere_gain

VERSION = "3.0.0"
CONNECTIVITY = "connectivity/connectivity_76.zip"
REGION_MAPPING = "regionMapping/regionMapping_16k_76.txt"
PROJECTION = "projectionMatrix/projection_eeg_65_surface_16k.npy"
SENSORS = "sensors/eeg_brainstorm_65.txt"
SCALP = "surfaceData/scalp_1082.zip"
NAN_ROWS = ("IO1", "IO2")
"""The electrodes (below the eyes) whose lead-field rows are all NaN in tvb-data."""


def data_dir() -> Path:
    """The installed ``tvb_data`` package's folder, found without importing it.

    Raises:
        ModuleNotFoundError: tvb-data is not installed (with the command that installs it).
    """
    spec = importlib.util.find_spec("tvb_data")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the EEG forward model needs the tvb-data package (GPL-3, read at run time): pip "
            f"install tvb-data=={VERSION}, or pip install -e '.[eeg]'")
    return Path(spec.submodule_search_locations[0])


@dataclasses.dataclass(frozen=True)
class Connectivity:
    """The 76-region connectome as tvb-data stores it (not normalised: :func:`connectome`).

    Attributes:
        weights: ``(76, 76)`` as stored (a.u.). lengths_mm: ``(76, 76)`` tract lengths, mm.
        centres_mm: ``(76, 3)`` region centres, mm (the surface's frame).
        orientations: ``(76, 3)`` mean normals. areas_mm2: ``(76,)`` areas, mm^2.
        labels: region labels (``rV1``, ``lV1``: hemisphere first).
    """

    weights: np.ndarray
    lengths_mm: np.ndarray
    centres_mm: np.ndarray
    orientations: np.ndarray
    areas_mm2: np.ndarray
    labels: tuple[str, ...]


def read_connectivity() -> Connectivity:
    """The 76-region connectome from ``connectivity_76.zip``."""
    with zipfile.ZipFile(data_dir() / CONNECTIVITY) as z:
        def table(name, **kw):
            return np.loadtxt(io.BytesIO(z.read(name)), **kw)
        labels = tuple(table("centres.txt", dtype=str, usecols=0))
        return Connectivity(
            weights=table("weights.txt"), lengths_mm=table("tract_lengths.txt"),
            centres_mm=table("centres.txt", usecols=(1, 2, 3)),
            orientations=table("average_orientations.txt"), areas_mm2=table("areas.txt"),
            labels=labels)


def connectome(*, symmetrise: bool = False):
    """The 76-region SC as an :class:`eegfit.data.connectome.Connectome` (zero diagonal, largest
    row sum 1, tract lengths in mm), in the lead field's region order."""
    from eegfit.data.connectome import Connectome, normalise  # noqa: PLC0415

    conn = read_connectivity()
    lengths = 0.5 * (conn.lengths_mm + conn.lengths_mm.T) if symmetrise else conn.lengths_mm
    return Connectome(normalise(conn.weights, symmetrise=symmetrise), lengths.copy(),
                      conn.labels, "tvb:76" + (":symmetrised" if symmetrise else ""))


def read_sensors() -> tuple[tuple[str, ...], np.ndarray]:
    """Raw electrode names (``T8/T4`` as written) and positions ``(65, 3)`` in mm."""
    path = data_dir() / SENSORS
    names = tuple(np.loadtxt(path, dtype=str, usecols=0))
    return names, np.loadtxt(path, usecols=(1, 2, 3))


def read_region_mapping() -> np.ndarray:
    """The region index of each of the 16,384 vertices."""
    return np.loadtxt(data_dir() / REGION_MAPPING, dtype=int)


def read_projection() -> np.ndarray:
    """The surface lead field, ``(65, 16384)``, NaN rows included."""
    return np.load(data_dir() / PROJECTION)


def read_scalp() -> np.ndarray:
    """The scalp's vertices ``(1082, 3)``, mm, the surface's frame."""
    with zipfile.ZipFile(data_dir() / SCALP) as z:
        return np.loadtxt(io.BytesIO(z.read("vertices.txt")))


def electrode_offset_mm(positions_mm=None, scalp_mm=None, n_iter: int = 200) -> np.ndarray:
    """The translation ``t`` (mm) from the surface's frame to the electrodes': a point ``p`` of
    the cortex is at ``p + t`` among the electrodes. Found by moving the electrodes by ``-t``
    onto the scalp: from the offset of their tops, ``t`` moves by the mean offset of each
    electrode from its nearest scalp vertex until it changes by less than 1e-6 mm (no rotation:
    the axes agree, tvb-data's module doc)."""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    pos = read_sensors()[1] if positions_mm is None else np.asarray(positions_mm, float)
    scalp = read_scalp() if scalp_mm is None else np.asarray(scalp_mm, float)
    tree = cKDTree(scalp)
    t = np.array([0.0, 0.0, pos[:, 2].max() - scalp[:, 2].max()])
    for _ in range(n_iter):
        step = np.mean(pos - t - scalp[tree.query(pos - t)[1]], axis=0)
        t = t + step
        if np.abs(step).max() < 1e-6:
            break
    return t


def lead_field(how: str = "sum", drop=NAN_ROWS, model: str = "surface",
               head_radius_mm: float | None = None) -> LeadField:
    """The region-level lead field of the 76 regions at the 63 electrodes with a finite row:
    the surface lead field summed (or averaged, ``how="mean"``) over each region's vertices
    (:func:`eegfit.observe.leadfield.region_gain`), or ``model="sphere"``
    (:func:`sphere_lead_field`), the rows named in ``drop`` removed."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if model == "sphere":
        return sphere_lead_field(drop, head_radius_mm)
    raw, positions = read_sensors()
    names, aliases = montage.split_names(raw)
    labels = read_connectivity().labels
    gain = region_gain(read_projection(), read_region_mapping(), len(labels), how)
    gain, kept = drop_rows(gain, names, drop)
    rows = [names.index(k) for k in kept]
    return LeadField(gain=gain, electrodes=kept, positions_mm=positions[rows], regions=labels,
                     aliases=tuple(aliases[i] for i in rows), how=how, units="a.u.",
                     source=f"tvb-data {VERSION}: {PROJECTION} by {REGION_MAPPING}")


def sphere_lead_field(drop=NAN_ROWS, head_radius_mm: float | None = None) -> LeadField:
    """MNE's spherical head model (:func:`eegfit.observe.leadfield.sphere_gain`: MNE's default
    shells and conductivities, fitted to the electrodes kept, or of ``head_radius_mm``) with one
    dipole per region at its centre along its mean normal, moved into the electrodes' frame by
    :func:`electrode_offset_mm`; the electrodes and their order as :func:`lead_field`'s. Gain in
    V/(A m)."""
    raw, positions = read_sensors()
    names, aliases = montage.split_names(raw)
    _, kept = drop_rows(np.zeros((len(names), 1)), names, drop)
    rows = [names.index(k) for k in kept]
    conn = read_connectivity()
    offset = electrode_offset_mm(positions)
    gain, geometry = sphere_gain(kept, positions[rows], conn.centres_mm + offset,
                                 conn.orientations, head_radius_mm=head_radius_mm)
    moved = np.flatnonzero(geometry["moved_mm"] > 0)
    where = ", ".join(f"{conn.labels[i]} {geometry['moved_mm'][i]:.2f} mm" for i in moved)
    return LeadField(
        gain=gain, electrodes=kept, positions_mm=positions[rows], regions=conn.labels,
        aliases=tuple(aliases[i] for i in rows), how="sum", units="V/(A m)", model="sphere",
        source=f"MNE sphere model (r0 {np.round(geometry['r0_mm'], 1).tolist()} mm, radius "
               f"{geometry['radius_mm']:.1f} mm) with one dipole per region of tvb-data "
               f"{VERSION} {CONNECTIVITY} (centres + {np.round(offset, 1).tolist()} mm)"
               + (f"; moved inside the inner shell: {where}" if where else ""))


def for_channels(channels, how: str = "sum", key: str = "channels") -> LeadField:
    """:func:`lead_field` restricted to ``channels`` (a recording's names, 10-20 aliases and EDF
    spellings allowed: :func:`eegfit.data.montage.match`), rows in the channels' order."""
    lf = lead_field(how)
    return lf.take(montage.match(channels, lf.electrodes, lf.aliases, key=key))


__all__ = ["CONNECTIVITY", "NAN_ROWS", "PROJECTION", "REGION_MAPPING", "SCALP", "SENSORS",
           "VERSION", "Connectivity", "connectome", "data_dir", "electrode_offset_mm",
           "for_channels", "lead_field", "read_connectivity", "read_projection",
           "read_region_mapping", "read_scalp", "read_sensors", "sphere_lead_field"]
