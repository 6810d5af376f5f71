"""External drive of a neural mass: for Jansen-Rit the excitatory input p(t) in Hz (pulses per
second); for a model whose input is not a rate, :class:`ConstantInput` in the model's
``drive_units``.

A drive is a pytree whose numeric fields can be fitted like any model parameter. It turns into one
value per integration step (piecewise constant over a step) through ``per_step``.

Two noise conventions (docs/noise.md has the measurement):

- **per draw** (:class:`UniformNoiseDrive`, JR95; :class:`NodeNoiseDrive`, one draw per node of
  a network): a value drawn every step, or every ``interval_ms``. A value of variance ``var``
  (Hz^2) held for ``hold`` seconds has, below ``1/hold``, the spectral density of white noise
  of intensity ``sigma^2 = var * hold`` (two-sided, Hz^2/Hz = Hz^2 s): drawn every step, the
  noise a model feels grows with the step.
- **per unit time** (:class:`WhiteNoiseDrive`, :class:`OUNoiseDrive`): a stochastic process whose
  intensity is a parameter, so a simulation's spectrum does not depend on the step.
  :func:`uniform_intensity` gives the intensity equivalent to a per-draw drive: for U(120, 320)
  drawn every step of 0.1 ms, ``sigma = 0.577 Hz s^0.5``; of 0.5 ms, ``1.29 Hz s^0.5``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from eegfit.models.base import pytree_dataclass, static_field


def _held(value, n_steps: int) -> jax.Array:
    """A constant ``value`` repeated for ``n_steps`` steps, shape ``(n_steps, *value.shape)``."""
    value = jnp.asarray(value)
    return jnp.broadcast_to(value, (n_steps,) + value.shape)


def _uniform_held(key, low_hz, high_hz, shape: tuple, interval_ms, n_steps: int,
                  dt_ms: float) -> jax.Array:
    """Draws ``low + (high - low) * u``, ``u ~ U(0, 1)`` of shape ``(n_draws, *shape)``, each
    held for ``interval_ms`` (``None``: one step), cut to ``n_steps`` rows."""
    hold = 1 if interval_ms is None else max(1, int(round(interval_ms / dt_ms)))
    n_draws = math.ceil(n_steps / hold)
    low, high = jnp.asarray(low_hz), jnp.asarray(high_hz)
    u = jax.random.uniform(key, (n_draws,) + tuple(shape), dtype=jnp.result_type(float))
    values = low + (high - low) * u
    return jnp.repeat(values, hold, axis=0, total_repeat_length=n_draws * hold)[:n_steps]


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
        return _held(self.rate_hz, n_steps)


@pytree_dataclass
class ConstantInput:
    """Constant external input of a model whose drive is not a rate in Hz (Wilson-Cowan: a
    dimensionless input; Wong-Wang: a current in nA; Stuart-Landau: a rate of change in 1/s).

    Attributes:
        value: the input, in ``unit``.
        unit: its unit (static): the model's ``drive_units``, which ``check()`` holds it to.
    """

    value: float = 0.0
    unit: str = static_field("1")

    needs_key = False

    @property
    def units(self) -> dict[str, str]:
        return {"value": self.unit}

    def per_step(self, key, n_steps: int, dt_ms: float) -> jax.Array:
        """Input value per step, shape ``(n_steps, *batch)``."""
        del key, dt_ms
        return _held(self.value, n_steps)


@pytree_dataclass
class UniformNoiseDrive:
    """Noisy drive of Jansen & Rit (1995): uniform in [low_hz, high_hz], redrawn at intervals.

    Attributes:
        low_hz: lower end of the uniform distribution, Hz (JR95: 120).
        high_hz: upper end, Hz (JR95: 320).
        interval_ms: hold time of one draw in ms (static); ``None`` draws anew every step.

    The draw is ``low + (high - low) * u`` with ``u ~ U(0, 1)`` from an explicit key, so the
    drive is differentiable in ``low_hz`` and ``high_hz`` for a fixed key (common random numbers).

    Step dependence: the noise intensity is ``(high - low)^2 / 12 * hold`` (Hz^2 s) with
    ``hold`` the time a draw is held, so with ``interval_ms=None`` (one draw per step) it is
    proportional to ``dt_ms``: at 0.5 ms the column feels 5 times the noise it feels at 0.1 ms,
    and its spectrum changes with the step (docs/noise.md). A fixed ``interval_ms`` that is a
    multiple of every step used keeps the intensity fixed. For noise defined per unit time, use
    :class:`WhiteNoiseDrive` (``WhiteNoiseDrive.from_uniform`` matches this drive at one step).
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
        batch = jnp.broadcast_shapes(jnp.shape(self.low_hz), jnp.shape(self.high_hz))
        return _uniform_held(key, self.low_hz, self.high_hz, batch, self.interval_ms, n_steps,
                             dt_ms)


@pytree_dataclass
class NodeNoiseDrive:
    """Independent uniform noise per node (JR95's drive, one draw per node).

    Attributes:
        low_hz, high_hz: range of the uniform drive, Hz (shared by all nodes; fittable).
        n_nodes: number of nodes (static).
        interval_ms: hold time of one draw, ms (static); ``None`` draws every step.

    Its noise intensity is ``(high - low)^2 / 12 * hold`` (Hz^2 s), with ``hold`` the time a draw
    is held: fixed when ``interval_ms`` is a multiple of the step (5 ms at 0.5 ms), proportional
    to the step with ``None``. ``WhiteNoiseDrive(n_nodes=...)`` or ``OUNoiseDrive(n_nodes=...)``
    (:mod:`eegfit.models.noise`) define it per unit time instead.
    """

    low_hz: float = 50.0
    high_hz: float = 150.0
    n_nodes: int = static_field(1)
    interval_ms: float | None = static_field(None)

    units = {"low_hz": "Hz", "high_hz": "Hz"}
    needs_key = True

    def check(self, dt_ms: float) -> None:
        """Raise ``ValueError`` naming an empty range (``low_hz`` not below ``high_hz``)."""
        del dt_ms
        if not self.low_hz < self.high_hz:
            raise ValueError(f"low_hz must be < high_hz, got {self.low_hz!r} and "
                             f"{self.high_hz!r}")

    def per_step(self, key, n_steps: int, dt_ms: float) -> jax.Array:
        """Drive per step and node, shape ``(n_steps, n_nodes)``."""
        if key is None:
            raise ValueError("NodeNoiseDrive needs a jax.random key: pass key= to simulate")
        return _uniform_held(key, self.low_hz, self.high_hz, (self.n_nodes,), self.interval_ms,
                             n_steps, dt_ms)


JR95_LOW_HZ, JR95_HIGH_HZ = 120.0, 320.0
