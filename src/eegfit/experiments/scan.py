"""A kind's scan: what it fits, over the box. The column's features (a line for one parameter,
with where each feature identifies it; a surface for two, with each target's loss) in one
batched simulation; the network's FC objective, FC correlation and mean FC per target and noise
seed (the k line; a surface over the first two parameters), each run in one vectorised call."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from eegfit.experiments.base import as_float, keys
from eegfit.signal import features as sf
from eegfit.signal.fc import FC_OBJECTIVES, fc_correlation


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


def column_scan(kind, target_datasets) -> xr.Dataset:
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


def network_scan(kind, target_datasets) -> xr.Dataset:
    """The objective, FC correlation and mean off-diagonal FC over ``scan.n_points`` values of
    the box, per target and seed (the fit's noise), all values of one in a vectorised call
    (several parameters: :func:`network_surface`)."""
    if len(kind.spec.names) > 1:
        return network_surface(kind, target_datasets)
    name = kind.spec.names[0]
    grid = np.linspace(*kind.spec.parameters[0].bounds, kind.spec.scan_points)
    obj = FC_OBJECTIVES[kind.spec.objective]
    rows, run, run_seeds = [], [], []
    for ds in target_datasets:
        target_fc = kind.observed(ds)
        iu = np.triu_indices(target_fc.shape[0], 1)
        seeds = kind.spec.scan_seeds or (int(ds.attrs["seed"]),)
        for seed in seeds:
            def one(value, seed=seed, target_fc=target_fc):
                fc = kind.fit_fc(kind.model_at({name: value}), keys(seed)[1])
                return obj(fc, target_fc), fc_correlation(fc, target_fc), jnp.mean(fc[iu])
            rows.append(jax.jit(jax.vmap(one))(as_float(grid)))
            run.append(f"{ds.attrs['target']}/seed={seed}")
            run_seeds.append(seed)
    values, corr, mean_fc = (np.stack([np.asarray(r[i]) for r in rows]) for i in range(3))
    dims = ("run", "value")
    return xr.Dataset(
        _scan_vars(dims, kind.spec.objective, values, corr, mean_fc),
        coords={"value": ("value", grid, {"units": kind.units()[name], "long_name": name}),
                "run": ("run", run, {"long_name": "target and noise seed of the scan"}),
                "seed": ("run", np.asarray(run_seeds, int), {"long_name": "noise seed"})},
        attrs={"parameter": name})


def _scan_vars(dims, objective_name, values, corr, mean_fc) -> dict:
    return {"objective": (dims, values, {"units": "1", "long_name": objective_name}),
            "fc_correlation": (dims, corr, {
                "units": "1", "long_name": "correlation of model and target FC (upper triangle)"}),
            "mean_fc": (dims, mean_fc, {"units": "1",
                                        "long_name": "mean off-diagonal FC of the model"})}


def network_surface(kind, target_datasets) -> xr.Dataset:
    """Several parameters: the objective, FC correlation and mean off-diagonal FC on an
    ``scan.n_points`` x ``scan.n_points`` grid of the first two parameters' box (any further one
    at the target's truth), per target and seed (the fit's noise); dims ``(run, <first>,
    <second>)``, each run's target label in ``target``. All grid points of a run in one
    vectorised call: memory grows with ``n_points^2`` simulations."""
    (pa, pb), rest = kind.spec.parameters[:2], kind.spec.parameters[2:]
    axes = {p.name: np.linspace(*p.bounds, kind.spec.scan_points) for p in (pa, pb)}
    grid_a, grid_b = np.meshgrid(axes[pa.name], axes[pb.name], indexing="ij")
    obj = FC_OBJECTIVES[kind.spec.objective]
    rows, run, run_seeds, labels = [], [], [], []
    for ds in target_datasets:
        target_fc = kind.observed(ds)
        iu = np.triu_indices(target_fc.shape[0], 1)
        fixed = {p.name: as_float(float(ds.attrs[f"truth.{p.name}"])) for p in rest}
        for seed in kind.spec.scan_seeds or (int(ds.attrs["seed"]),):
            def one(a, b, seed=seed, target_fc=target_fc, fixed=fixed, iu=iu):
                model = kind.model_at({pa.name: a, pb.name: b, **fixed})
                fc = kind.fit_fc(model, keys(seed)[1])
                return obj(fc, target_fc), fc_correlation(fc, target_fc), jnp.mean(fc[iu])
            rows.append(jax.jit(jax.vmap(one))(as_float(grid_a.ravel()),
                                               as_float(grid_b.ravel())))
            run.append(f"{ds.attrs['target']}/seed={seed}")
            run_seeds.append(seed)
            labels.append(str(ds.attrs["target"]))
    values, corr, mean_fc = (np.stack([np.asarray(r[i]).reshape(grid_a.shape) for r in rows])
                             for i in range(3))
    units = kind.units()
    coords = {n: (n, x, {"units": units[n], "long_name": n}) for n, x in axes.items()}
    coords.update(run=("run", run, {"long_name": "target and noise seed of the scan"}),
                  seed=("run", np.asarray(run_seeds, int), {"long_name": "noise seed"}),
                  target=("run", labels, {"long_name": "target"}))
    return xr.Dataset(_scan_vars(("run", pa.name, pb.name), kind.spec.objective, values, corr,
                                 mean_fc), coords=coords,
                      attrs={"parameters": ",".join((pa.name, pb.name))})
