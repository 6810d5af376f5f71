"""Safe numerics: square roots and logarithms that stay finite, with finite gradients, at 0.

A quiescent column has a variance of exactly 0, and ``jnp.sqrt`` has an infinite derivative there
(``grad`` gives NaN, which poisons a whole fit). The double-``where`` below evaluates the root only
where the argument is positive, so both the value and the gradient are defined everywhere: the
inner ``where`` keeps the untaken branch's derivative finite, the outer one selects the result.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

TINY = 1e-30
"""Added to a power before a log or a division: keeps a flat spectrum finite, far below any
physical power (it is representable in float32, whose smallest normal number is about 1e-38)."""


def safe_sqrt(x: jax.Array) -> jax.Array:
    """``sqrt(x)`` where ``x > 0``, 0 where ``x <= 0`` (with a gradient of 0, never NaN), and NaN
    where ``x`` is NaN: a diverged simulation must not pass for a flat one.

    Shape and unit: those of ``x`` (the root of a variance in mV^2 is in mV).
    """
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)),
                     jnp.where(x <= 0, 0.0, x))


def safe_rsqrt(x: jax.Array) -> jax.Array:
    """``1 / sqrt(x)`` where ``x > 0``, 0 where ``x <= 0`` (a finite gradient), NaN where ``x``
    is NaN.

    Used to standardise a signal by its variance: a flat signal (variance 0) is scaled to 0
    instead of to ``inf * 0 = NaN``. Shape: that of ``x``.
    """
    positive = x > 0
    return jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, x, 1.0)),
                     jnp.where(x <= 0, 0.0, x))


def safe_log(x: jax.Array) -> jax.Array:
    """``log(x + TINY)`` of a non-negative ``x`` (a power): finite, with a finite gradient, at 0."""
    return jnp.log(x + TINY)


__all__ = ["TINY", "safe_log", "safe_rsqrt", "safe_sqrt"]
