"""Noise drives defined per unit time: white noise of a stated intensity and an Ornstein-Uhlenbeck
process with a fixed correlation time, so that a simulation's spectrum does not depend on the
step (the per-draw convention of :mod:`eegfit.models.drive` and its equivalence: docs/noise.md).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from eegfit.models.base import pytree_dataclass, static_field
from eegfit.models.drive import JR95_HIGH_HZ, JR95_LOW_HZ


def uniform_intensity(low_hz: float, high_hz: float, hold_ms: float) -> float:
    """Intensity ``sigma`` (Hz s^0.5) of the white noise equivalent to a drive uniform in
    [low_hz, high_hz] redrawn every ``hold_ms``: ``sigma^2 = (high - low)^2 / 12 * hold_s``, the
    drawn drive's two-sided spectral density below ``1 / hold`` (e.g. 0.577 for JR95's U(120, 320)
    drawn every step of 0.1 ms)."""
    return (high_hz - low_hz) / math.sqrt(12.0) * math.sqrt(hold_ms * 1e-3)


def _concrete(value) -> np.ndarray | None:
    """``value`` as a float array, or ``None`` when it is traced (a fit's bounds guard it then)."""
    try:
        return np.asarray(value, dtype=float)
    except TypeError:  # jax's TracerArrayConversionError is a TypeError
        return None


def _check_finite(owner: str, name: str, value, *, nonnegative: bool = False) -> None:
    """Raise ``ValueError`` naming ``owner.name`` if a concrete value is NaN, infinite or (with
    ``nonnegative``) below 0."""
    v = _concrete(value)
    if v is None:
        return
    if not np.all(np.isfinite(v)) or (nonnegative and np.any(v < 0)):
        rule = "finite and >= 0" if nonnegative else "finite"
        raise ValueError(f"{owner}.{name} must be {rule}, got {value!r}")


def _noise_layout(drive, key, *leaves):
    """``leaves`` as arrays shaped to broadcast against the drive's per-step values, and the shape
    ``(*batch[, n_nodes])`` of one step's noise (a trailing node axis when ``drive.n_nodes``)."""
    if key is None:
        raise ValueError(f"{type(drive).__name__} needs a jax.random key: pass key= to simulate")
    leaves = tuple(jnp.asarray(x) for x in leaves)
    if drive.n_nodes is None:
        return leaves, jnp.broadcast_shapes(*(x.shape for x in leaves))
    leaves = tuple(x[..., None] for x in leaves)
    return leaves, jnp.broadcast_shapes(*(x.shape for x in leaves))[:-1] + (drive.n_nodes,)


def _check_n_nodes(owner: str, n_nodes) -> None:
    if n_nodes is not None and not (isinstance(n_nodes, int) and n_nodes >= 1):
        raise ValueError(f"{owner}.n_nodes must be None or an int >= 1, got {n_nodes!r}")


@pytree_dataclass
class WhiteNoiseDrive:
    """Drive ``p(t) = mean_hz + sigma_hz_sqrt_s * xi(t)`` with ``xi`` Gaussian white noise of unit
    intensity (``<xi(t) xi(t')> = delta(t - t')``): an intensity per unit time, not per step.

    Attributes:
        mean_hz: mean drive, Hz (JR95: 220, the middle of U(120, 320)).
        sigma_hz_sqrt_s: noise intensity, Hz s^0.5 (= Hz/sqrt(Hz)); ``sigma^2`` is the drive's
            two-sided spectral density in Hz^2/Hz, whatever the step. Default 0.577: JR95's
            U(120, 320) drawn every step of 0.1 ms (:func:`uniform_intensity`).
        n_nodes: ``None`` for a column; an int for independent noise per node of a network
            (values on a trailing node axis, static).

    Over a step of ``dt`` the drive's integral is ``mean * dt + sigma * dW`` with
    ``dW ~ N(0, dt)``: the value held over the step is ``mean + sigma * z / sqrt(dt)``,
    ``z ~ N(0, 1)``. Since the drive enters the model's vector field additively, simulate's
    ``euler`` is then Euler-Maruyama and ``heun`` the stochastic Heun scheme for additive noise
    (predictor and corrector see the same increment ``dW``); both converge strongly at order 1
    (``rk4`` adds no stochastic order). Differentiable in both fields for a fixed key.

    JR95 equivalence: U(low, high) drawn every step of ``dt`` has the intensity
    ``sigma_eff^2 = (high - low)^2 / 12 * dt`` (Hz^2 s): :meth:`from_uniform` with
    ``hold_ms=dt``. The per-step drive is that intensity at that step only.
    """

    mean_hz: float = 220.0
    sigma_hz_sqrt_s: float = uniform_intensity(JR95_LOW_HZ, JR95_HIGH_HZ, 0.1)
    n_nodes: int | None = static_field(None)

    units = {"mean_hz": "Hz", "sigma_hz_sqrt_s": "Hz s^0.5"}
    needs_key = True

    def __post_init__(self):
        _check_n_nodes("WhiteNoiseDrive", self.n_nodes)

    @classmethod
    def from_uniform(cls, low_hz: float = JR95_LOW_HZ, high_hz: float = JR95_HIGH_HZ, *,
                     hold_ms: float, n_nodes: int | None = None) -> WhiteNoiseDrive:
        """The white drive with the mean and the low-frequency intensity of U(low_hz, high_hz)
        redrawn every ``hold_ms`` (the per-step JR95 drive at ``dt_ms = hold_ms``)."""
        return cls(mean_hz=0.5 * (low_hz + high_hz),
                   sigma_hz_sqrt_s=uniform_intensity(low_hz, high_hz, hold_ms), n_nodes=n_nodes)

    def check(self, dt_ms: float) -> None:
        """Raise ``ValueError`` naming a NaN/infinite mean or a negative/NaN intensity."""
        del dt_ms
        _check_finite("WhiteNoiseDrive", "mean_hz", self.mean_hz)
        _check_finite("WhiteNoiseDrive", "sigma_hz_sqrt_s", self.sigma_hz_sqrt_s,
                      nonnegative=True)

    def per_step(self, key, n_steps: int, dt_ms: float) -> jax.Array:
        """Drive value per step, shape ``(n_steps, *batch[, n_nodes])``."""
        self.check(dt_ms)
        return _white(self, key, self.mean_hz, self.sigma_hz_sqrt_s, n_steps, dt_ms)


def _white(drive, key, mean, sigma, n_steps: int, dt_ms: float) -> jax.Array:
    """``mean + sigma * xi`` held over each step: ``mean + sigma * z / sqrt(dt)`` (dt in s)."""
    (mean, sigma), shape = _noise_layout(drive, key, mean, sigma)
    z = jax.random.normal(key, (n_steps,) + shape, dtype=jnp.result_type(float))
    return mean + sigma / math.sqrt(dt_ms * 1e-3) * z


@pytree_dataclass
class WhiteNoiseInput:
    """White-noise input ``mean + sigma * xi(t)`` of a model whose drive is not a rate in Hz
    (Wilson-Cowan: dimensionless; Wong-Wang: nA; Stuart-Landau: 1/s): :class:`WhiteNoiseDrive`
    in the model's ``drive_units`` (same scheme, same intensity-per-unit-time convention).

    Attributes:
        mean: mean input, in ``unit``.
        sigma: noise intensity, in ``unit`` s^0.5 (``sigma^2``: the two-sided spectral density).
        unit: the model's ``drive_units`` (static; ``check()`` holds it to the model's).
        n_nodes: ``None`` for a single node; an int for independent noise per node (static).
    """

    mean: float = 0.0
    sigma: float = 0.0
    unit: str = static_field("1")
    n_nodes: int | None = static_field(None)

    needs_key = True

    def __post_init__(self):
        _check_n_nodes("WhiteNoiseInput", self.n_nodes)

    @property
    def units(self) -> dict[str, str]:
        return {"mean": self.unit, "sigma": f"{self.unit} s^0.5"}

    def check(self, dt_ms: float) -> None:
        """Raise ``ValueError`` naming a NaN/infinite mean or a negative/NaN intensity."""
        del dt_ms
        _check_finite("WhiteNoiseInput", "mean", self.mean)
        _check_finite("WhiteNoiseInput", "sigma", self.sigma, nonnegative=True)

    def per_step(self, key, n_steps: int, dt_ms: float) -> jax.Array:
        """Input value per step, shape ``(n_steps, *batch[, n_nodes])``."""
        self.check(dt_ms)
        return _white(self, key, self.mean, self.sigma, n_steps, dt_ms)


def _ou_step_coefficients(h: float) -> tuple[float, float, float, float, float]:
    """For a unit-variance OU process and a step of ``h`` correlation times: ``(r, b_state, c0,
    b1, b2)`` with ``u' = r u + b_state z1`` (the state one step on) and the mean over the step
    ``c0 u + b1 z1 + b2 z2`` (``z1, z2 ~ N(0, 1)``), exact for any ``h``."""
    one_minus_r, one_minus_r2 = -math.expm1(-h), -math.expm1(-2.0 * h)
    # g = h - 2 (1 - r) + (1 - r^2) / 2, by its series: the closed form cancels for small h
    g = sum((-1) ** k * (2.0 - 2.0 ** (k - 1)) * h ** k / math.factorial(k) for k in range(3, 40))
    b_state = math.sqrt(one_minus_r2)
    b1 = one_minus_r ** 2 / h / b_state  # Cov(step mean, state noise) / sd(state noise)
    return 1.0 - one_minus_r, b_state, one_minus_r / h, b1, math.sqrt(2.0 * g / h ** 2 - b1 ** 2)


@pytree_dataclass
class OUNoiseDrive:
    """Drive ``p(t) = mean_hz + x(t)`` with ``x`` an Ornstein-Uhlenbeck process of stationary
    standard deviation ``sd_hz`` and correlation time ``tau_ms`` (autocorrelation
    ``sd^2 exp(-|t| / tau)``): coloured noise with a fixed correlation time, whatever the step.

    Attributes:
        tau_ms: correlation time, ms (static, required; must be >= the step ``dt_ms``).
        mean_hz: mean drive, Hz (JR95: 220).
        sd_hz: stationary standard deviation of the drive, Hz (JR95's U(120, 320): 57.7).
        n_nodes: ``None`` for a column; an int for independent noise per node (static).

    The value held over a step is the exact mean of ``p`` over that step (the OU state and its
    integral drawn jointly, started from the stationary law), so the drive has the same law at
    every step <= ``tau_ms``. Below ``1 / (2 pi tau)`` its spectrum is that of white noise of
    intensity ``sigma_eff^2 = 2 sd^2 tau`` (Hz^2 s); above, it falls as ``1/f^2``. With
    ``from_uniform`` (mean and variance of U(120, 320)) it is JR95's drive held for a stated
    correlation time; U(120, 320) drawn every step of ``dt`` has the low-frequency intensity of
    ``tau = dt / 2``. Differentiable in ``mean_hz`` and ``sd_hz`` for a fixed key.
    """

    tau_ms: float = dataclasses.field(metadata={"static": True})
    mean_hz: float = 220.0
    sd_hz: float = (JR95_HIGH_HZ - JR95_LOW_HZ) / math.sqrt(12.0)
    n_nodes: int | None = static_field(None)

    units = {"mean_hz": "Hz", "sd_hz": "Hz"}
    needs_key = True

    def __post_init__(self):
        try:
            valid = 0.0 < float(self.tau_ms) < math.inf
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise ValueError(f"OUNoiseDrive.tau_ms must be a finite number > 0, got "
                             f"{self.tau_ms!r}")
        _check_n_nodes("OUNoiseDrive", self.n_nodes)

    @classmethod
    def from_uniform(cls, low_hz: float = JR95_LOW_HZ, high_hz: float = JR95_HIGH_HZ, *,
                     tau_ms: float, n_nodes: int | None = None) -> OUNoiseDrive:
        """The OU drive with the mean and variance of U(low_hz, high_hz) and correlation time
        ``tau_ms``."""
        return cls(tau_ms=tau_ms, mean_hz=0.5 * (low_hz + high_hz),
                   sd_hz=(high_hz - low_hz) / math.sqrt(12.0), n_nodes=n_nodes)

    def check(self, dt_ms: float) -> None:
        """Raise ``ValueError`` naming a correlation time shorter than the step, a NaN/infinite
        mean or a negative/NaN standard deviation."""
        if not self.tau_ms >= dt_ms:
            raise ValueError(f"OUNoiseDrive.tau_ms ({self.tau_ms!r} ms) must be >= the step "
                             f"dt_ms ({dt_ms!r} ms): a shorter correlation time is not resolved")
        _check_finite("OUNoiseDrive", "mean_hz", self.mean_hz)
        _check_finite("OUNoiseDrive", "sd_hz", self.sd_hz, nonnegative=True)

    def per_step(self, key, n_steps: int, dt_ms: float) -> jax.Array:
        """Drive value per step (its mean over the step), shape ``(n_steps, *batch[, n_nodes])``."""
        self.check(dt_ms)
        (mean, sd), shape = _noise_layout(self, key, self.mean_hz, self.sd_hz)
        r, b_state, c0, b1, b2 = _ou_step_coefficients(dt_ms / self.tau_ms)
        k_start, k_steps = jax.random.split(key)
        dtype = jnp.result_type(float)
        z = jax.random.normal(k_steps, (2, n_steps) + shape, dtype=dtype)
        start = jax.random.normal(k_start, shape, dtype=dtype)  # the stationary law

        def advance(u, shock):
            u = r * u + shock
            return u, u
        _, later = jax.lax.scan(advance, start, b_state * z[0, :-1])
        u = jnp.concatenate([start[None], later])  # the unit OU state at each step's start
        return mean + sd * (c0 * u + b1 * z[0] + b2 * z[1])
