"""How a state is stepped through time: the integration schemes (Euler, Heun, RK4) and the scan
of a step over a drive, with a gradient horizon (truncated backpropagation) and rematerialisation.
:func:`eegfit.simulate.simulate` builds its rollouts on them, the delayed ones
(:mod:`eegfit.delayed_rollout`) too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

INTEGRATORS = ("euler", "heun", "rk4")


def scheme(f, integrator: str, dt_s: float):
    """One step ``(y, drive) -> y_next`` of the scheme on the vector field ``f(y, drive)``."""
    if integrator == "euler":
        return lambda y, p: y + dt_s * f(y, p)
    if integrator == "heun":
        def heun(y, p):
            k1 = f(y, p)
            k2 = f(y + dt_s * k1, p)
            return y + 0.5 * dt_s * (k1 + k2)
        return heun

    def rk4(y, p):
        k1 = f(y, p)
        k2 = f(y + 0.5 * dt_s * k1, p)
        k3 = f(y + 0.5 * dt_s * k2, p)
        k4 = f(y + dt_s * k3, p)
        return y + dt_s / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return rk4


def run(body, carry, drive, horizon: int | None, remat: bool):
    """``lax.scan`` of ``body(carry, drive_value) -> (carry, out)`` over ``drive`` (one value per
    step); ``carry[0]`` is the model state, the rest accumulators.

    With a horizon of k steps, the scan runs in chunks of k steps and the gradient through the
    state is cut at each chunk boundary (truncated backpropagation; accumulators keep theirs);
    with ``remat`` each chunk is rematerialised in the backward pass, so memory holds one chunk
    of states rather than the whole rollout.
    """
    n = drive.shape[0]
    if horizon is None and not remat:
        return jax.lax.scan(body, carry, drive)
    k = min(horizon or max(1, int(n ** 0.5)), n)
    n_chunks, rest = divmod(n, k)

    def chunk(carry, ps):
        if horizon is not None:
            carry = (jax.lax.stop_gradient(carry[0]),) + tuple(carry[1:])
        return jax.lax.scan(body, carry, ps)
    if remat:
        chunk = jax.checkpoint(chunk)
    head = drive[: n_chunks * k].reshape((n_chunks, k) + drive.shape[1:])
    carry, out = jax.lax.scan(chunk, carry, head)
    out = jax.tree.map(lambda o: o.reshape((n_chunks * k,) + o.shape[2:]), out)
    if rest:
        carry, tail = chunk(carry, drive[n_chunks * k:])
        out = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), out, tail)
    return carry, out
