"""Core performance benchmark of eegfit on the CPU: simulation, gradient, grad and nevergrad fits.

Run::

    python benchmarks/bench_core.py [--quick] [--out benchmarks/results/core.json]

It prints a table and writes the numbers (every timing sample included) to a JSON file. What each
number means is in ``benchmarks/README.md``. Nothing here asserts a time: the output is for a
reader comparing layouts, versions and machines, and the ratios carry more than the seconds.

The case is the case study's: a Jansen-Rit column at constant drive p = 220 Hz, 600 ms simulated
at dt = 0.1 ms with Euler (6000 steps), the first 200 ms discarded, loss = squared relative error
of the RMS amplitude against the RMS at C* = 150, fitted parameter C (start 115, box [110, 170]).

Timing rules:
- steady state: the median of repeated calls after one warm-up call, each call ended by
  ``jax.block_until_ready`` (or by a host transfer, which blocks). The timed functions are called
  in interleaved rounds (each once or a few times per round), so that a ratio compares two
  functions measured under the same machine load;
- first call: made right after ``jax.clear_caches()`` on a newly built function or Fitter, so it
  includes tracing and XLA compilation; compile time = first call - steady median. The persistent
  compilation cache is switched off for the whole run, so a cache on disk cannot hide a compile.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax

# No persistent compilation cache: a first call must compile (set before any compilation).
jax.config.update("jax_enable_compilation_cache", False)

import jax.numpy as jnp  # noqa: E402
import nevergrad as ng  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import eegfit  # noqa: E402
from eegfit import ConstantDrive, Fitter, JansenRit, Param, rms, simulate  # noqa: E402

# --- the case ------------------------------------------------------------------------------------
DT_MS, DURATION_MS, TRANSIENT_MS = 0.1, 600.0, 200.0
SIM = dict(duration_ms=DURATION_MS, dt_ms=DT_MS, transient_ms=TRANSIENT_MS)
N_TOTAL, N_SKIP = int(round(DURATION_MS / DT_MS)), int(round(TRANSIENT_MS / DT_MS))
DRIVE_HZ = 220.0
C_TRUE, C_START, BOUNDS = 150.0, 115.0, (110.0, 170.0)
GRAD_STEPS, LEARNING_RATE = 40, 2.0
DE_CANDIDATES, DE_STEPS, DE_POPSIZE = 6, 8, 6
BIG_BATCH = 64

# Samples per mode: `cold` first-call samples of each thing; `rounds` interleaved steady rounds,
# in each of which a fit (or a naive loop) runs once, a single evaluation `fast` times and a
# 64-candidate batch `batch` times. `opbyop_steps`: integration steps of the short window used to
# extrapolate the op-by-op (jax.disable_jit) variant; 0 skips it.
MODES = {
    "full": dict(cold=3, rounds=25, fast=8, batch=4, opbyop_steps=40),
    "quick": dict(cold=1, rounds=3, fast=5, batch=3, opbyop_steps=0),
}


# --- timing helpers ------------------------------------------------------------------------------
def summary(samples) -> dict:
    s = sorted(float(x) for x in samples)
    q25, q75 = np.percentile(s, [25, 75])
    return dict(median_s=statistics.median(s), min_s=s[0], q25_s=float(q25), q75_s=float(q75),
                n=len(s), samples_s=s)


def med(d: dict) -> float:
    return d["median_s"]


def timed(fn, *args):
    """Seconds of one blocked call of ``fn(*args)``, and its result."""
    t0 = time.perf_counter()
    result = jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0, result


def interleaved(specs: dict, rounds: int) -> dict:
    """Steady-state samples: ``specs`` maps a name to ``(fn, calls_per_round)``. Every fn is
    called once as warm-up, then ``rounds`` times round-robin. Returns name -> list of seconds."""
    for fn, _ in specs.values():
        jax.block_until_ready(fn())
    samples = {name: [] for name in specs}
    for _ in range(rounds):
        for name, (fn, calls) in specs.items():
            for _ in range(calls):
                samples[name].append(timed(fn)[0])
    return samples


# --- eegfit's loss, and a minimal hand-written reference -----------------------------------------
def eegfit_rms(C):
    model = JansenRit(C=C, drive=ConstantDrive(DRIVE_HZ))
    return rms(simulate(model, **SIM).observable)


TARGET = float(jax.jit(eegfit_rms)(jnp.asarray(C_TRUE)))


def eegfit_loss(C):
    amplitude = eegfit_rms(C)
    return ((amplitude - TARGET) / TARGET) ** 2


def loss_fn(model):
    """The Fitter's loss: model (plain values) -> (loss, aux)."""
    amplitude = rms(simulate(model, **SIM).observable)
    return ((amplitude - TARGET) / TARGET) ** 2, {"rms_mv": amplitude}


