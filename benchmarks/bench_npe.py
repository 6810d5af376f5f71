"""Amortized posteriors (NPE) against the grid and NUTS, in one run: what 1,000 targets cost.

Run alone (``run_all.py`` runs it too)::

    python benchmarks/bench_npe.py [--quick] [--out FILE]

The case study (Jansen-Rit, 220 Hz constant drive, 600 ms at dt 0.1 ms, first 200 ms discarded,
C in [110, 170] uniform); the likelihood's scale is 1 % of the feature. Measured:

- NPE training for its budget (prior simulations on the batched path, then the compiled
  training loop, compilation included): the one-off cost (full: the default config's 4,000
  simulations and 3,000 steps; quick: 2,000 and 500);
- NPE draws for a new target: 1,000 draws, after a first call that compiles (median over
  targets), and draws per second;
- 1,000 targets (truths spread over the box, observed with the likelihood's noise): the NPE,
  target by target (1,000 draws each) and all in one call; the grid posterior (241 cells, 2
  refinements) target by target (quick: 40 targets, scaled to 1,000); NUTS (4 chains x (300 +
  500)) on 2 targets, scaled to 1,000. Ratios: each method's total against the NPE's, training
  included.

Nothing asserts a time; the JSON keeps every number.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import bench_io

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

N_TARGETS = 1000


def _setup():
    import jax
    import jax.numpy as jnp
    import numpy as np

    from bench_posterior import _case
    from eegfit import infer

    _, rms_feature, _, _ = _case()
    box = {"C": (110.0, 170.0)}
    truths = np.linspace(111.0, 169.0, N_TARGETS)
    clean = np.asarray(rms_feature({"C": jnp.asarray(truths)}, None)["rms"])
    noise = np.asarray(jax.random.normal(jax.random.key(7), clean.shape))
    observed = clean * (1 + 0.01 * noise)
    template = infer.problem(rms_feature, {"rms": 1.0}, {"rms": 1.0}, box)

    def problem(y):
        return infer.problem(rms_feature, {"rms": float(y)}, infer.relative_scale({"rms": y}),
                             box)
    return truths, observed, template, problem


def npe_costs(quick: bool, observed, template) -> tuple[dict, object]:
    import numpy as np

    from eegfit.infer import npe
    from eegfit.infer.npe_train import train

    # full: the default config's settings (4,000 simulations, 3,000 steps)
    settings = npe.Settings(n_simulations=2000, steps=500) if quick else npe.Settings()
    t0 = time.perf_counter()
    est = train(template, npe.Noise(rel_sd=0.01), settings)
    out = {"settings": dict(settings.__dict__), "training_s": time.perf_counter() - t0,
           "simulation_s": est.report["simulation_time_s"]}
    t0 = time.perf_counter()
    est.sample(observed[:1, None], 1000, 0)
    out["first_call_s"] = time.perf_counter() - t0
    per = []
    t0 = time.perf_counter()
    for i, y in enumerate(observed):
        t1 = time.perf_counter()
        est.sample(np.asarray([y]), 1000, i)
        per.append(time.perf_counter() - t1)
    out["targets_one_by_one_s"] = time.perf_counter() - t0
    out["per_target_median_s"] = float(np.median(per))
    out["draws_per_s"] = 1000 / out["per_target_median_s"]
    est.sample(observed[:, None], 1000, 0)  # compiles the batch shape
    t0 = time.perf_counter()
    est.sample(observed[:, None], 1000, 1)
    out["targets_one_call_s"] = time.perf_counter() - t0
    return out, est


def grid_costs(quick: bool, observed, problem) -> dict:
    from eegfit import infer

    n = 40 if quick else N_TARGETS
    infer.grid_posterior(problem(observed[0]), 241, refine=2)  # compiles the batch shapes
    t0 = time.perf_counter()
    for y in observed[:: N_TARGETS // n][:n]:
        infer.grid_posterior(problem(y), 241, refine=2)
    wall = time.perf_counter() - t0
    return {"targets_run": n, "wall_s": wall, "per_target_s": wall / n,
            "for_1000_s": wall / n * N_TARGETS}


def nuts_costs(truths, observed, problem) -> dict:
    import numpy as np

    from eegfit import infer

    runs = []
    for i in (N_TARGETS // 3, 2 * N_TARGETS // 3):
        p = problem(observed[i])
        r = infer.nuts(p, chains=4, draws=500, warmup=300, seed=0,
                       starts={"C": truths[i] + np.array([-1.0, -0.3, 0.3, 1.0])})
        runs.append(r.wall_time_s)
    return {"targets_run": 2, "first_s": runs[0], "steady_s": runs[-1],
            "for_1000_s": runs[-1] * N_TARGETS}


def run(mode: str = "full") -> dict:
    quick = mode == "quick"
    t0 = time.perf_counter()
    truths, observed, template, problem = _setup()
    result = {"mode": mode, "loadavg_start": list(os.getloadavg()), "n_targets": N_TARGETS}
    result["npe"], _ = npe_costs(quick, observed, template)
    result["grid"] = grid_costs(quick, observed, problem)
    result["nuts"] = nuts_costs(truths, observed, problem)
    result["loadavg_end"] = list(os.getloadavg())
    result["total_s"] = time.perf_counter() - t0
    return result


def print_table(r: dict) -> None:
    n, g, u = r["npe"], r["grid"], r["nuts"]
    npe_total = n["training_s"] + n["targets_one_by_one_s"]
    s = n["settings"]
    print(f"amortized posteriors, {r['n_targets']} targets ({r['mode']}; load "
          f"{r['loadavg_start'][0]:.1f} -> {r['loadavg_end'][0]:.1f})")
    print(f"  NPE training ({s['n_simulations']} simulations, {s['steps']} steps): "
          f"{n['training_s']:.1f} s (simulations {n['simulation_s']:.2f} s)")
    print(f"  NPE 1,000 draws per target:   {n['per_target_median_s'] * 1e3:.2f} ms "
          f"({n['draws_per_s']:.3g} draws/s; first call {n['first_call_s']:.2f} s)")
    print(f"  NPE {r['n_targets']} targets: {n['targets_one_by_one_s']:.2f} s one by one, "
          f"{n['targets_one_call_s']:.2f} s in one call; with training {npe_total:.1f} s")
    print(f"  grid posterior:               {g['per_target_s'] * 1e3:.1f} ms per target "
          f"({g['targets_run']} run) -> {g['for_1000_s']:.0f} s for {r['n_targets']} = "
          f"{g['for_1000_s'] / npe_total:.1f}x the NPE with training, "
          f"{g['per_target_s'] / n['per_target_median_s']:.0f}x per target")
    print(f"  NUTS 4 x (300 + 500):         {u['steady_s']:.2f} s per target (2 run) -> "
          f"{u['for_1000_s']:.0f} s for {r['n_targets']} = {u['for_1000_s'] / npe_total:.0f}x "
          f"the NPE with training, {u['steady_s'] / n['per_target_median_s']:.0f}x per target")


def main(argv=None) -> int:
    return bench_io.main(__doc__, run, print_table, HERE / "results" / "npe.json", argv)


if __name__ == "__main__":
    sys.exit(main())
