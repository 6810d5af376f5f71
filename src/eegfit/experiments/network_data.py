"""The records of the network kinds: the target's node signals and FC, a fit's fitted FC and
noise floor, and the objective over the box (the k scan)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from eegfit.data import connectome as sc
from eegfit.experiments.base import as_float, keys
from eegfit.signal.fc import FC_OBJECTIVES, fc_correlation


def node_coords(labels) -> dict:
    return {"node": ("node", list(labels), {"long_name": "region (atlas index)"}),
            "node_2": ("node_2", list(labels), {"long_name": "region (atlas index)"})}


def matrix(values, long_name: str) -> tuple:
    return (("node", "node_2"), np.asarray(values), {"units": "1", "long_name": long_name})


def sc_vars(conn: sc.Connectome, delays: bool = False) -> dict:
    used = "conduction delays: length / speed" if delays else "not used: no delays"
    return {"sc": matrix(conn.weights, "structural connectivity (max row sum 1)"),
            "tract_length": (("node", "node_2"), conn.lengths_mm, {
                "units": "mm", "long_name": f"tract length ({used})"})}


def target_dataset(conn: sc.Connectome, time_ms, eeg, fc, delays: bool = False,
                   fc_no_delays=None) -> xr.Dataset:
    """The target's node signals, FC and the SC it was simulated on (with delays, also the FC
    of the same network and noise without them)."""
    coords = {"time": ("time", np.asarray(time_ms), {"units": "ms", "long_name": "time"}),
              **node_coords(conn.labels)}
    extra = {} if fc_no_delays is None else {"fc_no_delays": matrix(
        fc_no_delays, "FC of the truth without conduction delays (the target's noise)")}
    return xr.Dataset(
        {"eeg": (("time", "node"), np.asarray(eeg), {"units": "mV",
                                                     "long_name": "node EEG observable y1 - y2"}),
         "fc": matrix(fc, "functional connectivity (Pearson correlation)"),
         **extra, **sc_vars(conn, delays)},
        coords=coords, attrs={"connectome_source": conn.source})


def fit_vars(kind, target, observed, result) -> dict:
    """The fitted FC, the FC correlation at the best values and, with a truth, the noise floor:
    the objective and FC correlation of the truth under the fit's noise."""
    obj = FC_OBJECTIVES[kind.spec.objective]
    best = {n: float(result.best_params[n]) for n in kind.spec.names}
    if all(np.isfinite(v) for v in best.values()):
        fitted = kind.fit_fc(kind.model_at({n: as_float(v) for n, v in best.items()}),
                             keys(target.seed)[1])
    else:
        fitted = jnp.full(observed.shape, jnp.nan)
    out = {"coords": node_coords(kind.connectome.labels),
           "target_fc": matrix(observed, "target FC"),
           "fitted_fc": matrix(fitted, "FC simulated at the best value (fit noise)"),
           "best_fc_correlation": ((), float(fc_correlation(fitted, observed)), {
               "units": "1", "long_name": "FC correlation at the best value"})}
    if target.truth is not None:
        fc = kind.fit_fc(kind.model_at({n: as_float(v) for n, v in target.truth.items()}),
                         keys(target.seed)[1])
        out["noise_floor_loss"] = ((), float(obj(fc, observed)), {
            "units": "1", "long_name": f"{kind.spec.objective} of the truth under the fit's "
                                       f"noise (the floor)"})
        out["fc_correlation_ceiling"] = ((), float(fc_correlation(fc, observed)), {
            "units": "1", "long_name": "FC correlation of the truth under the fit's noise"})
    return out


def scan(kind, target_datasets) -> xr.Dataset:
    """The objective, FC correlation and mean off-diagonal FC over ``scan.n_points`` values of
    the box, per target and seed (the fit's noise), all values of one in a vectorised call
    (several parameters: :func:`surface`)."""
    if len(kind.spec.names) > 1:
        return surface(kind, target_datasets)
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


def surface(kind, target_datasets) -> xr.Dataset:
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
