"""The Balloon-Windkessel forward model: a network's neural activity turned into a BOLD signal,
so that a model is compared with fMRI like with like (the HCP recordings themselves are read by
:mod:`eegfit.data.hcp_bold`).

Forward model: the Balloon-Windkessel equations of Friston et al. (2000, 2003) with the constants
of Stephan et al. (2007), for neural activity ``z`` (any units; e.g. a node's firing rate
minus its mean) driving the vasodilatory signal ``s``, blood inflow ``f``, volume ``v`` and
deoxyhaemoglobin ``q``:

    s' = z - kappa s - gamma (f - 1),   f' = s,
    tau v' = f - v^(1/alpha),           tau q' = f (1 - (1 - rho)^(1/f)) / rho - v^(1/alpha) q / v,
    BOLD = V0 (k1 (1 - q) + k2 (1 - q / v) + k3 (1 - v)),  k1 = 7 rho, k2 = 2, k3 = 2 rho - 0.2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from eegfit.signal.fc import functional_connectivity
from eegfit.signal.numerics import safe_rsqrt

HCP_TR_S = 0.72
"""Repetition time of the HCP resting-state scans, s."""

BW = {"kappa": 0.65, "gamma": 0.41, "tau": 0.98, "alpha": 0.32, "rho": 0.34, "v0": 0.02}
"""Balloon-Windkessel constants (Stephan et al. 2007): kappa, gamma in 1/s, tau in s, the rest 1."""


def balloon_windkessel(z: jax.Array, dt_s: float) -> jax.Array:
    """BOLD signal (fraction of the resting signal) of neural activity ``z`` sampled every
    ``dt_s`` seconds, shape ``(n_steps, *nodes)`` in and out; the haemodynamic state starts at
    rest (s = 0, f = v = q = 1). Euler steps: keep ``dt_s`` <= 0.01 s (the fastest time constant
    is about 1 s). Differentiable; at rest (z = 0) the BOLD signal stays 0."""
    kappa, gamma, tau, alpha, rho, v0 = (BW[k] for k in ("kappa", "gamma", "tau", "alpha", "rho",
                                                           "v0"))
    k1, k2, k3 = 7.0 * rho, 2.0, 2.0 * rho - 0.2
    z = jnp.asarray(z)
    one = jnp.ones(z.shape[1:], z.dtype)
    state0 = (jnp.zeros_like(one), one, one, one)

    def step(state, zt):
        s, f, v, q = state
        flow_out = v ** (1.0 / alpha)
        ds = zt - kappa * s - gamma * (f - 1.0)
        dv = (f - flow_out) / tau
        dq = (f * (1.0 - (1.0 - rho) ** (1.0 / f)) / rho - flow_out * q / v) / tau
        state = (s + dt_s * ds, f + dt_s * s, v + dt_s * dv, q + dt_s * dq)
        _, _, v, q = state
        return state, v0 * (k1 * (1.0 - q) + k2 * (1.0 - q / v) + k3 * (1.0 - v))
    return jax.lax.scan(step, state0, z)[1]


def block_mean(activity: jax.Array, block: int) -> jax.Array:
    """``activity`` ``(n_steps, nodes)`` averaged over consecutive blocks of ``block`` steps
    (a last partial block dropped): a simulation's steps brought to the BOLD model's step."""
    n = activity.shape[0] // block * block
    return activity[:n].reshape(n // block, block, activity.shape[1]).mean(axis=1)


def bold_fc(activity: jax.Array, dt_s: float, tr_s: float = HCP_TR_S,
            discard_s: float = 10.0, input_sd: float = 0.5) -> jax.Array:
    """FC of the BOLD signal of ``activity`` ``(n_steps, nodes)`` (e.g. each node's firing rate
    ``S(y1 - y2)`` sampled every ``dt_s``): each node's activity is standardised to a standard
    deviation of ``input_sd`` (the balloon's nonlinearity, ``(1 - rho)^(1/f)``, leaves its
    stable range for inputs of order 1/s and more), run through the Balloon-Windkessel model,
    the first ``discard_s`` seconds dropped (the haemodynamic transient), sampled every ``tr_s``.
    """
    centred = activity - jnp.mean(activity, axis=0)
    z = input_sd * centred * safe_rsqrt(jnp.mean(centred * centred, axis=0))
    bold = balloon_windkessel(z, dt_s)
    every = max(1, int(round(tr_s / dt_s)))
    start = int(round(discard_s / dt_s))
    if start >= bold.shape[0] - 2 * every:
        raise ValueError(f"activity of {bold.shape[0] * dt_s:g} s is too short for discard_s="
                         f"{discard_s} and tr_s={tr_s}")
    return functional_connectivity(bold[start::every])


__all__ = ["BW", "HCP_TR_S", "balloon_windkessel", "block_mean", "bold_fc"]
