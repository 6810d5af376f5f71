"""Amortized posteriors (NPE) against the grid and NUTS, in one run: what 1,000 targets cost.

Run alone (``run_all.py`` runs it too)::

    python benchmarks/bench_npe.py [--quick] [--out FILE]

The case study (Jansen-Rit, 220 Hz constant drive, 600 ms at dt 0.1 ms, first 200 ms discarded,
C in [110, 170] uniform); the likelihood's scale is 1 % of the feature. Measured:

- NPE training for its budget (prior simulations on the batched path, then the compiled
  training loop, compilation included): the one-off cost (full: the default config's 4,000
  simulations and 3,000 steps; quick: 2,000 and 500);
- NPE draws for a new target: 1,000 draws, after a first call that compiles (median over
  targets), and draws per second;
- 1,000 targets (truths spread over the box, observed with the likelihood's noise): the NPE,
  target by target (1,000 draws each) and all in one call; the grid posterior (241 cells, 2
  refinements) target by target (quick: 40 targets, scaled to 1,000); NUTS (4 chains x (300 +
  500)) on 2 targets, scaled to 1,000. Ratios: each method's total against the NPE's, training
  included.

Per target, against the grid (issue 22): every NPE is held to its grid posterior, sd within 1.3x
and mean within 0.25 grid sd (:mod:`eegfit.infer.npe.check`), on its experiment's default
targets:

- the column (config/config.yaml's ``jansen_rit_C_rms``: its npe: settings, C = 135, 140, 150,
  160 observed without noise, the grid of its posterior: block), amortized and with the focused
  round (``npe.focus``), and the time of a focused round;
- the recording (config/config.yaml's ``recording_demo`` as configured, white floor included,
  its demo recording of 120 s at a = 100 /s, b = 50 /s): training on noisy simulations (full:
  4,000 x 16 realisations of 5.5 s, each with a floor drawn from its prior; quick:
  .test/npe_recording.yaml, b alone on 30 s, no floor), then per recording the amortized draws,
  the focused round (full: also two and three rounds) and the grid posterior of the pipeline (quick: 41 cells + 1 refinement;
  full: 21 x 21 + 1), and the per-target check against the grid of the NPE's likelihood (quick:
  16x the model's realisations on the box; full: a zoomed reference, :func:`zoomed_reference`,
  at 1x (the fit key's own likelihood) and 4x the realisations, cells a third of the posterior's
  sd); the grid's mean at three fit keys says how far a single key moves it.

``--recording`` runs the full recording check alone (about 10-15 minutes on 2 loaded cores).
Nothing asserts a time; the JSON keeps every number.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import bench_io

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

N_TARGETS = 1000


def _setup():
    import jax
    import jax.numpy as jnp
    import numpy as np

    from bench_posterior import _case
    from eegfit import infer

    _, rms_feature, _, _ = _case()
    box = {"C": (110.0, 170.0)}
    truths = np.linspace(111.0, 169.0, N_TARGETS)
    clean = np.asarray(rms_feature({"C": jnp.asarray(truths)}, None)["rms"])
    noise = np.asarray(jax.random.normal(jax.random.key(7), clean.shape))
    observed = clean * (1 + 0.01 * noise)
    template = infer.problem(rms_feature, {"rms": 1.0}, {"rms": 1.0}, box)

    def problem(y):
        return infer.problem(rms_feature, {"rms": float(y)}, infer.relative_scale({"rms": y}),
                             box)
    return truths, observed, template, problem


def npe_costs(quick: bool, observed, template) -> tuple[dict, object]:
    import numpy as np

    from eegfit.infer import npe
    from eegfit.infer.npe.train import train

    # full: the default config's settings (4,000 simulations, 3,000 steps)
    settings = npe.Settings(n_simulations=2000, steps=500) if quick else npe.Settings()
    t0 = time.perf_counter()
    est = train(template, npe.Noise(rel_sd=0.01), settings)
    out = {"settings": dict(settings.__dict__), "training_s": time.perf_counter() - t0,
           "simulation_s": est.report["simulation_time_s"]}
    t0 = time.perf_counter()
    est.sample(observed[:1, None], 1000, 0)
    out["first_call_s"] = time.perf_counter() - t0
    per = []
    t0 = time.perf_counter()
    for i, y in enumerate(observed):
        t1 = time.perf_counter()
        est.sample(np.asarray([y]), 1000, i)
        per.append(time.perf_counter() - t1)
    out["targets_one_by_one_s"] = time.perf_counter() - t0
    out["per_target_median_s"] = float(np.median(per))
    out["draws_per_s"] = 1000 / out["per_target_median_s"]
    est.sample(observed[:, None], 1000, 0)  # compiles the batch shape
    t0 = time.perf_counter()
    est.sample(observed[:, None], 1000, 1)
    out["targets_one_call_s"] = time.perf_counter() - t0
    return out, est


def grid_costs(quick: bool, observed, problem) -> dict:
    from eegfit import infer

    n = 40 if quick else N_TARGETS
    infer.grid_posterior(problem(observed[0]), 241, refine=2)  # compiles the batch shapes
    t0 = time.perf_counter()
    for y in observed[:: N_TARGETS // n][:n]:
        infer.grid_posterior(problem(y), 241, refine=2)
    wall = time.perf_counter() - t0
    return {"targets_run": n, "wall_s": wall, "per_target_s": wall / n,
            "for_1000_s": wall / n * N_TARGETS}


def nuts_costs(truths, observed, problem) -> dict:
    import numpy as np

    from eegfit import infer

    runs = []
    for i in (N_TARGETS // 3, 2 * N_TARGETS // 3):
        p = problem(observed[i])
        r = infer.nuts(p, chains=4, draws=500, warmup=300, seed=0,
                       starts={"C": truths[i] + np.array([-1.0, -0.3, 0.3, 1.0])})
        runs.append(r.wall_time_s)
    return {"targets_run": 2, "first_s": runs[0], "steady_s": runs[-1],
            "for_1000_s": runs[-1] * N_TARGETS}


def column_check() -> dict:
    """The default column's NPE against its grid on the default targets, amortized and
    focused (always the default config's sizes: training takes seconds)."""
    import yaml

    from eegfit import experiments, infer
    from eegfit.experiments import npe as xnpe
    from eegfit.experiments import posterior as xpost
    from eegfit.experiments.base import as_float, keys
    from eegfit.infer.npe import check as npe_check
    from eegfit.infer.npe.train import focus

    config = yaml.safe_load((HERE.parent / "config" / "config.yaml").read_text())
    kind = experiments.build("jansen_rit_C_rms", config["experiments"]["jansen_rit_C_rms"])
    post = kind.spec.posterior
    targets = {}
    for t in kind.targets():
        if t.seed == 0:
            obs = {k: float(v) for k, v in kind.simulate_features(
                {"C": as_float(t.truth["C"])}, keys(0)[1]).items()}
            prob, _ = xpost.problem(kind, t, obs)
            targets[t.label] = (obs, infer.grid_posterior(prob, post.grid_points,
                                                          refine=post.refine))
    t0 = time.perf_counter()
    est = xnpe.train(kind)
    out = {"training_s": time.perf_counter() - t0,
           "amortized": npe_check.compare(est, targets), "focused": [], "focus_s": []}
    for label, (obs, grid) in targets.items():
        t0 = time.perf_counter()
        focused, _ = focus(est, xnpe.prior_problem(kind), obs)
        out["focus_s"].append(time.perf_counter() - t0)
        out["focused"] += npe_check.compare(focused, {label: (obs, grid)})
    return out


def recording_check(quick: bool, workdir: Path) -> dict:
    """The recording NPE: training, time per recording against the grid, the per-target check."""
    import dataclasses

    import numpy as np
    import yaml

    from eegfit import experiments, infer
    from eegfit.experiments import npe as xnpe
    from eegfit.experiments import posterior as xpost
    from eegfit.experiments.recording import npe as recording_npe
    from eegfit.infer.npe import check as npe_check
    from eegfit.infer.npe.train import focus

    if quick:
        config = yaml.safe_load((HERE.parent / ".test" / "npe_recording.yaml").read_text())
        name = "npe_recording"
        block = config["experiments"][name]
    else:
        config = yaml.safe_load((HERE.parent / "config" / "config.yaml").read_text())
        name = "recording_demo"
        block = config["experiments"][name]
        block.update(posterior={"method": "grid", "grid_points": 21, "refine": 1},
                     npe={"n_simulations": 4000, "steps": 3000, "sbc": {"runs": 100}})
    here = os.getcwd()
    os.chdir(workdir)
    try:
        kind = experiments.build(name, block)
        path = Path(kind.spec.demo["path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        kind.make_input("demo", path)
        target = kind.targets()[0]
        observed = kind.observed(kind.make_target(target))
        out = {"experiment": name, "n_bins": kind.n_bins, "demo_s": time.perf_counter() - t0,
               "settings": dict(kind.spec.npe.settings.__dict__)}
    finally:
        os.chdir(here)
    t0 = time.perf_counter()
    est = xnpe.train(kind)
    out["training_s"] = time.perf_counter() - t0
    out["simulation_s"] = est.report["simulation_time_s"]
    y = kind.npe_observed(observed)
    est.sample(y, 1000, 0)  # compiles
    t0 = time.perf_counter()
    est.sample(y, 1000, 1)
    out["amortized_per_recording_s"] = time.perf_counter() - t0
    if quick:  # compiles (full: the round's own time, compilation included, is minutes anyway)
        focus(est, xnpe.prior_problem(kind), y, max_batch=kind.npe_max_batch, seed=1)
    t0 = time.perf_counter()
    focused, region = focus(est, xnpe.prior_problem(kind), y, max_batch=kind.npe_max_batch)
    out["focused_per_recording_s"] = time.perf_counter() - t0
    out["focus_region"] = {k: list(v) for k, v in region.items()}
    rounds = {}
    if not quick:  # two and three rounds (npe.focus: 2, 3), each on the region of the one before
        previous, seconds = focused, out["focused_per_recording_s"]
        for n in (2, 3):
            t0 = time.perf_counter()
            previous, region_n = focus(previous, xnpe.prior_problem(kind), y,
                                       max_batch=kind.npe_max_batch)
            seconds += time.perf_counter() - t0
            rounds[n] = previous
            out[f"focused{n}_per_recording_s"] = seconds
            out[f"focus{n}_region"] = {k: list(v) for k, v in region_n.items()}
    post = kind.spec.posterior
    prob, _ = xpost.problem(kind, target, observed)
    grid_means, grids = [], []
    for seed in range(3):  # the pipeline's grid at three fit keys
        p = dataclasses.replace(prob, context=kind.posterior_context(observed, seed))
        t0 = time.perf_counter()
        grids.append(infer.grid_posterior(p, post.grid_points, refine=post.refine))
        out.setdefault("grid_per_recording_s", []).append(time.perf_counter() - t0)
        grid_means.append({n: grids[-1].mean(n) for n in kind.spec.names})
    out["grid_means_by_fit_key"] = grid_means
    out["floor_fraction"] = float(observed["floor_fraction"])
    t0 = time.perf_counter()
    if quick:
        reference = infer.grid_posterior(recording_npe.reference_problem(
            kind, y, target.seed, 16), post.grid_points, refine=post.refine, max_batch=32)
        out["reference"] = "16x realisations, the pipeline's grid"
    else:
        centre = {n: grids[0].mean(n) for n in kind.spec.names}
        sd = {n: grids[0].marginal(n).sd() for n in kind.spec.names}
        fit_key_ref, out["reference_fit_key"] = zoomed_reference(kind, y, target.seed, 1,
                                                                 centre, sd)
        out["reference_fit_key_s"] = time.perf_counter() - t0
        out["amortized_vs_fit_key_ref"] = npe_check.compare(est, {"demo": (y, fit_key_ref)})
        out["focused_vs_fit_key_ref"] = npe_check.compare(focused, {"demo": (y, fit_key_ref)})
        for n, est_n in rounds.items():
            out[f"focused{n}_vs_fit_key_ref"] = npe_check.compare(est_n,
                                                                  {"demo": (y, fit_key_ref)})
        t0 = time.perf_counter()
        reference, out["reference"] = zoomed_reference(
            kind, y, target.seed, 4, {n: fit_key_ref.mean(n) for n in kind.spec.names},
            {n: fit_key_ref.marginal(n).sd() for n in kind.spec.names}, stage1=False)
    out["reference_grid_s"] = time.perf_counter() - t0
    out["grid_key_spread_sd"] = {n: float(np.std([m[n] for m in grid_means], ddof=1)
                                          / reference.marginal(n).sd()) for n in kind.spec.names}
    out["amortized"] = npe_check.compare(est, {"demo": (y, reference)})
    out["focused"] = npe_check.compare(focused, {"demo": (y, reference)})
    for n, est_n in rounds.items():
        out[f"focused{n}"] = npe_check.compare(est_n, {"demo": (y, reference)})
    out["pipeline_grid_seed0"] = npe_check.compare(focused, {"demo": (y, grids[0])})
    out["pipeline_grid_vs_reference"] = {
        n: {"mean_offset_ref_sd": (grids[0].mean(n) - reference.mean(n))
            / reference.marginal(n).sd(),
            "sd_ratio": grids[0].marginal(n).sd() / reference.marginal(n).sd()}
        for n in kind.spec.names}
    t0 = time.perf_counter()
    cal = xnpe.calibration(kind, est)
    out["sbc_s"] = time.perf_counter() - t0
    out["sbc_chi2_p"] = {n: float(cal["chi2_p"].sel(parameter=n)) for n in kind.spec.names}
    level = cal["level"].values
    out["coverage_max_dev"] = float(np.max(np.abs(
        cal["coverage_central"].values - level[:, None])))
    return out


def zoomed_reference(kind, y, seed, factor, centre, sd, stage1=True):
    """The grid of the NPE's likelihood (``factor`` x the realisations) on a box zoomed onto the
    posterior: a first 13 x 13 grid over ``centre`` +- 4 ``sd`` (``stage1``; a coarse grid's
    sd is at least the posterior's), then 15 x 15 cells and one refinement over its mean +- 5 of
    its sd (cells a third of the posterior's sd), within the block's box. Returns the grid and
    a description (the box, its half-widths in posterior sd: a box that cuts the posterior
    shows here)."""
    from eegfit import infer
    from eegfit.experiments.recording import npe as recording_npe

    box = {p.name: p.bounds for p in kind.spec.parameters}

    def around(c, s, k):
        return {n: (max(box[n][0], c[n] - k * s[n]), min(box[n][1], c[n] + k * s[n]))
                for n in kind.spec.names}

    if stage1:
        first = infer.grid_posterior(recording_npe.reference_problem(
            kind, y, seed, factor, around(centre, sd, 4.0)), 13, refine=0, max_batch=64)
        centre = {n: first.mean(n) for n in kind.spec.names}
        sd = {n: first.marginal(n).sd() for n in kind.spec.names}
    bounds = around(centre, sd, 5.0)
    grid = infer.grid_posterior(recording_npe.reference_problem(kind, y, seed, factor, bounds),
                                15, refine=1, max_batch=64)
    post_sd = {n: grid.marginal(n).sd() for n in kind.spec.names}
    cells = 15 * (4 if len(kind.spec.names) == 1 else 2)  # the refinement's children per axis
    return grid, {"factor": factor, "box": {n: list(b) for n, b in bounds.items()},
                  "cell_over_sd": {n: (bounds[n][1] - bounds[n][0]) / cells / post_sd[n]
                                   for n in kind.spec.names},
                  "box_half_width_sd": {n: min(grid.mean(n) - bounds[n][0],
                                               bounds[n][1] - grid.mean(n)) / post_sd[n]
                                        for n in kind.spec.names}}


def run_recording() -> dict:
    """The full recording check alone (``--recording``)."""
    import tempfile

    result = {"mode": "recording", "loadavg_start": list(os.getloadavg())}
    with tempfile.TemporaryDirectory() as tmp:
        result["recording"] = recording_check(False, Path(tmp))
    result["loadavg_end"] = list(os.getloadavg())
    return result


def run(mode: str = "full") -> dict:
    if mode == "recording":
        return run_recording()
    quick = mode == "quick"
    t0 = time.perf_counter()
    truths, observed, template, problem = _setup()
    result = {"mode": mode, "loadavg_start": list(os.getloadavg()), "n_targets": N_TARGETS}
    result["npe"], _ = npe_costs(quick, observed, template)
    result["grid"] = grid_costs(quick, observed, problem)
    result["nuts"] = nuts_costs(truths, observed, problem)
    result["column_check"] = column_check()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result["recording"] = recording_check(quick, Path(tmp))
    result["loadavg_end"] = list(os.getloadavg())
    result["total_s"] = time.perf_counter() - t0
    return result


def print_table(r: dict) -> None:
    if r["mode"] == "recording":
        print(f"recording NPE alone (load {r['loadavg_start'][0]:.1f} -> "
              f"{r['loadavg_end'][0]:.1f})")
        print_recording(r["recording"])
        return
    n, g, u = r["npe"], r["grid"], r["nuts"]
    npe_total = n["training_s"] + n["targets_one_by_one_s"]
    s = n["settings"]
    print(f"amortized posteriors, {r['n_targets']} targets ({r['mode']}; load "
          f"{r['loadavg_start'][0]:.1f} -> {r['loadavg_end'][0]:.1f})")
    print(f"  NPE training ({s['n_simulations']} simulations, {s['steps']} steps): "
          f"{n['training_s']:.1f} s (simulations {n['simulation_s']:.2f} s)")
    print(f"  NPE 1,000 draws per target:   {n['per_target_median_s'] * 1e3:.2f} ms "
          f"({n['draws_per_s']:.3g} draws/s; first call {n['first_call_s']:.2f} s)")
    print(f"  NPE {r['n_targets']} targets: {n['targets_one_by_one_s']:.2f} s one by one, "
          f"{n['targets_one_call_s']:.2f} s in one call; with training {npe_total:.1f} s")
    print(f"  grid posterior:               {g['per_target_s'] * 1e3:.1f} ms per target "
          f"({g['targets_run']} run) -> {g['for_1000_s']:.0f} s for {r['n_targets']} = "
          f"{g['for_1000_s'] / npe_total:.1f}x the NPE with training, "
          f"{g['per_target_s'] / n['per_target_median_s']:.0f}x per target")
    print(f"  NUTS 4 x (300 + 500):         {u['steady_s']:.2f} s per target (2 run) -> "
          f"{u['for_1000_s']:.0f} s for {r['n_targets']} = {u['for_1000_s'] / npe_total:.0f}x "
          f"the NPE with training, {u['steady_s'] / n['per_target_median_s']:.0f}x per target")


    from eegfit.infer.npe import check as npe_check

    c = r["column_check"]
    print(f"  column NPE per target vs its grid (training {c['training_s']:.1f} s; a focused "
          f"round {min(c['focus_s']):.1f}-{max(c['focus_s']):.1f} s):")
    print("   amortized:\n" + npe_check.table(c["amortized"]))
    print("   focused:\n" + npe_check.table(c["focused"]))
    print_recording(r["recording"])


def print_recording(g: dict) -> None:
    from eegfit.infer.npe import check as npe_check

    s = g["settings"]
    print(f"  recording NPE ({g['experiment']}, {g['n_bins']} bins): training "
          f"{g['training_s']:.1f} s ({s['n_simulations']} noisy simulations in "
          f"{g['simulation_s']:.1f} s, {s['steps']} steps)")
    print(f"   per recording: amortized {g['amortized_per_recording_s'] * 1e3:.1f} ms, focused "
          f"round {g['focused_per_recording_s']:.1f} s, grid posterior "
          f"{min(g['grid_per_recording_s']):.1f} s (reference grid, 16x realisations: "
          f"{g['reference_grid_s']:.1f} s)")
    print(f"   the grid's mean over 3 fit keys moves by {g['grid_key_spread_sd']} reference sd;"
          f" SBC p {g['sbc_chi2_p']} (coverage within {g['coverage_max_dev']:.2f} of the "
          f"diagonal)")
    print(f"   floor fraction {g.get('floor_fraction', 0):.4g}; reference: {g['reference']}")
    if "reference_fit_key" in g:
        print(f"   reference at the fit key (1x): {g['reference_fit_key']} "
              f"({g['reference_fit_key_s']:.1f} s)")
        print("   amortized vs it:\n" + npe_check.table(g["amortized_vs_fit_key_ref"]))
        print("   focused vs it:\n" + npe_check.table(g["focused_vs_fit_key_ref"]))
        for n in (2, 3):
            print(f"   {n} focused rounds ({g[f'focused{n}_per_recording_s']:.1f} s, region "
                  f"{g[f'focus{n}_region']}) vs it:\n"
                  + npe_check.table(g[f"focused{n}_vs_fit_key_ref"]))
        print(f"   the pipeline's grid against the reference: {g['pipeline_grid_vs_reference']}")
    print("   amortized vs reference grid:\n" + npe_check.table(g["amortized"]))
    print("   focused vs reference grid:\n" + npe_check.table(g["focused"]))
    for n in (2, 3):
        if f"focused{n}" in g:
            print(f"   {n} focused rounds vs reference grid:\n"
                  + npe_check.table(g[f"focused{n}"]))
    print("   focused vs the pipeline's grid (fit key 0):\n"
          + npe_check.table(g["pipeline_grid_seed0"]))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--recording" in argv:  # the full recording check alone
        argv.remove("--recording")
        if argv:
            raise SystemExit(f"bench_npe.py --recording takes no other argument, got {argv}")
        result, out = run("recording"), HERE / "results" / "npe_recording.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))  # before the table: nothing lost
        print_table(result)
        return 0
    return bench_io.main(__doc__, run, print_table, HERE / "results" / "npe.json", argv)


if __name__ == "__main__":
    sys.exit(main())
