"""Posteriors beside the point fits, in one run: what a posterior costs.

Run alone (``run_all.py`` runs it too)::

    python benchmarks/bench_posterior.py [--quick] [--out FILE]

The case study (Jansen-Rit, 220 Hz constant drive, 600 ms at dt 0.1 ms, first 200 ms discarded,
C in [110, 170]); the likelihood's scale is 1 % of the target's feature. Measured, each after a
first call that compiles (reported apart):

- point fits: the grad fit (adam 2.0 x 40 steps) and the nevergrad fit (DE 6 x 8) of C* = 150
  from the RMS: wall time and model evaluations;
- grid posterior, 1-D: C from the RMS (241 cells, 2 refinements), time per target (C* = 135
  and 150); 2-D: C and the drive p from the RMS and the spectral peak (41 x 41 cells, 1
  refinement), time per target; each target twice: the first call compiles the batch shapes
  it needs, the second is the steady cost;
- NUTS, 1-D: 4 chains (one after another), warm-up and draws as below, from starts near the
  mode: wall time, gradient evaluations, bulk and tail ESS; effective samples per second and per
  model (gradient) evaluation.

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


def _case():
    import jax.numpy as jnp

    from eegfit import JansenRit, rms, simulate
    from eegfit.signal.features import spectral_peak_hz

    window = {"duration_ms": 600.0, "transient_ms": 200.0, "dt_ms": 0.1}

    def rms_feature(values, context):
        return {"rms": rms(simulate(JansenRit(C=values["C"]), **window).observable)}

    def two_features(values, context):
        from eegfit.models import ConstantDrive

        model = JansenRit(C=values["C"], drive=ConstantDrive(values["drive.rate_hz"]))
        eeg = simulate(model, **window).observable
        return {"rms": rms(eeg), "spectral_peak_hz": spectral_peak_hz(eeg, dt_ms=0.1,
                                                                      band_hz=(2.0, 20.0))}

    def observed(fn, values):
        return {k: float(v) for k, v in fn({k: jnp.asarray(v) for k, v in values.items()},
                                           None).items()}
    return window, rms_feature, two_features, observed


def point_fits() -> dict:
    import optax

    from eegfit import Fitter, JansenRit, Param, rms, simulate

    window = {"duration_ms": 600.0, "transient_ms": 200.0, "dt_ms": 0.1}
    target = float(rms(simulate(JansenRit(C=150.0), **window).observable))

    def loss_fn(model):
        amplitude = rms(simulate(model, **window).observable)
        return ((amplitude - target) / target) ** 2, {"rms_mv": amplitude}

    model = JansenRit(C=Param(115.0, bounds=(110.0, 170.0)))
    out = {}
    for label, make, kwargs in (
            ("grad", lambda: Fitter(model, optax.adam(2.0), loss_fn=loss_fn), {}),
            ("nevergrad", lambda: Fitter(model, "DE", loss_fn=loss_fn, backend="nevergrad",
                                         num_candidates=6,
                                         optimizer_options={"popsize": 6}), {"seed": 0})):
        fitter = make()
        t0 = time.perf_counter()
        fitter.fit(40 if label == "grad" else 8, progress=False, **kwargs)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = fitter.fit(40 if label == "grad" else 8, progress=False, **kwargs)
        out[label] = {"first_s": first, "steady_s": time.perf_counter() - t0,
                      "n_evaluations": int(result.n_evaluations),
                      "best_C": float(result.best_params["C"])}
    return out


def grids(quick: bool) -> dict:
    from eegfit import infer

    _, rms_feature, two_features, observed = _case()
    out = {"1d": [], "2d": []}
    cases = [("1d", rms_feature, {"C": t}, {"C": (110.0, 170.0)}, 241, 2)
             for t in (135.0, 150.0)]
    cases += [("2d", two_features, {"C": c, "drive.rate_hz": p},
               {"C": (150.0, 180.0), "drive.rate_hz": (160.0, 260.0)}, 41, 1)
              for c, p in ((160.0, 200.0), (170.0, 230.0))[:1 if quick else 2]]
    for dim, fn, truth, box, n_points, refine in cases:
        y = observed(fn, truth)
        p = infer.problem(fn, y, infer.relative_scale(y), box)
        times = []
        for _ in range(2):  # the first call compiles its batch shapes; the second is steady
            t0 = time.perf_counter()
            g = infer.grid_posterior(p, n_points, refine=refine)
            times.append(time.perf_counter() - t0)
        out[dim].append({"truth": list(truth.values()), "first_s": times[0], "wall_s": times[1],
                         "n_evaluations": g.n_evaluations, "n_cells": len(g.mass)})
    return out


def nuts_runs(quick: bool) -> dict:
    import numpy as np

    from eegfit import infer

    _, rms_feature, _, observed = _case()
    chains, warmup, draws = 4, (150 if quick else 300), (200 if quick else 500)
    out = {"settings": {"chains": chains, "warmup": warmup, "draws": draws}, "runs": []}
    for truth in (135.0, 150.0):
        y = observed(rms_feature, {"C": truth})
        p = infer.problem(rms_feature, y, infer.relative_scale(y), {"C": (110.0, 170.0)})
        r = infer.nuts(p, chains=chains, draws=draws, warmup=warmup, seed=0,
                       starts={"C": truth + np.array([-1.0, -0.3, 0.3, 1.0])})
        d = infer.diagnostics(r.draws)["C"]
        ess = min(d["ess_bulk"], d["ess_tail"])
        out["runs"].append({"truth": truth, "wall_s": r.wall_time_s,
                            "n_evaluations": r.n_evaluations, "ess_bulk": d["ess_bulk"],
                            "ess_tail": d["ess_tail"], "rhat": d["rhat"],
                            "divergences": int(r.stats["diverging"].sum()),
                            "ess_per_s": ess / r.wall_time_s,
                            "ess_per_evaluation": ess / r.n_evaluations})
    return out


def run(mode: str = "full") -> dict:
    quick = mode == "quick"
    t0 = time.perf_counter()
    result = {"mode": mode, "loadavg_start": list(os.getloadavg()),
              "point_fits": point_fits(), "grid": grids(quick), "nuts": nuts_runs(quick)}
    result["loadavg_end"] = list(os.getloadavg())
    result["total_s"] = time.perf_counter() - t0
    return result


def print_table(r: dict) -> None:
    pf, g, n = r["point_fits"], r["grid"], r["nuts"]
    grad = pf["grad"]["steady_s"]
    print(f"posterior costs ({r['mode']}; load {r['loadavg_start'][0]:.1f} -> "
          f"{r['loadavg_end'][0]:.1f})")
    print(f"  grad fit (adam x 40):        {grad * 1e3:8.1f} ms steady, "
          f"{pf['grad']['n_evaluations']} evaluations (first call {pf['grad']['first_s']:.2f} s)")
    print(f"  nevergrad fit (DE 6 x 8):    {pf['nevergrad']['steady_s'] * 1e3:8.1f} ms steady, "
          f"{pf['nevergrad']['n_evaluations']} evaluations")
    for dim in ("1d", "2d"):
        runs = g[dim]
        steady = runs[-1]
        print(f"  grid posterior {dim}:         {steady['wall_s'] * 1e3:8.1f} ms per target "
              f"({steady['n_evaluations']} evaluations; first call {runs[0]['first_s']:.2f} s "
              f"with compilation) = {steady['wall_s'] / grad:.1f}x a grad fit")
    s = n["settings"]
    for i, run_ in enumerate(n["runs"]):
        print(f"  NUTS {s['chains']} x ({s['warmup']} + {s['draws']}), C* = {run_['truth']:g}"
              f"{' (compiles)' if i == 0 else ''}: {run_['wall_s']:.2f} s, "
              f"{run_['n_evaluations']} gradient evaluations, ESS bulk/tail "
              f"{run_['ess_bulk']:.0f}/{run_['ess_tail']:.0f}, R-hat {run_['rhat']:.3f}, "
              f"{run_['ess_per_s']:.0f} ESS/s, {run_['ess_per_evaluation']:.3f} ESS/evaluation "
              f"= {run_['wall_s'] / grad:.0f}x a grad fit")


def main(argv=None) -> int:
    return bench_io.main(__doc__, run, print_table, HERE / "results" / "posterior.json", argv)


if __name__ == "__main__":
    sys.exit(main())
