"""Batched evaluation: n candidates in one call vs one evaluation, in three layouts.

Run alone (``run_all.py`` runs it too)::

    python benchmarks/bench_batching.py [--quick] [--out benchmarks/results/batching.json]

The evaluation is the nevergrad backend's: ``jax.jit(jax.vmap(objective))`` where ``objective``
is the case study's loss (simulate 600 ms at 0.1 ms, RMS, squared relative error, aux included),
as ``Fitter._evaluate`` builds it. Three layouts of a batch of n scalar C values:

- ``eegfit``: eegfit's ``jax.vmap`` path as shipped: vmap's batch-first layout below
  ``eegfit.simulate.BROADCAST_MIN_BATCH``, the broadcast (batch-last) layout from it on;
- ``vmap``: vmap's batch-first layout at every n (the threshold set above every n);
- ``broadcast``: the batch-last layout at every n (the threshold set to 1).

The threshold is read when a batched function is traced, so each layout's functions are traced
and compiled ahead of time (``jax.jit(...).lower(...).compile()``) with the threshold set, after
``jax.clear_caches()``; the compiled executables do not depend on the setting afterwards. A check
that the layouts really differ: the compiled HLO text of each layout at n = 8 is compared.

Ratios: time of one batched call / time of one evaluation (the same objective, jitted, scalar C,
also compiled ahead of time), all timed in interleaved rounds (see bench_core.py), median.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import bench_io  # noqa: E402  (benchmarks/ is the script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_core as core  # noqa: E402  (sets the persistent compilation cache off)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import importlib  # noqa: E402
from eegfit import ConstantDrive, JansenRit, simulate_rms  # noqa: E402

# The module (``eegfit.simulate`` the attribute is the function of that name).
eegfit_simulate = importlib.import_module("eegfit.simulate")

SIZES = (1, 2, 4, 6, 8, 9, 16, 32, 64, 128, 256, 1024)
QUICK_SIZES = (1, 6, 8, 9, 64, 1024)
LAYOUTS = ("eegfit", "vmap", "broadcast")
# Hand-written batch-last references (not eegfit): the trace stored then reduced, as eegfit does,
# and the RMS accumulated inside the scan (running sum and sum of squares, no trace stored).
REFERENCES = ("ref_trace", "ref_stream")
# eegfit's streaming RMS (simulate_rms: the RMS accumulated inside the scan), through the same
# vmap path as "eegfit".
STREAMING = ("eegfit_rms",)
TARGETS = {8: 3.0, 64: 8.0}  # max ratio to one evaluation at n <= 8 and at n = 64
PER_CANDIDATE_1024 = 0.1     # max time per candidate at n = 1024, in evaluations

MODES = {"full": dict(rounds=9, budget_s=0.05), "quick": dict(rounds=3, budget_s=0.02)}


def objective(C):
    """The nevergrad backend's objective of the case: C -> (loss, aux)."""
    return core.loss_fn(JansenRit(C=C, drive=ConstantDrive(core.DRIVE_HZ)))


def objective_stream(C):
    """The same loss with eegfit.simulate_rms: no trace stored."""
    amplitude = simulate_rms(JansenRit(C=C, drive=ConstantDrive(core.DRIVE_HZ)), **core.SIM)
    return ((amplitude - core.TARGET) / core.TARGET) ** 2, {"rms_mv": amplitude}


def candidates(n):
    return jnp.linspace(core.BOUNDS[0], core.BOUNDS[1], n, dtype=jnp.result_type(float))


def _reference(stream: bool):
    """Minimal Jansen-Rit over a batch of C (batch last): (C,) -> loss per C."""
    A, B, a, b, v0, e0, r, p = 3.25, 22.0, 100.0, 50.0, 6.0, 2.5, 0.56, core.DRIVE_HZ
    dt_s, n_keep = core.DT_MS * 1e-3, core.N_TOTAL - core.N_SKIP

    def S(v):
        return 2.0 * e0 / (1.0 + jnp.exp(r * (v0 - v)))

    def euler(y, C):
        y0, y1, y2, y3, y4, y5 = y
        return y + dt_s * jnp.stack([
            y3, y4, y5, A * a * S(y1 - y2) - 2.0 * a * y3 - a * a * y0,
            A * a * (p + 0.8 * C * S(C * y0)) - 2.0 * a * y4 - a * a * y1,
            B * b * 0.25 * C * S(0.25 * C * y0) - 2.0 * b * y5 - b * b * y2])

    def loss(C):
        y = jnp.zeros((6,) + C.shape, C.dtype)
        if stream:
            def step(carry, _):
                y, s1, s2, i = carry
                y = euler(y, C)
                e, w = y[1] - y[2], (i >= core.N_SKIP).astype(C.dtype)
                return (y, s1 + w * e, s2 + w * e * e, i + 1), None
            z = jnp.zeros_like(C)
            (_, s1, s2, _), _ = jax.lax.scan(step, (y, z, z, 0), None, length=core.N_TOTAL)
            mean = s1 / n_keep
            amplitude = jnp.sqrt(jnp.maximum(s2 / n_keep - mean * mean, 0.0))
        else:
            def step(y, _):
                y = euler(y, C)
                return y, y[1] - y[2]
            _, eeg = jax.lax.scan(step, y, None, length=core.N_TOTAL)
            x = eeg[core.N_SKIP:]
            amplitude = jnp.sqrt(jnp.mean((x - jnp.mean(x, axis=0)) ** 2, axis=0))
        return ((amplitude - core.TARGET) / core.TARGET) ** 2
    return loss


