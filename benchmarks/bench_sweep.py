"""The sweep of fits three ways: a minimal batched reference program, eegfit in one process,
and the whole Snakemake pipeline (targets, fits, scan, summary, figures); and the peak memory of
a fit job per chunk size.

Run alone (``run_all.py`` runs it too)::

    python benchmarks/bench_sweep.py [--truths 50 --seeds 10 --chunk-size auto] [--out FILE]
    python benchmarks/bench_sweep.py --quick        # 4 x 2 x 2 = 16 fits, no pipeline: ~15 s

The default is 50 ground truths x 10 seeds x 2 backends = 1,000 fits of the default experiment's
settings (C in [110, 170] from 115, RMS feature, adam(2.0) x 40 steps, DE 6 x 8 with popsize 6
and LHS; truths evenly spaced in [125, 165], seeds 0..n-1). Each side runs in a fresh process
with an empty JAX persistent compilation cache of its own:

- reference: ``sweep_reference.py``, the smallest program doing the same fits batched (no eegfit,
  writes nothing): its process wall time.
- one process: ``python bench_sweep.py --loop CONFIG CACHE OUT``: imports eegfit, makes and writes
  every target, fits all targets with each backend as one batch (``runner.fit_chunk``) and
  writes every fit's NetCDF and timing, as the pipeline's jobs do. Its process wall time.
- pipeline: a temporary copy of the workflow (Snakefile, workflow/, config/, envs/, profiles/)
  with the default config's experiment, only its truths and seeds changed and its posterior and
  NPE blocks removed (``batching`` as in the default config, ``auto``, unless ``--chunk-size``),
  run from nothing as ``snakemake --cores 2``: every target and fit, the scan, the summary and
  the figures. Wall time of the snakemake command, and each stage's jobs' wall times from
  Snakemake's benchmark files (``results/benchmarks/<stage>/``). Nothing is written into
  results/.
- memory: for each chunk size of ``--memory-sizes``, a fresh process fits the first targets of
  the sweep as one chunk with both backends (targets, fits, records, no files) and reports its
  peak resident memory (VmHWM) and wall time.

Ratios, with the load average before and after each side: one process / reference (goal
<= 1.5x) and pipeline / reference (goal <= 2x, issue 26), and the summary and figures jobs
(goal <= 5 s each); pipeline / one process for information (the pipeline also draws). The
fitted values of the pipeline and the one process are compared (the same code and chunks up to
float rounding), and those of the reference.
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


T_START = time.perf_counter()


def sweep_config(n_truths: int, n_seeds: int, chunk_size, cache_dir: str) -> dict:
    """The default config's C experiment with only its truths and seeds changed (and the
    cache folder; ``chunk_size`` None keeps the default config's batching)."""
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    block = default["experiments"]["jansen_rit_C_rms"]
    lo, hi = 125.0, 165.0
    step = (hi - lo) / max(1, n_truths - 1)
    block["parameters"]["C"]["truths"] = [round(lo + i * step, 2) for i in range(n_truths)]
    block["seeds"] = list(range(n_seeds))
    for off in ("posterior", "npe"):  # the sweep's fits and what follows them, nothing else
        block.pop(off, None)
    batching = dict(default.get("batching", {}))
    if chunk_size is not None:
        batching["chunk_size"] = chunk_size
    return {"experiments": {EXPERIMENT: block}, "batching": batching,
            "runtime": {"jax_cache_dir": cache_dir}}


EXPERIMENT = "bench_sweep"


def _fits(config):
    """(backend, label, seed) of every fit of the sweep, and the fitted parameter's name."""
    block = config["experiments"][EXPERIMENT]
    (name, par), = block["parameters"].items()
    return name, [(b, f"{name}={float(t):g}", s) for b in block["backends"]
                  for t in par["truths"] for s in block["seeds"]]


