"""The ``grad`` backend: backpropagation through the whole simulation with any optax optimizer.

The step loop is compiled: ``lax.scan`` over a chunk of steps, one compiled call per chunk (the
chunk is also the unit of progress reporting and of early stopping). Each step evaluates the loss
and its gradient at the current parameters, records them, and then updates: the learning rate acts
in the parameter's own units (no rescaling), and bounded parameters are projected back into their
box after the update. A non-finite loss or gradient stops the fit (status ``diverged``) and is
never taken as the best value.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from eegfit.fit.param import Split

RUNNING, CONVERGED, DIVERGED = 0, 1, 2


def optax_optimizer(name: str, where: str = "optimizer"):
    """The optax optimizer factory called ``name`` (one that takes a learning rate), or a
    ``ValueError`` naming ``where``."""
    import inspect  # noqa: PLC0415

    make = getattr(optax, name, None) if not name.startswith("_") else None
    if make is None or not callable(make) or "learning_rate" not in getattr(
            inspect.signature(make), "parameters", {}):
        raise ValueError(f"config {where}: {name!r} is not an optax optimizer taking a "
                         f"learning rate (e.g. adam, sgd, rmsprop)")
    return make


def _project(values, bounds):
    return {n: v if bounds[n] is None else jnp.clip(v, *bounds[n]) for n, v in values.items()}


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def make_chunk_runner(objective, split: Split, optimizer: optax.GradientTransformation,
                      chunk_size: int):
    """A jitted ``run(carry, n_total, tol) -> (carry, records)`` doing ``chunk_size`` steps.

    ``carry = (values, opt_state, step, code)``; steps at or past ``n_total``, or after the fit
    stopped (``code != RUNNING``), are skipped (recorded with ``valid = False``).
    """
    value_and_grad = jax.value_and_grad(objective, has_aux=True)
    aux_shape = jax.eval_shape(objective, split.start)[1]

    def step(carry, _, n_total, tol):
        values, opt_state, i, code = carry

        def active(_):
            (loss, aux), grads = value_and_grad(values)
            finite = jnp.isfinite(loss) & _all_finite(grads)
            updates, new_state = optimizer.update(grads, opt_state, values)
            new_values = _project(optax.apply_updates(values, updates), split.bounds)
            keep = lambda new, old: jax.tree.map(  # noqa: E731
                lambda a, b: jnp.where(finite, a, b), new, old)
            new_code = jnp.where(~finite, DIVERGED, jnp.where(loss <= tol, CONVERGED, RUNNING))
            record = (jnp.where(finite, loss, jnp.nan), values, aux, jnp.bool_(True))
            return (keep(new_values, values), keep(new_state, opt_state), i + 1, new_code), record

        def idle(_):
            aux0 = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), aux_shape)
            record = (jnp.asarray(jnp.nan, jnp.result_type(float)), values, aux0, jnp.bool_(False))
            return carry, record

        return jax.lax.cond((code == RUNNING) & (i < n_total), active, idle, None)

    @jax.jit
    def run(carry, n_total, tol):
        return jax.lax.scan(lambda c, x: step(c, x, n_total, tol), carry, None, length=chunk_size)

    return run


def run_grad(objective, split: Split, optimizer, n_steps: int, *, tol: float | None,
             chunk_size: int, progress, runner=None):
    """Run up to ``n_steps`` steps. Returns ``(records, final_values, code)`` where records are
    NumPy arrays ``(loss, values, aux)`` with one row per step run."""
    if runner is None:
        runner = make_chunk_runner(objective, split, optimizer, chunk_size)
    carry = (split.start, optimizer.init(split.start), jnp.asarray(0), jnp.asarray(RUNNING))
    tol_value = jnp.asarray(-jnp.inf if tol is None else tol, jnp.result_type(float))
    chunks = []
    while int(carry[2]) < n_steps and int(carry[3]) == RUNNING:
        done_before = int(carry[2])
        carry, record = runner(carry, n_steps, tol_value)
        chunks.append(jax.device_get(record))
        progress.update(int(carry[2]) - done_before, chunks[-1][0])
    valid = np.concatenate([c[3] for c in chunks])
    stack = lambda i: jax.tree.map(  # noqa: E731
        lambda *xs: np.concatenate(xs)[valid], *[c[i] for c in chunks])
    return (stack(0), stack(1), stack(2)), jax.device_get(carry[0]), int(carry[3])