def reference_rms(C):
    """Minimal Jansen-Rit: one state array of 6, Euler, JR95 constants, one ``lax.scan``."""
    A, B, a, b, v0, e0, r, p = 3.25, 22.0, 100.0, 50.0, 6.0, 2.5, 0.56, DRIVE_HZ
    dt_s = DT_MS * 1e-3

    def S(v):
        return 2.0 * e0 / (1.0 + jnp.exp(r * (v0 - v)))

    def step(y, _):
        y0, y1, y2, y3, y4, y5 = y
        dy = jnp.stack([
            y3, y4, y5,
            A * a * S(y1 - y2) - 2.0 * a * y3 - a * a * y0,
            A * a * (p + 0.8 * C * S(C * y0)) - 2.0 * a * y4 - a * a * y1,
            B * b * 0.25 * C * S(0.25 * C * y0) - 2.0 * b * y5 - b * b * y2,
        ])
        y = y + dt_s * dy
        return y, y[1] - y[2]

    _, eeg = jax.lax.scan(step, jnp.zeros(6), None, length=N_TOTAL)
    x = eeg[N_SKIP:]
    return jnp.sqrt(jnp.mean((x - jnp.mean(x)) ** 2))


def reference_loss(C):
    return ((reference_rms(C) - TARGET) / TARGET) ** 2


# --- fits ----------------------------------------------------------------------------------------
def start_model():
    return JansenRit(C=Param(C_START, bounds=BOUNDS), drive=ConstantDrive(DRIVE_HZ))


def grad_fitter():
    return Fitter(start_model(), optax.adam(LEARNING_RATE), loss_fn=loss_fn)


def de_fitter():
    return Fitter(start_model(), "DE", loss_fn=loss_fn, backend="nevergrad",
                  num_candidates=DE_CANDIDATES, optimizer_options={"popsize": DE_POPSIZE})


def fit_summary(result) -> dict:
    return dict(best_C=float(result.best_params["C"]), final_C=float(result.final_params["C"]),
                best_loss=float(result.best_loss), status=result.status,
                n_evaluations=result.n_evaluations)


def naive_loop(vg, n_steps=GRAD_STEPS):
    """A hand-rolled fitting script: value-and-grad, optax update, clip to the box and
    ``float(loss)`` (what a script logs; it also blocks) at every step."""
    opt = optax.adam(LEARNING_RATE)
    C = jnp.asarray(C_START)
    state = opt.init(C)
    best_loss, best_C = np.inf, float(C)
    for _ in range(n_steps):
        loss, g = vg(C)
        loss = float(loss)
        if np.isfinite(loss) and loss < best_loss:
            best_loss, best_C = loss, float(C)
        updates, state = opt.update(g, state, C)
        C = jnp.clip(optax.apply_updates(C, updates), *BOUNDS)
    return dict(best_C=best_C, final_C=float(C), best_loss=best_loss)


