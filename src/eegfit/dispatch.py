"""How simulate's compiled core is called: switches and shortcuts that act while a function is
traced or called eagerly, kept apart from the rollout itself (:mod:`eegfit.simulate`)."""

from __future__ import annotations

import contextlib
import contextvars
import functools

import jax

_BATCH_LAST_JVP = contextvars.ContextVar("eegfit_batch_last_jvp", default=False)


@contextlib.contextmanager
def batch_last_jvp():
    """Trace forward-mode derivatives of batched simulations in the batch-last layout.

    A ``jax.jvp`` of a ``jax.vmap`` over parameter sets goes through the rollout's custom JVP
    rule, which ``vmap`` batches in its own batch-first layout (1.5-2x slower than batch-last
    for hundreds of sets, see benchmarks/). Code traced inside this context makes that rule
    batch through simulate's custom batching rule, as the forward pass does. The switch acts at
    trace time only (a compiled function keeps the rule it was traced with) and is meant for
    forward mode under ``vmap``, as the Fitter's batched grad step uses it: a reverse-mode
    derivative (``grad``) traced inside it fails unless every simulation is under a ``vmap``
    (a custom batching rule has no transpose).
    """
    token = _BATCH_LAST_JVP.set(True)
    try:
        yield
    finally:
        _BATCH_LAST_JVP.reset(token)


def batch_last_jvp_active() -> bool:
    """Whether code is being traced inside :func:`batch_last_jvp`."""
    return _BATCH_LAST_JVP.get()


@functools.lru_cache(maxsize=None)
def _jitted(core):
    return jax.jit(core)


def call_core(core, args):
    """``core(*args)``; through a jit of it when no argument is traced (an eager call: calling
    the custom JVP and batching wrappers eagerly traces them anew each time, about 4 ms, which
    made a target or a fit's extras cost several times its simulation). With no traced argument
    no transformation reaches the core, so the jit cannot change what it computes."""
    if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(args)):
        return core(*args)
    return _jitted(core)(*args)


__all__ = ["batch_last_jvp", "batch_last_jvp_active", "call_core"]
