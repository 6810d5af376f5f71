"""The column's features over its box: a line for one parameter (with where each feature
identifies it), a surface for two (with each target's loss), all in one batched simulation."""

from __future__ import annotations

import numpy as np
import xarray as xr

from eegfit.experiments.base import as_float, keys
from eegfit.signal import features as sf


def identifiable(curve, rtol: float = 1e-3, flat_points: int = 3) -> np.ndarray:
    """Where a feature curve over a parameter grid pins the parameter down.

    Point ``i`` is identifiable when the level ``curve[i]`` is met exactly once over the grid
    (to within ``rtol`` of the curve's range) and not along a flat stretch of ``flat_points`` or
    more grid points. A non-monotone stretch (a value met again elsewhere, as the RMS dip near
    C = 145) or a flat one makes the parameter ambiguous from that feature alone.
    Returns an int8 array, 1 where identifiable.
    """
    curve = np.asarray(curve, dtype=float)
    tol = rtol * (np.nanmax(curve) - np.nanmin(curve) or 1.0)
    out = np.zeros(curve.size, dtype=np.int8)
    for i, level in enumerate(curve):
        side = np.where(curve > level + tol, 1, np.where(curve < level - tol, -1, 0))
        at_level = np.flatnonzero(side == 0)
        runs = np.split(at_level, np.flatnonzero(np.diff(at_level) > 1) + 1)
        jumps = int(np.sum(side[1:] * side[:-1] == -1))  # crossed between two grid points
        own_run = next(r for r in runs if i in r)
        out[i] = int(len(runs) + jumps == 1 and own_run.size < flat_points)
    return out


def _grid_features(kind, grids: dict, names) -> dict:
    """Features of the column at every grid point (one batched simulation, seed 0's target
    noise), each reshaped to the grid."""
    shape = next(iter(grids.values())).shape
    values = {n: as_float(g.ravel()) for n, g in grids.items()}
    eeg = kind.simulate(values, keys(0)[0]).observable
    return {n: np.asarray(v).reshape(shape) for n, v in kind.feature_values(eeg, names).items()}


def scan(kind, target_datasets) -> xr.Dataset:
    """One parameter: ``scan.features`` over ``scan.n_points`` values of the box, each with its
    identifiable flag. Two: the loss features on an ``n_points`` x ``n_points`` grid and each
    truth's loss there (dimension ``target``, its first seed's target)."""
    spec, units = kind.spec, kind.units()
    axes = {p.name: np.linspace(*p.bounds, spec.scan_points) for p in spec.parameters}
    if kind.scan_dims == 1:
        (name, x), = axes.items()
        curves = _grid_features(kind, {name: x}, spec.scan_features)
        data = {}
        for n, curve in curves.items():
            data[n] = ("value", curve, {"units": sf.units(n, kind.signal_units), "long_name": n})
            data[f"{n}_identifiable"] = ("value", identifiable(curve), {
                "units": "1", "long_name": f"1 where the {n} value is met once in the box (not "
                                           f"flat, not repeated): {name} is identifiable from {n}"})
        return xr.Dataset(data, coords={"value": ("value", x, {"units": units[name],
                                                              "long_name": name})},
                          attrs={"parameter": name})
    (na, xa), (nb, xb) = axes.items()
    grid_a, grid_b = np.meshgrid(xa, xb, indexing="ij")
    values = _grid_features(kind, {na: grid_a, nb: grid_b}, list(spec.features))
    first = {}  # one surface per truth: the first seed's target (the same with a constant drive)
    for ds in target_datasets:
        first.setdefault(str(ds.attrs["target"]), ds)
    labels, target_datasets = list(first), list(first.values())
    loss = np.stack([sum(((values[n] - t) / (abs(t) or 1.0)) ** 2
                         for n, t in kind.observed(ds).items()) for ds in target_datasets])
    dims = (na, nb)
    data = {"loss": (("target", *dims), loss, {"units": "1", "long_name": "sum of squared "
                                                                          "relative feature errors"})}
    data.update({n: (dims, v, {"units": sf.units(n, kind.signal_units), "long_name": n})
                 for n, v in values.items()})
    coords = {n: (n, ax, {"units": units[n], "long_name": n}) for n, ax in axes.items()}
    coords["target"] = ("target", labels, {"long_name": "target"})
    return xr.Dataset(data, coords=coords)
