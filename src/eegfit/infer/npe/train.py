"""Training an NPE (:mod:`eegfit.infer.npe`): prior simulations on the batched path with the
likelihood's noise, the scaling of the flow's space and condition, and one compiled training loop.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from eegfit.infer.grid import in_chunks
from eegfit.infer.npe.estimator import Estimator, Scaling, build_flow, split, structure
from eegfit.infer.npe.settings import Noise, Settings
from eegfit.infer.problem import Problem

log = logging.getLogger("eegfit.infer")



def simulate_prior(problem: Problem, noise: Noise, n: int, seed: int, max_batch: int = 2048):
    """``n`` draws ``(theta, y)`` of the prior predictive: parameters ``(n, P)`` from the priors,
    features ``(n, K)`` simulated on the batched path with the likelihood's noise; simulations
    whose features are not finite dropped. With ``noise.drive_noise`` the features are called
    with a key of their own per chunk (folded from ``seed``) instead of the problem's context,
    and must draw independent noise for each simulation of the batch."""
    key = jax.random.key(int(seed))
    theta = np.stack([np.asarray(problem.priors[name].sample(jax.random.fold_in(key, i), n),
                                 float) for i, name in enumerate(problem.names)], axis=-1)
    names = problem.feature_names
    chunk = itertools.count()

    def features(values):
        context = (jax.random.fold_in(jax.random.fold_in(key, 2_000_003), next(chunk))
                   if noise.drive_noise else problem.context)
        out = problem.features(values, context)
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
          units: dict | None = None, conditions: dict | None = None,
          max_batch: int = 2048) -> Estimator:
    """Train an NPE for ``problem``'s parameters, priors and features (its observed values and
    scale are not used: the noise is ``noise``'s, default ``rel_sd`` 0.01); see the module
    docstring. Settings are checked before any simulation (``ValueError`` naming them).
    ``conditions``: what else the estimator is trained for (e.g. a recording's band and
    segment), kept in its sidecar and checked on reload; ``max_batch``: simulations per call."""
    noise = Noise() if noise is None else noise
    settings = Settings() if settings is None else settings
    names, feature_names = tuple(problem.names), tuple(problem.feature_names)
    if noise.sd is not None:
        noise.scale(np.zeros((1, len(feature_names))), feature_names)  # every feature has an sd
    t0 = time.perf_counter()
    theta, y = simulate_prior(problem, noise, settings.n_simulations, settings.seed, max_batch)
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
                     report=report, conditions=dict(conditions or {}))


def focus(estimator: Estimator, problem: Problem, observed, settings: Settings | None = None, *,
          draws: int = 20000, tail: float = 1e-3, widen: float = 0.5, max_batch: int = 2048,
          seed: int = 0, rounds: int = 1) -> tuple[Estimator, dict]:
    """A sequential round for one target (truncated sequential NPE, Deistler et al. 2022): the
    prior truncated to the region where ``estimator``'s posterior for ``observed`` lies (per
    parameter, the central ``1 - 2 tail`` of ``draws`` draws widened by ``widen`` of its width
    on each side, within the box), and a new estimator trained on it (``settings``, default the first
    round's). Inside the region the truncated prior is the prior up to a constant, so the new
    flow estimates the same posterior wherever the first round put its mass, on a box that is
    that mass's size: a narrow posterior is no longer a sliver of the flow's space.

    ``rounds`` > 1 repeats it, each round on the region of the one before (a posterior much
    narrower than the first round's width needs two).

    Returns the new estimator and the region (name -> (low, high)); ``ValueError`` for a
    ``widen`` that is not >= 0, a ``tail`` outside [0, 0.5) or fewer than 2 draws."""
    if not (isinstance(tail, (int, float)) and 0 <= tail < 0.5):
        raise ValueError(f"NPE focus: tail must lie in [0, 0.5), got {tail!r}")
    if not (isinstance(widen, (int, float)) and np.isfinite(widen) and widen >= 0):
        raise ValueError(f"NPE focus: widen must be a finite number >= 0, got {widen!r}")
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 2:
        raise ValueError(f"NPE focus: draws must be an integer >= 2, got {draws!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 1:
        raise ValueError(f"NPE focus: rounds must be an integer >= 1, got {rounds!r}")
    if rounds > 1:
        estimator, _ = focus(estimator, problem, observed, settings, draws=draws, tail=tail,
                             widen=widen, max_batch=max_batch, seed=seed, rounds=rounds - 1)
    x = estimator.sample(observed, int(draws), seed)
    region, priors = {}, {}
    for name in problem.names:
        lo, hi = (float(q) for q in np.quantile(x[name], [tail, 1 - tail]))
        pad = widen * (hi - lo)
        low, high = problem.priors[name].support
        region[name] = (max(low, lo - pad), min(high, hi + pad))
        if not region[name][0] < region[name][1]:
            raise FloatingPointError(f"NPE focus: the first round's draws of {name!r} are all "
                                     f"{lo!r}; nothing to focus on")
        priors[name] = dataclasses.replace(problem.priors[name], low=region[name][0],
                                           high=region[name][1])
    from eegfit.infer.problem import problem as make_problem  # noqa: PLC0415

    focused = make_problem(problem.features, dict(problem.observed), dict(problem.scale), region,
                           priors, context=problem.context, units=problem.units,
                           feature_units=problem.feature_units)
    est = train(focused, estimator.noise, settings or estimator.settings, units=estimator.units,
                conditions=estimator.conditions, max_batch=max_batch)
    return est, region


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


__all__ = ["describe_priors", "focus", "simulate_prior", "train"]
