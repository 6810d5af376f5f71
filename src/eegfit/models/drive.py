"""External excitatory drive p(t) of a neural mass, in Hz (pulses per second).

A drive is a pytree whose numeric fields can be fitted like any model parameter. It turns into one
value per integration step (piecewise constant over a step) through ``per_step``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from eegfit.models.base import pytree_dataclass, static_field


@pytree_dataclass
class ConstantDrive:
    """Constant drive.

    Attributes:
        rate_hz: the drive p, in Hz.
    """

    rate_hz: float = 220.0

    units = {"rate_hz": "Hz"}
    needs_key = False

    def per_step(self, key, n_steps: int, dt_ms: float) -> jax.Array:
        """Drive value per step, shape ``(n_steps, *batch)``."""
        del key, dt_ms
        rate = jnp.asarray(self.rate_hz)
        return jnp.broadcast_to(rate, (n_steps,) + rate.shape)


@pytree_dataclass
class UniformNoiseDrive:
    """Noisy drive of Jansen & Rit (1995): uniform in [low_hz, high_hz], redrawn at intervals.

    Attributes:
        low_hz: lower end of the uniform distribution, Hz (JR95: 120).
        high_hz: upper end, Hz (JR95: 320).
        interval_ms: hold time of one draw in ms (static); ``None`` draws anew every step.

    The draw is ``low + (high - low) * u`` with ``u ~ U(0, 1)`` from an explicit key, so the
    drive is differentiable in ``low_hz`` and ``high_hz`` for a fixed key (common random numbers).
    """

    low_hz: float = 120.0
    high_hz: float = 320.0
    interval_ms: float | None = static_field(None)

    units = {"low_hz": "Hz", "high_hz": "Hz"}
    needs_key = True

    def per_step(self, key, n_steps: int, dt_ms: float) -> jax.Array:
        """Drive value per step, shape ``(n_steps, *batch)``."""
        if key is None:
            raise ValueError("UniformNoiseDrive needs a jax.random key: pass key= to simulate")
        low, high = jnp.asarray(self.low_hz), jnp.asarray(self.high_hz)
        batch = jnp.broadcast_shapes(low.shape, high.shape)
        hold = 1 if self.interval_ms is None else max(1, int(round(self.interval_ms / dt_ms)))
        n_draws = math.ceil(n_steps / hold)
        u = jax.random.uniform(key, (n_draws,) + batch, dtype=jnp.result_type(float))
        values = low + (high - low) * u
        return jnp.repeat(values, hold, axis=0, total_repeat_length=n_draws * hold)[:n_steps]
