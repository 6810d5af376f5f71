"""Several parameters of one column fitted at once from several features (the ``multi`` config).

The experiment fits e.g. the connectivity ``C`` and the constant drive ``drive.rate_hz`` together
from the RMS amplitude and the smooth spectral peak: in the slow-rhythm regime the peak frequency
is set mostly by the drive and the amplitude mostly by C, so the pair is identifiable where either
feature alone is not. The loss is the sum over features of the squared relative error to the
target's feature. Per fit, the Hessian of the loss at the best point gives a Laplace uncertainty
(:mod:`eegfit.fit.uncertainty`), and the loss over the whole box (:func:`surface`) shows where
the problem is well posed.

The config (the ``multi:`` block of the pipeline config, documented in ``config/README.md``)::

    parameters: [{name: C, bounds: [150, 180], start: 155},
                 {name: drive.rate_hz, bounds: [160, 260], start: 180}]
    truths: [[160, 200], [170, 230]]      # one value per parameter, per target
    seeds: [0]
    model: {params: {}}                   # JR95 overrides; the drive is constant
    simulation: {dt_ms: 0.1, duration_ms: 600, transient_ms: 200, integrator: euler}
    features: {rms: {}, spectral_peak_hz: {band_hz: [2, 20]}}
    backends: {grad: {...}, nevergrad: {...}}   # as the top-level backends block
    uncertainty: {rel_sd: 0.01}
    surface: {n_points: 25}
"""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from eegfit import io
from eegfit.experiment import backend_fitter, build_model, set_path, sim_settings
from eegfit.features import UNITS as FEATURE_UNITS
from eegfit.features import feature
from eegfit.fit import Fitter, FitResult, Param
from eegfit.fit.uncertainty import Curvature, curvature
from eegfit.simulate import Trace, simulate


def names(cfg: dict) -> tuple[str, ...]:
    """The fitted parameter names, in config order."""
    return tuple(p["name"] for p in cfg["parameters"])


def check(cfg: dict) -> None:
    """Raise ``ValueError`` naming the offending key of a ``multi`` config."""
    pars = cfg["parameters"]
    if len(set(names(cfg))) != len(pars):
        raise ValueError(f"multi.parameters names a parameter twice: {list(names(cfg))}")
    for p in pars:
        low, high = p["bounds"]
        if not low < high:
            raise ValueError(f"multi.parameters {p['name']}: bounds must have low < high, "
                             f"got {p['bounds']}")
        if not low <= p["start"] <= high:
            raise ValueError(f"multi.parameters {p['name']}: start {p['start']} lies outside "
                             f"its bounds {p['bounds']}")
    for truth in cfg["truths"]:
        if len(truth) != len(pars):
            raise ValueError(f"multi.truths: {truth} needs one value per parameter "
                             f"{list(names(cfg))}")
        for value, p in zip(truth, pars):
            if not p["bounds"][0] <= value <= p["bounds"][1]:
                raise ValueError(f"multi.truths: {p['name']}={value} lies outside its bounds "
                                 f"{p['bounds']}")
    for name in cfg["features"]:
        feature(name)
    base_model(cfg)
    sim_settings(cfg)


def base_model(cfg: dict):
    """The column with its fixed values (a constant drive: the drive's rate may be fitted)."""
    model = build_model({"model": {"params": (cfg.get("model") or {}).get("params") or {},
                                   "drive": {"kind": "constant"}}})
    for name in names(cfg):
        set_path(model, name, 0.0)  # ValueError naming an unknown parameter
    return model


def units(cfg: dict) -> dict[str, str]:
    """Unit of each fitted parameter."""
    model, out = base_model(cfg), {}
    for name in names(cfg):
        *parents, leaf = name.split(".")
        owner = model
        for part in parents:
            owner = getattr(owner, part)
        out[name] = owner.units.get(leaf, "1")
    return out


def model_at(cfg: dict, values: dict):
    """The column with the fitted parameters at ``values`` (scalars, or equal-shape batches)."""
    model = base_model(cfg)
    for name in names(cfg):
        model = set_path(model, name, values[name])
    return model


def truth_values(cfg: dict, truth) -> dict[str, float]:
    """A truth (a list, one value per parameter) as a name -> value dict."""
    return {n: float(v) for n, v in zip(names(cfg), truth)}


def label(cfg: dict, truth) -> str:
    """How a truth appears in paths: ``C=160_drive.rate_hz=200``."""
    return "_".join(f"{n}={float(v):g}" for n, v in zip(names(cfg), truth))


def simulate_at(cfg: dict, values: dict) -> Trace:
    return simulate(model_at(cfg, values), **sim_settings(cfg))


