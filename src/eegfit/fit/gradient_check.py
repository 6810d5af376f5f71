"""A grad fit's first gradient checked against a central finite difference of the same loss.

Through long noisy simulations a loss can be rough on the scale a fit moves: its exact local
derivative (or a truncated one) then says nothing about which way the loss falls over a step, and
a fit follows it to a bound (benchmarks/bench_gradients.py measures it). A fit with a
:class:`GradientCheck` compares, at its start, the gradient it is about to follow with a central
difference of its own loss (same data, same noise key) over a step of ``rel_step`` of each
parameter's box width, the scale an optimizer moves on; where they disagree in sign or by more than
``rtol`` the fit stops with status ``gradient_unreliable`` instead of marching on.

Cost: two loss evaluations per fitted scalar, once per fit, all fits of a batch in one call.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from eegfit.fit.param import Split

SIGN_FLOOR = 0.1
"""A component of the finite difference below this fraction of its norm need not agree in sign
(it is float noise beside the others)."""


@dataclasses.dataclass(frozen=True)
class GradientCheck:
    """Settings of the first-step check.

    Attributes:
        rtol: the largest accepted ``|g - fd| / |fd|`` (vector norms, each component in loss per
            box width); every component of ``fd`` above :data:`SIGN_FLOOR` of its norm must also
            agree in sign.
        rel_step: the half-width of the central difference, as a fraction of each parameter's box
            width (of ``max(|value|, 1)`` for an unbounded one). Near a bound the stencil is cut
            at the bound (one-sided there).
    """

    rtol: float = 0.5
    rel_step: float = 0.005

    def __post_init__(self):
        for name, value, high in (("rtol", self.rtol, math.inf), ("rel_step", self.rel_step, 0.5)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    0 < value <= high) or math.isinf(value):
                raise ValueError(f"gradient_check.{name} must be a number in (0, {high:g}], got "
                                 f"{value!r}")


def resolve(check) -> GradientCheck | None:
    """``None``/``False`` (no check), ``True`` (the defaults), a dict of settings or a
    :class:`GradientCheck` -> a :class:`GradientCheck` or ``None``."""
    if check is None or check is False:
        return None
    if check is True:
        return GradientCheck()
    if isinstance(check, GradientCheck):
        return check
    if isinstance(check, dict):
        unknown = sorted(set(check) - {f.name for f in dataclasses.fields(GradientCheck)})
        if unknown:
            raise ValueError(f"gradient_check: unknown settings {unknown}; known: rtol, rel_step")
        return GradientCheck(**check)
    raise TypeError(f"gradient_check must be None, a bool, a dict or a GradientCheck, got "
                    f"{check!r}")


def scales(split: Split, values: dict) -> dict:
    """Per fit and scalar: the box width of a bounded parameter, ``max(|value|, 1)`` else."""
    return {n: (jnp.full_like(v, split.bounds[n][1] - split.bounds[n][0])
                if split.bounds[n] is not None else jnp.maximum(jnp.abs(v), 1.0))
            for n, v in values.items()}


def finite_differences(objective, split: Split, check: GradientCheck):
    """A jitted ``fd(values, data) -> name -> (n, *shape)``: the central difference of every
    fit's loss along each of its scalars (loss per parameter unit), all ``2 k n`` evaluations
    in one call. ``objective(values, data) -> (loss, aux)`` is one fit's."""
    names = split.names
    batched = jax.vmap(objective)

    @jax.jit
    def fd(values, data):
        n = next(iter(values.values())).shape[0]
        flat = {k: v.reshape(n, -1) for k, v in values.items()}
        sizes = [flat[k].shape[1] for k in names]
        h = {k: scales(split, flat)[k] * check.rel_step for k in names}
        rows, spans = [], []
        for i, name in enumerate(names):
            lo, hi = split.bounds[name] or (-jnp.inf, jnp.inf)
            for j in range(sizes[i]):
                x = flat[name][:, j]
                up, down = jnp.minimum(x + h[name][:, j], hi), jnp.maximum(x - h[name][:, j], lo)
                for moved in (up, down):
                    row = dict(flat)
                    row[name] = flat[name].at[:, j].set(moved)
                    rows.append(row)
                spans.append(up - down)
        m = len(spans)
        stacked = {k: jnp.stack([r[k] for r in rows], axis=1).reshape(
            (n * 2 * m,) + values[k].shape[1:]) for k in names}
        data_rows = None if data is None else jax.tree.map(
            lambda x: jnp.repeat(x, 2 * m, axis=0), data)
        loss = batched(stacked, data_rows)[0].reshape(n, m, 2)
        diff = (loss[..., 0] - loss[..., 1]) / jnp.stack(spans, axis=1)
        offsets = np.cumsum([0] + sizes)
        return {k: diff[:, offsets[i]:offsets[i + 1]].reshape(values[k].shape)
                for i, k in enumerate(names)}
    return fd


def compare(split: Split, values: dict, grads: dict, fd: dict):
    """Per fit: ``(rel_error, sign_agree)`` of the gradient against the finite difference, each
    component in loss per box width (see :class:`GradientCheck`)."""
    n = next(iter(values.values())).shape[0]
    s = scales(split, values)
    g = jnp.concatenate([(grads[k] * s[k]).reshape(n, -1) for k in split.names], axis=1)
    f = jnp.concatenate([(fd[k] * s[k]).reshape(n, -1) for k in split.names], axis=1)
    norm_f, norm_d = jnp.linalg.norm(f, axis=1), jnp.linalg.norm(g - f, axis=1)
    rel = jnp.where(norm_f > 0, norm_d / jnp.where(norm_f > 0, norm_f, 1.0),
                    jnp.where(norm_d > 0, jnp.inf, 0.0))
    counts = jnp.abs(f) >= SIGN_FLOOR * norm_f[:, None]
    sign = jnp.all(~counts | (jnp.sign(g) == jnp.sign(f)), axis=1) & jnp.all(jnp.isfinite(f),
                                                                               axis=1)
    return rel, sign


def message(check: dict) -> str:
    """Why a fit stopped with status ``gradient_unreliable``, in words."""
    return (f"the first gradient disagrees with a central finite difference of the loss over "
            f"{check['rel_step']:g} of the box (rel error {check['rel_error']:.3g}, tolerance "
            f"{check['rtol']:g}; signs {'agree' if check['sign_agree'] else 'differ'}): the fit "
            f"stopped at its start, where the gradient cannot be trusted")