def peak_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def loop(config_path: str, cache_dir: str, out_dir: str) -> dict:
    """The sweep in this one process: every target made and written, all targets fitted with
    each backend as one batch, every fit written (NetCDF and timing JSON)."""
    t0 = time.perf_counter()
    from eegfit import experiments, io, runtime
    from eegfit.experiments import runner
    runtime.configure(cache_dir=cache_dir)
    config = yaml.safe_load(Path(config_path).read_text())
    t_import = time.perf_counter() - t0
    kind = experiments.load(config)[EXPERIMENT]
    name, out = kind.spec.names[0], Path(out_dir)
    targets = kind.targets()
    datasets = []
    for target in targets:
        datasets.append(runner.make_target(kind, target))
        io.write_netcdf(datasets[-1], out / "targets" / target.label / f"seed={target.seed}.nc")
    t_targets = time.perf_counter()
    fitted, phases = {}, {"targets_s": t_targets - t0 - t_import}
    for backend in kind.spec.backends:
        t1 = time.perf_counter()
        records = runner.fit_chunk(kind, backend.name, targets, datasets)
        t2 = time.perf_counter()
        for target, (fit_ds, timing) in zip(targets, records):
            folder = out / "fits" / backend.name / target.label
            io.write_netcdf(fit_ds, folder / f"seed={target.seed}.nc")
            (folder / f"seed={target.seed}.json").write_text(json.dumps(timing))
            fitted[f"{backend.name}/{target.label}/{target.seed}"] = float(fit_ds[f"best_{name}"])
        phases[f"{backend.name}_fit_s"] = t2 - t1
        phases[f"{backend.name}_write_s"] = time.perf_counter() - t2
    return dict(import_s=t_import, compute_s=time.perf_counter() - t0 - t_import, fitted=fitted,
                phases=phases, peak_rss_mb=peak_rss_mb())


def chunk_job(config_path: str, n_targets: int) -> dict:
    """One fit job's work on a chunk of ``n_targets``: targets, both backends, the records."""
    t0 = time.perf_counter()
    from eegfit import experiments
    from eegfit.experiments import runner
    config = yaml.safe_load(Path(config_path).read_text())
    kind = experiments.load(config)[EXPERIMENT]
    targets = kind.targets()[:n_targets]
    datasets = [runner.make_target(kind, t) for t in targets]
    for backend in kind.spec.backends:
        runner.fit_chunk(kind, backend.name, targets, datasets)
    return dict(n_targets=len(targets), wall_s=time.perf_counter() - t0,
                peak_rss_mb=peak_rss_mb())


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


