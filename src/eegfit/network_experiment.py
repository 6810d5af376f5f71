"""A network of Jansen-Rit columns fitted to functional connectivity (the ``network`` config).

The target is the FC (correlation matrix of the node signals) simulated at a known coupling
``k*`` with the target's noise; each fit simulates with its own noise realisation (common random
numbers across its evaluations: the fit key of the seed, as in :mod:`eegfit.experiment`) and
minimises an FC objective (``fc_rmse`` or ``fc_correlation_loss``). Two noise realisations at
identical parameters do not give identical FC, so a fit cannot do better than the **noise floor**:
the objective (and the FC correlation) between the target and the FC simulated at ``k*`` with the
fit's noise. Every fit records that floor next to its own value.

The config block (documented in ``config/README.md``)::

    connectome: {source: hcp, n_nodes: 10, subject: null, seed: 0}
    model: {params: {}, drive: {low_hz: 50, high_hz: 150, interval_ms: 5}}
    parameter: {name: k, truths: [60], bounds: [0, 100], start: 30}
    seeds: [0, 1]
    simulation: {dt_ms: 0.5, duration_ms: 8000, transient_ms: 500, integrator: heun}
    objective: fc_rmse
    scan: {n_points: 21}
    backends: {grad: {...}, nevergrad: {...}}

Optional ``observable: bold`` (default ``eeg``) makes the model FC the FC of a BOLD signal: each
node's firing rate ``S(y1 - y2)`` averaged over ``bold.dt_ms`` blocks and run through the
Balloon-Windkessel model (:func:`eegfit.bold.bold_fc`), to compare with fMRI FC
(:mod:`eegfit.empirical_fc`); ``bold: {dt_ms: 10, tr_s: 0.72, discard_s: 10, input_sd: 0.1}``.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from eegfit import bold
from eegfit import connectome as sc
from eegfit import io
from eegfit.experiment import build_model, keys, set_path
from eegfit.experiment import backend_fitter
from eegfit.experiments_multi import table_dataset
from eegfit.features import FC_OBJECTIVES, fc_correlation, functional_connectivity
from eegfit.fit import Fitter, FitResult, Param
from eegfit.models.network import JansenRitNetwork, network
from eegfit.simulate import check_settings, simulate


def sim_settings(cfg: dict) -> dict:
    """Keyword arguments of :func:`simulate` (checked)."""
    s = cfg["simulation"]
    out = {"dt_ms": float(s["dt_ms"]), "duration_ms": float(s["duration_ms"]),
           "transient_ms": float(s["transient_ms"]), "integrator": s.get("integrator", "heun"),
           "grad_horizon_ms": s.get("grad_horizon_ms")}
    check_settings(**out)
    return out


def load_connectome(cfg: dict) -> sc.Connectome:
    c = cfg["connectome"]
    return sc.load(c["source"], n_nodes=c.get("n_nodes"), subject=c.get("subject"),
                   seed=int(c.get("seed", 0)))


def objective(cfg: dict):
    name = cfg.get("objective", "fc_rmse")
    try:
        return FC_OBJECTIVES[name]
    except KeyError:
        raise ValueError(f"unknown network objective {name!r}; known: "
                         f"{sorted(FC_OBJECTIVES)}") from None


def base_model(cfg: dict, conn: sc.Connectome | None = None) -> JansenRitNetwork:
    """The network of the config with its fixed values."""
    conn = conn or load_connectome(cfg)
    model_cfg = cfg.get("model") or {}
    column = build_model({"model": {"params": model_cfg.get("params") or {},
                                    "drive": {"kind": "constant"}}})
    drive = model_cfg.get("drive") or {}
    return network(conn.weights, column=column, low_hz=float(drive.get("low_hz", 50.0)),
                   high_hz=float(drive.get("high_hz", 150.0)),
                   interval_ms=drive.get("interval_ms"))


def check(cfg: dict) -> None:
    """Raise ``ValueError`` naming the offending key of a ``network`` config (the keys present:
    a job gets only the ones it depends on)."""
    par = cfg["parameter"]
    low, high = par["bounds"]
    if not low < high:
        raise ValueError(f"network.parameter.bounds must have low < high, got {par['bounds']}")
    if "start" in par and not low <= par["start"] <= high:
        raise ValueError(f"network.parameter.start {par['start']} lies outside "
                         f"network.parameter.bounds {par['bounds']}")
    outside = [t for t in par.get("truths", []) if not low <= t <= high]
    if outside:
        raise ValueError(f"network.parameter.truths {outside} lie outside "
                         f"network.parameter.bounds {par['bounds']}")
    set_path(base_model(cfg), par["name"], 0.0)
    objective(cfg)
    sim_settings(cfg)
    if cfg.get("observable", "eeg") not in OBSERVABLES:
        raise ValueError(f"network.observable must be one of {list(OBSERVABLES)}, got "
                         f"{cfg['observable']!r}")
    if cfg.get("observable") == "bold":
        bold_settings(cfg)


OBSERVABLES = ("eeg", "bold")
"""What the model FC is computed from: the nodes' EEG observable, or their BOLD signal."""


