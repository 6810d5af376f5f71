"""The ``grad`` backend: differentiation through the whole simulation with any optax optimizer.

A batch of independent fits (one row per fit: its start, its data, its optimizer state) advances
together in one compiled ``lax.scan`` over a chunk of steps, one compiled call per chunk (the
chunk is also the unit of progress reporting and of early stopping). Each step evaluates every
fit's loss and gradient at its current parameters, records them, and then updates: the learning
rate acts in the parameter's own units (no rescaling), and bounded parameters are projected back
into their box after the update. A non-finite loss or gradient stops that fit (status
``diverged``; its row is frozen, the other fits go on) and is never taken as its best value.

Derivatives: each fit's loss depends on its own parameters only, so the gradients of a batch are
the derivatives of the summed losses. With few fitted scalars (``"forward"``) they come from one
forward-mode ``jvp`` per scalar, all in one batched call on simulate's batch-last layout (no
stored trajectory, and on a CPU several times cheaper per fit than reverse mode over a batch);
with many (``"reverse"``) from reverse mode (``grad`` of the summed losses).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from eegfit.dispatch import batch_last_jvp
from eegfit.fit import gradient_check
from eegfit.fit.param import Split

RUNNING, CONVERGED, DIVERGED, UNRELIABLE = 0, 1, 2, 3
DERIVATIVES = ("auto", "forward", "reverse")
FORWARD_MAX_SCALARS = 4
"""``derivatives="auto"`` uses forward mode up to this many fitted scalars per fit: a batch then
evaluates each fit once per scalar, which beat one reverse pass per fit in benchmarks/ (forward
also stores no trajectory, so long simulations need no horizon or checkpoint for memory)."""


NOT_PLAIN = ("lbfgs", "noisy_sgd", "optimistic_adam", "optimistic_adam_v2",
             "scale_by_learning_rate", "scale_by_rprop")
"""optax aliases taking a learning rate that the grad backend cannot drive as a plain update
(lbfgs needs the loss in its update, noisy_sgd a key; scale_by_* are parts, not optimizers), or
that optax deprecates (optimistic_adam)."""


@functools.cache
def optax_optimizers() -> tuple[str, ...]:
    """The optax optimizers the grad backend takes (sorted): optax's public functions whose first
    argument is ``learning_rate``, less :data:`NOT_PLAIN`. The config schema's enum is this."""
    import inspect  # noqa: PLC0415

    names = []
    for name in dir(optax):
        obj = getattr(optax, name)
        if name.startswith("_") or isinstance(obj, type) or not callable(obj):
            continue
        try:
            first = list(inspect.signature(obj).parameters)[:1]
        except (TypeError, ValueError):
            continue
        if first == ["learning_rate"] and name not in NOT_PLAIN:
            names.append(name)
    return tuple(sorted(names))


def optax_optimizer(name: str, where: str = "optimizer"):
    """The optax optimizer factory called ``name`` (one of :func:`optax_optimizers`), or a
    ``ValueError`` naming ``where``: for a library caller; a config's name is checked by its
    spec's declaration and made into an optimizer by :func:`optimizer`."""
    if not isinstance(name, str) or name not in optax_optimizers():
        raise ValueError(f"config {where}: {name!r} is not an optax optimizer taking a "
                         f"learning rate (e.g. adam, sgd, rmsprop)")
    return getattr(optax, name)


def scale_by_box(widths: dict, learning_rate: float) -> optax.GradientTransformation:
    """Multiply each parameter's update by ``learning_rate * (high - low)`` of its box."""
    def update(updates, state, params=None):
        del params
        return {k: u * (learning_rate * widths[k]) for k, u in updates.items()}, state
    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def optimizer(name: str, learning_rate: float,
              box_widths: dict | None = None) -> tuple[optax.GradientTransformation, str]:
    """``(transform, label)``: the optax optimizer ``name`` at ``learning_rate``, the one place a
    grad backend's settings become an optimizer. The rate is in the parameters' own units, or,
    with ``box_widths`` (name -> high - low), a fraction of each box: the optimizer at a unit
    rate, each step scaled by the rate times its box width (:func:`scale_by_box`), so one rate
    serves parameters of different scales. ``name`` is one of :func:`optax_optimizers`, checked
    where it was read (the config's spec, :data:`eegfit.experiments.spec.GRAD`); the label
    names the optimizer in the fit's record."""
    make = getattr(optax, name)
    if box_widths is None:
        return make(learning_rate), f"{name}(lr={learning_rate})"
    return (optax.chain(make(1.0), scale_by_box(box_widths, learning_rate)),
            f"{name}(lr={learning_rate} x box width)")


