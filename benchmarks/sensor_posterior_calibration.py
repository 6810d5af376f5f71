"""Not a timing: the coverage of the sensor kind's posterior (issue 25, part 1) over demo
recordings at known parameters, and the same posterior without the measured covariance (the
channel likelihood's own Laplace width, ``K_1 = v_1 H``: the break-check).

Each recording is the kind's demo EDF (the 76-region network of ``.test/sensor.yaml`` through the
lead field, 63 channels, ``--duration-s`` s) at a coupling k drawn uniformly in [35, 65] with its
own noise seed; its target's job makes the posterior's pilot
(:mod:`eegfit.experiments.sensor.score`), and the grid posterior of k (the ``posterior:`` block's
Gaussian through :mod:`eegfit.infer`) is computed twice. Printed: how many 90 % HDS hold the truth
with the 99 % binomial interval of Bin(n, 0.9), and the mean squared z = (mean - truth) / sd with
the 99 % interval of chi2_n / n.

Run alone (needs tvb-data; about 40 s per recording on 2 loaded cores)::

    python benchmarks/sensor_posterior_calibration.py [--recordings 20] [--out PATH]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def kind_for(truth_k: float, seed: int, duration_s: float, pilot: dict):
    from eegfit import experiments

    block = copy.deepcopy(yaml.safe_load((ROOT / ".test" / "sensor.yaml").read_text())[
        "experiments"]["sensor_k"])
    block.update(simulation={**block["simulation"], "duration_ms": 1e3 * (duration_s + 1)},
                 demo={**block["demo"], "duration_s": duration_s, "seed": seed,
                       "truth": {"k": truth_k}},
                 posterior={"method": "grid", "grid_points": 241, "refine": 0,
                            "verdict_points": 0}, likelihood=pilot)
    return experiments.build("sensor_k", block, check_optimizers=False)


def analytic(ds):
    """The target with ``K_1`` replaced by the channel likelihood's own ``v_1 H``."""
    single = float(ds["score_covariance_1"].attrs["single_variance"])
    n = ds.sizes["direction"]  # U is orthonormal: the channel likelihood's v_1 U^T U = v_1 I
    return ds.assign(score_covariance_1=(ds["score_covariance_1"].dims, single * np.eye(n),
                                         ds["score_covariance_1"].attrs))


def one(truth_k: float, seed: int, duration_s: float, pilot: dict, workdir: Path) -> dict:
    """One demo recording's posteriors: truth, mean, sd, and whether the 90 % HDS holds the
    truth, with the measured covariance and with the analytic one."""
    from eegfit import infer
    from eegfit.experiments import posterior, runner

    kind = kind_for(truth_k, seed, duration_s, pilot)
    path = workdir / f"demo_{seed}.edf"
    kind.make_input("demo", path)
    kind.spec.files["demo"] = str(path)
    target = kind.targets()[0]
    ds = runner.make_target(kind, target)
    out = {"truth": truth_k, "seed": seed, "inflation": float(ds["score_inflation"]),
           "pilot_k": float(ds["pilot_k"])}
    for label, target_ds in (("measured", ds), ("analytic", analytic(ds))):
        prob, _ = posterior.problem(kind, target, kind.observed(target_ds))
        post = infer.posterior(prob, "grid", truth={"k": truth_k}, grid_points=241, refine=0)
        s = post.summaries["k"]
        out[label] = {"mean": s["mean"], "sd": s["sd"],
                      "covered": bool(post.verdicts["k"].truth_level < 0.9)}
    return out


def report(rows: list[dict]) -> dict:
    from scipy import stats

    n = len(rows)
    lo, hi = stats.binom.ppf([0.005, 0.995], n, 0.9)
    chi_lo, chi_hi = stats.chi2.ppf([0.005, 0.995], n) / n
    out = {"n": n, "binomial_99": [int(lo), int(hi)], "chi2_over_n_99": [chi_lo, chi_hi]}
    for label in ("measured", "analytic"):
        covered = sum(r[label]["covered"] for r in rows)
        z2 = float(np.mean([((r[label]["mean"] - r["truth"]) / r[label]["sd"]) ** 2
                            for r in rows]))
        out[label] = {"covered": covered, "mean_z2": z2,
                      "sd_median": float(np.median([r[label]["sd"] for r in rows]))}
    out["rms_error"] = float(np.sqrt(np.mean([(r["measured"]["mean"] - r["truth"]) ** 2
                                              for r in rows])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=20)
    parser.add_argument("--duration-s", type=float, default=4.0)
    parser.add_argument("--pilot-realisations", type=int, default=16)
    parser.add_argument("--out", default=str(HERE / "results" / "sensor_posterior_calibration"
                                             ".json"))
    args = parser.parse_args()
    rng = np.random.default_rng(2025)
    truths = rng.uniform(35.0, 65.0, args.recordings)
    pilot = {"pilot_realisations": args.pilot_realisations, "pilot_grid_points": 9}
    rows, start = [], time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for i, truth in enumerate(truths):
            rows.append(one(float(truth), 100 + i, args.duration_s, pilot, Path(tmp)))
            r = rows[-1]
            print(f"{i + 1}/{len(truths)} k* {truth:5.2f}: mean {r['measured']['mean']:5.2f} sd "
                  f"{r['measured']['sd']:4.2f} covered {r['measured']['covered']}; analytic sd "
                  f"{r['analytic']['sd']:4.2f} covered {r['analytic']['covered']}; inflation "
                  f"{r['inflation']:.1f}; {time.time() - start:.0f} s, load "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
    summary = report(rows) | {"wall_s": time.time() - start, "load": os.getloadavg(),
                              "duration_s": args.duration_s, "pilot": pilot}
    print(json.dumps(summary, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
