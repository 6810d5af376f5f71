"""Integrate a neural-mass model: one pure, jitted function from parameters to an EEG trace.

Time is in ms at this API (``dt_ms``, ``duration_ms``, ``transient_ms``); models speak per second
inside their vector field. The drive is piecewise constant over a step. Randomness (a noisy drive)
comes only through an explicit ``jax.random`` key.

Noise: every stage of a step sees the same drive value, so with a drive defined per unit time
(:class:`eegfit.models.WhiteNoiseDrive`: the value ``mean + sigma dW / dt``) ``euler`` is
Euler-Maruyama and ``heun`` the stochastic Heun scheme for additive noise (one Wiener increment
for predictor and corrector), both strongly convergent at order 1 (tests/test_noise.py).

Delays: a network with conduction delays (:class:`eegfit.models.network.Network` with tract
lengths) carries a ring buffer of its nodes' coupling variable in the scan, as long as its
longest delay (:mod:`eegfit.delayed_rollout`); every other model runs the same rollout as
before, with none.

Where the pieces are: the schemes and the scan with a gradient horizon in
:mod:`eegfit.integrators`, the delayed rollout in :mod:`eegfit.delayed_rollout`, the batch-last
switch of the forward mode and the eager call in :mod:`eegfit.dispatch`; this module checks the
settings, lays a batch out and puts the pieces together into one compiled core per setting, and
is the one entry.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

from eegfit import delayed_rollout, integrators
from eegfit.dispatch import batch_last_jvp, batch_last_jvp_active, call_core
from eegfit.integrators import INTEGRATORS
from eegfit.models import delay_kernel
from eegfit.signal.numerics import safe_sqrt as _safe_sqrt


class Trace(NamedTuple):
    """A simulated observable after the transient.

    Attributes:
        time_ms: sample times in ms, shape ``(n_samples,)``; sample ``i`` is the state after
            step ``n_transient + i + 1``.
        observable: the model's observable, shape ``(n_samples, *batch)``, in the model's
            ``observable_units`` (mV for Jansen-Rit's EEG; dimensionless for Wilson-Cowan,
            Wong-Wang and Stuart-Landau).
    """

    time_ms: jax.Array
    observable: jax.Array


def n_steps(duration_ms: float, dt_ms: float) -> int:
    """Number of integration steps of a simulation (``duration_ms / dt_ms``, rounded)."""
    return int(round(duration_ms / dt_ms))


def check_settings(*, dt_ms: float, duration_ms: float, transient_ms: float = 0.0,
                   integrator: str = "euler", grad_horizon_ms: float | None = None) -> None:
    """Raise ``ValueError`` naming the offending setting of a simulation."""
    for name, value in (("dt_ms", dt_ms), ("duration_ms", duration_ms)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    if not 0 <= transient_ms < duration_ms:
        raise ValueError(
            f"transient_ms must be >= 0 and < duration_ms ({duration_ms!r}), got {transient_ms!r}")
    if n_steps(duration_ms, dt_ms) - n_steps(transient_ms, dt_ms) < 1:
        raise ValueError(f"duration_ms - transient_ms must span at least one step of dt_ms={dt_ms}")
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator must be one of {INTEGRATORS}, got {integrator!r}")
    if grad_horizon_ms is not None and not grad_horizon_ms >= dt_ms:
        raise ValueError(f"grad_horizon_ms must be >= dt_ms ({dt_ms!r}), got {grad_horizon_ms!r}")


BROADCAST_MIN_BATCH = 9
"""Batches of at least this many parameter sets under ``jax.vmap`` run in the broadcast layout
(state ``(n_states, n)``, batch last) instead of vmap's batch-first one; below it vmap's layout is
faster on a CPU (see benchmarks/: about 2.3x one evaluation for 6 candidates with vmap, 3x with
broadcasting; 10x vs 5x for 64)."""


def _initial_state(model, drive, y0):
    """``y0`` broadcast to ``(n_states, *batch)``, ``batch`` that of the model's leaves and the
    drive's per-step values (``y0``'s own batch axes aligned to the right)."""
    batch = jnp.broadcast_shapes(*(jnp.shape(x) for x in jax.tree.leaves(model)),
                                 drive.shape[1:], y0.shape[1:])
    lead = (1,) * (len(batch) - (y0.ndim - 1))
    return jnp.broadcast_to(y0.reshape(y0.shape[:1] + lead + y0.shape[1:]), y0.shape[:1] + batch)


def _record_trace(step, observe, y, drive, horizon, remat):
    """The observable after each step of ``drive``, shape ``(n_steps, *batch)``."""
    def record(c, p):
        y = step(c[0], p)
        return (y,), observe(y)
    return integrators.run(record, (y,), drive, horizon, remat)[1]


def _accumulate_rms(step, observe, y, drive, horizon, remat):
    """RMS of the de-meaned observable over the steps of ``drive``, no trace stored."""
    # running sums of the signal shifted by its value at the window's start: exact zeros for
    # a flat signal, and no cancellation for an offset one (a float32 sum of squares would)
    shift = observe(y)

    def accumulate(c, p):
        y, s1, s2 = c
        y = step(y, p)
        v = observe(y) - shift
        return (y, s1 + v, s2 + v * v), None
    zero = jnp.zeros_like(shift)
    (_, s1, s2), _ = integrators.run(accumulate, (y, zero, zero), drive, horizon, remat)
    n = drive.shape[0]
    mean = s1 / n
    return _safe_sqrt(jnp.maximum(s2 / n - mean * mean, 0.0))


_OUTPUTS = {"trace": _record_trace, "rms": _accumulate_rms}


def _plain_rollout(skip: int, dt_ms: float, integrator: str, horizon: int | None, remat: bool,
                   output: str, history: int = 0, block: int = 1, read: str = "xla"):
    """``(model, drive, y0) -> output`` for one parameter set or a broadcast batch of them:
    ``skip`` steps of transient, then the output over the remaining steps of ``drive``; with
    ``history`` > 0 (a network with delays), a history of that many steps rides in the state,
    read for ``block`` steps at once (by ``read``: :data:`eegfit.models.delay_kernel.KERNEL_MODES`)."""
    def plain(model, drive, y0):
        y = _initial_state(model, drive, y0)
        if history and block > 1:
            return delayed_rollout.blocked_rollout(model, y, drive, skip, dt_ms, integrator,
                                                   horizon, remat, output, history, block, read)
        if history:
            y, step, observe = delayed_rollout.delayed(model, y, integrator, dt_ms, history)
        else:
            step = integrators.scheme(model.vector_field, integrator, dt_ms * 1e-3)
            observe = model.observe
        if skip:
            (y,), _ = integrators.run(lambda c, p: ((step(c[0], p),), None), (y,),
                                      drive[:skip], horizon, remat)
        return _OUTPUTS[output](step, observe, y, drive[skip:], horizon, remat)
    return plain


def _broadcast_batching(plain):
    """``plain`` under a custom ``vmap`` rule: a batch of at least :data:`BROADCAST_MIN_BATCH`
    scalar parameter sets runs in one call with the batch on the last axis; smaller or
    non-scalar batches (e.g. a network's per-node drive) run through plain ``vmap``."""
    batched = custom_vmap(plain)

    @batched.def_vmap
    def rule(axis_size, in_batched, model, drive, y0):
        model_b, drive_b, y0_b = in_batched
        per_set_scalar = (
            all(x.ndim == (1 if b else 0) for x, b in zip(jax.tree.leaves(model),
                                                         jax.tree.leaves(model_b)))
            and drive.ndim == (2 if drive_b else 1) and y0.ndim == (2 if y0_b else 1))
        if axis_size < BROADCAST_MIN_BATCH or not per_set_scalar:
            axes = (jax.tree.map(lambda b: 0 if b else None, model_b), 0 if drive_b else None,
                    0 if y0_b else None)
            return jax.vmap(plain, in_axes=axes)(model, drive, y0), True
        drive = jnp.moveaxis(drive, 0, -1) if drive_b else drive[:, None]
        y0 = jnp.moveaxis(y0, 0, -1) if y0_b else y0[:, None]
        return jnp.moveaxis(plain(model, drive, y0), -1, 0), True
    return batched


@functools.lru_cache(maxsize=None)
def _rollout(total: int, skip: int, dt_ms: float, integrator: str, horizon: int | None,
             remat: bool, output: str = "trace", history: int = 0, block: int = 1,
             read: str = "xla"):
    """The compiled core ``(model, drive, y0) -> eeg`` for fixed settings (``output="trace"``),
    or ``-> RMS of eeg`` accumulated inside the scan, storing no trace (``output="rms"``).

    Its value under ``jax.vmap`` comes from a custom batching rule (:func:`_broadcast_batching`:
    the batch on the last axis lets the model's elementwise vector field broadcast, which a CPU
    runs several times faster than vmap's batch-first state); derivatives come from the plain
    function (custom JVP), so ``grad``, ``vmap(grad)`` and ``grad(vmap)`` all work as usual
    (and a forward-mode derivative under ``vmap`` runs batch-last inside :func:`batch_last_jvp`).
    ``total``, the drive's length in steps, only keys the cache (one core per simulation length).
    ``history``: the steps of coupling history a network with delays keeps (0: none);
    ``block``: the steps it reads that history for at once; ``read``: by which read
    (:data:`eegfit.models.delay_kernel.KERNEL_MODES`).
    """
    # jit here, not around simulate: a jit between a user's vmap and this custom_jvp makes JAX
    # 0.10 transpose a batched drive's tangent with the wrong batch axis (grad of a vmap over
    # noise keys failed with a cotangent shape error); eager calls still reuse compiled code
    plain = jax.jit(_plain_rollout(skip, dt_ms, integrator, horizon, remat, output, history,
                                   block, read))
    batched = _broadcast_batching(plain)
    core = jax.custom_jvp(batched)

    def jvp(primals, tangents):  # see batch_last_jvp: the batched rule in forward mode only
        return jax.jvp(batched if batch_last_jvp_active() else plain, primals, tangents)
    core.defjvp(jvp)
    return core


def simulate(model, *, duration_ms: float, dt_ms: float = 0.1, transient_ms: float = 0.0,
             integrator: str = "euler", key: jax.Array | None = None, y0: jax.Array | None = None,
             grad_horizon_ms: float | None = None, checkpoint: bool = False) -> Trace:
    """Simulate ``model`` and return its observable after the transient.

    Args:
        model: a neural-mass model pytree (e.g. :class:`eegfit.JansenRit`) holding plain values.
        duration_ms: simulated time in ms, transient included.
        dt_ms: integration step in ms (default 0.1).
        transient_ms: initial time in ms that is simulated but not returned.
        integrator: ``"euler"`` (default), ``"heun"`` or ``"rk4"``.
        key: ``jax.random`` key for a noisy drive (required by one, ignored otherwise).
        y0: initial state, shape ``(n_states,)`` or ``(n_states, *batch)``; by default the
            model's ``initial_state``, or zeros.
        grad_horizon_ms: truncate backpropagation through time to windows of this length (the
            forward pass is unchanged); ``None`` backpropagates through the whole rollout.
        checkpoint: rematerialise the rollout in chunks in the backward pass (bounded memory).

    Returns:
        A :class:`Trace` with ``time_ms`` of shape ``(n,)`` and ``observable`` of shape
        ``(n, *batch)``, where ``batch`` is the broadcast shape of the model's parameters.
    """
    total, skip, core, args = _prepare(model, duration_ms, dt_ms, transient_ms, integrator, key,
                                       y0, grad_horizon_ms, checkpoint, "trace")
    time_ms = (skip + 1 + jnp.arange(total - skip)) * dt_ms
    return Trace(time_ms=time_ms, observable=call_core(core, args))


def simulate_rms(model, *, duration_ms: float, dt_ms: float = 0.1, transient_ms: float = 0.0,
                 integrator: str = "euler", key: jax.Array | None = None,
                 y0: jax.Array | None = None, grad_horizon_ms: float | None = None,
                 checkpoint: bool = False) -> jax.Array:
    """RMS amplitude (in the observable's unit) of the de-meaned observable after the transient,
    accumulated inside the scan: no trace is stored, so memory does not grow with the simulated
    time or the batch.

    Same arguments as :func:`simulate`; equals ``features.rms(simulate(...).observable)`` up to
    float rounding (the sums run in another order), with a zero gradient on a flat signal.
    Returns an array of shape ``batch``.
    """
    _, _, core, args = _prepare(model, duration_ms, dt_ms, transient_ms, integrator, key, y0,
                                grad_horizon_ms, checkpoint, "rms")
    return call_core(core, args)


def _prepare(model, duration_ms, dt_ms, transient_ms, integrator, key, y0, grad_horizon_ms,
             checkpoint, output):
    """Checked settings -> (total steps, kept-from step, compiled core, its arguments)."""
    check_settings(dt_ms=dt_ms, duration_ms=duration_ms, transient_ms=transient_ms,
                   integrator=integrator, grad_horizon_ms=grad_horizon_ms)
    if hasattr(model, "check"):
        model.check()  # a parameter outside its valid range, named, before any step
    total, skip = n_steps(duration_ms, dt_ms), n_steps(transient_ms, dt_ms)
    drive = model.drive.per_step(key, total, dt_ms)
    if y0 is None:
        y0 = jnp.asarray(getattr(model, "initial_state", (0.0,) * len(model.state_names)),
                         dtype=jnp.result_type(float))
    horizon = None if grad_horizon_ms is None else n_steps(grad_horizon_ms, dt_ms)
    history = model.history_length(dt_ms) if hasattr(model, "history_length") else 0
    block = model.delay_block(dt_ms) if history else 1
    if horizon is not None:  # a block divides the horizon: the gradient is cut where it was
        block = max(b for b in range(1, min(block, horizon) + 1) if horizon % b == 0)
    read = delay_kernel.mode() if block > 1 else "xla"  # EEGFIT_DELAY_KERNEL, read per call
    core = _rollout(total, skip, dt_ms, integrator, horizon, checkpoint, output, history, block,
                    read)
    return total, skip, core, (jax.tree.map(jnp.asarray, model), drive, y0)


# the forward-mode switch and the integrators, re-exported where they were
__all__ = ["BROADCAST_MIN_BATCH", "INTEGRATORS", "Trace", "batch_last_jvp", "check_settings",
           "n_steps", "simulate", "simulate_rms"]
