"""An experiment described by a plain config dict: the model, the target, the loss and the fits.

This is what the workflow scripts call (they stay thin) and what a user calls to rerun one fit of
the pipeline by hand. The config's shape is documented in ``config/README.md``; the parts used here:

- ``parameter``: ``name`` (a model field path such as ``C`` or ``drive.rate_hz``), ``bounds``,
  ``start`` (a number, or ``"random"``: drawn per seed uniformly inside the bounds);
- ``model``: ``params`` (overrides of the JR95 constants) and ``drive``;
- ``simulation``: ``dt_ms``, ``duration_ms``, ``transient_ms``, ``integrator``;
- ``feature``: ``name`` and ``options``;
- ``backends``: settings per backend.

Seeds: from the integer seed, the target's drive noise uses one key and the fit's another
(``jax.random.fold_in`` with 0 and 1), so a fit never sees its target's own noise realisation.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from eegfit.features import UNITS as FEATURE_UNITS
from eegfit.features import feature
from eegfit.fit import Fitter, FitResult, Param
from eegfit.models import ConstantDrive, JansenRit, UniformNoiseDrive
from eegfit.simulate import Trace, check_settings, simulate

TARGET_STREAM, FIT_STREAM = 0, 1


def keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(target key, fit key) derived from an integer seed."""
    base = jax.random.key(int(seed))
    return jax.random.fold_in(base, TARGET_STREAM), jax.random.fold_in(base, FIT_STREAM)


def set_path(tree, path: str, value):
    """A copy of a (nested) frozen dataclass with the field at dotted ``path`` replaced."""
    head, _, rest = path.partition(".")
    if not dataclasses.is_dataclass(tree) or head not in {f.name for f in
                                                          dataclasses.fields(tree)}:
        raise ValueError(f"unknown model parameter {path!r} in {type(tree).__name__}")
    new = set_path(getattr(tree, head), rest, value) if rest else value
    return dataclasses.replace(tree, **{head: new})


def build_model(config: dict) -> JansenRit:
    """The model of the config with its fixed values (JR95 defaults where not overridden)."""
    model_cfg = config.get("model", {})
    drive_cfg = dict(model_cfg.get("drive", {"kind": "constant"}))
    kind = drive_cfg.pop("kind", "constant")
    if kind == "constant":
        drive = ConstantDrive(rate_hz=float(drive_cfg.get("rate_hz", 220.0)))
    elif kind == "uniform_noise":
        drive = UniformNoiseDrive(low_hz=float(drive_cfg.get("low_hz", 120.0)),
                                  high_hz=float(drive_cfg.get("high_hz", 320.0)),
                                  interval_ms=drive_cfg.get("interval_ms"))
    else:
        raise ValueError(f"model.drive.kind must be 'constant' or 'uniform_noise', got {kind!r}")
    params = {k: float(v) for k, v in (model_cfg.get("params") or {}).items()}
    known = {f.name for f in dataclasses.fields(JansenRit)} - {"drive"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"model.params has unknown parameter(s) {unknown}; known: "
                         f"{sorted(known)}")
    return JansenRit(**params, drive=drive)


def sim_settings(config: dict) -> dict:
    """Keyword arguments of :func:`simulate` from ``config['simulation']`` (checked)."""
    sim = config["simulation"]
    settings = {"dt_ms": float(sim["dt_ms"]), "duration_ms": float(sim["duration_ms"]),
                "transient_ms": float(sim["transient_ms"]),
                "integrator": sim.get("integrator", "euler")}
    check_settings(**settings)
    return settings


def param_unit(config: dict) -> str:
    """Unit of the fitted parameter."""
    *parents, leaf = config["parameter"]["name"].split(".")
    owner = build_model(config)
    for part in parents:
        owner = getattr(owner, part)
    return owner.units.get(leaf, "1")


def simulate_at(config: dict, value, key) -> Trace:
    """Simulate the config's model with the fitted parameter at ``value`` (a scalar or a batch)."""
    model = set_path(build_model(config), config["parameter"]["name"], value)
    return simulate(model, key=key, **sim_settings(config))


def features_of(config: dict, eeg_mv, names=None) -> dict:
    """Feature values of a trace (time on axis 0), by name; the config's feature if none named."""
    dt_ms = sim_settings(config)["dt_ms"]
    names = names or [config["feature"]["name"]]
    options = config["feature"].get("options") or {}
    return {n: feature(n)(eeg_mv, dt_ms=dt_ms, **(options if n == config["feature"]["name"]
                                                   else {}))
            for n in names}


