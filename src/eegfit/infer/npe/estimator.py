"""The NPE's estimator: a conditional normalizing flow ``q(theta | y)`` trained once on
simulations from the prior, then a posterior for any target in milliseconds.

Training (:func:`eegfit.infer.npe.train.train`): ``n_simulations`` parameter sets drawn from the
problem's priors, their features simulated on the batched simulation path
(:func:`eegfit.infer.grid.in_chunks`: one call per chunk of 2,048), the likelihood's noise added (``y = f(theta) + s(f) eps``, ``s`` from
:class:`Noise`: ``rel_sd |f|``, the default scale of :func:`~eegfit.infer.relative_scale` taken
at the simulated feature, or a fixed ``sd`` per feature); simulations whose features are not
finite are dropped (the likelihood is 0 there). The flow lives on the unbounded space of the
posterior module's logistic transform (:class:`~eegfit.infer.priors.Box`), standardised; its
condition is the feature vector, standardised (logarithm first for a feature positive on every
simulation, so a relative noise has one width everywhere). The flow: ``flow_layers`` masked
autoregressive layers with rational-quadratic spline transformers (shape, several modes),
then one conditional affine layer (location and width, however narrow); Adam with a cosine
decay over ``steps`` minibatches of ``batch_size``, the whole loop one compiled ``lax.scan``.
Everything is seeded by ``seed``: a rerun trains the same flow.

Sampling (:meth:`Estimator.sample`) and densities (:meth:`Estimator.log_prob`) are compiled once
per flow shape (the weights and the observed features are arguments), so a new target, a
reloaded or a retrained estimator compiles nothing.
:mod:`eegfit.infer.npe.io` saves and reloads an estimator; :mod:`eegfit.infer.sbc` calibrates it.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from eegfit.infer.npe.settings import Noise, Settings


class Scaling(eqx.Module):
    """Standardisation of the flow's space (``z``) and of its condition (features, logged where
    ``y_log`` is 1)."""

    z_mean: jax.Array
    z_sd: jax.Array
    y_mean: jax.Array
    y_sd: jax.Array
    y_log: jax.Array

    def condition(self, y):
        y = jnp.where(self.y_log > 0, jnp.log(jnp.where(self.y_log > 0, y, 1.0)), y)
        return (y - self.y_mean) / self.y_sd


def build_flow(key, n_params: int, n_features: int, settings: Settings):
    """The conditional flow's structure (also the skeleton a saved estimator is read into)."""
    from flowjax.bijections import Affine, Chain, RationalQuadraticSpline  # noqa: PLC0415
    from flowjax.distributions import Normal, Transformed  # noqa: PLC0415
    from flowjax.flows import masked_autoregressive_flow  # noqa: PLC0415

    base = Normal(jnp.zeros(n_params))
    k1, k2 = jax.random.split(key)
    shape = masked_autoregressive_flow(
        k1, base_dist=base, cond_dim=n_features, flow_layers=settings.flow_layers,
        nn_width=settings.nn_width, transformer=RationalQuadraticSpline(
            knots=settings.knots, interval=4.0))
    place = masked_autoregressive_flow(k2, base_dist=base, cond_dim=n_features, flow_layers=1,
                                       nn_width=settings.nn_width, transformer=Affine())
    return Transformed(base, Chain([shape.bijection, place.bijection]))