def make_jitted_step():
    """(extra) The whole step jitted: value-and-grad, adam update and clip in one call."""
    opt = optax.adam(LEARNING_RATE)
    vg = jax.value_and_grad(eegfit_loss)

    @jax.jit
    def step(C, state):
        loss, g = vg(C)
        updates, state = opt.update(g, state, C)
        return jnp.clip(optax.apply_updates(C, updates), *BOUNDS), state, loss

    def loop():
        C = jnp.asarray(C_START)
        state = opt.init(C)
        best_loss, best_C = np.inf, float(C)
        for _ in range(GRAD_STEPS):
            C_eval = C
            C, state, loss = step(C, state)
            loss = float(loss)
            if np.isfinite(loss) and loss < best_loss:
                best_loss, best_C = loss, float(C_eval)
        return dict(best_C=best_C, final_C=float(C), best_loss=best_loss)
    return loop


def make_minimal_scan_fit():
    """(extra) The smallest compiled fit loop: one jit of a lax.scan over (value-and-grad, adam,
    clip), recording loss and C per step; no NaN handling, early stop or chunking."""
    opt = optax.adam(LEARNING_RATE)
    vg = jax.value_and_grad(eegfit_loss)

    def step(carry, _):
        C, state = carry
        loss, g = vg(C)
        updates, state = opt.update(g, state, C)
        return (jnp.clip(optax.apply_updates(C, updates), *BOUNDS), state), (loss, C)

    @jax.jit
    def run(C0):
        return jax.lax.scan(step, (C0, opt.init(C0)), None, length=GRAD_STEPS)

    def fit():
        (C, _), (losses, Cs) = jax.device_get(run(jnp.asarray(C_START)))
        i = int(np.nanargmin(losses))
        return dict(best_C=float(Cs[i]), final_C=float(C), best_loss=float(losses[i]))
    return fit


def make_minimal_de_loop(evaluate):
    """The smallest DE fit doing what the Fitter's does: nevergrad's DE (popsize 6) on a bounded
    ``ng.p.Scalar`` started at 115 with a seeded random state, 6 candidates asked, evaluated in
    one call of ``evaluate`` (the Fitter's own compiled batched evaluation) and told per step;
    no history, no checks, no progress, no result record."""
    family = ng.optimizers.registry["DE"]
    factory = type(family)(**{**family._config, "popsize": DE_POPSIZE})

    def fit(seed=0):
        box = ng.p.Scalar(init=C_START, lower=BOUNDS[0], upper=BOUNDS[1])
        box.random_state = np.random.RandomState(seed)
        opt = factory(parametrization=box, budget=DE_STEPS * DE_CANDIDATES,
                      num_workers=DE_CANDIDATES)
        best_loss, best_C = np.inf, np.nan
        for _ in range(DE_STEPS):
            cands = [opt.ask() for _ in range(DE_CANDIDATES)]
            C = np.asarray([[c.value for c in cands]], np.float32)
            loss = np.asarray(evaluate({"C": jnp.asarray(C)}, None)[0], float)[0]
            for c, value in zip(cands, loss):
                opt.tell(c, float(value) if np.isfinite(value) else float("inf"))
            j = int(np.argmin(loss))
            if loss[j] < best_loss:
                best_loss, best_C = float(loss[j]), float(C[0, j])
        return dict(best_C=best_C, final_C=float(opt.recommend().value), best_loss=best_loss)
    return fit


# --- the benchmark -------------------------------------------------------------------------------
def machine_info() -> dict:
    try:
        import jaxlib
        jaxlib_version = jaxlib.__version__
    except Exception:  # noqa: BLE001
        jaxlib_version = None
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return dict(
        platform=platform.platform(), machine=platform.machine(), cpu_model=cpu_model,
        python=sys.version.split()[0], cpu_count=os.cpu_count(),
        cpu_affinity=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        jax=jax.__version__, jaxlib=jaxlib_version, backend=jax.default_backend(),
        devices=[str(d) for d in jax.devices()], x64=bool(jax.config.jax_enable_x64),
        eegfit=eegfit.__version__, optax=optax.__version__, nevergrad=ng.__version__,
        numpy=np.__version__, xla_flags=os.environ.get("XLA_FLAGS"),
        persistent_compilation_cache=False)


