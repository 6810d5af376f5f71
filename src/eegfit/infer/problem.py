"""An inference problem: parameters on boxes with priors, and a Gaussian likelihood on features.

The likelihood is on the very features a fit compares (the column's RMS amplitude, spectral
peak, ...): each observed feature ``y_k`` is the model's ``f_k(theta)`` plus Gaussian noise of
standard deviation ``s_k``,

    log p(y | theta) = -1/2 sum_k ((f_k(theta) - y_k) / s_k)^2 - sum_k log s_k - K/2 log(2 pi).

With ``s_k = rel_sd |y_k|`` (:func:`relative_scale`, 1 % by default) this is ``-L / (2 rel_sd^2)``
plus a constant, where ``L`` is the fits' loss (the sum of squared relative feature errors): the
posterior comes from the same objective as the point fits, and its curvature at the optimum is
the Laplace covariance of :mod:`eegfit.fit.uncertainty`. With a noisy drive, the model's features
are computed with the fit's own noise (common random numbers) and ``s_k`` is the feature's
seed-to-seed spread at the truth (:func:`spread_scale`). A simulation that diverges (non-finite
features) has likelihood 0.

:class:`Problem` is checked when built (:func:`problem`): an empty box, a NaN, a scale that is
not > 0, a prior outside its box, or a NaN observed feature is a ``ValueError`` naming it, before
any simulation runs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from eegfit.infer.priors import Box, prior_on_box

LOG_2PI = math.log(2.0 * math.pi)


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """A posterior over named parameters (see the module docstring).

    Attributes:
        names: the parameters, in order (the axis order of every array of values below).
        boxes: ``(low, high)`` per parameter, in its units.
        priors: the prior of each parameter (on its box).
        features: ``features(values, context) -> {feature: array}``: the model's features at
            ``values`` (name -> array; arrays broadcast, so a batch of parameter sets is one
            call); traceable (``jit``, ``grad``, ``vmap``).
        context: the arrays ``features`` needs besides the parameters (e.g. the fit's noise key),
            passed as an argument so that one compiled program serves every target.
        observed: the observed value of each feature the likelihood uses.
        scale: the likelihood's standard deviation of each observed feature (> 0).
        units: unit of each parameter; ``feature_units``: of each feature.
    """

    names: tuple[str, ...]
    boxes: dict
    priors: dict
    features: Callable[[dict, Any], dict]
    observed: dict
    scale: dict
    context: Any = None
    units: dict = dataclasses.field(default_factory=dict)
    feature_units: dict = dataclasses.field(default_factory=dict)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.observed)

    @property
    def transforms(self) -> dict[str, Box]:
        return {n: Box(*self.boxes[n]) for n in self.names}

    def data(self) -> tuple[jax.Array, jax.Array]:
        """(observed, scale) as float arrays in feature order: the arguments of the compiled
        log densities."""
        dtype = jnp.result_type(float)
        return (jnp.asarray([self.observed[k] for k in self.feature_names], dtype),
                jnp.asarray([self.scale[k] for k in self.feature_names], dtype))

    # ---- log densities (pure in observed, scale and context) -------------------------------------
    def log_likelihood(self, values: dict, observed=None, scale=None, context=None):
        """``log p(y | theta)`` at ``values`` (name -> array; a batch broadcasts)."""
        if observed is None:
            observed, scale = self.data()
            context = self.context
        feats = self.features(values, context)
        out = 0.0
        for i, k in enumerate(self.feature_names):
            out = out - 0.5 * ((feats[k] - observed[i]) / scale[i]) ** 2
        out = out - jnp.sum(jnp.log(scale)) - 0.5 * len(self.feature_names) * LOG_2PI
        return jnp.where(jnp.isfinite(out), out, -jnp.inf)

    def log_prior(self, values: dict):
        return sum(self.priors[n].log_prob(values[n]) for n in self.names)

    def log_posterior(self, values: dict, observed=None, scale=None, context=None):
        """Unnormalised ``log p(theta | y)`` in the parameters' own units."""
        return self.log_prior(values) + self.log_likelihood(values, observed, scale, context)

    def to_values(self, z) -> dict:
        """Parameter values of an unconstrained vector ``z`` (last axis: the parameters)."""
        return {n: t.to_x(z[..., i]) for i, (n, t) in enumerate(self.transforms.items())}

    def to_z(self, values: dict):
        return jnp.stack([t.to_z(values[n]) for n, t in self.transforms.items()], axis=-1)

    def log_density_z(self, z, observed, scale, context):
        """The density NUTS samples: the log posterior at ``x(z)`` plus ``log |dx/dz|``."""
        values = self.to_values(z)
        jac = sum(t.log_jacobian(z[..., i]) for i, t in enumerate(self.transforms.values()))
        return self.log_posterior(values, observed, scale, context) + jac


def _finite_number(value, what: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} is not finite: {value!r}")
    return value


def problem(features, observed: dict, scale: dict, bounds: dict, priors: dict | None = None, *,
            context=None, units: dict | None = None,
            feature_units: dict | None = None) -> Problem:
    """A checked :class:`Problem`.

    Args:
        features: ``features(values, context) -> {feature: array}`` (see :class:`Problem`).
        observed: observed value per feature (finite).
        scale: the likelihood's standard deviation per observed feature (finite, > 0), e.g.
            :func:`relative_scale` or :func:`spread_scale`.
        bounds: ``(low, high)`` per parameter: the box (finite, low < high).
        priors: prior per parameter (default: uniform on its box); each inside its box.

    Raises:
        ValueError: naming the parameter or feature: an empty or non-finite box, a prior outside
            its box, a non-finite observed feature, a scale that is missing, not finite or not
            > 0, no parameter or no feature.
    """
    if not bounds:
        raise ValueError("no parameter to infer: bounds must map each parameter to (low, high)")
    if not observed:
        raise ValueError("no observed feature: the likelihood needs at least one")
    priors = dict(priors or {})
    unknown = sorted(set(priors) - set(bounds))
    if unknown:
        raise ValueError(f"priors name parameters that are not inferred: {unknown}; inferred: "
                         f"{sorted(bounds)}")
    names = tuple(bounds)
    boxes, checked = {}, {}
    for n in names:
        box = bounds[n]
        if box is None or len(tuple(box)) != 2:
            raise ValueError(f"box of {n!r} must be (low, high), got {box!r}")
        lo = _finite_number(box[0], f"box of {n!r}: low")
        hi = _finite_number(box[1], f"box of {n!r}: high")
        if not lo < hi:
            raise ValueError(f"box of {n!r} is empty: low ({lo:g}) must be < high ({hi:g})")
        boxes[n] = (lo, hi)
        checked[n] = prior_on_box(n, boxes[n], priors.get(n))
    obs = {k: _finite_number(v, f"observed feature {k!r}") for k, v in observed.items()}
    missing = sorted(set(obs) - set(scale))
    if missing:
        raise ValueError(f"no scale for the observed feature(s) {missing}")
    sd = {}
    for k in obs:
        sd[k] = _finite_number(scale[k], f"scale of feature {k!r}")
        if not sd[k] > 0:
            raise ValueError(f"scale of feature {k!r} must be > 0, got {sd[k]!r}")
    return Problem(names, boxes, checked, features, obs, sd, context=context,
                   units=dict(units or {}), feature_units=dict(feature_units or {}))


def relative_scale(observed: dict, rel_sd: float = 0.01) -> dict:
    """``rel_sd * |y_k|`` per feature (``rel_sd`` where ``y_k`` is 0): the default scale."""
    rel_sd = _finite_number(rel_sd, "rel_sd")
    if not rel_sd > 0:
        raise ValueError(f"rel_sd must be > 0, got {rel_sd!r}")
    return {k: rel_sd * (abs(float(v)) or 1.0) for k, v in observed.items()}


def spread_scale(features_of_key: Callable, keys, names=None) -> dict:
    """Each feature's seed-to-seed standard deviation (``ddof=1``): ``features_of_key(key)``
    (the model at the truth with the drive noise of ``key``) for every key of ``keys``.

    Raises:
        ValueError: fewer than 2 keys, or a feature that does not vary (a constant drive has no
            seed-to-seed spread: use :func:`relative_scale`).
    """
    keys = list(keys)
    if len(keys) < 2:
        raise ValueError(f"a seed-to-seed spread needs at least 2 seeds, got {len(keys)}")
    draws = [features_of_key(k) for k in keys]
    names = list(names or draws[0])
    out = {}
    for n in names:
        values = np.asarray([float(d[n]) for d in draws])
        sd = float(np.std(values, ddof=1))
        if not (np.isfinite(sd) and sd > 0):
            raise ValueError(f"feature {n!r} has no seed-to-seed spread at the truth ({sd!r} over "
                             f"{len(keys)} seeds): use a relative scale (rel_sd) instead")
        out[n] = sd
    return out


__all__ = ["Problem", "problem", "relative_scale", "spread_scale"]