def resolve_derivatives(derivatives: str, split: Split) -> str:
    """``"forward"`` or ``"reverse"`` for a fit of ``split`` (``"auto"`` by its scalar count)."""
    if derivatives not in DERIVATIVES:
        raise ValueError(f"derivatives must be one of {DERIVATIVES}, got {derivatives!r}")
    if derivatives != "auto":
        return derivatives
    n_scalars = sum(math.prod(np.shape(v)) for v in split.start.values())
    return "forward" if n_scalars <= FORWARD_MAX_SCALARS else "reverse"


def _per_fit(mask, leaf):
    """A per-fit ``(n,)`` mask shaped to broadcast against a leaf ``(n, ...)``."""
    return mask.reshape(mask.shape + (1,) * (jnp.ndim(leaf) - 1))


def _rows_finite(tree) -> jax.Array:
    """Per fit (leading axis): whether every value of every leaf is finite."""
    leaves = jax.tree.leaves(tree)
    per_leaf = [jnp.all(jnp.isfinite(x).reshape(x.shape[0], -1), axis=1) for x in leaves]
    return jnp.all(jnp.stack(per_leaf), axis=0)


def _repeat_rows(tree, k: int):
    """Each leaf's rows repeated ``k`` times in place: ``(n, ...) -> (n * k, ...)``."""
    def rep(x):
        return jnp.broadcast_to(x[:, None], (x.shape[0], k) + x.shape[1:]).reshape(
            (x.shape[0] * k,) + x.shape[1:])
    return jax.tree.map(rep, tree)


def batched_value_and_grad(objective, split: Split, derivatives: str):
    """``vg(values, data) -> (loss, aux, grads)`` for a batch of fits: ``values`` name ->
    ``(n, *shape)``, ``data`` leaves ``(n, ...)`` (or ``None``); ``loss`` ``(n,)``, ``aux``
    leaves ``(n, ...)``, ``grads`` like ``values``. ``objective(values, data) -> (loss, aux)``
    is one fit's."""
    batched = jax.vmap(objective)
    if derivatives == "reverse":
        def summed(values, data):
            loss, aux = batched(values, data)
            return jnp.sum(loss), (loss, aux)

        def vg(values, data):
            grads, (loss, aux) = jax.grad(summed, has_aux=True)(values, data)
            return loss, aux, grads
        return vg

    names = split.names
    shapes = {n: np.shape(split.start[n]) for n in names}
    sizes = [math.prod(shapes[n]) for n in names]
    k = sum(sizes)
    offsets = np.cumsum([0] + sizes)
    # direction j of each fit: a one-hot tangent over the fit's k scalars (name order)
    basis = np.eye(k, dtype=np.asarray(split.start[names[0]]).dtype)

    def vg(values, data):
        n = next(iter(values.values())).shape[0]
        rows = _repeat_rows(values, k)  # row (fit i, direction j) = i * k + j
        tangents = {name: jnp.tile(jnp.asarray(basis[:, offsets[i]:offsets[i + 1]]), (n, 1))
                    .reshape((n * k,) + shapes[name]) for i, name in enumerate(names)}
        data_rows = None if data is None else _repeat_rows(data, k)
        with batch_last_jvp():
            (loss, aux), (dloss, _) = jax.jvp(lambda v: batched(v, data_rows), (rows,),
                                              (tangents,))
        loss = loss.reshape(n, k)[:, 0]
        aux = jax.tree.map(lambda a: a.reshape((n, k) + a.shape[1:])[:, 0], aux)
        dloss = dloss.reshape(n, k)
        grads = {name: dloss[:, offsets[i]:offsets[i + 1]].reshape((n,) + shapes[name])
                 for i, name in enumerate(names)}
        return loss, aux, grads
    return vg


def _project(values, bounds):
    return {n: v if bounds[n] is None else jnp.clip(v, *bounds[n]) for n, v in values.items()}


