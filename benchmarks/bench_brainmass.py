"""eegfit vs brainmass (PyPI 0.1.1) on the case study, in one run.

Run alone (``run_all.py`` runs it too)::

    bash benchmarks/setup_brainmass.sh          # once: brainmass in benchmarks/.venv-brainmass
    python benchmarks/bench_brainmass.py [--quick] [--out benchmarks/results/brainmass.json]

eegfit side (this process, persistent compilation cache off): the case study's grad fit
(``Fitter(..., optax.adam(2.0))``, 40 steps) and DE fit (6 candidates x 8 steps, popsize 6,
seed 0), built by bench_core.py. "first" = the first ``fit()`` of a new Fitter after
``jax.clear_caches()`` (compile included); "steady" = the median of later ``fit()`` calls on
the same Fitter (the second call and after). Compile = first - steady.

brainmass side: ``benchmarks/brainmass_case.py`` in brainmass's own venv (a subprocess; see
that file for how the case is written with brainmass's API). Its "steady" is the median of its
second and later ``fit()`` calls; brainmass builds and compiles its jitted step inside every
``fit()`` call, so its steady time includes that.

The eegfit side is measured before and after the brainmass subprocess (samples pooled), so
both see similar machine load; the load average is recorded.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bench_io  # noqa: E402  (benchmarks/ is the script's folder)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_core as core  # noqa: E402

import jax  # noqa: E402

VENV_PYTHON = HERE / ".venv-brainmass" / "bin" / "python"
TARGETS = {"grad": 20.0, "de": 50.0}


def eegfit_side(steady_calls: int) -> dict:
    out = {}
    for kind, make, call in (
            ("grad", core.grad_fitter, lambda f: f.fit(core.GRAD_STEPS, progress=False)),
            ("de", core.de_fitter, lambda f: f.fit(core.DE_STEPS, seed=0, progress=False))):
        jax.clear_caches()
        t0 = time.perf_counter()
        fitter = make()
        construct = time.perf_counter() - t0
        first, result = core.timed(call, fitter)
        samples = []
        for _ in range(steady_calls):
            t, result = core.timed(call, fitter)
            samples.append(t)
        out[kind] = dict(construct_s=construct, first_s=first, steady_samples_s=samples,
                         **core.fit_summary(result))
    return out


def brainmass_side(calls: int) -> dict:
    if not VENV_PYTHON.exists():
        return dict(error=f"{VENV_PYTHON} not found: run `bash benchmarks/setup_brainmass.sh`")
    t0 = time.perf_counter()
    proc = subprocess.run([str(VENV_PYTHON), str(HERE / "brainmass_case.py"), "--calls",
                           str(calls)], capture_output=True, text=True, timeout=1200)
    wall = time.perf_counter() - t0
    if proc.returncode:
        return dict(error=proc.stderr[-3000:])
    text = proc.stdout
    result = json.loads(text[text.index("{"):])
    result["process_wall_s"] = wall
    return result


def run(mode: str) -> dict:
    say = lambda msg: print(f"  .. {msg}", file=sys.stderr, flush=True)  # noqa: E731
    steady = 10 if mode == "full" else 3
    calls = 3 if mode == "full" else 2
    out = dict(mode=mode, loadavg_start=core.loadavg())
    say("brainmass comparison: eegfit side (before)")
    before = eegfit_side(steady)
    say("brainmass comparison: brainmass side (its own venv)")
    bm = brainmass_side(calls)
    say("brainmass comparison: eegfit side (after)")
    after = eegfit_side(steady) if mode == "full" else before
    out["loadavg_end"] = core.loadavg()
    eeg = {}
    for kind in ("grad", "de"):
        pooled = [before] if after is before else [before, after]
        samples = [t for side in pooled for t in side[kind]["steady_samples_s"]]
        firsts = [side[kind]["first_s"] for side in pooled]
        steady_s = statistics.median(samples)
        eeg[kind] = dict(first_s=statistics.median(firsts), first_samples_s=firsts,
                         steady_s=steady_s, steady_min_s=min(samples), steady_samples_s=samples,
                         compile_s=statistics.median(firsts) - steady_s,
                         construct_s=statistics.median(side[kind]["construct_s"]
                                                       for side in pooled),
                         best_C=after[kind]["best_C"], best_loss=after[kind]["best_loss"],
                         n_evaluations=after[kind]["n_evaluations"], status=after[kind]["status"])
    out["eegfit"] = eeg
    out["brainmass"] = bm
    if "error" not in bm:
        cmp = {}
        for kind in ("grad", "de"):
            calls_ = bm[kind]
            bm_steady = statistics.median(c["fit_s"] for c in calls_[1:])
            bm_first = calls_[0]["fit_s"]
            ratio = bm_steady / eeg[kind]["steady_s"]
            cmp[kind] = dict(brainmass_first_s=bm_first, brainmass_steady_s=bm_steady,
                             brainmass_best_C=calls_[-1]["best_C"],
                             brainmass_best_loss=calls_[-1]["best_loss"],
                             eegfit_steady_s=eeg[kind]["steady_s"],
                             eegfit_first_s=eeg[kind]["first_s"],
                             eegfit_best_C=eeg[kind]["best_C"], speedup_steady=ratio,
                             speedup_first=bm_first / eeg[kind]["first_s"],
                             target=TARGETS[kind], ok=ratio >= TARGETS[kind])
        out["comparison"] = cmp
        out["rms_target_rel_diff"] = abs(bm["rms_target_mv"] - core.TARGET) / core.TARGET
    return out


def print_table(r: dict) -> None:
    print("\neegfit vs brainmass 0.1.1: the case study (C 115 -> C* 150, RMS, 600 ms at 0.1 ms, "
          "220 Hz)")
    bm = r["brainmass"]
    if "error" in bm:
        print(f"  brainmass could not run: {bm['error'].strip().splitlines()[-1]}")
        return
    print(f"  brainmass import {bm['import_s']:.2f} s; RMS* at C* = 150: brainmass "
          f"{bm['rms_target_mv']:.6f} mV vs eegfit {core.TARGET:.6f} mV (rel. diff "
          f"{r['rms_target_rel_diff']:.1e})")
    print(f"  {'':34} {'first call':>11} {'steady':>10} {'compile':>9} {'fitted C':>9}")
    labels = {"grad": "grad: adam(2.0) x 40 steps", "de": "nevergrad: DE 6 x 8 (48 evals)"}
    for kind in ("grad", "de"):
        e, c = r["eegfit"][kind], r["comparison"][kind]
        print(f"  {labels[kind]}")
        print(f"    {'eegfit':32} {core.fmt_t(e['first_s']):>11} {core.fmt_t(e['steady_s']):>10} "
              f"{core.fmt_t(e['compile_s']):>9} {e['best_C']:>9.2f}")
        print(f"    {'brainmass':32} {core.fmt_t(c['brainmass_first_s']):>11} "
              f"{core.fmt_t(c['brainmass_steady_s']):>10} {'(each)':>9} "
              f"{c['brainmass_best_C']:>9.2f}")
        print(f"    {'speed-up, steady (first call)':32} {c['speedup_steady']:>10.1f}x "
              f"({c['speedup_first']:.1f}x)  target >= {c['target']:g}x: "
              f"{'OK' if c['ok'] else 'MISSED'}")


def main(argv=None) -> int:
    return bench_io.main(__doc__, run, print_table, "benchmarks/results/brainmass.json", argv)


if __name__ == "__main__":
    sys.exit(main())