def compile_reference(name, sizes):
    fn = _reference(stream=name == "ref_stream")
    out = {}
    for n in sizes:
        x = candidates(n)
        t0 = time.perf_counter()
        out[n] = (jax.jit(fn).lower(x).compile(), x, time.perf_counter() - t0)
    return out


def compile_layout(layout, sizes, fn=objective):
    """name -> (compiled fn, argument, compile seconds) for each n, with the layout's threshold.
    """
    default = eegfit_simulate.BROADCAST_MIN_BATCH
    threshold = {"eegfit": default, "vmap": 10 ** 9, "broadcast": 1}[layout]
    jax.clear_caches()
    eegfit_simulate.BROADCAST_MIN_BATCH = threshold
    out, hlo8 = {}, None
    try:
        for n in sizes:
            x = candidates(n)
            t0 = time.perf_counter()
            lowered = jax.jit(jax.vmap(fn)).lower(x)
            compiled = lowered.compile()
            out[n] = (compiled, x, time.perf_counter() - t0)
            if n == 8:
                hlo8 = compiled.as_text()
    finally:
        eegfit_simulate.BROADCAST_MIN_BATCH = default
        jax.clear_caches()
    return out, hlo8


def bare_nevergrad_step(repeats: int) -> dict:
    """Seconds per step of the DE fit's ask/tell loop alone: the same optimizer, box, budget and
    seeding as the Fitter's nevergrad backend, the losses a NumPy function (no JAX call), no
    history kept. What is left of the Fitter's per-step overhead is eegfit's own."""
    from eegfit.fit.nevergrad_backend import parametrization, resolve_optimizer, values_of
    split = core.de_fitter().split
    samples = []
    for _ in range(repeats):
        factory, kwargs = resolve_optimizer("DE", {"popsize": core.DE_POPSIZE})
        opt = factory(parametrization=parametrization(split, 0),
                      budget=core.DE_STEPS * core.DE_CANDIDATES,
                      num_workers=core.DE_CANDIDATES, **kwargs)
        t0 = time.perf_counter()
        for _ in range(core.DE_STEPS):
            cands = [opt.ask() for _ in range(core.DE_CANDIDATES)]
            for c in cands:
                opt.tell(c, float((values_of(split, c)["C"] - core.C_TRUE) ** 2))
        opt.recommend()
        samples.append((time.perf_counter() - t0) / core.DE_STEPS)
    return core.summary(samples)


