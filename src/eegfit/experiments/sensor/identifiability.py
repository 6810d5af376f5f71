"""The identifiability check of a fit: is a parameter the data do not pin down, or a fit that
missed? The loss's seed-to-seed spread at the best parameters (other noise keys) and each
parameter's loss along its box with the others at the fit; the values within two spreads of the
lowest are those the data cannot tell apart. For any kind with ``loss(model, data)`` and
``fit_data`` (the sensor kind records it with each fit: :mod:`eegfit.experiments.sensor`)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from eegfit.experiments.base import as_float
from eegfit.io import variable

PROFILE_STREAM = 7
"""Folded into a fit key for the other noise keys of the loss's seed-to-seed spread."""


@functools.lru_cache(maxsize=8)
def _programs(kind):
    """``kind``'s two jitted loss programs, compiled once per kind (and shapes), not per target:
    ``(values, key, data)`` -> the loss at each row of ``values`` (one noise key) and
    ``(values, keys, data)`` -> the loss at ``values`` for each of ``keys``."""
    def one(values, key, data):
        return kind.loss(kind.model_at(values), {**data, "key": key})[0]
    return (jax.jit(jax.vmap(one, in_axes=(0, None, None))),
            jax.jit(jax.vmap(one, in_axes=(None, 0, None))))


def profile_vars(kind, target, observed: dict, best: dict, best_loss: float) -> dict:
    """The identifiability check (the module doc): the loss's
    spread over ``profile.n_keys`` noise keys at the fit, and each parameter's loss along its
    box with the others at the fit (the fit's own key), the values within two spreads of the
    lowest, and whether they span at most half the box."""
    n_points, n_keys = kind.spec.profile["n_points"], kind.spec.profile["n_keys"]
    if n_points == 0:
        return {}
    data = kind.fit_data(observed, target.seed)
    at_best = {k: as_float(v) for k, v in best.items()}
    other = jax.random.split(jax.random.fold_in(data["key"], PROFILE_STREAM), n_keys)
    profile_losses, spread = _programs(kind)
    seed_losses = np.asarray(spread(at_best, other, data), float)
    sd = float(np.std(seed_losses, ddof=1))
    out = {"loss_seed_sd": variable((), sd, "1", f"sd of the loss at the best parameters over "
                                f"{n_keys} other noise keys: its seed-to-seed spread")}
    for p in kind.spec.parameters:
        grid = np.linspace(*p.bounds, n_points)
        values = {k: jnp.full(n_points, v, jnp.result_type(float)) for k, v in best.items()}
        values[p.name] = jnp.asarray(grid, jnp.result_type(float))
        prof = np.asarray(profile_losses(values, data["key"], data), float)
        lowest = np.nanmin(np.append(prof, best_loss))
        inside = np.append(grid[prof <= lowest + 2.0 * sd], best[p.name])
        low, high = float(inside.min()), float(inside.max())
        width = p.bounds[1] - p.bounds[0]
        unit = kind.units()[p.name]
        out[f"profile_{p.name}"] = variable((f"profile_point_{p.name}",), prof, "1",
                                        f"loss along {p.name}'s box, the others at the fit")
        out["coords"] = {**out.get("coords", {}), f"profile_point_{p.name}": (
            f"profile_point_{p.name}", grid, {"units": unit, "long_name": f"{p.name} of the "
                                              f"profile's points"})}
        out[f"consistent_low_{p.name}"] = variable((), low, unit, f"lowest {p.name} whose loss is "
                                               f"within 2 loss_seed_sd of the best")
        out[f"consistent_high_{p.name}"] = variable((), high, unit, f"highest {p.name} whose loss "
                                                f"is within 2 loss_seed_sd of the best")
        out[f"identified_{p.name}"] = variable((), int(high - low <= 0.5 * width), "1",
                                           f"1: the values consistent with the data span at "
                                           f"most half of {p.name}'s box")
    return out


__all__ = ["PROFILE_STREAM", "profile_vars"]
