"""Start-up of a job process: imports, and the first fit with an empty vs a warm compilation cache.

Run alone (``run_all.py`` runs it too)::

    python benchmarks/bench_startup.py [--quick] [--out benchmarks/results/startup.json]

What it measures, each in fresh Python processes (``sys.executable``, this venv):

- ``python -c pass``: the interpreter alone;
- ``import jax``, ``import optax``, ``import nevergrad``, ``import eegfit``: each alone in its own
  process (so each includes what it imports: optax and eegfit import jax), median of a few;
- a job's start-up, as a pipeline job does it: imports, ``eegfit.runtime.configure(threads=1,
  cache_dir=DIR)``, then the case study's grad fit (40 adam steps) and its DE fit (6 x 8), twice:
  first with an empty cache folder, then again (a new process) with the folder the first run
  filled. Wall time of the whole process (spawn to exit) and the probe's own breakdown;
- how many jobs (and so processes) the default experiment (config/config.yaml) starts: a
  ``snakemake -n`` in a temporary copy of the workflow.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_io  # noqa: E402  (benchmarks/ is the script's folder)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKFLOW_PARTS = ("Snakefile", "workflow", "config", "envs", "profiles")


def probe() -> dict:
    """In a fresh process: imports, configure, first grad fit, first DE fit (timed)."""
    t = {}
    t0 = time.perf_counter()
    import jax  # noqa: F401
    t["import_jax_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    import optax
    t["import_optax_s"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    import nevergrad  # noqa: F401
    t["import_nevergrad_s"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    from eegfit import ConstantDrive, Fitter, JansenRit, Param, rms, runtime, simulate
    t["import_eegfit_s"] = time.perf_counter() - t1
    t["imports_s"] = time.perf_counter() - t0
    runtime.configure(threads=1, cache_dir=os.environ["EEGFIT_BENCH_CACHE"])
    window = dict(duration_ms=600.0, dt_ms=0.1, transient_ms=200.0)
    t1 = time.perf_counter()
    target = float(rms(simulate(JansenRit(C=150.0, drive=ConstantDrive(220.0)), **window).observable))
    t["target_s"] = time.perf_counter() - t1

    def loss_fn(model):
        amplitude = rms(simulate(model, **window).observable)
        return ((amplitude - target) / target) ** 2, {"rms_mv": amplitude}
    model = JansenRit(C=Param(115.0, bounds=(110.0, 170.0)), drive=ConstantDrive(220.0))
    t1 = time.perf_counter()
    g = Fitter(model, optax.adam(2.0), loss_fn=loss_fn).fit(40, progress=False)
    t["grad_fit_s"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    n = Fitter(model, "DE", loss_fn=loss_fn, backend="nevergrad", num_candidates=6,
               optimizer_options={"popsize": 6}).fit(8, seed=0, progress=False)
    t["de_fit_s"] = time.perf_counter() - t1
    t["first_fits_s"] = time.perf_counter() - t0 - t["imports_s"]
    t["grad_C"], t["de_C"] = float(g.best_params["C"]), float(n.best_params["C"])
    return t


def _run(args, env=None, timeout=600) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


IMPORTS = (("python", "pass"), ("jax", "import jax"), ("optax", "import optax"),
           ("nevergrad", "import nevergrad"), ("eegfit", "import eegfit"))


def import_times(repeats: int, names=None) -> dict:
    out = {}
    for name, code in IMPORTS:
        if names is not None and name not in names:
            continue
        inner, walls = [], []
        for _ in range(repeats):
            wall, stdout = _run([sys.executable, "-c", "import time; t = time.perf_counter(); "
                                 f"{code}; print(time.perf_counter() - t)"])
            walls.append(wall)
            inner.append(float(stdout.strip().splitlines()[-1]))
        out[name] = dict(import_s=statistics.median(inner), process_wall_s=statistics.median(walls),
                         samples_import_s=inner, samples_wall_s=walls)
    return out


def cold_warm(repeats: int) -> dict:
    """Empty then warm cache, ``repeats`` pairs (each with its own new cache folder)."""
    pairs = []
    for _ in range(repeats):
        cache = Path(tempfile.mkdtemp(prefix="eegfit-bench-cache-"))
        env = dict(os.environ, EEGFIT_BENCH_CACHE=str(cache), JAX_PLATFORMS="cpu")
        try:
            pair = {}
            for which in ("empty", "warm"):
                wall, stdout = _run([sys.executable, str(Path(__file__).resolve()), "--probe"],
                                    env=env)
                pair[which] = dict(json.loads(stdout.strip().splitlines()[-1]),
                                   process_wall_s=wall)
            files = [f for f in cache.rglob("*") if f.is_file()]
            pair["cache_files"] = len(files)
            pair["cache_bytes"] = sum(f.stat().st_size for f in files)
            pairs.append(pair)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    keys = ("process_wall_s", "imports_s", "first_fits_s", "grad_fit_s", "de_fit_s", "target_s")
    med = {w: {k: statistics.median(p[w][k] for p in pairs) for k in keys}
           for w in ("empty", "warm")}
    return dict(pairs=pairs, median=med,
                speedup_first_fits=med["empty"]["first_fits_s"] / med["warm"]["first_fits_s"],
                speedup_process=med["empty"]["process_wall_s"] / med["warm"]["process_wall_s"])


def copy_workflow(dest: Path) -> Path:
    """A copy of the workflow (Snakefile, workflow/, config/, envs/, profiles/) in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / part)
    return dest


