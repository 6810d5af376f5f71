"""Can a grad fit to the empirical BOLD FC land where the FC correlation peaks, with delays and
full-horizon (checkpointed) gradients? Issue 23, part 4; not a timing.

Run alone (not in ``run_all.py``; about 26 minutes on 2 cores at a load of 10, ``--quick``: 7)::

    python benchmarks/fc_grad_landing.py [--quick] [--out benchmarks/results/fc_grad_landing.json]

The experiment is the README's ``empirical_fc`` block (10 HCP regions, Jansen-Rit nodes, Heun at
1 ms, 864 s of BOLD, the fit's FC the mean of 2 noise realisations, ``benchmarks/
bench_gradients.py``'s ``EMPIRICAL_FC``) with ``connectome.delays: true`` (tract lengths at
10 m/s, interpolated). Three measurements:

1. **Sensitivity growth**: ``|d eeg / d k|`` along one 60 s rollout (forward mode, float64, the
   fit's noise of seed 1), with and without delays, at k = 10, 20 and 40: the rate (per second)
   at which the largest value of each second grows (a least-squares slope of its logarithm over
   the last three quarters). A full-horizon gradient through T seconds scales like
   ``exp(rate * T)``: float32 overflows past ``88 / rate`` s, float64 past ``709 / rate`` s;
   checkpointing changes memory, not this.
2. **The scan and its floor**: the FC correlation with the empirical FC at 13 couplings over the
   box [0, 60], for the floor seeds 1-4 (each the fit's own estimator); the near-maximum range is
   where the seed mean is within one seed-to-seed sd (at the maximum) of the maximum, its ends
   interpolated linearly between grid points.
3. **Grad fits from 4 starts** (k = 5, 15, 35, 50; Adam, learning rate 4, 12 steps, the gradient
   check off so the fits follow their gradients) with the full horizon and ``checkpoint: true``,
   and, for comparison, truncated to 100 ms (today's default): where each lands (best
   k, status) and whether it lies inside the near-maximum range.

``--quick``: 432 s of BOLD, 7 couplings, starts 5 and 50 (the
numbers are not the README's). Prints a table per part and the load average; writes JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_gradients as bg  # noqa: E402  (the empirical FC block and its fit data)

from eegfit.experiments import runner  # noqa: E402
from eegfit.experiments.base import keys  # noqa: E402
from eegfit.simulate import simulate  # noqa: E402

FLOOR_SEEDS = (1, 2, 3, 4)
FIT_SEED = 1


def build(duration_ms: float, horizon_ms: float | None, delays: bool = True):
    """The README's empirical_fc kind with delays, the given horizon (``None``: full and
    checkpointed) and the gradient check off."""
    out = copy.deepcopy(bg.EMPIRICAL_FC)
    out["connectome"]["delays"] = delays
    out["simulation"]["duration_ms"] = duration_ms
    out["backends"] = {"grad": {**out["backends"]["grad"],
                                "gradient_check": {"enabled": False}, "retry": 0}}
    return bg.build("fc_grad_landing", out, horizon_ms, checkpoint=horizon_ms is None)


def growth_rates(duration_ms: float = 60000.0, couplings=(10.0, 20.0, 40.0)) -> list[dict]:
    """Part 1: the growth rate of ``|d eeg / d k|`` per second, with and without delays."""
    rows = []
    for delays in (True, False):
        kind = build(duration_ms, None, delays)
        sim = {**kind.spec.simulation.kwargs(), "duration_ms": duration_ms}
        sim.pop("checkpoint", None)
        with jax.enable_x64(True):
            key = keys(FIT_SEED)[1]
            for k in couplings:
                def eeg(k_value):
                    return simulate(kind.model_at({"k": k_value}), key=key, **sim).observable
                _, tangent = jax.jvp(eeg, (jnp.asarray(k),), (jnp.asarray(1.0),))
                per_s = np.abs(np.asarray(tangent))
                per_s = per_s[: len(per_s) // 1000 * 1000].reshape(-1, 1000, per_s.shape[-1])
                log_max = np.log(per_s.max(axis=(1, 2)))
                t_s = np.arange(len(log_max)) + 0.5
                tail = slice(len(t_s) // 4, None)
                ok = np.isfinite(log_max[tail])
                rate = float(np.polyfit(t_s[tail][ok], log_max[tail][ok], 1)[0])
                rows.append({"delays": delays, "k": k, "rate_per_s": rate,
                             "log10_max_per_10s": (log_max[::10] / np.log(10)).tolist()})
                print(f"delays {'on ' if delays else 'off'} k = {k:4g}: growth {rate:5.2f} /s "
                      f"(float32 overflows past {88.7 / rate:6.1f} s, float64 past "
                      f"{709.8 / rate:6.1f} s); log10 max |deeg/dk| every 10 s: "
                      + " ".join(f"{v:.0f}" for v in rows[-1]["log10_max_per_10s"]),
                      flush=True)
    return rows


def scan(kind, observed, couplings) -> dict:
    """Part 2: the FC correlation per floor seed and coupling, the near-maximum range."""
    fitter = runner.fitter(kind, "grad")
    objective = jax.jit(jax.vmap(fitter._objective, in_axes=(0, None)))
    values = {"k": jnp.asarray(couplings, jnp.result_type(float))}
    corr = np.array([np.asarray(objective(values, kind.fit_data(observed, s))[1]
                                ["fc_correlation"], float) for s in FLOOR_SEEDS])
    mean, sd = corr.mean(axis=0), corr.std(axis=0, ddof=1)
    best = int(np.argmax(mean))
    threshold = mean[best] - sd[best]
    lo, hi = best, best
    while lo > 0 and mean[lo - 1] >= threshold:
        lo -= 1
    while hi < len(mean) - 1 and mean[hi + 1] >= threshold:
        hi += 1
    k = np.asarray(couplings, float)

    def crossing(inside: int, outside: int) -> float:  # where the mean crosses the threshold
        if outside < 0 or outside >= len(k):
            return float(k[inside])
        f = (mean[inside] - threshold) / (mean[inside] - mean[outside])
        return float(k[inside] + f * (k[outside] - k[inside]))
    near = (crossing(lo, lo - 1), crossing(hi, hi + 1))
    for i, kv in enumerate(k):
        print(f"k = {kv:5.1f}: FC correlation {mean[i]:.3f} +- {sd[i]:.3f} (seeds "
              + " ".join(f"{c:.3f}" for c in corr[:, i]) + ")", flush=True)
    print(f"maximum {mean[best]:.3f} at k = {k[best]:g}, floor sd {sd[best]:.3f}: near-maximum "
          f"range k in [{near[0]:.1f}, {near[1]:.1f}]", flush=True)
    return {"k": k.tolist(), "fc_correlation": corr.tolist(), "mean": mean.tolist(),
            "sd": sd.tolist(), "k_max": float(k[best]), "max": float(mean[best]),
            "floor_sd": float(sd[best]), "near_max_range": near}


def fits(kind, observed, starts, near, n_steps: int) -> list[dict]:
    """Part 3: grad fits of one setting from ``starts``, in one batch."""
    fitter = runner.fitter(kind, "grad")
    data = jax.tree.map(lambda x: jnp.repeat(jnp.asarray(x)[None], len(starts), axis=0),
                        kind.fit_data(observed, FIT_SEED))
    t0 = time.perf_counter()
    results = fitter.fit_many(n_steps, data=data, seeds=[FIT_SEED] * len(starts),
                              starts={"k": np.asarray(starts, float)}, progress=False)
    seconds = time.perf_counter() - t0
    rows = []
    for start, r in zip(starts, results):
        best = float(np.asarray(r.best_params["k"]))
        final = float(np.asarray(r.final_params["k"]))
        inside = bool(near[0] <= best <= near[1])
        path = np.asarray(r.history.params["k"], float)[:, 0]
        rows.append({"start": start, "best_k": best, "final_k": final,
                     "best_loss": float(r.best_loss), "status": r.status,
                     "n_nonfinite": int(r.n_nonfinite), "inside": inside,
                     "path": [float(v) for v in path[np.isfinite(path)]]})
        print(f"  start {start:4g}: best k {best:6.2f} (final {final:6.2f}), best loss "
              f"{r.best_loss:.3f}, {r.status}{', non-finite ' + str(r.n_nonfinite) if r.n_nonfinite else ''}: "
              f"{'inside' if inside else 'outside'} the near-maximum range", flush=True)
    print(f"  ({seconds:.0f} s for the batch)", flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "fc_grad_landing.json")
    args = parser.parse_args(argv)
    duration = 432000.0 if args.quick else 864000.0
    couplings = np.linspace(0.0, 60.0, 7 if args.quick else 13)
    starts = (5.0, 50.0) if args.quick else (5.0, 15.0, 35.0, 50.0)
    horizons = (None, 100.0)
    n_steps = 12
    load_before = os.getloadavg()
    print(f"load average (1, 5, 15 min) before: {load_before}", flush=True)
    t0 = time.perf_counter()
    print("1. sensitivity growth along a 60 s rollout", flush=True)
    growth = growth_rates()
    kind = build(duration, None)
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            target_ds = runner.make_target(kind, kind.targets()[0])
        finally:
            os.chdir(cwd)
    observed = kind.observed(target_ds)
    print(f"2. scan, {duration / 1000:g} s of BOLD, floor seeds {FLOOR_SEEDS}", flush=True)
    scanned = scan(kind, observed, couplings)
    out = {"duration_ms": duration, "growth": growth, "scan": scanned, "fits": {}}
    for horizon in horizons:
        label = "full, checkpointed" if horizon is None else f"truncated {horizon:g} ms"
        print(f"3. grad fits, {label}", flush=True)
        out["fits"][label] = fits(build(duration, horizon), observed, starts, scanned["near_max_range"], n_steps)
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min) after: {load_after}; {time.perf_counter() - t0:.0f} s "
          "in all", flush=True)
    out["load_average"] = [load_before, load_after]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