def _process(args, cwd=ROOT) -> tuple[float, dict]:
    """Wall time of a fresh Python process running ``args``, and the JSON of its last line."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=3600)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{args} failed:\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def _compare(a: dict, b: dict) -> dict:
    """Largest relative difference of the fitted values per backend (keys in both)."""
    out = {}
    for key in a.keys() & b.keys():
        backend = key.split("/")[0]
        out[backend] = max(out.get(backend, 0.0), abs(a[key] - b[key]) / abs(b[key]))
    return out


def run(n_truths: int, n_seeds: int, chunk_size=None, memory_sizes=(), keep=False,
        pipeline=True) -> dict:
    say = lambda msg: print(f"  .. {msg}", file=sys.stderr, flush=True)  # noqa: E731
    tmp = Path(tempfile.mkdtemp(prefix="eegfit-bench-sweep-"))
    try:
        work = copy_workflow(tmp / "workflow_copy")
        config = sweep_config(n_truths, n_seeds, chunk_size, str(tmp / "cache_pipeline"))
        config_path = work / "sweep.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        name, fits = _fits(config)
        n_fits = len(fits)
        sys.path.insert(0, str(ROOT / "src"))
        from eegfit.experiments import load
        from eegfit.experiments.chunks import chunk_targets
        kind = load(config)[EXPERIMENT]
        chunks = chunk_targets(kind.targets(), config["batching"].get("chunk_size", "auto"))
        backends = config["experiments"][EXPERIMENT]["backends"]
        out = dict(n_truths=n_truths, n_seeds=n_seeds, n_fits=n_fits,
                   chunk_size=config["batching"].get("chunk_size", "auto"),
                   chunk_sizes=sorted({len(c) for c in chunks}), cpu_count=os.cpu_count(),
                   jobs=dict(targets=len(chunks), fits=len(chunks) * len(backends)))

        say(f"sweep: {n_fits} fits, the minimal batched reference program")
        out["loadavg_before_reference"] = loadavg()
        ref_wall, ref = _process([HERE / "sweep_reference.py", "--truths", n_truths,
                                  "--seeds", n_seeds])
        out["loadavg_after_reference"] = loadavg()

        say(f"sweep: {n_fits} fits in one process (eegfit, every NetCDF written)")
        out["loadavg_before_loop"] = loadavg()
        loop_wall, looped = _process([Path(__file__).resolve(), "--loop", config_path,
                                      tmp / "cache_loop", tmp / "loop_results"])
        out["loadavg_after_loop"] = loadavg()

        pipe_wall, piped, job_walls, job_rss, stages = None, {}, [], [], {}
        if pipeline:
            say(f"sweep: {n_fits} fits through snakemake --cores 2 ({out['jobs']} target and "
                f"fit jobs, then the scan, summary and figures)")
            out["loadavg_before_pipeline"] = loadavg()
            t0 = time.perf_counter()
            proc = subprocess.run([snakemake_bin(), "--cores", "2", "--configfile",
                                   str(config_path), "--quiet", "all"],
                                  cwd=work, capture_output=True, text=True, timeout=3600)
            pipe_wall = time.perf_counter() - t0
            out["loadavg_after_pipeline"] = loadavg()
            if proc.returncode:
                raise RuntimeError(f"snakemake failed:\n{proc.stdout[-2000:]}\n"
                                   f"{proc.stderr[-3000:]}")
            piped = pipeline_fitted(work, config)
            bench_dir = work / "results" / "benchmarks"
            for tsv in sorted(bench_dir.rglob("*.tsv")):
                lines = tsv.read_text().splitlines()
                if len(lines) > 1:
                    header, values = lines[0].split("\t"), lines[1].split("\t")
                    job_walls.append(float(values[0]))
                    stage = stages.setdefault(tsv.relative_to(bench_dir).parts[0],
                                              {"n": 0, "sum_s": 0.0, "max_s": 0.0})
                    stage["n"] += 1
                    stage["sum_s"] += job_walls[-1]
                    stage["max_s"] = max(stage["max_s"], job_walls[-1])
                    if "max_rss" in header and values[header.index("max_rss")] not in ("",
                                                                                     "NA"):
                        job_rss.append(float(values[header.index("max_rss")]))

        memory = []
        for size in memory_sizes:
            say(f"memory: a chunk of {size} targets, both backends, in a fresh process")
            memory.append(_process([Path(__file__).resolve(), "--chunk-job", config_path,
                                    size])[1])
        out.update(
            reference_wall_s=ref_wall, reference=dict(
                {k: ref[k] for k in ("targets_s", "grad_s", "de_s", "process_s")}),
            loop_wall_s=loop_wall, loop_import_s=looped["import_s"],
            loop_compute_s=looped["compute_s"], loop_phases=looped["phases"],
            loop_peak_rss_mb=looped["peak_rss_mb"],
            pipeline_wall_s=pipe_wall, pipeline_stages=stages,
            ratio_loop_to_reference=loop_wall / ref_wall, target_loop_to_reference=1.5,
            ratio_pipeline_to_reference=pipe_wall and pipe_wall / ref_wall,
            target_pipeline_to_reference=2.0, target_post_fit_job_s=5.0,
            ratio=pipe_wall and pipe_wall / loop_wall,
            per_fit_pipeline_s=pipe_wall and pipe_wall / n_fits,
            per_fit_loop_s=loop_wall / n_fits,
            per_fit_reference_s=ref_wall / n_fits,
            pipeline_job_wall_s=dict(n=len(job_walls), sum=sum(job_walls),
                                     max=max(job_walls, default=0.0)),
            pipeline_job_max_rss_mb=max(job_rss, default=None),
            max_rel_diff_pipeline_vs_loop=_compare(piped, looped["fitted"]),
            max_rel_diff_loop_vs_reference=_compare(looped["fitted"], ref["fitted"]),
            n_compared=len(looped["fitted"]), memory=memory,
            # A few fits only show the fixed costs (a smoke test): no verdict below 200 fits.
            ok=dict(loop=loop_wall / ref_wall <= 1.5,
                    pipeline=None if pipe_wall is None else pipe_wall / ref_wall <= 2.0,
                    **{stage: None if stage not in stages else stages[stage]["max_s"] <= 5.0
                       for stage in ("summary", "figures")})
            if n_fits >= 200 else None)
        if keep:
            out["kept"] = str(tmp)
        return out
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def print_table(r: dict) -> None:
    verdict = lambda key: "no verdict" if r["ok"] is None else (  # noqa: E731
        "OK" if r["ok"][key] else "MISSED")
    print(f"\nsweep: {r['n_fits']} fits ({r['n_truths']} truths x {r['n_seeds']} seeds x 2 "
          f"backends), chunk_size {r['chunk_size']} (chunks of {r['chunk_sizes']} on "
          f"{r['cpu_count']} CPUs) -> {r['jobs']['targets']} target jobs + {r['jobs']['fits']} "
          f"fit jobs")
    ref = r["reference"]
    print(f"  reference (minimal batched program)  {r['reference_wall_s']:8.1f} s  (targets "
          f"{ref['targets_s']:.1f} s, grad {ref['grad_s']:.1f} s, DE {ref['de_s']:.1f} s)")
    ph = r["loop_phases"]
    print(f"  one process (imports {r['loop_import_s']:.1f} s)        {r['loop_wall_s']:8.1f} s  "
          f"({r['per_fit_loop_s'] * 1e3:.0f} ms per fit; targets {ph['targets_s']:.1f} s, "
          + ", ".join(f"{b} fit {ph[f'{b}_fit_s']:.1f} s + write {ph[f'{b}_write_s']:.1f} s"
                      for b in ("grad", "nevergrad") if f"{b}_fit_s" in ph)
          + f"; peak RSS {r['loop_peak_rss_mb']:.0f} MB)")
    if r["pipeline_wall_s"] is None:
        print("  snakemake --cores 2                  (skipped: --quick)")
    else:
        print(f"  snakemake --cores 2                  {r['pipeline_wall_s']:8.1f} s  "
              f"({r['per_fit_pipeline_s'] * 1e3:.0f} ms per fit; jobs' own wall times add up to "
              f"{r['pipeline_job_wall_s']['sum']:.1f} s; largest job max_rss "
              f"{r['pipeline_job_max_rss_mb'] or float('nan'):.0f} MB)")
    for stage, t in r.get("pipeline_stages", {}).items():
        print(f"    {stage:<10} {t['n']:3d} job{'s' * (t['n'] > 1)}: {t['sum_s']:6.1f} s in all, "
              f"longest {t['max_s']:5.1f} s"
              + (f"  (target <= 5 s: {verdict(stage)})" if stage in ("summary", "figures")
                 else ""))
    print(f"  one process / reference              {r['ratio_loop_to_reference']:8.2f}x  "
          f"(target <= 1.5x: {verdict('loop')})")
    if r["ratio"] is not None:
        print(f"  pipeline / reference                 {r['ratio_pipeline_to_reference']:8.2f}x"
              f"  (target <= 2x: {verdict('pipeline')})")
        print(f"  pipeline / one process               {r['ratio']:8.2f}x  (the pipeline also "
              f"makes the scan, summary and figures)")
    fmt = lambda d: ", ".join(f"{k} {v:.2g}" for k, v in sorted(d.items())) or "-"  # noqa: E731
    print(f"  fitted values, largest relative difference: pipeline vs one process "
          f"{fmt(r['max_rel_diff_pipeline_vs_loop'])}; one process vs reference "
          f"{fmt(r['max_rel_diff_loop_vs_reference'])} ({r['n_compared']} fits)")
    for m in r.get("memory", []):
        print(f"  a fit job's chunk of {m['n_targets']:4d} targets (both backends): peak RSS "
              f"{m['peak_rss_mb']:.0f} MB, {m['wall_s']:.1f} s")
    la = [r.get(k) for k in ("loadavg_before_reference", "loadavg_after_reference",
                             "loadavg_before_loop", "loadavg_after_loop",
                             "loadavg_before_pipeline", "loadavg_after_pipeline")]
    print("  load average (1 min) before/after reference, one process, pipeline: "
          + ", ".join(f"{x[0]:.2f}" if x else "-" for x in la))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 truths x 2 seeds x 2 backends")
    parser.add_argument("--truths", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--chunk-size", default=None,
                        help="batching.chunk_size (default: the default config's, auto)")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[1, 10, 50, 250, 500],
                        help="chunk sizes whose fit job's peak memory is measured")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--loop", nargs=3, metavar=("CONFIG", "CACHE", "OUT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--chunk-job", nargs=2, metavar=("CONFIG", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default="benchmarks/results/sweep.json")
    args = parser.parse_args(argv)
    if args.loop:
        print(json.dumps(loop(*args.loop)))
        return 0
    if args.chunk_job:
        print(json.dumps(chunk_job(args.chunk_job[0], int(args.chunk_job[1]))))
        return 0
    chunk = None if args.chunk_size in (None, "auto") else int(args.chunk_size)
    if args.quick:  # CI-sized: the reference and the one process only, about 15 s
        args.truths, args.seeds, args.memory_sizes = 4, 2, []
    result = run(args.truths, args.seeds, chunk, args.memory_sizes, keep=args.keep,
                 pipeline=not args.quick)
    return bench_io.finish(result, print_table, args.out)


if __name__ == "__main__":
    sys.exit(main())
