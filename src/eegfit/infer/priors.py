"""Priors on a parameter's box, and the transform that lets a sampler move without bounds.

Every inferred parameter has a box ``(low, high)`` (its :class:`~eegfit.fit.Param` bounds or the
experiment's ``bounds``). A prior is a density on that box: :class:`Uniform` (the default: the
whole box), :class:`TruncatedNormal`, or any object with the same three members
(:class:`Prior`): ``support`` (inside the box), ``log_prob(x)`` (traceable) and ``sample(key,
n)``.

The transform (:class:`Box`): NUTS moves in an unconstrained ``z`` and the parameter is

    x = low + (high - low) * sigmoid(z),      log |dx/dz| = log(high - low) - softplus(z) - softplus(-z)

so the density sampled in ``z`` is ``p(x(z) | data) * |dx/dz|`` (the log-Jacobian added to the log
posterior). A uniform prior on the box becomes the logistic density in ``z``; the box's edges lie
at ``z = -inf, +inf``, where no sampler can land.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Protocol

import jax
import jax.numpy as jnp


class Prior(Protocol):
    """What a prior supplies: its support (inside the parameter's box), a traceable log density
    (normalised on the support) and draws."""

    support: tuple[float, float]

    def log_prob(self, x): ...

    def sample(self, key, n: int): ...


def _finite_pair(low, high, what: str) -> tuple[float, float]:
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be two numbers (low, high), got {low!r}, {high!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{what} must be finite, got ({low!r}, {high!r})")
    if not low < high:
        raise ValueError(f"{what} is empty: low ({low:g}) must be < high ({high:g})")
    return low, high


@dataclasses.dataclass(frozen=True)
class Uniform:
    """Uniform on ``[low, high]``."""

    low: float
    high: float

    def __post_init__(self):
        _finite_pair(self.low, self.high, "Uniform prior (low, high)")

    @property
    def support(self) -> tuple[float, float]:
        return (float(self.low), float(self.high))

    def log_prob(self, x):
        inside = (x >= self.low) & (x <= self.high)
        return jnp.where(inside, -math.log(self.high - self.low), -jnp.inf)

    def sample(self, key, n: int):
        return jax.random.uniform(key, (n,), minval=self.low, maxval=self.high)


@dataclasses.dataclass(frozen=True)
class TruncatedNormal:
    """A normal density (``mean``, ``sd``, in the parameter's units) truncated to
    ``[low, high]`` (by default the parameter's box: :func:`prior_on_box` fills them in)."""

    mean: float
    sd: float
    low: float | None = None
    high: float | None = None

    def __post_init__(self):
        if not (math.isfinite(float(self.mean)) and math.isfinite(float(self.sd))):
            raise ValueError(f"TruncatedNormal prior: mean and sd must be finite, got "
                             f"{self.mean!r}, {self.sd!r}")
        if not self.sd > 0:
            raise ValueError(f"TruncatedNormal prior: sd must be > 0, got {self.sd!r}")
        if self.low is not None or self.high is not None:
            _finite_pair(self.low, self.high, "TruncatedNormal prior (low, high)")

    @property
    def support(self) -> tuple[float, float]:
        return (float(self.low), float(self.high))

    def _cdf_ends(self):
        a = (self.low - self.mean) / self.sd
        b = (self.high - self.mean) / self.sd
        return jax.scipy.stats.norm.cdf(a), jax.scipy.stats.norm.cdf(b)

    def log_prob(self, x):
        ca, cb = self._cdf_ends()
        z = (x - self.mean) / self.sd
        logp = jax.scipy.stats.norm.logpdf(z) - jnp.log(self.sd) - jnp.log(cb - ca)
        return jnp.where((x >= self.low) & (x <= self.high), logp, -jnp.inf)

    def sample(self, key, n: int):
        ca, cb = self._cdf_ends()
        u = jax.random.uniform(key, (n,), minval=ca, maxval=cb)
        return jnp.clip(self.mean + self.sd * jax.scipy.special.ndtri(u), self.low, self.high)


def prior_on_box(name: str, box: tuple[float, float], prior=None):
    """The prior of parameter ``name`` on its ``box``: uniform on the box when ``prior`` is None;
    a :class:`TruncatedNormal` without ends gets the box's. Checked: the prior's support must be
    a non-empty part of the box (a ``ValueError`` naming the parameter otherwise)."""
    low, high = _finite_pair(*box, f"box of {name!r}")
    if prior is None:
        return Uniform(low, high)
    if isinstance(prior, TruncatedNormal) and prior.low is None and prior.high is None:
        prior = dataclasses.replace(prior, low=low, high=high)
    for member in ("support", "log_prob", "sample"):
        if not hasattr(prior, member):
            raise ValueError(f"prior of {name!r} has no {member!r}: a prior needs support, "
                             f"log_prob(x) and sample(key, n)")
    a, b = _finite_pair(*prior.support, f"support of the prior of {name!r}")
    if a < low or b > high:
        raise ValueError(f"prior of {name!r} lies outside its bounds: support [{a:g}, {b:g}] is "
                         f"not inside the box [{low:g}, {high:g}]")
    return prior


@dataclasses.dataclass(frozen=True)
class Box:
    """The logistic transform of one bounded parameter (see the module docstring)."""

    low: float
    high: float

    def to_x(self, z):
        return self.low + (self.high - self.low) * jax.nn.sigmoid(z)

    def to_z(self, x):
        u = (jnp.asarray(x) - self.low) / (self.high - self.low)
        return jnp.log(u) - jnp.log1p(-u)

    def log_jacobian(self, z):
        """``log |dx/dz|`` at ``z``."""
        return math.log(self.high - self.low) - jax.nn.softplus(z) - jax.nn.softplus(-z)


__all__ = ["Box", "Prior", "TruncatedNormal", "Uniform", "prior_on_box"]
