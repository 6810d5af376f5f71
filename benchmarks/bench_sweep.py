"""A sweep of fits through the Snakemake pipeline vs the same fits in one Python process.

Run alone (``run_all.py`` runs it too)::

    python benchmarks/bench_sweep.py [--truths 50 --seeds 10 --chunk-size 50] [--out FILE]

The default is 50 ground truths x 10 seeds x 2 backends = 1,000 fits (``--quick``: 4 x 2 x 2 =
16). Both sides start with an empty JAX persistent compilation cache of their own and compute the
same fits (the default experiment's settings: C in [110, 170] from 115, RMS feature, adam(2.0) x
40 steps, DE 6 x 8 with popsize 6; truths evenly spaced in [125, 165], seeds 0..n-1):

- pipeline: a temporary copy of the workflow (Snakefile, workflow/, config/, envs/, profiles/)
  with a config that sets the truths, seeds, ``batching.chunk_size`` and
  ``runtime.jax_cache_dir`` (a new empty folder), run as ``snakemake --cores 2 TARGETS`` where the
  targets are every fit's NetCDF (so the jobs are the target and fit jobs: landscape, summary and
  figures are not asked for). Wall time of the snakemake command, start to exit. Nothing is
  written into the repository's results/.
- one process: ``python bench_sweep.py --loop CONFIG CACHE`` in a fresh process that imports
  eegfit, calls ``eegfit.runtime.configure(cache_dir=CACHE)`` (XLA keeps its default threads),
  and for each (truth, seed) computes the target and its feature (``experiment.target``,
  ``experiment.features_of``), then ``experiment.run_fit`` for each backend. No files written.
  Wall time of the process, start to exit.

The ratio pipeline / one process is the overhead of the pipeline (process starts, imports,
Snakemake's scheduling, NetCDF writes, a simulation of each fitted trace) net of its use of two
cores. The load average is recorded before and after each side. The fitted values of both sides
are compared (they must agree: same code, same seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_io  # noqa: E402  (benchmarks/ is the script's folder)

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_startup import copy_workflow, snakemake_bin  # noqa: E402


def sweep_config(n_truths: int, n_seeds: int, chunk_size: int, cache_dir: str) -> dict:
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    block = default["experiments"]["jansen_rit_C_rms"]
    lo, hi = 125.0, 165.0
    step = (hi - lo) / max(1, n_truths - 1)
    block["parameters"]["C"]["truths"] = [round(lo + i * step, 2) for i in range(n_truths)]
    block["seeds"] = list(range(n_seeds))
    return {"experiments": {EXPERIMENT: block}, "batching": {"chunk_size": int(chunk_size)},
            "runtime": {"jax_cache_dir": cache_dir}}


EXPERIMENT = "bench_sweep"


def _fits(config):
    """(backend, label, seed) of every fit of the sweep, and the fitted parameter's name."""
    block = config["experiments"][EXPERIMENT]
    (name, par), = block["parameters"].items()
    return name, [(b, f"{name}={float(t):g}", s) for b in block["backends"]
                  for t in par["truths"] for s in block["seeds"]]


def loop(config_path: str, cache_dir: str) -> dict:
    """The same fits in this one process (no files written)."""
    t0 = time.perf_counter()
    from eegfit import experiments, runtime
    from eegfit.experiments import runner
    runtime.configure(cache_dir=cache_dir)
    config = yaml.safe_load(Path(config_path).read_text())
    t_import = time.perf_counter() - t0
    kind = experiments.load(config)[EXPERIMENT]
    name = kind.spec.names[0]
    fitted = {}
    for target in kind.targets():
        target_ds = runner.make_target(kind, target)
        for backend in kind.spec.backends:
            fit_ds, _ = runner.fit(kind, backend.name, target, target_ds)
            fitted[f"{backend.name}/{target.label}/{target.seed}"] = float(fit_ds[f"best_{name}"])
    return dict(import_s=t_import, compute_s=time.perf_counter() - t0 - t_import, fitted=fitted)


def pipeline_fitted(work: Path, config: dict) -> dict:
    import xarray as xr
    name, fits = _fits(config)
    out = {}
    for backend, label, seed in fits:
        path = work / f"results/{EXPERIMENT}/fits/{backend}/{label}/seed={seed}.nc"
        with xr.open_dataset(path) as ds:
            out[f"{backend}/{label}/{seed}"] = float(ds[f"best_{name}"])
    return out


def loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def run(n_truths: int, n_seeds: int, chunk_size: int, keep: bool = False) -> dict:
    say = lambda msg: print(f"  .. {msg}", file=sys.stderr, flush=True)  # noqa: E731
    tmp = Path(tempfile.mkdtemp(prefix="eegfit-bench-sweep-"))
    try:
        work = copy_workflow(tmp / "workflow_copy")
        config = sweep_config(n_truths, n_seeds, chunk_size, str(tmp / "cache_pipeline"))
        config_path = work / "sweep.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        name, fits = _fits(config)
        targets = [f"results/{EXPERIMENT}/fits/{b}/{label}/seed={s}.nc" for b, label, s in fits]
        n_fits = len(targets)
        n_pairs = n_truths * n_seeds
        n_chunks = -(-n_pairs // chunk_size)
        backends = config["experiments"][EXPERIMENT]["backends"]
        out = dict(n_truths=n_truths, n_seeds=n_seeds, n_fits=n_fits, chunk_size=chunk_size,
                   jobs=dict(targets=n_chunks, fits=n_chunks * len(backends)))

        say(f"sweep: {n_fits} fits in one process")
        out["loadavg_before_loop"] = loadavg()
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--loop",
                               str(config_path), str(tmp / "cache_loop")],
                              capture_output=True, text=True, cwd=ROOT, timeout=3600)
        loop_wall = time.perf_counter() - t0
        if proc.returncode:
            raise RuntimeError(f"the one-process loop failed:\n{proc.stderr[-3000:]}")
        looped = json.loads(proc.stdout.strip().splitlines()[-1])
        out["loadavg_after_loop"] = loadavg()

        say(f"sweep: {n_fits} fits through snakemake --cores 2 ({out['jobs']} jobs)")
        out["loadavg_before_pipeline"] = loadavg()
        t0 = time.perf_counter()
        proc = subprocess.run([snakemake_bin(), "--cores", "2", "--configfile", str(config_path),
                               "--quiet", "all", "--", *targets],
                              cwd=work, capture_output=True, text=True, timeout=3600)
        pipe_wall = time.perf_counter() - t0
        out["loadavg_after_pipeline"] = loadavg()
        if proc.returncode:
            raise RuntimeError(f"snakemake failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        piped = pipeline_fitted(work, config)
        diffs = [abs(piped[k] - looped["fitted"][k]) for k in piped]
        job_walls = []
        for tsv in (work / "results" / "benchmarks").rglob("*.tsv"):
            lines = tsv.read_text().splitlines()
            if len(lines) > 1:
                job_walls.append(float(lines[1].split("\t")[0]))
        out.update(
            pipeline_wall_s=pipe_wall, loop_wall_s=loop_wall, loop_import_s=looped["import_s"],
            loop_compute_s=looped["compute_s"], ratio=pipe_wall / loop_wall,
            per_fit_pipeline_s=pipe_wall / n_fits, per_fit_loop_s=loop_wall / n_fits,
            pipeline_job_wall_s=dict(n=len(job_walls), sum=sum(job_walls),
                                     max=max(job_walls, default=0.0)),
            max_abs_diff_fitted=max(diffs), n_compared=len(diffs),
            target_ratio=2.0,
            # A few fits only show the fixed costs (a smoke test): no verdict below 200 fits.
            ok=(pipe_wall / loop_wall <= 2.0) if n_fits >= 200 else None)
        if keep:
            out["kept"] = str(tmp)
        return out
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def print_table(r: dict) -> None:
    print(f"\nsweep: {r['n_fits']} fits ({r['n_truths']} truths x {r['n_seeds']} seeds x 2 "
          f"backends), chunk_size {r['chunk_size']} -> {r['jobs']['targets']} target jobs + "
          f"{r['jobs']['fits']} fit jobs")
    print(f"  one process (imports {r['loop_import_s']:.1f} s)      {r['loop_wall_s']:8.1f} s  "
          f"({r['per_fit_loop_s'] * 1e3:.0f} ms per fit)")
    print(f"  snakemake --cores 2                {r['pipeline_wall_s']:8.1f} s  "
          f"({r['per_fit_pipeline_s'] * 1e3:.0f} ms per fit; jobs' own wall times add up to "
          f"{r['pipeline_job_wall_s']['sum']:.1f} s)")
    print(f"  ratio pipeline / one process       {r['ratio']:8.2f}x  (target <= 2x: "
          f"{'OK' if r['ok'] else 'MISSED'}); fitted values agree to "
          f"{r['max_abs_diff_fitted']:.2g} over {r['n_compared']} fits")
    la = [r.get(k) for k in ("loadavg_before_loop", "loadavg_after_loop",
                             "loadavg_before_pipeline", "loadavg_after_pipeline")]
    print("  load average (1 min) before/after loop, before/after pipeline: "
          + ", ".join(f"{x[0]:.2f}" if x else "?" for x in la))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 truths x 2 seeds x 2 backends")
    parser.add_argument("--truths", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--chunk-size", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--loop", nargs=2, metavar=("CONFIG", "CACHE"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default="benchmarks/results/sweep.json")
    args = parser.parse_args(argv)
    if args.loop:
        print(json.dumps(loop(*args.loop)))
        return 0
    if args.quick:
        args.truths, args.seeds, args.chunk_size = 4, 2, 4
    result = run(args.truths, args.seeds, args.chunk_size, keep=args.keep)
    return bench_io.finish(result, print_table, args.out)


if __name__ == "__main__":
    sys.exit(main())