def bold_settings(cfg: dict) -> dict:
    """The BOLD forward model's settings (``cfg["bold"]`` with defaults), checked: ``dt_ms`` is
    the Balloon-Windkessel step (a multiple of the simulation step, at most 10 ms)."""
    b = {"dt_ms": 10.0, "tr_s": bold.HCP_TR_S, "discard_s": 10.0, "input_sd": 0.1,
         **(cfg.get("bold") or {})}
    out = {k: float(b[k]) for k in ("dt_ms", "tr_s", "discard_s", "input_sd")}
    dt_ms = sim_settings(cfg)["dt_ms"]
    block = out["dt_ms"] / dt_ms
    if not (0 < out["dt_ms"] <= 10.0 and abs(block - round(block)) < 1e-9 and block >= 1):
        raise ValueError(f"bold.dt_ms must be a multiple of simulation.dt_ms ({dt_ms:g}) and at "
                         f"most 10 ms, got {out['dt_ms']:g}")
    return out


def bold_fc_of(cfg: dict, model: JansenRitNetwork, eeg: jax.Array) -> jax.Array:
    """BOLD FC of the node signals ``eeg`` ``(n_steps, nodes)``: firing rates averaged over
    ``bold.dt_ms`` blocks, through the Balloon-Windkessel model, sampled every ``bold.tr_s``."""
    b, dt_ms = bold_settings(cfg), sim_settings(cfg)["dt_ms"]
    block = int(round(b["dt_ms"] / dt_ms))
    rates = model.column.sigmoid(eeg)
    n = rates.shape[0] // block * block
    rates = rates[:n].reshape(n // block, block, rates.shape[1]).mean(axis=1)
    return bold.bold_fc(rates, dt_s=b["dt_ms"] / 1000.0, tr_s=b["tr_s"],
                        discard_s=b["discard_s"], input_sd=b["input_sd"])


def model_at(cfg: dict, value, base: JansenRitNetwork | None = None) -> JansenRitNetwork:
    return set_path(base or base_model(cfg), cfg["parameter"]["name"], value)


def node_signals(cfg: dict, value, key, base=None) -> tuple[jax.Array, jax.Array]:
    """``(time_ms, eeg_mv)`` of every node at the parameter ``value``: ``(n,)``, ``(n, nodes)``."""
    trace = simulate(model_at(cfg, value, base), key=key, **sim_settings(cfg))
    return trace.time_ms, trace.eeg_mv


def fc_at(cfg: dict, value, key, base=None) -> jax.Array:
    """FC ``(nodes, nodes)`` at the parameter ``value`` with the noise of ``key``: of the EEG
    observable, or of the BOLD signal with ``observable: bold``."""
    if cfg.get("observable", "eeg") == "bold":
        model = model_at(cfg, value, base)
        return bold_fc_of(cfg, model, simulate(model, key=key, **sim_settings(cfg)).eeg_mv)
    return functional_connectivity(node_signals(cfg, value, key, base)[1])


def fit_fc(cfg: dict, value, seed: int, base=None) -> jax.Array:
    """The model FC a fit compares with its target: the mean FC over ``n_realisations`` noise
    realisations drawn from the fit key of ``seed`` (the same ones at every evaluation: common
    random numbers). Averaging smooths the objective in the parameter; the simulations are
    unrolled, not vmapped, so that a gradient through them stays plain reverse mode."""
    n = int(cfg.get("n_realisations", 1))
    fit_keys = jax.random.split(keys(seed)[1], n)
    return sum(fc_at(cfg, value, fit_keys[r], base) for r in range(n)) / n


def target(cfg: dict, truth: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(time_ms, eeg_mv, fc)`` of the target at ``truth`` with the target key of ``seed``.

    Raises:
        FloatingPointError: the simulation diverged.
    """
    time_ms, eeg = node_signals(cfg, jnp.asarray(truth, jnp.result_type(float)), keys(seed)[0])
    if not bool(jnp.all(jnp.isfinite(eeg))):
        raise FloatingPointError(f"the network target at {cfg['parameter']['name']}={truth:g} "
                                 f"(seed {seed}) diverged; lower network.simulation.dt_ms")
    return np.asarray(time_ms), np.asarray(eeg), np.asarray(functional_connectivity(eeg))


def loss_function(cfg: dict, target_fc, seed: int, base=None):
    """``loss_fn(model) -> (loss, aux)``: the FC objective against ``target_fc`` with the fit's
    noise (common random numbers); aux has the objective and the FC correlation."""
    obj, name = objective(cfg), cfg.get("objective", "fc_rmse")
    target_fc, path = jnp.asarray(target_fc, jnp.result_type(float)), cfg["parameter"]["name"]

    def loss_fn(model):
        value_now = model
        for part in path.split("."):
            value_now = getattr(value_now, part)
        fc = fit_fc(cfg, value_now, seed, model)
        value = obj(fc, target_fc)
        return value, {name: value, "fc_correlation": fc_correlation(fc, target_fc)}
    return loss_fn


def noise_floor(cfg: dict, truth: float, target_fc, seed: int, base=None) -> dict[str, float]:
    """The objective and FC correlation between the target and the FC at the truth under the
    fit's noise: what a perfect fit scores (two seeds never give the same FC)."""
    fc = fit_fc(cfg, jnp.asarray(truth, jnp.result_type(float)), seed, base)
    target_fc = jnp.asarray(target_fc, fc.dtype)
    return {"noise_floor_loss": float(objective(cfg)(fc, target_fc)),
            "fc_correlation_ceiling": float(fc_correlation(fc, target_fc))}


def fitter(cfg: dict, backend: str, target_fc, seed: int, base=None) -> Fitter:
    par = cfg["parameter"]
    model = model_at(cfg, Param(float(par["start"]), bounds=tuple(float(b) for b in
                                                                 par["bounds"])), base)
    return backend_fitter(model, backend, cfg["backends"][backend],
                          loss_function(cfg, target_fc, seed, base))


def run_fit(cfg: dict, backend: str, target_fc, seed: int, base=None,
            progress: bool | None = False) -> FitResult:
    settings = cfg["backends"][backend]
    return fitter(cfg, backend, target_fc, seed, base).fit(
        int(settings["n_steps"]), seed=int(seed), tol=settings.get("tol"), progress=progress)


def scan(cfg: dict, target_fc, seed: int, n_points: int, base=None) -> xr.Dataset:
    """Objective and FC correlation over a grid of the parameter (the fit's noise of ``seed``),
    all grid points in one vectorised call; also the mean off-diagonal FC."""
    low, high = (float(b) for b in cfg["parameter"]["bounds"])
    grid = np.linspace(low, high, n_points)
    base = base or base_model(cfg)
    target_fc = jnp.asarray(target_fc, jnp.result_type(float))
    obj = objective(cfg)
    iu = np.triu_indices(target_fc.shape[0], 1)

    def one(value):
        fc = fit_fc(cfg, value, seed, base)
        return obj(fc, target_fc), fc_correlation(fc, target_fc), jnp.mean(fc[iu])
    values, corr, mean_fc = jax.jit(jax.vmap(one))(jnp.asarray(grid, jnp.result_type(float)))
    name, unit = cfg["parameter"]["name"], units(cfg)
    obj_name = cfg.get("objective", "fc_rmse")
    return xr.Dataset(
        {"objective": ("value", np.asarray(values), {"units": "1", "long_name": obj_name}),
         "fc_correlation": ("value", np.asarray(corr), {
             "units": "1", "long_name": "correlation of model and target FC (upper triangle)"}),
         "mean_fc": ("value", np.asarray(mean_fc), {
             "units": "1", "long_name": "mean off-diagonal FC of the model"})},
        coords={"value": ("value", grid, {"units": unit, "long_name": name})})


def units(cfg: dict) -> str:
    *parents, leaf = cfg["parameter"]["name"].split(".")
    owner = base_model(cfg)
    for part in parents:
        owner = getattr(owner, part)
    return owner.units.get(leaf, "1")


def _node_coords(labels):
    return {"node": ("node", list(labels), {"long_name": "region (atlas index)"}),
            "node_2": ("node_2", list(labels), {"long_name": "region (atlas index)"})}


def target_dataset(cfg, conn: sc.Connectome, time_ms, eeg, fc, *, attrs) -> xr.Dataset:
    """The target's node signals, FC and the SC it was simulated on."""
    coords = {"time": ("time", np.asarray(time_ms), {"units": "ms", "long_name": "time"}),
              **_node_coords(conn.labels)}
    return xr.Dataset(
        {"eeg": (("time", "node"), np.asarray(eeg), {"units": "mV",
                                                     "long_name": "node EEG observable y1 - y2"}),
         "fc": (("node", "node_2"), np.asarray(fc), {"units": "1",
                                                     "long_name": "functional connectivity "
                                                                  "(Pearson correlation)"}),
         "sc": (("node", "node_2"), conn.weights, {"units": "1",
                                                   "long_name": "structural connectivity "
                                                                "(max row sum 1)"}),
         "tract_length": (("node", "node_2"), conn.lengths_mm, {
             "units": "mm", "long_name": "tract length (not used: no delays)"})},
        coords=coords, attrs={**attrs, "connectome_source": conn.source})


def fit_dataset(cfg, result: FitResult, conn: sc.Connectome, truth: float, target_fc, fitted_fc,
                floor: dict, *, attrs) -> xr.Dataset:
    """:func:`eegfit.io.fit_dataset` plus the target and fitted FC and the noise floor."""
    name, obj_name = cfg["parameter"]["name"], cfg.get("objective", "fc_rmse")
    ds = io.fit_dataset(result, param_units={name: units(cfg)},
                        aux_units={obj_name: "1", "fc_correlation": "1"}, truth={name: truth},
                        attrs={**attrs, "connectome_source": conn.source})
    ds = ds.assign_coords(_node_coords(conn.labels))
    ds["target_fc"] = (("node", "node_2"), np.asarray(target_fc),
                       {"units": "1", "long_name": "target FC"})
    ds["fitted_fc"] = (("node", "node_2"), np.asarray(fitted_fc),
                       {"units": "1", "long_name": "FC simulated at the best value (fit noise)"})
    ds["noise_floor_loss"] = ((), floor["noise_floor_loss"], {
        "units": "1", "long_name": f"{obj_name} of the truth under the fit's noise (the floor)"})
    ds["fc_correlation_ceiling"] = ((), floor["fc_correlation_ceiling"], {
        "units": "1", "long_name": "FC correlation of the truth under the fit's noise"})
    best_corr = float(fc_correlation(jnp.asarray(fitted_fc), jnp.asarray(target_fc)))
    ds["best_fc_correlation"] = ((), best_corr, {
        "units": "1", "long_name": "FC correlation at the best value"})
    return ds


def summary(fit_paths, timing_paths=None) -> pd.DataFrame:
    """One row per fit: truth, fitted value, error, loss next to the noise floor."""
    rows = []
    timing_paths = list(timing_paths or [None] * len(fit_paths))
    for path, timing in zip(fit_paths, timing_paths):
        with xr.open_dataset(path) as ds:
            name = ds.attrs["fitted_parameters"]
            truth, fitted = float(ds[f"true_{name}"]), float(ds[f"best_{name}"])
            row = {"parameter": name, "backend": ds.attrs["backend"], "seed": int(ds.attrs["seed"]),
                   "truth": truth, "fitted": fitted, "abs_error": abs(fitted - truth),
                   "best_loss": float(ds["best_loss"]),
                   "noise_floor_loss": float(ds["noise_floor_loss"]),
                   "best_fc_correlation": float(ds["best_fc_correlation"]),
                   "fc_correlation_ceiling": float(ds["fc_correlation_ceiling"]),
                   "status": ds.attrs["status"], "n_evaluations": int(ds.attrs["n_evaluations"])}
        if timing is not None:
            with open(timing) as fh:
                row["wall_time_s"] = float(json.load(fh)["wall_time_s"])
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["backend", "truth", "seed"],
                                          kind="stable").reset_index(drop=True)


def summary_dataset(table: pd.DataFrame, cfg: dict, *, attrs) -> xr.Dataset:
    """The summary on a ``fit`` dimension (no wall times: they differ run to run)."""
    unit = units(cfg)
    return table_dataset(table, lambda c: unit if c in ("truth", "fitted", "abs_error") else "1",
                         attrs=attrs)


__all__ = ["OBSERVABLES", "base_model", "bold_fc_of", "bold_settings", "check", "fc_at",
           "fit_dataset", "fitter", "load_connectome", "loss_function", "model_at",
           "node_signals", "noise_floor", "objective", "run_fit", "scan", "sim_settings",
           "summary", "summary_dataset", "target", "target_dataset", "units"]