def code_info() -> dict:
    """Which eegfit code was measured: the commit, whether src/ had local changes, and a hash of
    the imported package's sources (the working tree can differ from any commit)."""
    import hashlib
    import subprocess
    root = Path(__file__).resolve().parent.parent
    pkg = Path(eegfit.__file__).resolve().parent
    digest = hashlib.sha256()
    for f in sorted(pkg.rglob("*.py")):
        digest.update(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes())

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=10).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            return None
    status = git("status", "--porcelain", "--", "src")
    return dict(commit=git("rev-parse", "HEAD"), src_modified=bool(status),
                src_status=status.splitlines() if status else [], eegfit_path=str(pkg),
                eegfit_sources_sha256=digest.hexdigest())


def loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def run(mode: str) -> dict:
    R = MODES[mode]
    say = lambda msg: print(f"  .. {msg}", file=sys.stderr, flush=True)  # noqa: E731
    out = dict(mode=mode, settings=R, machine=machine_info(), code=code_info(),
               loadavg_start=loadavg(), case=dict(
        model="JansenRit (JR95 constants)", drive_hz=DRIVE_HZ, dt_ms=DT_MS,
        duration_ms=DURATION_MS, transient_ms=TRANSIENT_MS, integrator="euler",
        n_integration_steps=N_TOTAL, loss="((rms - rms*) / rms*)^2", rms_target_mv=TARGET,
        C_true=C_TRUE, C_start=C_START, bounds=BOUNDS, grad_steps=GRAD_STEPS,
        optimizer=f"optax.adam({LEARNING_RATE})", de=dict(
            num_candidates=DE_CANDIDATES, n_steps=DE_STEPS, popsize=DE_POPSIZE, seed=0),
        dtype=str(jnp.result_type(float))))
    C = jnp.asarray(C_TRUE)
    cold = {}

    # --- phase 1: first calls, each after jax.clear_caches()
    say("first calls (compile): one column")

    def first_calls(make, call):
        samples, obj, result = [], None, None
        for _ in range(R["cold"]):
            jax.clear_caches()
            obj = make()
            t, result = timed(call, obj)
            samples.append(t)
        return summary(samples), obj, result

    cold["forward"], fwd, _ = first_calls(lambda: jax.jit(eegfit_loss), lambda f: f(C))
    cold["value_and_grad"], vg, _ = first_calls(
        lambda: jax.jit(jax.value_and_grad(eegfit_loss)), lambda f: f(C))

    say("first calls (compile): grad fit, DE fit")
    construct = {"grad": [], "de": []}

    def build(kind, factory):
        def make():
            t0 = time.perf_counter()
            fitter = factory()
            construct[kind].append(time.perf_counter() - t0)
            return fitter
        return make
    cold["grad_fit"], gf, gf_first = first_calls(
        build("grad", grad_fitter), lambda f: f.fit(GRAD_STEPS, progress=False))
    cold["de_fit"], nf, nf_first = first_calls(
        build("de", de_fitter), lambda f: f.fit(DE_STEPS, seed=0, progress=False))

    say("first calls (compile): hand-written loops")
    vg_eager = jax.value_and_grad(eegfit_loss)
    cold["naive_jit_vg"], vg_a, _ = first_calls(
        lambda: jax.jit(jax.value_and_grad(eegfit_loss)), naive_loop)
    cold["naive_no_jit"], _, _ = first_calls(lambda: vg_eager, naive_loop)
    cold["jit_step_loop"], step_loop, _ = first_calls(make_jitted_step, lambda f: f())
    cold["minimal_scan_fit"], scan_fit, _ = first_calls(make_minimal_scan_fit, lambda f: f())

    # --- phase 2: steady state, interleaved
    say(f"steady state: {R['rounds']} interleaved rounds")
    ref_fwd = jax.jit(reference_loss)
    ref_vg = jax.jit(jax.value_and_grad(reference_loss))
    evaluate = nf._evaluate  # jit(vmap(objective)) over (fits, candidates): one call per step
    batches = {n: {"C": jnp.linspace(BOUNDS[0], BOUNDS[1], n)[None]} for n in (
        1, DE_CANDIDATES, BIG_BATCH)}  # one fit's n candidates
    eval_in_fit, last = [], {}

    def timed_evaluate(values, data):  # what the DE fit calls, timed (this Fitter only)
        t, result = timed(evaluate, values, data)
        eval_in_fit.append(t)
        return result
    nf._evaluate = timed_evaluate
    de_eval_totals = []

    def de_fit():
        eval_in_fit.clear()
        last["de"] = nf.fit(DE_STEPS, seed=0, progress=False)
        de_eval_totals.append(sum(eval_in_fit))

    def keep(name, fn):
        def call():
            last[name] = fn()
            return last[name]
        return call

    specs = {
        "forward": (lambda: fwd(C), R["fast"]),
        "reference_forward": (lambda: ref_fwd(C), R["fast"]),
        "value_and_grad": (lambda: vg(C), R["fast"]),
        "reference_value_and_grad": (lambda: ref_vg(C), R["fast"]),
        "vmap_1": (lambda: evaluate(batches[1], None), R["fast"]),
        f"vmap_{DE_CANDIDATES}": (lambda: evaluate(batches[DE_CANDIDATES], None), R["fast"]),
        f"vmap_{BIG_BATCH}": (lambda: evaluate(batches[BIG_BATCH], None), R["batch"]),
        "grad_fit": (keep("grad", lambda: gf.fit(GRAD_STEPS, progress=False)), 1),
        "de_fit": (de_fit, 1),
        "minimal_de_loop": (keep("minimal_de_loop", make_minimal_de_loop(evaluate)), 1),
        "naive_jit_vg": (keep("naive_jit_vg", lambda: naive_loop(vg_a)), 1),
        "naive_no_jit": (keep("naive_no_jit", lambda: naive_loop(vg_eager)), 1),
        "jit_step_loop": (keep("jit_step_loop", step_loop), 1),
        "minimal_scan_fit": (keep("minimal_scan_fit", scan_fit), 1),
    }
    raw = interleaved(specs, R["rounds"])
    de_eval_totals = de_eval_totals[1:]  # drop the warm-up call
    nf._evaluate = evaluate
    st = {name: summary(s) for name, s in raw.items()}

    # --- sanity check of the reference
    rms_e, rms_r = float(jax.jit(eegfit_rms)(C)), float(jax.jit(reference_rms)(C))
    c_check = jnp.asarray(140.0)
    g_e, g_r = float(vg(c_check)[1]), float(ref_vg(c_check)[1])
    rel = abs(rms_e - rms_r) / abs(rms_r)

    # --- op-by-op, extrapolated
    opbyop = None
    if R["opbyop_steps"]:
        n_short = R["opbyop_steps"]
        say(f"op-by-op value_and_grad on a {2 * n_short}-step window (jax.disable_jit)")
        short = dict(duration_ms=2 * n_short * DT_MS, dt_ms=DT_MS, transient_ms=n_short * DT_MS)

        def short_loss(C):
            a = rms(simulate(JansenRit(C=C, drive=ConstantDrive(DRIVE_HZ)), **short).observable)
            return ((a - TARGET) / TARGET) ** 2
        with jax.disable_jit():
            timed(jax.value_and_grad(short_loss), C)  # warm-up of the per-op caches
            t_short = timed(jax.value_and_grad(short_loss), C)[0]
        per_vg = t_short * N_TOTAL / (2 * n_short)
        opbyop = dict(extrapolated=True, measured_integration_steps=2 * n_short,
                      measured_value_and_grad_s=t_short, est_value_and_grad_s=per_vg,
                      est_fit_s=per_vg * GRAD_STEPS)

    # --- results
    one, one_vg = med(st["forward"]), med(st["value_and_grad"])
    out["column"] = {
        k: dict(first=cold[k], steady=st[k], compile_s=med(cold[k]) - med(st[k]))
        for k in ("forward", "value_and_grad")}
    out["reference"] = dict(
        forward_steady=st["reference_forward"], value_and_grad_steady=st[
            "reference_value_and_grad"],
        forward_ratio=one / med(st["reference_forward"]),
        value_and_grad_ratio=one_vg / med(st["reference_value_and_grad"]),
        sanity=dict(rms_eegfit_mv=rms_e, rms_reference_mv=rms_r, rel_diff=rel, tol=1e-4,
                    ok=bool(rel <= 1e-4), dloss_dC_at_140_eegfit=g_e,
                    dloss_dC_at_140_reference=g_r))
    grad_med = med(st["grad_fit"])
    out["grad_fit"] = dict(
        construct=summary(construct["grad"]), first=cold["grad_fit"], steady=st["grad_fit"],
        compile_s=med(cold["grad_fit"]) - grad_med, per_step_s=grad_med / GRAD_STEPS,
        cost_in_value_and_grad=grad_med / one_vg,
        cost_per_step_in_value_and_grad=grad_med / (GRAD_STEPS * one_vg),
        first_call=fit_summary(gf_first), **fit_summary(last["grad"]))
    sizes = (1, DE_CANDIDATES, BIG_BATCH)
    out["nevergrad_eval"] = dict(
        one_eval_s=one, vmap={str(n): st[f"vmap_{n}"] for n in sizes},
        ratio_to_one_eval={str(n): med(st[f"vmap_{n}"]) / one for n in sizes},
        ratio_to_sequential={str(n): med(st[f"vmap_{n}"]) / (n * one) for n in sizes},
        per_candidate_s={str(n): med(st[f"vmap_{n}"]) / n for n in sizes})
    overhead = [(t - e) / DE_STEPS for t, e in zip(raw["de_fit"], de_eval_totals)]
    de_med = med(st["de_fit"])
    out["de_fit"] = dict(
        construct=summary(construct["de"]), first=cold["de_fit"], steady=st["de_fit"],
        compile_s=med(cold["de_fit"]) - de_med, eval_time_in_fit=summary(de_eval_totals),
        python_overhead_per_step=summary(overhead),
        overhead_per_step_in_eval6=statistics.median(overhead) / med(st[f"vmap_{DE_CANDIDATES}"]),
        minimal_loop=dict(steady=st["minimal_de_loop"], **last["minimal_de_loop"]),
        ratio_to_minimal_loop=de_med / med(st["minimal_de_loop"]),
        cost_in_one_eval=de_med / one, first_call=fit_summary(nf_first),
        **fit_summary(last["de"]))
    naive = {}
    for key in ("naive_jit_vg", "naive_no_jit", "jit_step_loop", "minimal_scan_fit"):
        naive[key] = dict(first=cold[key], steady=st[key], extrapolated=False,
                          ratio_to_eegfit_fit=med(st[key]) / grad_med,
                          compile_s=med(cold[key]) - med(st[key]), **last[key])
    if opbyop:
        naive["op_by_op"] = dict(opbyop, ratio_to_eegfit_fit=opbyop["est_fit_s"] / grad_med)
    out["naive"] = naive
    out["loadavg_end"] = loadavg()
    return out