def target(config: dict, truth: float, seed: int) -> Trace:
    """The ground-truth trace at ``truth`` (the target's own noise key).

    Raises:
        FloatingPointError: the simulation diverged (a target must be finite to be fitted).
    """
    trace = simulate_at(config, jnp.asarray(truth, jnp.result_type(float)), keys(seed)[0])
    if not bool(jnp.all(jnp.isfinite(trace.eeg_mv))):
        raise FloatingPointError(
            f"the target at {config['parameter']['name']}={truth:g} (seed {seed}) diverged: its "
            f"EEG is not finite; lower simulation.dt_ms or change the parameter value")
    return trace


def start_value(config: dict, seed: int) -> float:
    """The fit's start: the configured number, or a uniform draw in the bounds for ``random``."""
    par = config["parameter"]
    low, high = (float(b) for b in par["bounds"])
    if par["start"] == "random":
        return float(np.random.default_rng(int(seed)).uniform(low, high))
    return float(par["start"])


def loss_function(config: dict, target_value: float, seed: int):
    """``loss_fn(model) -> (loss, aux)``: squared relative error of the config's feature.

    The error is relative to the target's feature (or absolute where that is 0); the fit's drive
    noise uses the fit key of ``seed`` for every evaluation (common random numbers).
    """
    name, settings = config["feature"]["name"], sim_settings(config)
    options = config["feature"].get("options") or {}
    f = feature(name)
    fit_key = keys(seed)[1]
    scale = abs(float(target_value)) or 1.0

    def loss_fn(model):
        eeg = simulate(model, key=fit_key, **settings).eeg_mv
        value = f(eeg, dt_ms=settings["dt_ms"], **options)
        return ((value - target_value) / scale) ** 2, {name: value}
    return loss_fn


def noise_floor_loss(config: dict, truth: float, target_value: float, seed: int) -> float:
    """The loss of the true parameter itself: a fit cannot be expected to go below it.

    Zero with a constant drive; with a noisy drive, the fit's noise realisation differs from
    the target's, so even the truth misses the target's feature by the seed-to-seed noise.
    """
    model = set_path(build_model(config), config["parameter"]["name"],
                     jnp.asarray(truth, jnp.result_type(float)))
    return float(loss_function(config, target_value, seed)(model)[0])


def fitter(config: dict, backend: str, target_value: float, seed: int) -> Fitter:
    """The Fitter of one (backend, target, seed) of the experiment."""
    par = config["parameter"]
    bounds = tuple(float(b) for b in par["bounds"])
    model = set_path(build_model(config), par["name"],
                     Param(start_value(config, seed), bounds=bounds))
    return backend_fitter(model, backend, config["backends"][backend],
                          loss_function(config, target_value, seed))


def backend_fitter(model, backend: str, settings: dict, loss_fn) -> Fitter:
    """A Fitter from one backend block of a config: ``optimizer`` (an optax name) and
    ``learning_rate`` for grad; ``optimizer`` (a nevergrad name), ``num_candidates`` and
    ``options`` for nevergrad."""
    if backend == "grad":
        make = getattr(optax, settings["optimizer"])
        return Fitter(model, make(float(settings["learning_rate"])), loss_fn=loss_fn,
                      optimizer_label=f"{settings['optimizer']}(lr={settings['learning_rate']})")
    return Fitter(model, settings["optimizer"], loss_fn=loss_fn, backend="nevergrad",
                  num_candidates=int(settings["num_candidates"]),
                  optimizer_options=settings.get("options") or {})


def run_fit(config: dict, backend: str, target_value: float, seed: int,
            progress: bool | None = None) -> FitResult:
    """Fit the experiment's parameter for one backend and seed."""
    settings = config["backends"][backend]
    return fitter(config, backend, target_value, seed).fit(
        int(settings["n_steps"]), seed=int(seed), tol=settings.get("tol"), progress=progress)


def landscape(config: dict, values, seed: int = 0, names=None) -> dict:
    """Features over a grid of the fitted parameter, all in one batched simulation."""
    grid = jnp.asarray(values, jnp.result_type(float))
    eeg = simulate_at(config, grid, keys(seed)[0]).eeg_mv
    return {n: np.asarray(v) for n, v in features_of(config, eeg, names).items()}


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


__all__ = ["FEATURE_UNITS", "backend_fitter", "build_model", "features_of", "fitter", "identifiable", "keys",
           "landscape", "loss_function", "noise_floor_loss", "param_unit", "run_fit", "set_path", "sim_settings",
           "simulate_at", "start_value", "target"]
