"""Training an NPE (:mod:`eegfit.infer.npe`): prior simulations on the batched path with the
likelihood's noise, the scaling of the flow's space and condition, and one compiled training loop.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from eegfit.infer.grid import in_chunks
from eegfit.infer.npe import Estimator, Noise, Scaling, Settings, build_flow, split, structure
from eegfit.infer.problem import Problem

log = logging.getLogger("eegfit.infer")



def simulate_prior(problem: Problem, noise: Noise, n: int, seed: int, max_batch: int = 2048):
    """``n`` draws ``(theta, y)`` of the prior predictive: parameters ``(n, P)`` from the priors,
    features ``(n, K)`` simulated on the batched path with the likelihood's noise; simulations
    whose features are not finite dropped."""
    key = jax.random.key(int(seed))
    theta = np.stack([np.asarray(problem.priors[name].sample(jax.random.fold_in(key, i), n),
                                 float) for i, name in enumerate(problem.names)], axis=-1)
    names = problem.feature_names

    def features(values):
        out = problem.features(values, problem.context)
        return jnp.stack([jnp.broadcast_to(out[k], values[problem.names[0]].shape)
                          for k in names], axis=-1)

    f = in_chunks(problem, theta, features, max_batch).reshape(n, len(names))
    ok = np.all(np.isfinite(f), axis=1)
    if not ok.all():
        log.warning("NPE: %d of %d prior simulations have non-finite features; dropped",
                    int((~ok).sum()), n)
    theta, f = theta[ok], f[ok]
    eps = np.asarray(jax.random.normal(jax.random.fold_in(key, 1_000_003), f.shape))
    return theta, f + noise.scale(f, names) * eps


def _scaling(problem: Problem, theta: np.ndarray, y: np.ndarray) -> Scaling:
    boxes = [problem.boxes[n] for n in problem.names]
    frac = np.stack([(theta[:, j] - lo) / (hi - lo) for j, (lo, hi) in enumerate(boxes)], -1)
    frac = np.clip(frac, 1e-12, 1 - 1e-12)
    z = np.log(frac) - np.log1p(-frac)
    y_log = np.all(y > 0, axis=0)
    yt = np.where(y_log, np.log(np.where(y_log, y, 1.0)), y)
    dtype = jnp.result_type(float)
    sd = lambda a: np.where(a.std(0) > 0, a.std(0), 1.0)  # noqa: E731
    return Scaling(jnp.asarray(z.mean(0), dtype), jnp.asarray(sd(z), dtype),
                   jnp.asarray(yt.mean(0), dtype), jnp.asarray(sd(yt), dtype),
                   jnp.asarray(y_log.astype(float), dtype)), z


@functools.lru_cache(maxsize=16)
def _trainer(shape: tuple, steps: int, batch_size: int, learning_rate: float):
    """The compiled training loop of flows of ``shape`` (:func:`~eegfit.infer.npe.structure`):
    Adam with cosine decay on minibatches of ``(u, cond)``; ``fit(params, others, u, cond, key)
    -> (params, losses)``. Cached, so a retraining of the same shape compiles nothing."""
    static = structure(*shape)
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))

    def fit(params, others, u, cond, key):
        def loss(p, ub, cb):  # frozen leaves (paramax.NonTrainable) get zero gradients
            return -jnp.mean(eqx.combine(p, others, static).log_prob(ub, condition=cb))

        def step(carry, k):
            p, state = carry
            idx = jax.random.randint(k, (batch_size,), 0, u.shape[0])
            value, grads = jax.value_and_grad(loss)(p, u[idx], cond[idx])
            updates, state = optimizer.update(grads, state, p)
            return (optax.apply_updates(p, updates), state), value

        (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)),
                                           jax.random.split(key, steps))
        return params, losses

    return jax.jit(fit)


def train(problem: Problem, noise: Noise | None = None, settings: Settings | None = None, *,
          units: dict | None = None) -> Estimator:
    """Train an NPE for ``problem``'s parameters, priors and features (its observed values and
    scale are not used: the noise is ``noise``'s, default ``rel_sd`` 0.01); see the module
    docstring. Settings are checked before any simulation (``ValueError`` naming them)."""
    noise = Noise() if noise is None else noise
    settings = Settings() if settings is None else settings
    names, feature_names = tuple(problem.names), tuple(problem.feature_names)
    if noise.sd is not None:
        noise.scale(np.zeros((1, len(feature_names))), feature_names)  # every feature has an sd
    t0 = time.perf_counter()
    theta, y = simulate_prior(problem, noise, settings.n_simulations, settings.seed)
    if len(theta) < 2:
        raise FloatingPointError(f"NPE: only {len(theta)} of {settings.n_simulations} prior "
                                 f"simulations have finite features; nothing to train on")
    t_sim = time.perf_counter() - t0
    scaling, z = _scaling(problem, theta, y)
    u = (jnp.asarray(z, scaling.z_mean.dtype) - scaling.z_mean) / scaling.z_sd
    cond = scaling.condition(jnp.asarray(y, scaling.y_mean.dtype))
    key = jax.random.key(int(settings.seed))
    shape = (len(names), len(feature_names), settings.flow_layers, settings.nn_width,
             settings.knots)
    params, others, _ = split(build_flow(jax.random.fold_in(key, 1), len(names),
                                         len(feature_names), settings))
    fit = _trainer(shape, settings.steps, settings.batch_size, float(settings.learning_rate))
    params, losses = fit(params, others, u, cond, jax.random.fold_in(key, 2))
    flow = eqx.combine(params, others, structure(*shape))
    losses = np.asarray(losses)
    tail = losses[-max(1, len(losses) // 10):]
    report = {"n_simulations_used": int(len(theta)), "simulation_time_s": t_sim,
              "training_time_s": time.perf_counter() - t0 - t_sim,
              "final_loss": float(np.mean(tail))}
    log.info("NPE trained: %s", report)
    if not np.isfinite(report["final_loss"]):
        raise FloatingPointError(f"NPE training diverged (loss {report['final_loss']}): lower "
                                 f"learning_rate")
    return Estimator(flow, scaling, names, dict(problem.boxes), describe_priors(problem),
                     feature_names, noise, settings, units=dict(units or problem.units),
                     report=report)


def describe_priors(problem: Problem) -> dict:
    """Each prior as a flat dict (its class and fields): what a saved estimator is checked
    against."""
    out = {}
    for name in problem.names:
        prior = problem.priors[name]
        fields = (dataclasses.asdict(prior) if dataclasses.is_dataclass(prior)
                  else {"support": list(prior.support)})
        out[name] = {"kind": type(prior).__name__,
                     **{k: (float(v) if isinstance(v, (int, float)) else v)
                        for k, v in fields.items()}}
    return out


__all__ = ["describe_priors", "simulate_prior", "train"]