@dataclasses.dataclass(frozen=True)
class Estimator:
    """A trained NPE: the flow and its scaling, and what it was trained for (``names``,
    ``boxes``, ``priors`` described as dicts, ``feature_names``, ``noise``, ``settings``,
    ``conditions``)."""

    flow: object
    scaling: Scaling
    names: tuple[str, ...]
    boxes: dict
    priors: dict
    feature_names: tuple[str, ...]
    noise: Noise
    settings: Settings
    units: dict = dataclasses.field(default_factory=dict)
    report: dict = dataclasses.field(default_factory=dict)
    conditions: dict = dataclasses.field(default_factory=dict)
    """What else it was trained for (flat; e.g. a recording's band, segment and length)."""

    def condition_of(self, observed) -> jax.Array:
        """The observed features as a float vector in ``feature_names`` order, checked: a mapping
        must name exactly the trained features, a vector must have their number, and every
        value must be finite (a ``ValueError`` naming the culprit otherwise)."""
        names = self.feature_names
        if isinstance(observed, dict):
            if set(observed) != set(names):
                raise ValueError(f"NPE observed features {sorted(observed)} do not match the "
                                 f"trained features {list(names)}")
            observed = [np.asarray(observed[k], float) for k in names]
        y = np.asarray(observed, float)
        if y.shape[-1:] != (len(names),):
            raise ValueError(f"NPE observed feature vector has length "
                             f"{y.shape[-1] if y.ndim else 0}, the "
                             f"estimator was trained on {len(names)} features {list(names)}")
        bad = [names[i] for i in range(len(names)) if not np.all(np.isfinite(y[..., i]))]
        if bad:
            raise ValueError(f"NPE observed feature(s) {bad} are not finite")
        logged = np.asarray(self.scaling.y_log) > 0
        bad = [names[i] for i in range(len(names)) if logged[i] and np.any(y[..., i] <= 0)]
        if bad:
            raise ValueError(f"NPE observed feature(s) {bad} are <= 0: every training simulation "
                             f"had them > 0 (the flow reads their logarithm)")
        return jnp.asarray(y, jnp.result_type(float))

    def sample(self, observed, n: int, seed: int = 0) -> dict[str, np.ndarray]:
        """``n`` draws of ``q(theta | observed)``, name -> ``(n, *batch)`` in parameter units
        (``observed``: a mapping, a vector, or a batch of vectors ``(..., K)``)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"NPE draws must be an integer >= 1, got {n!r}")
        y = self.condition_of(observed)
        params, others, _ = split(self.flow)
        x = _programs(self.shape)[0](params, others, self.scaling, self._lows(), self._widths(),
                                     y, jax.random.key(int(seed)), int(n))
        return {name: np.asarray(x[..., j]) for j, name in enumerate(self.names)}

    def log_prob(self, values: dict, observed) -> np.ndarray:
        """``log q(theta | observed)`` in the parameters' own units (draws broadcast)."""
        y = self.condition_of(observed)
        x = jnp.stack([jnp.asarray(values[n], jnp.result_type(float)) for n in self.names], -1)
        params, others, _ = split(self.flow)
        return np.asarray(_programs(self.shape)[1](params, others, self.scaling, self._lows(),
                                                   self._widths(), x, y))

    @property
    def shape(self) -> tuple:
        """The flow's sizes: the arguments of :func:`structure`."""
        s = self.settings
        return (len(self.names), len(self.feature_names), s.flow_layers, s.nn_width, s.knots)

    def _lows(self):
        return jnp.asarray([self.boxes[n][0] for n in self.names], jnp.result_type(float))

    def _widths(self):
        return jnp.asarray([self.boxes[n][1] - self.boxes[n][0] for n in self.names],
                           jnp.result_type(float))


@dataclasses.dataclass(frozen=True)
class NpeResult:
    """Draws of an NPE for one target: name -> ``(chains, draws)`` in parameter units, ``lp``
    (``log q(theta | y)`` of each draw, parameter units) and the time they took."""

    names: tuple[str, ...]
    draws: dict
    lp: np.ndarray
    wall_time_s: float


def posterior_draws(estimator: Estimator, observed, n: int = 1000, seed: int = 0) -> NpeResult:
    """``n`` draws for one target, as 4 chains of independent draws where ``n`` divides by 4
    (the shape of a grid posterior's draws), else one."""
    t0 = time.perf_counter()
    x = estimator.sample(observed, n, seed)
    lp = estimator.log_prob(x, observed)
    chains = 4 if n % 4 == 0 else 1
    return NpeResult(estimator.names, {k: v.reshape(chains, -1) for k, v in x.items()},
                     lp.reshape(chains, -1), time.perf_counter() - t0)


def split(flow) -> tuple:
    """A flow as ``(params, others, static)``: its float arrays (the weights), its other arrays
    (e.g. a permutation's indices) and the rest (functions, sizes), which is the same for every
    flow of one :func:`structure`."""
    arrays, static = eqx.partition(flow, eqx.is_array)
    params, others = eqx.partition(arrays, eqx.is_inexact_array)
    return params, others, static


@functools.lru_cache(maxsize=16)
def structure(n_params: int, n_features: int, flow_layers: int, nn_width: int, knots: int):
    """The non-array part of every flow of these sizes: compiled programs close over it and take
    the arrays as arguments, so every estimator of one shape (trained, reloaded) shares them."""
    settings = Settings(flow_layers=flow_layers, nn_width=nn_width, knots=knots)
    return split(build_flow(jax.random.key(0), n_params, n_features, settings))[2]


@functools.lru_cache(maxsize=16)
def _programs(shape: tuple):
    """The compiled sampler and log density of flows of ``shape`` (:func:`structure`'s
    arguments); the draws' number ``n`` is static, the target an argument."""
    static = structure(*shape)

    def sample(params, others, scaling, lows, widths, y, key, n):
        flow = eqx.combine(params, others, static)
        u = flow.sample(key, (n,), condition=scaling.condition(y))
        return lows + widths * jax.nn.sigmoid(scaling.z_mean + scaling.z_sd * u)

    def log_prob(params, others, scaling, lows, widths, x, y):
        flow = eqx.combine(params, others, static)
        frac = (x - lows) / widths
        z = jnp.log(frac) - jnp.log1p(-frac)
        u = (z - scaling.z_mean) / scaling.z_sd
        log_jac = jnp.log(widths) - jax.nn.softplus(z) - jax.nn.softplus(-z)  # log |dx/dz|
        logq = flow.log_prob(u, condition=scaling.condition(y))
        return logq - jnp.sum(jnp.log(scaling.z_sd) + log_jac, axis=-1)

    return jax.jit(sample, static_argnums=7), jax.jit(log_prob)


__all__ = ["Estimator", "Noise", "NpeResult", "Scaling", "Settings", "build_flow", "posterior_draws",
           "split", "structure"]
