"""How far one noise key moves the recording NPE's reference grid: the key-to-key spread of its
posterior mean, in posterior sd, at the configured realisations and at 4x.

Run alone::

    python benchmarks/bench_reference_keys.py [--quick] [--out FILE]

The default ``recording_demo`` (a and b from its 120 s demo at a = 100 /s, b = 50 /s, white floor
included, 16 realisations of 5.5 s at the default column, C = 135: a noisy limit cycle); the grid
of the NPE's likelihood (``recording_npe.reference_problem``: the model's mean PSD over ``factor``
x 16 realisations of the fit key of each seed) on 15 x 15 cells over a fixed box of about +-4
posterior sd around the demo's posterior (a in 100.55 +- 1.3 /s, b in 50.05 +- 0.9 /s). Full:
six keys at 1x, four at 4x; quick: three and two. Reported per factor: each key's means and sds,
the standard deviation of the means over keys divided by the mean posterior sd, and the time of
a grid. A reference for the NPE's per-target bound (mean within 0.25 sd) must move much less
than that between keys. Not in ``run_all.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import bench_io

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

BOX = {"a": (100.55 - 1.3, 100.55 + 1.3), "b": (50.05 - 0.9, 50.05 + 0.9)}


def run(mode: str) -> dict:
    import numpy as np  # noqa: PLC0415
    import yaml  # noqa: PLC0415

    from eegfit import experiments, infer  # noqa: PLC0415
    from eegfit.experiments import recording_npe  # noqa: PLC0415

    block = yaml.safe_load((HERE.parent / "config" / "config.yaml").read_text())[
        "experiments"]["recording_demo"]
    block.update(posterior={"method": "grid", "grid_points": 21, "refine": 1},
                 npe={"n_simulations": 4000, "steps": 3000})
    keys = {1: 3, 4: 2} if mode == "quick" else {1: 6, 4: 4}
    out = {"mode": mode, "box": BOX, "loadavg_start": list(os.getloadavg()), "runs": []}
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            kind = experiments.build("recording_demo", block)
            path = Path(kind.spec.demo["path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            kind.make_input("demo", path)
            target = kind.targets()[0]
            y = kind.npe_observed(kind.observed(kind.make_target(target)))
        finally:
            os.chdir(here)
    for factor, n_keys in keys.items():
        for seed in range(n_keys):
            t0 = time.perf_counter()
            grid = infer.grid_posterior(recording_npe.reference_problem(
                kind, y, seed, factor, BOX), 15, refine=0, max_batch=64)
            out["runs"].append({"factor": factor, "seed": seed, "s": time.perf_counter() - t0,
                                **{f"{n}_mean": grid.mean(n) for n in ("a", "b")},
                                **{f"{n}_sd": grid.marginal(n).sd() for n in ("a", "b")}})
        rows = [r for r in out["runs"] if r["factor"] == factor]
        for n in ("a", "b"):
            out[f"x{factor}_{n}_key_spread_over_sd"] = float(
                np.std([r[f"{n}_mean"] for r in rows], ddof=1)
                / np.mean([r[f"{n}_sd"] for r in rows]))
    out["loadavg_end"] = list(os.getloadavg())
    return out


def print_table(r: dict) -> None:
    print(f"The recording NPE's reference grid at several fit keys ({r['mode']}; load "
          f"{r['loadavg_start'][0]:.1f} -> {r['loadavg_end'][0]:.1f})")
    for row in r["runs"]:
        print(f"  {row['factor']}x realisations, key {row['seed']}: a {row['a_mean']:.3f} "
              f"(sd {row['a_sd']:.3f}), b {row['b_mean']:.3f} (sd {row['b_sd']:.3f}); "
              f"{row['s']:.0f} s")
    for factor in sorted({row["factor"] for row in r["runs"]}):
        spread_a, spread_b = (r[f"x{factor}_{n}_key_spread_over_sd"] for n in ("a", "b"))
        print(f"  {factor}x: the mean moves between keys by {spread_a:.2f} sd (a), "
              f"{spread_b:.2f} sd (b)")


def main(argv=None) -> int:
    return bench_io.main(__doc__, run, print_table, HERE / "results" / "reference_keys.json",
                         argv)


if __name__ == "__main__":
    sys.exit(main())