def features_of(cfg: dict, eeg_mv) -> dict:
    """Each configured feature of a trace (time on axis 0; trailing axes are a batch)."""
    dt_ms = sim_settings(cfg)["dt_ms"]
    return {n: feature(n)(eeg_mv, dt_ms=dt_ms, **(opts or {}))
            for n, opts in cfg["features"].items()}


def target(cfg: dict, truth) -> tuple[Trace, dict[str, float]]:
    """The target trace at a truth and its features (floats).

    Raises:
        FloatingPointError: the target diverged.
    """
    trace = simulate_at(cfg, {n: jnp.asarray(v, jnp.result_type(float))
                              for n, v in truth_values(cfg, truth).items()})
    if not bool(jnp.all(jnp.isfinite(trace.eeg_mv))):
        raise FloatingPointError(f"the multi target at {label(cfg, truth)} diverged")
    return trace, {n: float(v) for n, v in features_of(cfg, trace.eeg_mv).items()}


def loss_function(cfg: dict, target_features: dict):
    """``loss_fn(model) -> (loss, aux)``: the sum of squared relative feature errors."""
    settings = sim_settings(cfg)
    scales = {n: abs(float(v)) or 1.0 for n, v in target_features.items()}

    def loss_fn(model):
        eeg = simulate(model, **settings).eeg_mv
        values = features_of(cfg, eeg)
        loss = sum(((values[n] - target_features[n]) / scales[n]) ** 2 for n in values)
        return loss, values
    return loss_fn


def fitter(cfg: dict, backend: str, target_features: dict) -> Fitter:
    """The Fitter of one (backend, target): every parameter a bounded Param at its start."""
    model = base_model(cfg)
    for p in cfg["parameters"]:
        model = set_path(model, p["name"], Param(float(p["start"]),
                                                 bounds=tuple(float(b) for b in p["bounds"])))
    return backend_fitter(model, backend, cfg["backends"][backend],
                          loss_function(cfg, target_features))


def run_fit(cfg: dict, backend: str, target_features: dict, seed: int,
            progress: bool | None = False) -> tuple[FitResult, Curvature | None]:
    """Fit one target with one backend; the Laplace curvature at the best point (None if the
    fit has no finite best)."""
    settings = cfg["backends"][backend]
    fit = fitter(cfg, backend, target_features)
    result = fit.fit(int(settings["n_steps"]), seed=int(seed), tol=settings.get("tol"),
                     progress=progress)
    if not np.isfinite(result.best_loss):
        return result, None
    rel_sd = float((cfg.get("uncertainty") or {}).get("rel_sd", 0.01))
    curv = curvature(fit.loss_fn, fit.model_at, {n: result.best_params[n] for n in result.names},
                     rel_sd)
    return result, curv


def fit_dataset(cfg: dict, result: FitResult, curv: Curvature | None, truth,
                target_features: dict, *, attrs: dict) -> xr.Dataset:
    """:func:`eegfit.io.fit_dataset` plus the curvature: Hessian, covariance, 1-sigma per
    parameter (NaN where the Hessian is not positive definite or the fit failed)."""
    par_units = units(cfg)
    ds = io.fit_dataset(result, param_units=par_units,
                        aux_units={n: FEATURE_UNITS[n] for n in cfg["features"]},
                        truth=truth_values(cfg, truth), attrs=attrs)
    n = len(result.names)
    if curv is None:
        nan = np.full((n, n), np.nan)
        curv = Curvature(result.names, nan, np.full(n, np.nan), nan, np.full(n, np.nan), nan,
                         False)
    mixed = "1/(unit_i*unit_j), unit_k = " + ", ".join(f"{k}: {u}" for k, u in par_units.items())
    dims = ("parameter", "parameter_2")
    ds = ds.assign_coords(parameter=("parameter", list(result.names), {"long_name": "parameter"}),
                          parameter_2=("parameter_2", list(result.names),
                                       {"long_name": "parameter"}))
    ds["hessian"] = (dims, curv.hessian, {"units": mixed,
                                          "long_name": "Hessian of the loss at the best point"})
    ds["hessian_eigenvalues"] = (("eigen",), curv.eigenvalues, {
        "units": "mixed", "long_name": "eigenvalues of the Hessian, ascending"})
    ds["covariance"] = (dims, curv.covariance, {
        "units": "unit_i*unit_j, unit_k = " + ", ".join(f"{k}: {u}" for k, u in
                                                         par_units.items()),
        "long_name": "Laplace covariance 2 rel_sd^2 inv(H)"})
    ds["correlation"] = (dims, curv.correlation, {"units": "1",
                                                  "long_name": "Laplace correlation"})
    for i, name in enumerate(result.names):
        ds[f"std_{name}"] = ((), curv.std[i], {"units": par_units[name],
                                               "long_name": f"1-sigma Laplace uncertainty of "
                                                            f"{name}"})
    for name, value in target_features.items():
        ds[f"target_{name}"] = ((), value, {"units": FEATURE_UNITS[name],
                                            "long_name": f"target's {name}"})
    ds.attrs.update(hessian_positive_definite=int(curv.positive_definite),
                    uncertainty_rel_sd=float((cfg.get("uncertainty") or {}).get("rel_sd", 0.01)))
    return ds


