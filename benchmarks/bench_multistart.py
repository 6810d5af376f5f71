"""Fits that find the optimum, and what they cost: per recording, a grad fit from one start
against multi-start grad fits with 8 and 32 starts (all starts in one batch), the hybrid
backend (a nevergrad search, then a grad polish of its best candidates) and nevergrad alone.

Run alone (not in ``run_all.py``: a full run takes about 15-25 minutes on 2 cores)::

    python benchmarks/bench_multistart.py [--quick] [--out FILE]

The recordings are the default ``recording_demo`` block's demo (the model at a = 100, b = 50, 120 s)
and the same demo at a corner of the inner 80 % of the (a, b) box (a = 84, b = 42), where one
grad fit from the default start (90, 55) does not find the optimum. Every fit uses the default
block's settings (the grad block's optimizer, rate and steps, with ``n_starts`` set to 1, 8 and
32 from the plain design, and as configured: 4 starts from a screen of 64 design points; the
hybrid block as configured); ``--quick`` uses 4 model realisations instead of 16, 20
grad steps and a 4-step search (about 3 minutes). Each fit's wall time includes its compilation
(a new batch shape compiles once per process: this is what a job pays). Nothing asserts a time.
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
import time
from pathlib import Path

import bench_io

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

RECORDINGS = {"demo": {"a": 100.0, "b": 50.0}, "corner": {"a": 84.0, "b": 42.0}}
STARTS = (1, 8, 32)


def _block(quick: bool) -> dict:
    import yaml

    block = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["experiments"][
        "recording_demo"]
    block = copy.deepcopy(block)
    if quick:
        block["n_realisations"] = 4
        block["backends"]["grad"]["n_steps"] = 20
        hybrid = block["backends"]["hybrid"]
        hybrid["search"]["n_steps"] = 4
        hybrid["polish"]["n_steps"] = 20
        block["backends"]["nevergrad"]["n_steps"] = 8
    return block


def run(mode: str) -> dict:
    from eegfit import experiments
    from eegfit.experiments import runner

    quick = mode == "quick"
    block = _block(quick)
    out = {"mode": mode, "loadavg_start": list(os.getloadavg()), "recordings": {},
           "settings": {"grad": block["backends"]["grad"], "hybrid": block["backends"]["hybrid"],
                        "nevergrad": block["backends"]["nevergrad"],
                        "n_realisations": block["n_realisations"]}}
    with tempfile.TemporaryDirectory() as work:
        cwd = os.getcwd()
        os.chdir(work)
        try:
            for name, truth in RECORDINGS.items():
                one = copy.deepcopy(block)
                one["demo"]["truth"] = dict(truth)
                kind = experiments.build("recording_demo", one)
                (path,) = kind.generated_inputs()
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                kind.make_input("demo", Path(path))
                (target,) = kind.targets()
                target_ds = runner.make_target(kind, target)
                fits = {}
                configured = one["backends"]["grad"]
                for label, backend, starts in (
                        *((f"grad x {s}", "grad", (s, 0)) for s in STARTS),
                        (f"grad x {configured.get('n_starts', 1)}, screen "
                         f"{configured.get('screen', 0)}", "grad", None),
                        ("hybrid", "hybrid", None), ("nevergrad", "nevergrad", None)):
                    variant = copy.deepcopy(one)
                    if starts is not None:
                        variant["backends"]["grad"].update(n_starts=starts[0], screen=starts[1])
                    kind_v = experiments.build("recording_demo", variant)
                    t0 = time.perf_counter()
                    ds, timing = runner.fit(kind_v, backend, target, target_ds)
                    wall = time.perf_counter() - t0
                    fits[label] = {
                        "wall_s": wall, "n_evaluations": int(ds.attrs["n_evaluations"]),
                        "best_loss": float(ds["best_loss"]), "status": ds.attrs["status"],
                        "best": {k: float(ds[f"best_{k}"]) for k in truth},
                        "rel_error": {k: abs(float(ds[f"best_{k}"]) - v) / v
                                      for k, v in truth.items()},
                        "noise_floor_loss": float(ds["noise_floor_loss"])}
                    print(f"  {name} {label}: {wall:.1f} s", file=sys.stderr, flush=True)
                out["recordings"][name] = {"truth": truth, "fits": fits}
        finally:
            os.chdir(cwd)
    out["loadavg_end"] = list(os.getloadavg())
    return out


def print_table(r: dict) -> None:
    print(f"multi-start and hybrid fits per recording ({r['mode']}; load "
          f"{r['loadavg_start'][0]:.1f} -> {r['loadavg_end'][0]:.1f})")
    for name, rec in r["recordings"].items():
        truth = ", ".join(f"{k}={v:g}" for k, v in rec["truth"].items())
        fits = rec["fits"]
        base = fits["grad x 1"]
        floor = base["noise_floor_loss"]
        print(f"  {name} ({truth}; loss at the truth {floor:.4g})")
        print(f"    {'fit':<22} {'wall s':>8} {'x 1 start':>9} {'evals':>6} {'best loss':>10} "
              f"{'max rel err':>11}  status")
        for label, f in fits.items():
            err = max(f["rel_error"].values())
            print(f"    {label:<22} {f['wall_s']:8.1f} {f['wall_s'] / base['wall_s']:9.2f} "
                  f"{f['n_evaluations']:6d} {f['best_loss']:10.4g} {err:11.3%}  {f['status']}")


def main(argv=None) -> int:
    return bench_io.main(__doc__, run, print_table, HERE / "results" / "multistart.json", argv)


if __name__ == "__main__":
    sys.exit(main())