def make_chunk_runner(objective, split: Split, optimizer: optax.GradientTransformation,
                      chunk_size: int, derivatives: str = "forward",
                      check: gradient_check.GradientCheck | None = None):
    """A jitted ``run(carry, data, n_total, tol, reference) -> (carry, records)`` doing
    ``chunk_size`` steps of a batch of fits.

    ``carry = (values, opt_state, step, codes, checked)``: values and optimizer state with one
    row per fit, the step count (shared), a status code per fit, and the first step's gradient
    check per fit (``(gradient, rel_error, sign_agree)``). A fit whose code is not ``RUNNING``
    keeps its row and records ``valid = False``, as do all fits at steps at or past ``n_total``.
    ``data`` (leaves ``(n, ...)``, or ``None``) is an argument, not a constant of the program:
    new targets reuse the compiled code. With ``check``, ``reference`` is the finite difference
    of every fit's loss at its start (:func:`eegfit.fit.gradient_check.finite_differences`): at
    step 0 a fit whose gradient disagrees with it records its start and stops (``UNRELIABLE``).
    """
    value_and_grad = batched_value_and_grad(objective, split, derivatives)
    update = jax.vmap(optimizer.update)

    def step(carry, _, data, n_total, tol, reference):
        values, opt_state, i, codes, checked = carry
        active = (codes == RUNNING) & (i < n_total)

        def advance(_):
            loss, aux, grads = value_and_grad(values, data)
            finite = jnp.isfinite(loss) & _rows_finite(grads)
            unreliable, new_checked = jnp.zeros_like(active), checked
            if check is not None:
                rel, sign = gradient_check.compare(split, values, grads, reference)
                first = i == 0
                unreliable = first & ~((rel <= check.rtol) & sign)
                new_checked = jax.tree.map(lambda new, old: jnp.where(first, new, old),
                                           (grads, rel, sign), checked)
            updates, new_state = update(grads, opt_state, values)
            new_values = _project(optax.apply_updates(values, updates), split.bounds)
            moves = active & finite & ~unreliable
            keep = lambda new, old: jax.tree.map(  # noqa: E731
                lambda a, b: jnp.where(_per_fit(moves, a), a, b), new, old)
            new_codes = jnp.where(~active, codes, jnp.where(
                ~finite, DIVERGED, jnp.where(loss <= tol, CONVERGED, jnp.where(
                    unreliable, UNRELIABLE, RUNNING))))
            record = (jnp.where(active & finite, loss, jnp.nan), values, aux, active)
            return (keep(new_values, values), keep(new_state, opt_state), i + 1,
                    new_codes, new_checked), record

        def idle(_):  # every fit has stopped: skip the evaluation
            loss_shape, aux_shape, _ = jax.eval_shape(value_and_grad, values, data)
            aux0 = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), aux_shape)
            nan = jnp.full(loss_shape.shape, jnp.nan, loss_shape.dtype)
            return carry, (nan, values, aux0, active)

        return jax.lax.cond(jnp.any(active), advance, idle, None)

    @jax.jit
    def run(carry, data, n_total, tol, reference):
        return jax.lax.scan(lambda c, x: step(c, x, data, n_total, tol, reference), carry, None,
                            length=chunk_size)

    return run


def run_grad(runner, optimizer, starts: dict, data, n_steps: int, *, tol: float | None,
             progress, reference=None):
    """Run a batch of fits from ``starts`` (name -> ``(n, *shape)``) for up to ``n_steps``
    (``reference``: the finite differences at the starts, for a runner with a check).

    Returns one ``(records, final_values, code, checked)`` per fit: records are NumPy arrays
    ``(loss, values, aux)`` with one row per step that fit ran; ``checked`` the first step's
    ``(gradient, finite_difference, rel_error, sign_agree)``, or ``None`` without a reference."""
    n = next(iter(starts.values())).shape[0]
    checked = (jax.tree.map(jnp.zeros_like, starts), jnp.zeros(n), jnp.zeros(n, bool))
    carry = (starts, jax.vmap(optimizer.init)(starts), jnp.asarray(0),
             jnp.full((n,), RUNNING), checked)
    tol_value = jnp.asarray(-jnp.inf if tol is None else tol, jnp.result_type(float))
    chunks = []
    while int(carry[2]) < n_steps and bool(np.any(np.asarray(carry[3]) == RUNNING)):
        done_before = int(carry[2])
        carry, record = runner(carry, data, n_steps, tol_value, reference)
        chunks.append(jax.device_get(record))
        progress.update(min(int(carry[2]), n_steps) - done_before, chunks[-1][0])
    joined = jax.tree.map(lambda *xs: np.concatenate(xs), *chunks)  # leaves (steps, n, ...)
    loss, values, aux, valid = joined
    finals, codes = jax.device_get(carry[0]), np.asarray(carry[3])
    grads, rel, sign = jax.device_get(carry[4])
    fds = jax.device_get(reference)
    out = []
    for b in range(n):
        rows = valid[:, b]
        pick = lambda a: np.asarray(a)[rows, b]  # noqa: E731
        out.append(((loss[rows, b], {k: pick(v) for k, v in values.items()},
                     jax.tree.map(pick, aux)),
                    {k: np.asarray(v[b]) for k, v in finals.items()}, int(codes[b]),
                    None if reference is None else (
                        {k: np.asarray(v[b]) for k, v in grads.items()},
                        {k: np.asarray(v[b]) for k, v in fds.items()}, float(rel[b]),
                        bool(sign[b]))))
    return out