def snakemake_bin() -> str:
    exe = Path(sys.executable).with_name("snakemake")
    return str(exe) if exe.exists() else "snakemake"


def default_jobs() -> dict:
    """Job counts of the default experiment, from a dry run in a temporary copy."""
    with tempfile.TemporaryDirectory(prefix="eegfit-bench-dry-") as tmp:
        work = copy_workflow(Path(tmp))
        proc = subprocess.run([snakemake_bin(), "-n", "--cores", "2"], cwd=work,
                              capture_output=True, text=True, timeout=300)
    text = proc.stdout + proc.stderr
    counts, in_stats = {}, False
    for line in text.splitlines():
        if line.startswith("Job stats:"):
            in_stats, counts = True, {}
            continue
        m = re.match(r"^(\S+)\s+(\d+)\s*$", line.strip())
        if in_stats and m:
            counts[m.group(1)] = int(m.group(2))
        elif in_stats and counts and not line.strip():
            in_stats = False
    total = counts.pop("total", sum(counts.values()))
    local = counts.get("all", 0)
    status = subprocess.run(["git", "status", "--porcelain", "--", *WORKFLOW_PARTS], cwd=ROOT,
                            capture_output=True, text=True).stdout.splitlines()
    return dict(ok=proc.returncode == 0, by_rule=counts, total=total,
                workflow_local_changes=status,
                processes=total - local,
                note="'all' is a local target rule and starts no process; every other job is "
                     "one Python process (a script: directive)")


def run(mode: str) -> dict:
    say = lambda msg: print(f"  .. {msg}", file=sys.stderr, flush=True)  # noqa: E731
    imports = {}
    if mode == "full":
        say("start-up: import times in fresh processes")
        imports = import_times(3)
    say("start-up: first fits with an empty, then a warm compilation cache")
    cw = cold_warm(2 if mode == "full" else 1)
    say("start-up: jobs of the default experiment (snakemake -n)")
    jobs = default_jobs()
    return dict(mode=mode, imports=imports, cache=cw, default_experiment_jobs=jobs)


def print_table(r: dict) -> None:
    im, c = r["imports"], r["cache"]["median"]
    print("\nstart-up of a process (fresh Python each; medians)")
    p = r["cache"]["pairs"][0]["empty"]
    print(f"  in the job probe: import jax {p['import_jax_s']:.2f} s, then optax "
          f"{p['import_optax_s']:.2f} s, nevergrad {p['import_nevergrad_s']:.2f} s, eegfit "
          f"{p['import_eegfit_s']:.2f} s (each on top of the previous)")
    for name in ("python", "jax", "optax", "nevergrad", "eegfit"):
        if name not in im:
            continue
        label = "python -c pass" if name == "python" else f"import {name}"
        print(f"  {label:<38} import {im[name]['import_s']:6.2f} s   whole process "
              f"{im[name]['process_wall_s']:6.2f} s")
    print(f"  {'job: imports + grad fit + DE fit':<38} {'empty cache':>12} {'warm cache':>11}")
    for key, label in (("imports_s", "imports"), ("target_s", "first simulation"),
                       ("grad_fit_s", "first grad fit (40 steps)"),
                       ("de_fit_s", "first DE fit (6 x 8)"),
                       ("first_fits_s", "all computation"), ("process_wall_s", "whole process")):
        print(f"    {label:<36} {c['empty'][key]:10.2f} s {c['warm'][key]:10.2f} s")
    print(f"  cache speed-up: computation {r['cache']['speedup_first_fits']:.1f}x, whole process "
          f"{r['cache']['speedup_process']:.1f}x")
    j = r["default_experiment_jobs"]
    print(f"  default experiment (config/config.yaml): {j['total']} jobs, {j['processes']} "
          f"processes: {j['by_rule']}"
          + ("; the workflow copy had local changes: " + ", ".join(
              x.strip() for x in j["workflow_local_changes"]) if j.get("workflow_local_changes")
             else ""))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="benchmarks/results/startup.json")
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe()))
        return 0
    result = run("quick" if args.quick else "full")
    return bench_io.finish(result, print_table, args.out)


if __name__ == "__main__":
    sys.exit(main())