def surface(cfg: dict, target_features: dict, n_points: int) -> xr.Dataset:
    """The loss (and each feature) on an ``n_points`` grid over the first two parameters' box,
    in one batched simulation (the other parameters, if any, at their truths' first value)."""
    if len(cfg["parameters"]) != 2:
        raise ValueError("multi.surface draws two parameters; multi.parameters has "
                         f"{len(cfg['parameters'])}")
    (pa, pb), par_units = cfg["parameters"], units(cfg)
    axes = [np.linspace(*p["bounds"], n_points) for p in (pa, pb)]
    grid_a, grid_b = np.meshgrid(*axes, indexing="ij")
    dtype = jnp.result_type(float)
    eeg = simulate_at(cfg, {pa["name"]: jnp.asarray(grid_a.ravel(), dtype),
                            pb["name"]: jnp.asarray(grid_b.ravel(), dtype)}).eeg_mv
    values = {n: np.asarray(v).reshape(grid_a.shape) for n, v in features_of(cfg, eeg).items()}
    loss = sum(((values[n] - t) / (abs(t) or 1.0)) ** 2 for n, t in target_features.items())
    dims = (pa["name"], pb["name"])
    data = {"loss": (dims, loss, {"units": "1", "long_name": "sum of squared relative "
                                                              "feature errors"})}
    data.update({n: (dims, v, {"units": FEATURE_UNITS[n], "long_name": n})
                 for n, v in values.items()})
    coords = {p["name"]: (p["name"], ax, {"units": par_units[p["name"]], "long_name": p["name"]})
              for p, ax in zip((pa, pb), axes)}
    return xr.Dataset(data, coords=coords)


def summary(fit_paths, timing_paths=None) -> pd.DataFrame:
    """One row per fit: truth, fitted value, error and Laplace 1-sigma per parameter (and the
    wall time where timing JSON files are given)."""
    rows = []
    timing_paths = list(timing_paths or [None] * len(fit_paths))
    for path, timing in zip(fit_paths, timing_paths):
        with xr.open_dataset(path) as ds:
            row = {"backend": ds.attrs["backend"], "optimizer": ds.attrs["optimizer"],
                   "seed": int(ds.attrs["seed"]), "target": ds.attrs["truth_label"],
                   "status": ds.attrs["status"], "best_loss": float(ds["best_loss"]),
                   "n_evaluations": int(ds.attrs["n_evaluations"]),
                   "hessian_positive_definite": int(ds.attrs["hessian_positive_definite"])}
            for name in ds.attrs["fitted_parameters"].split(","):
                truth, fitted = float(ds[f"true_{name}"]), float(ds[f"best_{name}"])
                std = float(ds[f"std_{name}"])
                row.update({f"true_{name}": truth, f"fitted_{name}": fitted,
                            f"rel_error_{name}": abs(fitted - truth) / abs(truth),
                            f"std_{name}": std, f"z_{name}": (fitted - truth) / std})
        if timing is not None:
            with open(timing) as fh:
                row["wall_time_s"] = float(json.load(fh)["wall_time_s"])
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values(["backend", "target", "seed"], kind="stable").reset_index(drop=True)


def table_dataset(table: pd.DataFrame, unit_of, *, attrs: dict) -> xr.Dataset:
    """A summary table on a ``fit`` dimension, ``unit_of(column)`` as each column's units; wall
    times are left out (they differ run to run)."""
    table = table.drop(columns=["wall_time_s"], errors="ignore")
    data = {}
    for column in table.columns:
        values = table[column].to_numpy()
        if values.dtype == object:
            values = values.astype(str)
        data[column] = ("fit", values, {"units": unit_of(column), "long_name": column})
    return xr.Dataset(data, coords={"fit": ("fit", np.arange(len(table)))}, attrs=attrs)


def summary_dataset(table: pd.DataFrame, cfg: dict, *, attrs: dict) -> xr.Dataset:
    """The summary table as a Dataset, with each parameter's units on its columns."""
    par_units = units(cfg)

    def unit(column):
        for name, u in par_units.items():
            if column in (f"true_{name}", f"fitted_{name}", f"std_{name}"):
                return u
        return "1"
    return table_dataset(table, unit, attrs=attrs)


__all__ = ["backend_fitter", "base_model", "check", "features_of", "fit_dataset", "fitter", "label", "loss_function",
           "model_at", "names", "run_fit", "simulate_at", "summary", "summary_dataset", "surface", "table_dataset",
           "target", "truth_values", "units"]