def run(mode: str, sizes=None) -> dict:
    R = MODES[mode]
    sizes = tuple(sizes or (SIZES if mode == "full" else QUICK_SIZES))
    say = lambda msg: print(f"  .. {msg}", file=sys.stderr, flush=True)  # noqa: E731
    out = dict(mode=mode, settings=dict(R, sizes=list(sizes)), loadavg_start=core.loadavg(),
               broadcast_min_batch=eegfit_simulate.BROADCAST_MIN_BATCH)
    say("batching: compile one evaluation and every (layout, n)")
    c0 = jnp.asarray(core.C_TRUE, jnp.result_type(float))
    t0 = time.perf_counter()
    one = jax.jit(objective).lower(c0).compile()
    compile_one = time.perf_counter() - t0
    compiled, hlo = {}, {}
    for layout in LAYOUTS:
        compiled[layout], hlo[layout] = compile_layout(layout, sizes)
    for name in REFERENCES:
        compiled[name] = compile_reference(name, sizes)
    compiled["eegfit_rms"] = compile_layout("eegfit", sizes, objective_stream)[0]

    # Same numbers in every layout (a layout must not change the result).
    ref = np.asarray(compiled["eegfit"][sizes[-1]][0](compiled["eegfit"][sizes[-1]][1])[0])
    max_rel = 0.0
    for layout in LAYOUTS:
        got = np.asarray(compiled[layout][sizes[-1]][0](compiled[layout][sizes[-1]][1])[0])
        max_rel = max(max_rel, float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-12))))

    # Calls per round: enough to spend about budget_s on each function per round.
    one_est = min(core.timed(one, c0)[0] for _ in range(5))
    specs = {"one": (lambda: one(c0), max(1, int(R["budget_s"] / one_est)))}
    for layout in LAYOUTS + REFERENCES + STREAMING:
        for n in sizes:
            fn, x, _ = compiled[layout][n]
            est = min(core.timed(fn, x)[0] for _ in range(2))
            specs[f"{layout}_{n}"] = ((lambda fn=fn, x=x: fn(x)),
                                      max(1, min(20, int(R["budget_s"] / est))))
    say(f"batching: {R['rounds']} interleaved rounds over {len(specs)} functions")
    raw = core.interleaved(specs, R["rounds"])
    st = {k: core.summary(v) for k, v in raw.items()}
    one_s = core.med(st["one"])
    ref_rel = 0.0
    for name in REFERENCES + STREAMING:  # the same losses (float32 round-off)
        got = compiled[name][sizes[-1]][0](compiled[name][sizes[-1]][1])
        got = np.asarray(got[0] if isinstance(got, tuple) else got)
        ref_rel = max(ref_rel, float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-6))))
    table = {}
    for layout in LAYOUTS + REFERENCES + STREAMING:
        rows = {}
        for n in sizes:
            t = core.med(st[f"{layout}_{n}"])
            rows[str(n)] = dict(time=st[f"{layout}_{n}"], ratio_to_one_eval=t / one_s,
                                per_candidate_in_evals=t / (n * one_s),
                                compile_s=compiled[layout][n][2])
        table[layout] = rows
    # Where broadcasting starts to pay: the smallest n from which broadcast <= vmap.
    crossover = None
    for n in sizes:
        if n > 1 and all(table["broadcast"][str(m)]["ratio_to_one_eval"]
                         <= table["vmap"][str(m)]["ratio_to_one_eval"] for m in sizes if m >= n):
            crossover = n
            break
    targets = {}
    for n in sizes:
        r = table["eegfit"][str(n)]
        if n <= 8:
            targets[str(n)] = dict(target=f"<= {TARGETS[8]:g}x", ok=r["ratio_to_one_eval"]
                                   <= TARGETS[8])
        elif n == 64:
            targets[str(n)] = dict(target=f"<= {TARGETS[64]:g}x", ok=r["ratio_to_one_eval"]
                                   <= TARGETS[64])
        elif n == 1024:
            stream = table["eegfit_rms"][str(n)]["per_candidate_in_evals"]
            targets[str(n)] = dict(target=f"<= {PER_CANDIDATE_1024:g} eval per candidate",
                                   ok=min(r["per_candidate_in_evals"], stream)
                                   <= PER_CANDIDATE_1024,
                                   trace=r["per_candidate_in_evals"], simulate_rms=stream)
    say("batching: bare nevergrad ask/tell loop")
    out["bare_nevergrad_step"] = bare_nevergrad_step(9 if mode == "full" else 3)
    out.update(one_eval=st["one"], one_eval_compile_s=compile_one, layouts=table,
               broadcast_beats_vmap_from=crossover, targets=targets,
               layouts_differ_at_8=(None if 8 not in sizes else dict(
                   vmap_vs_broadcast=hlo["vmap"] != hlo["broadcast"],
                   eegfit_equals_vmap=hlo["eegfit"] == hlo["vmap"])),
               max_rel_diff_between_layouts=max_rel, max_rel_diff_references=ref_rel,
               loadavg_end=core.loadavg())
    return out


def print_table(r: dict) -> None:
    sizes = r["settings"]["sizes"]
    print(f"\nbatched evaluation (jax.jit(jax.vmap(objective))), ratio = batch call / one "
          f"evaluation ({core.fmt_t(core.med(r['one_eval'])).strip()}); "
          f"BROADCAST_MIN_BATCH = {r['broadcast_min_batch']}")
    print(f"{'n':>6} {'eegfit':>9} {'vmap':>9} {'broadcast':>9} {'ref_trace':>9} "
          f"{'ref_strm':>9} {'sim_rms':>9}   {'eegfit time':>11} {'per cand.':>9}  target")
    for n in sizes:
        row = [r["layouts"][lay][str(n)]["ratio_to_one_eval"]
               for lay in LAYOUTS + REFERENCES + STREAMING]
        e = r["layouts"]["eegfit"][str(n)]
        t = r["targets"].get(str(n))
        mark = "" if t is None else f"{t['target']}: {'OK' if t['ok'] else 'MISSED'}"
        if t is not None and "simulate_rms" in t:
            mark += f" (trace {t['trace']:.3f}, simulate_rms {t['simulate_rms']:.3f})"
        print(f"{n:>6} {row[0]:>8.2f}x {row[1]:>8.2f}x {row[2]:>8.2f}x {row[3]:>8.2f}x "
              f"{row[4]:>8.2f}x {row[5]:>8.2f}x   "
              f"{core.fmt_t(core.med(e['time'])):>11} {e['per_candidate_in_evals']:>9.3f}  {mark}")
    if r.get("bare_nevergrad_step"):
        print(f"bare nevergrad DE ask/tell ({core.DE_CANDIDATES} candidates, no evaluation): "
              f"{core.fmt_t(core.med(r['bare_nevergrad_step'])).strip()} per step")
    print(f"broadcast is at least as fast as vmap from n = {r['broadcast_beats_vmap_from']} on; "
          f"layouts agree to {r['max_rel_diff_between_layouts']:.1e} (relative)")


def main(argv=None) -> int:
    return bench_io.main(__doc__, run, print_table, "benchmarks/results/batching.json", argv)


if __name__ == "__main__":
    sys.exit(main())
