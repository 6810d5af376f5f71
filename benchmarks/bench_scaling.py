"""Scaling curves: time per fit evaluation vs batch size and vs simulated length, with peak memory.

Run alone (``run_all.py`` runs it too)::

    python benchmarks/bench_scaling.py [--quick] [--out benchmarks/results/scaling.json]

Every point runs in its own fresh process (so its peak resident memory, VmHWM from
/proc/self/status, belongs to that point alone; JAX reports no memory statistics for the CPU), one thread for XLA
(``eegfit.runtime.configure(threads=1)``, as a pipeline job runs), persistent cache off:

- batch curve (600 ms at 0.1 ms, the case study's loss): ``jax.jit(jax.vmap(loss))``, eegfit's
  nevergrad evaluation, and ``jax.jit(jax.vmap(jax.value_and_grad(loss)))``, a batched
  gradient evaluation, for n = 1 .. 1,024 candidates; time per candidate;
- length curve (batch 1, 0.6 s to 60 s simulated, 200 ms transient): the forward loss,
  ``value_and_grad`` with ``simulate(..., checkpoint=True)`` (rematerialised chunks: bounded
  memory), and plain ``value_and_grad`` (the whole rollout kept for the backward pass) for
  comparison. The stages run in that order in one process, so the peak after each stage is the
  peak of the stages so far (the memory column of a stage is the peak after it).

Memory columns: ``rss_base`` after imports and one tiny computation; ``peak`` = ru_maxrss after
the stage; ``extra`` = peak - rss_base.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import bench_io  # noqa: E402  (benchmarks/ is the script's folder)

HERE = Path(__file__).resolve().parent
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
QUICK_BATCHES = (1, 64, 1024)
LENGTHS_S = (0.6, 2.0, 6.0, 20.0, 60.0)
QUICK_LENGTHS_S = (0.6, 6.0, 60.0)


def _rss_mb() -> float:
    """Peak resident memory of this process so far, MB: VmHWM of /proc/self/status (the
    high-water mark of this process image; ``ru_maxrss`` is not used because Linux carries it
    over from the parent through fork and exec), or ru_maxrss where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def probe(kind: str, value: float, repeats: int) -> dict:
    from eegfit import runtime
    runtime.configure(threads=1)
    import jax
    jax.config.update("jax_enable_compilation_cache", False)
    import jax.numpy as jnp
    import numpy as np
    from eegfit import ConstantDrive, JansenRit, rms, simulate

    jax.block_until_ready(jnp.ones(3) + 1)
    out = dict(kind=kind, value=value, rss_base_mb=_rss_mb())
    target = 4.3106  # RMS (mV) at C* = 150 of the case; any positive value times the same

    def timeit(fn, x):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(x))
        first = time.perf_counter() - t0
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(x))
            samples.append(time.perf_counter() - t0)
        return dict(first_s=first, median_s=float(np.median(samples)), min_s=min(samples),
                    peak_rss_mb=_rss_mb())

    if kind == "batch":
        n = int(value)
        window = dict(duration_ms=600.0, dt_ms=0.1, transient_ms=200.0)

        def loss(C):
            a = rms(simulate(JansenRit(C=C, drive=ConstantDrive(220.0)), **window).observable)
            return ((a - target) / target) ** 2
        x = jnp.linspace(110.0, 170.0, n)
        out["forward"] = timeit(jax.jit(jax.vmap(loss)), x)
        out["value_and_grad"] = timeit(jax.jit(jax.vmap(jax.value_and_grad(loss))), x)
        for stage in ("forward", "value_and_grad"):
            out[stage]["per_candidate_s"] = out[stage]["median_s"] / n
    else:
        duration_ms = float(value) * 1000.0

        def make(checkpoint):
            def loss(C):
                eeg = simulate(JansenRit(C=C, drive=ConstantDrive(220.0)), duration_ms=duration_ms,
                               dt_ms=0.1, transient_ms=200.0, checkpoint=checkpoint).observable
                a = rms(eeg)
                return ((a - target) / target) ** 2
            return loss
        c = jnp.asarray(140.0)
        out["forward"] = timeit(jax.jit(make(False)), c)
        out["value_and_grad_checkpoint"] = timeit(jax.jit(jax.value_and_grad(make(True))), c)
        out["value_and_grad"] = timeit(jax.jit(jax.value_and_grad(make(False))), c)
        out["n_steps"] = int(round(duration_ms / 0.1))
    return out


def run_point(kind: str, value: float, repeats: int) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--probe", kind,
                           str(value), "--repeats", str(repeats)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode:
        return dict(kind=kind, value=value, error=proc.stderr[-2000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - t0
    return result


def run(mode: str) -> dict:
    say = lambda msg: print(f"  .. {msg}", file=sys.stderr, flush=True)  # noqa: E731
    batches = BATCHES if mode == "full" else QUICK_BATCHES
    lengths = LENGTHS_S if mode == "full" else QUICK_LENGTHS_S
    repeats = 5 if mode == "full" else 3
    out = dict(mode=mode, batch=[], length=[])
    for n in batches:
        say(f"scaling: batch {n} (own process)")
        out["batch"].append(run_point("batch", n, repeats))
    for s in lengths:
        say(f"scaling: {s:g} s simulated (own process)")
        out["length"].append(run_point("length", s, repeats))
    return out


def print_table(r: dict) -> None:
    from bench_core import fmt_t
    print("\nscaling vs batch size (600 ms; per candidate; peak RSS of the point's process)")
    print(f"{'n':>6} {'forward/cand':>13} {'vg/cand':>11} {'peak fwd':>9} {'peak vg':>9} "
          f"{'base':>7}")
    for p in r["batch"]:
        if "error" in p:
            print(f"{int(p['value']):>6}  failed: {p['error'].splitlines()[-1]}")
            continue
        f, g = p["forward"], p["value_and_grad"]
        print(f"{int(p['value']):>6} {fmt_t(f['per_candidate_s']):>13} "
              f"{fmt_t(g['per_candidate_s']):>11} {f['peak_rss_mb']:>6.0f} MB "
              f"{g['peak_rss_mb']:>6.0f} MB {p['rss_base_mb']:>4.0f} MB")
    print("\nscaling vs simulated length (batch 1; time per evaluation; peak RSS after the stage)")
    print(f"{'sim':>6} {'steps':>7} {'forward':>10} {'vg ckpt':>10} {'vg plain':>10} "
          f"{'peak fwd':>9} {'peak ckpt':>9} {'peak plain':>10} {'base':>7}")
    for p in r["length"]:
        if "error" in p:
            print(f"{p['value']:>5g}s  failed: {p['error'].splitlines()[-1]}")
            continue
        f, c, g = p["forward"], p["value_and_grad_checkpoint"], p["value_and_grad"]
        print(f"{p['value']:>5g}s {p['n_steps']:>7} {fmt_t(f['median_s']):>10} "
              f"{fmt_t(c['median_s']):>10} {fmt_t(g['median_s']):>10} {f['peak_rss_mb']:>6.0f} MB "
              f"{c['peak_rss_mb']:>6.0f} MB {g['peak_rss_mb']:>7.0f} MB "
              f"{p['rss_base_mb']:>4.0f} MB")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--probe", nargs=2, metavar=("KIND", "VALUE"), help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--out", default="benchmarks/results/scaling.json")
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe[0], float(args.probe[1]), args.repeats)))
        return 0
    sys.path.insert(0, str(HERE))
    result = run("quick" if args.quick else "full")
    return bench_io.finish(result, print_table, args.out)


if __name__ == "__main__":
    sys.exit(main())