# --- output --------------------------------------------------------------------------------------
def fmt_t(s) -> str:
    if s is None:
        return ""
    if abs(s) >= 3600.0:
        return f"{s / 3600:7.2f} h "
    if abs(s) >= 60.0:
        return f"{s / 60:7.2f} min"
    if abs(s) >= 1.0:
        return f"{s:7.2f} s "
    if abs(s) >= 1e-3:
        return f"{s * 1e3:7.2f} ms"
    return f"{s * 1e6:7.1f} us"


def fmt_r(r) -> str:
    if r is None:
        return ""
    return f"{r:.3g}" if r < 1e4 else f"{r:.2e}"


def print_table(r: dict) -> None:
    m, case = r["machine"], r["case"]
    print(f"eegfit core benchmark ({r['mode']}): {m['cpu_model']}, {m['cpu_count']} CPUs, "
          f"jax {m['jax']} on {m['backend']}, {case['dtype']}, persistent compilation cache off")
    print(f"case: Jansen-Rit at p = {DRIVE_HZ:g} Hz, {DURATION_MS:g} ms at dt {DT_MS:g} ms Euler "
          f"({N_TOTAL} steps), transient {TRANSIENT_MS:g} ms; RMS* = {TARGET:.5f} mV at "
          f"C* = {C_TRUE:g}")
    print(f"steady = median of {r['settings']['rounds']} interleaved rounds after a warm-up "
          f"(min beside it); first = median of {r['settings']['cold']} call(s) after "
          f"jax.clear_caches()")
    c = r["code"]
    print(f"code: commit {(c['commit'] or '?')[:10]}"
          + (" + local changes in src/" if c["src_modified"] else "")
          + f", eegfit sources sha256 {c['eegfit_sources_sha256'][:12]}")
    la0, la1 = r["loadavg_start"], r["loadavg_end"]
    if la0 and la1:
        busy = max(la0[0], la1[0]) > 0.5 * (m["cpu_count"] or 1)
        print(f"load average (1 min) at start {la0[0]:.2f}, at end {la1[0]:.2f}"
              + ("  -- the machine was busy: expect noisy times" if busy else ""))
    rows = []

    def sec(title):
        rows.append(None)
        rows.append(title)

    def row(name, t=None, tmin=None, ratio=None, note=""):
        rows.append((name, t, tmin, ratio, note))

    def trow(name, d, ratio=None, note=""):
        row(name, med(d), d["min_s"], ratio, note)

    col, ref = r["column"], r["reference"]
    sec("1. compile time of one column (first call - steady median)")
    trow("forward (simulate + RMS loss): first call", col["forward"]["first"])
    row("  compile", col["forward"]["compile_s"])
    trow("value_and_grad wrt C: first call", col["value_and_grad"]["first"])
    row("  compile", col["value_and_grad"]["compile_s"])

    sec("2. steady state of one column vs a minimal hand-written lax.scan")
    trow("eegfit forward", col["forward"]["steady"], ref["forward_ratio"], "x reference")
    trow("reference forward", ref["forward_steady"])
    trow("eegfit value_and_grad", col["value_and_grad"]["steady"], ref["value_and_grad_ratio"],
         "x reference")
    trow("reference value_and_grad", ref["value_and_grad_steady"])
    row("eegfit value_and_grad / forward", ratio=med(col["value_and_grad"]["steady"])
        / med(col["forward"]["steady"]), note="x")
    s = ref["sanity"]
    row(f"sanity: RMS at C*: eegfit {s['rms_eegfit_mv']:.6f}, reference "
        f"{s['rms_reference_mv']:.6f} mV", ratio=s["rel_diff"],
        note=f"rel. diff: {'OK' if s['ok'] else 'FAIL'} (<= 1e-4)")
    row(f"  dLoss/dC at C=140: eegfit {s['dloss_dC_at_140_eegfit']:.5g}, reference "
        f"{s['dloss_dC_at_140_reference']:.5g}")

    g = r["grad_fit"]
    sec(f"3. grad fit: Fitter, optax.adam({LEARNING_RATE}), {GRAD_STEPS} steps, C {C_START:g} -> "
        f"C* {C_TRUE:g}")
    trow("Fitter(...) construction (traces loss_fn once)", g["construct"])
    trow("fit: first call (compile included)", g["first"],
         note=f"C = {g['first_call']['best_C']:.2f}")
    trow("fit: steady (again on the same Fitter)", g["steady"],
         note=f"C = {g['best_C']:.2f} ({g['status']}, final iterate {g['final_C']:.2f})")
    row("  compile (first - steady)", g["compile_s"])
    row("  fit cost in value_and_grad evaluations", ratio=g["cost_in_value_and_grad"],
        note=f"evals for {GRAD_STEPS} steps")
    row("  per step", g["per_step_s"], ratio=g["cost_per_step_in_value_and_grad"],
        note="x one value_and_grad")

    n = r["nevergrad_eval"]
    sec("4. nevergrad: a batched evaluation, jax.jit(jax.vmap(objective)) (fitter._evaluate)")
    row("one evaluation (jitted forward, scalar C)", n["one_eval_s"])
    for k in ("1", str(DE_CANDIDATES), str(BIG_BATCH)):
        trow(f"{k:>2} candidate(s) in one vmap call", n["vmap"][k], n["ratio_to_one_eval"][k],
             f"x one eval = {n['ratio_to_sequential'][k]:.2f} x {k} sequential evals")
    d = r["de_fit"]
    row(f"DE fit, {DE_CANDIDATES} candidates x {DE_STEPS} steps, popsize {DE_POPSIZE}, seed 0:")
    trow("  Fitter(...) construction", d["construct"])
    trow("  fit: first call (compile included)", d["first"],
         note=f"C = {d['first_call']['best_C']:.2f}")
    trow("  fit: steady (again on the same Fitter)", d["steady"], d["cost_in_one_eval"],
         f"x one eval; C = {d['best_C']:.2f}")
    row("    compile (first - steady)", d["compile_s"])
    trow("    of which batched evaluations (8 calls)", d["eval_time_in_fit"])
    trow("    Python + nevergrad overhead per step", d["python_overhead_per_step"],
         d["overhead_per_step_in_eval6"], f"x one {DE_CANDIDATES}-candidate eval")
    trow("  a minimal ask/evaluate/tell loop (same DE, box, evaluation)",
         d["minimal_loop"]["steady"], d["ratio_to_minimal_loop"],
         f"= Fitter / loop; C = {d['minimal_loop']['best_C']:.2f}")

    sec(f"5. the same {GRAD_STEPS}-step grad fit, hand-written (ratio: steady time / eegfit's)")
    trow("eegfit Fitter (compiled lax.scan step loop)", g["steady"], 1.0,
         f"C = {g['best_C']:.2f}")
    labels = {
        "naive_jit_vg": "jit(value_and_grad), optax update in Python",
        "naive_no_jit": "no jit on the step (eager grad + optax)",
        "jit_step_loop": "(extra) jit(whole step), loop in Python",
        "minimal_scan_fit": "(extra) minimal jit(lax.scan) fit loop",
    }
    for key, v in r["naive"].items():
        if v.get("extrapolated"):
            row("op-by-op, jax.disable_jit() -- EXTRAPOLATED", v["est_fit_s"],
                ratio=v["ratio_to_eegfit_fit"],
                note=f"from one vg of {v['measured_integration_steps']} integration steps "
                     f"({fmt_t(v['measured_value_and_grad_s']).strip()}), x{N_TOTAL}/"
                     f"{v['measured_integration_steps']} x {GRAD_STEPS}")
            continue
        trow(labels[key], v["steady"], v["ratio_to_eegfit_fit"], f"C = {v['best_C']:.2f}")
        trow("  first call", v["first"])

    w = 60
    print(f"\n{'':{w}} {'time':>10} {'(min)':>10} {'ratio':>9}")
    for item in rows:
        if item is None:
            print()
        elif isinstance(item, str):
            print(item)
        else:
            name, t, tmin, ratio, note = item
            print(f"  {name:{w - 2}} {fmt_t(t):>10} {fmt_t(tmin):>10} {fmt_r(ratio):>9}  "
                  f"{note}".rstrip())
    print()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer samples: the whole run takes well under a minute")
    parser.add_argument("--out", default="benchmarks/results/core.json",
                        help="JSON file for the numbers (default: %(default)s)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    result = run("quick" if args.quick else "full")
    result["total_wall_s"] = time.perf_counter() - t0
    print_table(result)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(out)
    print(f"wrote {out} (run took {result['total_wall_s']:.1f} s)")
    return 0 if result["reference"]["sanity"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
