"""The reference for the sweep: the smallest program that does the sweep's fits, batched.

No eegfit: a hand-written Jansen-Rit (JR95 constants, Euler, constant 220 Hz drive, 600 ms at
dt = 0.1 ms, the first 200 ms discarded) whose state is one ``(6, n)`` array with the batch on
the last axis, and the case study's loss ``((rms - rms*) / rms*) ** 2`` per fit.

- grad: all fits advance together in one compiled ``lax.scan`` over the 40 adam(2.0) steps
  (clipped to [110, 170]): the value-and-grad of the summed losses (each fit's loss depends on its
  own C only, so its gradient is its own), the best loss and C per fit from the recorded steps.
- DE: one seeded nevergrad optimizer per fit (DE, popsize 6, ``initialization: LHS``, budget
  6 x 8, a bounded ``ng.p.Scalar`` started at 115), all candidates of all fits of a step
  evaluated in one compiled call of the batch-last forward.
- The targets' RMS: one batched forward call at the truths.

Writes nothing. Run alone (``bench_sweep.py`` runs it in its own process)::

    python benchmarks/sweep_reference.py --truths 50 --seeds 10
"""

from __future__ import annotations

import argparse
import json
import time

T_START = time.perf_counter()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

DT_S, N_TOTAL, N_SKIP, DRIVE_HZ = 1e-4, 6000, 2000, 220.0
C_START, BOUNDS = 115.0, (110.0, 170.0)
GRAD_STEPS, LEARNING_RATE = 40, 2.0
DE_CANDIDATES, DE_STEPS, DE_POPSIZE = 6, 8, 6


def rms_batch(C):
    """RMS (mV) of the de-meaned EEG after the transient, for a batch of C ``(n,)``."""
    A, B, a, b, v0, e0, r = 3.25, 22.0, 100.0, 50.0, 6.0, 2.5, 0.56

    def S(v):
        return 2.0 * e0 / (1.0 + jnp.exp(r * (v0 - v)))

    def step(y, _):
        y0, y1, y2, y3, y4, y5 = y
        dy = jnp.stack([
            y3, y4, y5,
            A * a * S(y1 - y2) - 2.0 * a * y3 - a * a * y0,
            A * a * (DRIVE_HZ + 0.8 * C * S(C * y0)) - 2.0 * a * y4 - a * a * y1,
            B * b * 0.25 * C * S(0.25 * C * y0) - 2.0 * b * y5 - b * b * y2])
        y = y + DT_S * dy
        return y, y[1] - y[2]

    _, eeg = jax.lax.scan(step, jnp.zeros((6,) + C.shape), None, length=N_TOTAL)
    x = eeg[N_SKIP:]
    return jnp.sqrt(jnp.mean((x - jnp.mean(x, axis=0)) ** 2, axis=0))


def losses(C, target):
    return ((rms_batch(C) - target) / target) ** 2


def grad_fits(targets):
    """Best C and best loss of every fit: one compiled scan of the 40 steps of all fits."""
    opt = optax.adam(LEARNING_RATE)

    def summed(C, t):
        loss = losses(C, t)
        return jnp.sum(loss), loss

    @jax.jit
    def run(C0, t):
        def step(carry, _):
            C, state = carry
            (_, loss), g = jax.value_and_grad(summed, has_aux=True)(C, t)
            updates, state = opt.update(g, state, C)
            return (jnp.clip(optax.apply_updates(C, updates), *BOUNDS), state), (loss, C)
        return jax.lax.scan(step, (C0, opt.init(C0)), None, length=GRAD_STEPS)[1]

    loss, C = jax.device_get(run(jnp.full(targets.shape, C_START, jnp.float32), targets))
    loss = np.where(np.isfinite(loss), loss, np.inf)
    best = np.argmin(loss, axis=0)
    cols = np.arange(targets.shape[0])
    return C[best, cols], loss[best, cols]


def de_fits(targets, seeds):
    """Best C and best loss of every fit: one seeded DE per fit, one evaluation call per step."""
    import nevergrad as ng  # noqa: PLC0415

    evaluate = jax.jit(losses)
    family = ng.optimizers.registry["DE"]
    factory = type(family)(**{**family._config, "popsize": DE_POPSIZE, "initialization": "LHS"})
    opts = []
    for seed in seeds:
        box = ng.p.Scalar(init=C_START, lower=BOUNDS[0], upper=BOUNDS[1])
        box.random_state = np.random.RandomState(seed)
        opts.append(factory(parametrization=box, budget=DE_STEPS * DE_CANDIDATES,
                            num_workers=DE_CANDIDATES))
    n = len(opts)
    repeated = jnp.repeat(targets, DE_CANDIDATES)
    best_loss, best_C = np.full(n, np.inf), np.full(n, np.nan)
    for _ in range(DE_STEPS):
        asked = [[opt.ask() for _ in range(DE_CANDIDATES)] for opt in opts]
        C = np.asarray([c.value for cands in asked for c in cands], np.float32)
        loss = np.asarray(evaluate(jnp.asarray(C), repeated), float).reshape(n, DE_CANDIDATES)
        for i, (opt, cands) in enumerate(zip(opts, asked)):
            for cand, value in zip(cands, loss[i]):
                opt.tell(cand, float(value) if np.isfinite(value) else float("inf"))
            j = int(np.argmin(np.where(np.isfinite(loss[i]), loss[i], np.inf)))
            if loss[i, j] < best_loss[i]:
                best_loss[i], best_C[i] = loss[i, j], C.reshape(n, DE_CANDIDATES)[i, j]
    return best_C, best_loss


def run(truths, seeds) -> dict:
    t0 = time.perf_counter()
    pairs = [(t, s) for t in truths for s in seeds]
    rms_of = jax.jit(rms_batch)
    targets = rms_of(jnp.asarray([t for t, _ in pairs], jnp.float32))
    t1 = time.perf_counter()
    grad_C, _ = grad_fits(targets)
    t2 = time.perf_counter()
    de_C, _ = de_fits(targets, [s for _, s in pairs])
    t3 = time.perf_counter()
    keys = [f"C={t:g}/{s}" for t, s in pairs]
    return dict(n_fits=2 * len(pairs), targets_s=t1 - t0, grad_s=t2 - t1, de_s=t3 - t2,
                fitted={**{f"grad/{k}": float(c) for k, c in zip(keys, grad_C)},
                        **{f"nevergrad/{k}": float(c) for k, c in zip(keys, de_C)}})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--truths", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args(argv)
    lo, hi = 125.0, 165.0
    step = (hi - lo) / max(1, args.truths - 1)
    truths = [round(lo + i * step, 2) for i in range(args.truths)]
    out = run(truths, list(range(args.seeds)))
    out["process_s"] = time.perf_counter() - T_START
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
