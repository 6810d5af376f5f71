"""The whole benchmark suite in one command: tables on stdout, one JSON, one figure.

    python benchmarks/run_all.py            # full: about 10-15 minutes on a 2-core CPU
    python benchmarks/run_all.py --quick    # fewer samples and smaller sweeps: about 2 minutes
    python benchmarks/run_all.py --only batching scaling     # some sections only

Sections (each also runs alone as ``python benchmarks/bench_<name>.py``):

- ``core``      bench_core.py: compile, forward and value-and-grad vs a minimal scan, the grad fit
                in value-and-grad evaluations, hand-written loops, nevergrad per-step overhead;
- ``brainmass`` bench_brainmass.py: eegfit vs brainmass 0.1.1 on the case study (needs
                ``bash benchmarks/setup_brainmass.sh`` once; skipped with a note otherwise);
- ``batching``  bench_batching.py: n candidates in one call vs one evaluation, three layouts;
- ``startup``   bench_startup.py: import times, first fits with an empty vs a warm cache, the
                default experiment's job count;
- ``scaling``   bench_scaling.py: time and peak memory vs batch size and vs simulated length;
- ``sweep``     bench_sweep.py: a 1,000-fit sweep through snakemake (targets to figures) and in
                one process vs a minimal batched program;
- ``posterior`` bench_posterior.py: grid posteriors (1-D, 2-D) per target and NUTS (effective
                samples per second and per model evaluation) beside the point fits' cost;
- ``npe``       bench_npe.py: NPE training for its budget, draws per second per target, and
                posteriors for 1,000 targets by NPE against the grid and NUTS.

Writes ``benchmarks/results/all.json`` (every number, the machine, the code version, load
averages), ``benchmarks/results/scaling.{png,pdf}`` and ``benchmarks/results/summary.md`` (the
table of the README's Performance section filled with this run's numbers). Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_core as core  # noqa: E402  (first: sets the persistent compilation cache off)
import bench_batching  # noqa: E402
import bench_brainmass  # noqa: E402
import bench_npe  # noqa: E402
import bench_posterior  # noqa: E402
import bench_scaling  # noqa: E402
import bench_startup  # noqa: E402
import bench_sweep  # noqa: E402

SECTIONS = ("core", "brainmass", "batching", "startup", "scaling", "sweep", "posterior", "npe")


def run_section(name: str, quick: bool, args) -> dict:
    mode = "quick" if quick else "full"
    if name == "core":
        return core.run(mode)
    if name == "brainmass":
        return bench_brainmass.run(mode)
    if name == "batching":
        return bench_batching.run(mode, sizes=(1, 8, 64, 1024) if quick else None)
    if name == "startup":
        return bench_startup.run(mode)
    if name == "scaling":
        if quick:
            bench_scaling.QUICK_BATCHES, bench_scaling.QUICK_LENGTHS_S = (1, 1024), (0.6, 60.0)
        return bench_scaling.run(mode)
    if name == "sweep":
        if quick:
            return bench_sweep.run(4, 2, None, (), pipeline=False)
        return bench_sweep.run(args.sweep_truths, args.sweep_seeds, args.chunk_size,
                               (1, 10, 50, 250, 500))
    if name == "posterior":
        return bench_posterior.run(mode)
    if name == "npe":
        return bench_npe.run(mode)
    raise ValueError(name)


PRINTERS = {"core": core.print_table, "brainmass": bench_brainmass.print_table,
            "batching": bench_batching.print_table, "startup": bench_startup.print_table,
            "scaling": bench_scaling.print_table, "sweep": bench_sweep.print_table,
            "posterior": bench_posterior.print_table, "npe": bench_npe.print_table}


# --- figure --------------------------------------------------------------------------------------
def plot(results: dict, stem: Path) -> list[Path] | None:
    bat, sca = results.get("batching"), results.get("scaling")
    if not bat and not sca:
        return None
    from eegfit import plots
    fig, axes = plots.figure(plots.DOUBLE_COLUMN_IN, plots.DOUBLE_COLUMN_IN * 0.62, nrows=2,
                             ncols=2)
    (a, b), (c, d) = axes
    styles = {"eegfit": ("#0072B2", "o", "eegfit (vmap path)"),
              "vmap": ("#E69F00", "v", "pure vmap layout"),
              "broadcast": ("#009E73", "^", "pure broadcast layout"),
              "ref_stream": ("0.5", "x", "hand-written, RMS in the scan")}
    if bat:
        one_ms = core.med(bat["one_eval"]) * 1e3
        for name, (color, marker, label) in styles.items():
            rows = bat["layouts"].get(name)
            if not rows:
                continue
            ns = sorted(int(n) for n in rows)
            a.plot(ns, [core.med(rows[str(n)]["time"]) * 1e3 / n for n in ns], marker=marker,
                   ms=3, color=color, label=label, ls="--" if name == "ref_stream" else "-")
        a.axhline(one_ms, color="0.3", lw=0.6, ls=":", label="one evaluation")
        a.axhline(one_ms * 0.1, color="#D55E00", lw=0.6, ls=":", label="target at n = 1,024")
        a.axvline(bat["broadcast_min_batch"], color="0.7", lw=0.5)
    if sca and sca.get("batch"):
        pts = [p for p in sca["batch"] if "error" not in p]
        a.plot([p["value"] for p in pts], [p["value_and_grad"]["per_candidate_s"] * 1e3
                                           for p in pts], marker="s", ms=3, color="#CC79A7",
               label="value-and-grad (vmap)")
        c.plot([p["value"] for p in pts], [p["forward"]["peak_rss_mb"] for p in pts],
               marker="o", ms=3, color="#0072B2", label="forward")
        c.plot([p["value"] for p in pts], [p["value_and_grad"]["peak_rss_mb"] for p in pts],
               marker="s", ms=3, color="#CC79A7", label="value-and-grad")
        c.plot([p["value"] for p in pts], [p["rss_base_mb"] for p in pts], color="0.5", lw=0.6,
               ls=":", label="process after imports")
    a.set(xscale="log", yscale="log", xlabel="candidates per call n",
          ylabel="time per candidate (ms)", title="a  batched evaluation, 600 ms simulated")
    a.legend(loc="lower left", fontsize=5)
    c.set(xscale="log", xlabel="candidates per call n", ylabel="peak RSS (MB)",
          title="c  memory vs batch size")
    c.legend(fontsize=5)
    if sca and sca.get("length"):
        pts = [p for p in sca["length"] if "error" not in p]
        xs = [p["value"] for p in pts]
        for key, color, marker, label in (
                ("forward", "#0072B2", "o", "forward"),
                ("value_and_grad_checkpoint", "#009E73", "^", "value-and-grad, checkpoint"),
                ("value_and_grad", "#CC79A7", "s", "value-and-grad, plain")):
            b.plot(xs, [p[key]["median_s"] * 1e3 for p in pts], marker=marker, ms=3, color=color,
                   label=label)
            d.plot(xs, [p[key]["peak_rss_mb"] for p in pts], marker=marker, ms=3, color=color,
                   label=label)
        d.plot(xs, [p["rss_base_mb"] for p in pts], color="0.5", lw=0.6, ls=":",
               label="process after imports")
    b.set(xscale="log", yscale="log", xlabel="simulated time (s), dt 0.1 ms",
          ylabel="time per evaluation (ms)", title="b  one column vs simulated length")
    b.legend(fontsize=5)
    d.set(xscale="log", xlabel="simulated time (s)", ylabel="peak RSS (MB)",
          title="d  memory vs simulated length")
    d.legend(fontsize=5)
    return plots.save(fig, stem)


# --- summary -------------------------------------------------------------------------------------
def summary_markdown(r: dict) -> str:
    """The measured table (markdown) of this run, as the README's Performance section shows it."""
    L = []
    m = r["machine"]
    L.append(f"Machine: {m['cpu_model']}, {m['cpu_count']} CPUs, jax {m['jax']} ({m['backend']}), "
             f"Python {m['python']}; load average (1 min) {r['loadavg_start'][0]:.2f} at start, "
             f"{r['loadavg_end'][0]:.2f} at end; mode {r['mode']}.")
    L.append("")
    L.append("| # | what | measured | target | |")
    L.append("| --- | --- | --- | --- | --- |")

    def row(num, what, measured, target="", ok=None):
        mark = "" if ok is None else ("met" if ok else "**missed**")
        L.append(f"| {num} | {what} | {measured} | {target} | {mark} |")
    ft = lambda s: core.fmt_t(s).strip()  # noqa: E731
    bm = r.get("brainmass")
    if bm and "comparison" in bm:
        for kind, label in (("grad", "grad fit (adam 2.0 x 40)"), ("de", "nevergrad fit (DE 6 x 8)")):
            c, e = bm["comparison"][kind], bm["eegfit"][kind]
            row(0, f"{label}: brainmass / eegfit, steady", f"{c['speedup_steady']:.0f}x "
                f"({ft(c['brainmass_steady_s'])} vs {ft(c['eegfit_steady_s'])}; fitted C "
                f"{c['brainmass_best_C']:.2f} vs {c['eegfit_best_C']:.2f})",
                f">= {c['target']:g}x", c["ok"])
            row(0, f"{label}: first call (compile)", f"eegfit {ft(e['first_s'])} (compile "
                f"{ft(e['compile_s'])}); brainmass {ft(c['brainmass_first_s'])}")
    elif bm:
        row(0, "brainmass", f"not run: {bm['brainmass'].get('error', '?').strip()[-200:]}")
    co = r.get("core")
    if co:
        row(1, "forward / minimal scan", f"{co['reference']['forward_ratio']:.2f}x", "<= 1.5x",
            co["reference"]["forward_ratio"] <= 1.5)
        row(1, "value-and-grad / minimal scan", f"{co['reference']['value_and_grad_ratio']:.2f}x",
            "<= 1.5x", co["reference"]["value_and_grad_ratio"] <= 1.5)
        g = co["grad_fit"]
        row(1, "40-step grad fit in value-and-grad evaluations",
            f"{g['cost_in_value_and_grad']:.1f} ({ft(core.med(g['steady']))})", "<= ~50",
            g["cost_in_value_and_grad"] <= 50)
        d = co["de_fit"]
        row(2, "nevergrad loop: Python + ask/tell overhead per step",
            f"{ft(core.med(d['python_overhead_per_step']))} "
            f"({d['overhead_per_step_in_eval6']:.1f}x one 6-candidate call)")
    ba = r.get("batching")
    if ba:
        one = core.med(ba["one_eval"])
        for n in ba["settings"]["sizes"]:
            e = ba["layouts"]["eegfit"][str(n)]
            v, b = ba["layouts"]["vmap"][str(n)], ba["layouts"]["broadcast"][str(n)]
            t = ba["targets"].get(str(n))
            meas = (f"{e['ratio_to_one_eval']:.2f}x (vmap {v['ratio_to_one_eval']:.2f}x, "
                    f"broadcast {b['ratio_to_one_eval']:.2f}x)")
            if n == 1024:
                s = ba["layouts"].get("ref_stream", {}).get(str(n))
                meas += (f"; {e['per_candidate_in_evals']:.3f} eval per candidate"
                         + (f" (hand-written, RMS in the scan: {s['per_candidate_in_evals']:.3f})"
                            if s else ""))
            row(2, f"{n} candidates in one call / one evaluation ({ft(one)})", meas,
                "" if t is None else t["target"], None if t is None else t["ok"])
        if ba.get("bare_nevergrad_step"):
            row(2, "bare nevergrad DE ask/tell per step (6 candidates, no evaluation)",
                ft(core.med(ba["bare_nevergrad_step"])))
    st = r.get("startup")
    if st:
        im, c = st["imports"], st["cache"]["median"]
        row(3, "import in a fresh process: jax / optax / nevergrad / eegfit",
            " / ".join(f"{im[k]['import_s']:.2f} s" for k in ("jax", "optax", "nevergrad",
                                                              "eegfit"))
            if im else "(full run only)")
        row(3, "job start-up: first grad + DE fit (empty -> warm cache)",
            f"{c['empty']['first_fits_s']:.2f} s -> {c['warm']['first_fits_s']:.2f} s "
            f"(whole process {c['empty']['process_wall_s']:.2f} s -> "
            f"{c['warm']['process_wall_s']:.2f} s)")
        j = st["default_experiment_jobs"]
        row(3, "jobs of the default experiment (config/config.yaml)",
            f"{j['total']} jobs ({j['processes']} processes)")
    sw = r.get("sweep")
    if sw:
        ok = sw["ok"] or {}
        row(4, f"{sw['n_fits']}-fit sweep: one process (every NetCDF written) / the minimal "
            f"batched reference", f"{sw['ratio_loop_to_reference']:.2f}x "
            f"({sw['loop_wall_s']:.0f} s vs {sw['reference_wall_s']:.0f} s)",
            "<= 1.5x" if sw["ok"] is not None else "(<= 1.5x; no verdict below 200 fits)",
            ok.get("loop"))
        if sw["ratio"] is not None:
            row(4, f"{sw['n_fits']}-fit sweep, chunk_size {sw['chunk_size']} "
                f"({sw['jobs']['fits']} fit jobs), targets to figures: snakemake --cores 2 / "
                f"the minimal batched reference",
                f"{sw['ratio_pipeline_to_reference']:.2f}x ({sw['pipeline_wall_s']:.0f} s vs "
                f"{sw['reference_wall_s']:.0f} s; one process {sw['loop_wall_s']:.0f} s)",
                "<= 2x" if sw["ok"] is not None else "(<= 2x; no verdict below 200 fits)",
                ok.get("pipeline"))
            for stage in ("summary", "figures"):
                if stage in sw["pipeline_stages"]:
                    row(4, f"{sw['n_fits']}-fit sweep: the {stage} job (Snakemake benchmark)",
                        f"{sw['pipeline_stages'][stage]['max_s']:.1f} s",
                        "<= 5 s" if sw["ok"] is not None else "(<= 5 s; no verdict below 200 "
                                                            "fits)", ok.get(stage))
        for m in sw.get("memory", []):
            row(4, f"a fit job's peak memory, chunk of {m['n_targets']} targets (both backends)",
                f"{m['peak_rss_mb']:.0f} MB ({m['wall_s']:.1f} s)")
    sc = r.get("scaling")
    if sc:
        for p in sc.get("batch", []):
            if "error" not in p and int(p["value"]) in (1, 64, 1024):
                row(5, f"batch {int(p['value'])}, 600 ms: per candidate forward / value-and-grad",
                    f"{ft(p['forward']['per_candidate_s'])} / "
                    f"{ft(p['value_and_grad']['per_candidate_s'])}; peak RSS "
                    f"{p['value_and_grad']['peak_rss_mb']:.0f} MB")
        for p in sc.get("length", []):
            if "error" not in p:
                row(5, f"{p['value']:g} s simulated, batch 1: forward / vg checkpoint / vg plain",
                    f"{ft(p['forward']['median_s'])} / "
                    f"{ft(p['value_and_grad_checkpoint']['median_s'])} / "
                    f"{ft(p['value_and_grad']['median_s'])}; peak RSS "
                    f"{p['value_and_grad_checkpoint']['peak_rss_mb']:.0f} / "
                    f"{p['value_and_grad']['peak_rss_mb']:.0f} MB")
    po = r.get("posterior")
    if po:
        grad = po["point_fits"]["grad"]["steady_s"]
        row(6, "point fits: grad (adam x 40) / nevergrad (DE 6 x 8), steady",
            f"{ft(grad)} / {ft(po['point_fits']['nevergrad']['steady_s'])}")
        for dim, label in (("1d", "grid posterior, C from RMS, 241 cells + 2 refinements"),
                           ("2d", "grid posterior, C and p, 41 x 41 cells + 1 refinement")):
            g = po["grid"][dim][-1]
            row(6, label, f"{ft(g['wall_s'])} per target ({g['n_evaluations']} evaluations; "
                f"{g['wall_s'] / grad:.1f}x a grad fit)")
        n = po["nuts"]["runs"][-1]
        s = po["nuts"]["settings"]
        row(6, f"NUTS, C from RMS, {s['chains']} chains x ({s['warmup']} + {s['draws']})",
            f"{n['ess_per_s']:.0f} ESS/s, {n['ess_per_evaluation']:.3f} ESS per evaluation "
            f"({n['wall_s']:.1f} s, {n['n_evaluations']} gradient evaluations, R-hat "
            f"{n['rhat']:.3f}; {n['wall_s'] / grad:.0f}x a grad fit)")
    ne = r.get("npe")
    if ne:
        n, s = ne["npe"], ne["npe"]["settings"]
        total = n["training_s"] + n["targets_one_by_one_s"]
        row(7, f"NPE training, {s['n_simulations']} simulations x {s['steps']} steps",
            f"{n['training_s']:.1f} s (simulations {n['simulation_s']:.1f} s)")
        row(7, "NPE, 1,000 draws for a new target (after the first call)",
            f"{ft(n['per_target_median_s'])} ({n['draws_per_s']:.2g} draws/s)", "< 0.5 s",
            n["per_target_median_s"] < 0.5)
        row(7, "1,000 targets: NPE (with training) / grid / NUTS (estimated)",
            f"{total:.0f} s / {ne['grid']['for_1000_s']:.0f} s / {ne['nuts']['for_1000_s']:.0f} s "
            f"({ne['grid']['for_1000_s'] / total:.1f}x, {ne['nuts']['for_1000_s'] / total:.0f}x "
            f"the NPE)")
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about 2 minutes")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run these sections only")
    parser.add_argument("--skip", nargs="+", choices=SECTIONS, default=[])
    parser.add_argument("--sweep-truths", type=int, default=50)
    parser.add_argument("--sweep-seeds", type=int, default=10)
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="the sweep's batching.chunk_size (default: the config's, auto)")
    parser.add_argument("--outdir", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    sections = [s for s in (args.only or SECTIONS) if s not in args.skip]
    t0 = time.perf_counter()
    results = dict(mode="quick" if args.quick else "full", machine=core.machine_info(),
                   code=core.code_info(), loadavg_start=core.loadavg(), sections=sections,
                   section_wall_s={})
    for name in sections:
        print(f"== {name}", file=sys.stderr, flush=True)
        ts = time.perf_counter()
        try:
            results[name] = run_section(name, args.quick, args)
        except Exception as err:  # noqa: BLE001  (one failing section must not lose the rest)
            results[name] = None
            results.setdefault("errors", {})[name] = f"{type(err).__name__}: {err}"
            print(f"   {name} failed: {err}", file=sys.stderr, flush=True)
        results["section_wall_s"][name] = time.perf_counter() - ts
        (outdir / "all.json").write_text(json.dumps(results, indent=1))
    results["loadavg_end"] = core.loadavg()
    results["total_wall_s"] = time.perf_counter() - t0
    for name in sections:
        if results.get(name):
            PRINTERS[name](results[name])
    figure = plot(results, outdir / "scaling")
    results["figure"] = [str(p) for p in figure] if figure else None
    summary = summary_markdown(results)
    (outdir / "summary.md").write_text(summary)
    (outdir / "all.json").write_text(json.dumps(results, indent=1))
    print("\n" + summary)
    for name, err in results.get("errors", {}).items():
        print(f"section {name} failed: {err}")
    print(f"wrote {outdir / 'all.json'}, {outdir / 'summary.md'}"
          + (f", {', '.join(results['figure'])}" if figure else "")
          + f" (suite took {results['total_wall_s']:.0f} s; per section: "
          + ", ".join(f"{k} {v:.0f} s" for k, v in results["section_wall_s"].items()) + ")")
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
