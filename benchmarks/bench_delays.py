"""Networks with conduction delays: node-steps per second with and without delays, beside
neurolib 0.6.2's numba integrator on the same network, model, step and horizon (issue 23).

Run alone (not in ``run_all.py``)::

    python benchmarks/bench_delays.py [--quick] [--float32] [--out benchmarks/results/delays.json]
                                      [--nodes 10,94] [--only hopf,wc,jr] [--no-kernel]

The networks: the 10 strongest and all 94 regions of the HCP connectome (subject mean), Hopf
(Stuart-Landau, diffusive, k = 100 /s) and Wilson-Cowan (additive, k = 0.6) nodes, one noise-free
Euler rollout of ``--duration-ms`` at dt = 0.1 ms in float64 on both sides (neurolib runs in
float64 only), delays from the tract lengths at 10 m/s (eegfit: ``round``, neurolib's rounding,
and ``interpolate``; the history sized for the speed itself), and without delays (zero lengths).
eegfit's delayed cases run twice: reading the history every step (``round``, ``interpolate``), and
with the speed's upper bound at 10 m/s, so that the inputs of a block of steps are read at once
(``round_block``, ``interpolate_block``: ``Network.delay_block`` steps, 7 at 94 regions and 14 at
10), and those blocks read by the hand-written C++ kernel instead of XLA's gather
(``round_kernel``, ``interpolate_kernel``: ``EEGFIT_DELAY_KERNEL=ffi``,
:mod:`eegfit.models.delay_kernel`; ``--no-kernel`` leaves them out). ``--float32``: eegfit's cases in float32 (the pipeline's default), neurolib's in float64.
Each time is the best of ``--repeats`` calls after a first, compiling call (jit for eegfit, numba
for neurolib), the calls of one network interleaved (round after round, each case once), so a
change in load falls on every case alike; the median over the best is printed as the spread, and
the load average before and after. eegfit's time includes the transfer of the trace to NumPy. Jansen-Rit networks
(eegfit only: neurolib 0.6.2 has no JR model) show the same ratio for a 6-state node.

Also printed: the history buffer's memory at 94 regions and 1 m/s (the longest HCP tract, 0.1 ms
steps), float64. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DT_MS = 0.1


def interleaved(cases: dict, repeats: int) -> dict:
    """Seconds per call of each case, ``repeats`` rounds after a first (compiling) call of each,
    every round calling each case once in turn (so a change in the machine's load falls on all
    cases alike): ``{name: [seconds, ...]}``."""
    for fn in cases.values():
        fn()  # compile
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def eegfit_case(name: str, conn, delays: str | None, duration_ms: float, block: bool = False,
                dtype: str = "float64", read: str = "xla"):
    import jax
    import jax.numpy as jnp

    from eegfit.models import JansenRit, StuartLandau, WilsonCowan
    from eegfit.models.network import coupled
    from eegfit.simulate import simulate

    node, k = {"hopf": (StuartLandau(), 100.0), "wc": (WilsonCowan(), 0.6),
               "jr": (JansenRit(), 1.0)}[name]
    kwargs = {} if delays is None else {"lengths_mm": conn.lengths_mm, "speed_m_s": 10.0,
                                        "delay_mode": delays}
    if block:
        kwargs["speed_max_m_s"] = 10.0
    model = coupled(jax.tree.map(getattr(jnp, dtype), node), conn.weights, k=k, **kwargs)
    y0 = jnp.asarray(model.initial_state if name == "jr" else
                     np.array([[0.3], [-0.2]]) * np.linspace(0.5, 1.5, conn.n_nodes), dtype)

    def run():  # the read is chosen per call (simulate reads EEGFIT_DELAY_KERNEL)
        os.environ["EEGFIT_DELAY_KERNEL"] = read
        return np.asarray(simulate(model, dt_ms=DT_MS, duration_ms=duration_ms, y0=y0).observable)
    return run


def neurolib_case(name: str, conn, delays: bool, duration_ms: float):
    import sys
    sys.path.insert(0, str(HERE.parent / "tests"))
    from test_reference_models import WC_CASE, neurolib_stuart_landau, neurolib_wilson_cowan

    from eegfit.models import StuartLandau

    y0 = np.array([[0.3], [-0.2]]) * np.linspace(0.5, 1.5, conn.n_nodes)
    lengths = conn.lengths_mm if delays else None
    if name == "hopf":
        return lambda: neurolib_stuart_landau(StuartLandau(), DT_MS, duration_ms, y0,
                                              conn.weights, 100.0, lengths_mm=lengths,
                                              speed_m_s=10.0)
    return lambda: neurolib_wilson_cowan(WC_CASE, DT_MS, duration_ms, y0, conn.weights, 0.6,
                                         lengths_mm=lengths, speed_m_s=10.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter rollout, fewer repeats")
    parser.add_argument("--duration-ms", type=float, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--float32", action="store_true", help="eegfit's cases in float32")
    parser.add_argument("--no-kernel", action="store_true", help="no C++ kernel cases")
    parser.add_argument("--only", default=None, help="comma-separated node models (hopf,wc,jr)")
    parser.add_argument("--nodes", default="10,94", help="comma-separated network sizes")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "delays.json")
    args = parser.parse_args()
    duration = args.duration_ms or (500.0 if args.quick else 2000.0)
    repeats = args.repeats or (3 if args.quick else 5)
    dtype = "float32" if args.float32 else "float64"

    import jax
    jax.config.update("jax_enable_x64", True)
    from eegfit.data.connectome import load
    from eegfit.models import StuartLandau
    from eegfit.models.network import coupled

    n_steps = int(round(duration / DT_MS))
    load_before = os.getloadavg()
    print(f"load average (1, 5, 15 min) before: {load_before}", flush=True)
    rows = []
    names = args.only.split(",") if args.only else ("hopf", "wc", "jr")
    for n_nodes in (int(n) for n in args.nodes.split(",")):
        conn = load("hcp", n_nodes=n_nodes)
        for name in names:
            cases = {f"eegfit_{delays or 'none'}": eegfit_case(name, conn, delays, duration,
                                                               dtype=dtype)
                     for delays in (None, "round", "interpolate")}
            cases.update({f"eegfit_{delays}_block": eegfit_case(name, conn, delays, duration,
                                                                block=True, dtype=dtype)
                          for delays in ("round", "interpolate")})
            if not args.no_kernel:
                cases.update({f"eegfit_{delays}_kernel": eegfit_case(
                    name, conn, delays, duration, block=True, dtype=dtype, read="ffi")
                    for delays in ("round", "interpolate")})
            if name != "jr":
                cases.update({f"neurolib_{'round' if delays else 'none'}":
                              neurolib_case(name, conn, delays, duration)
                              for delays in (False, True)})
            times = interleaved(cases, repeats)
            best = {k: min(t) for k, t in times.items()}
            rates = {k: n_nodes * n_steps / t for k, t in best.items()}
            spread = {k: float(np.median(t) / min(t)) for k, t in times.items()}
            rows.append({"model": name, "n_nodes": n_nodes, "n_steps": n_steps,
                         "seconds": times, "node_steps_per_s": rates,
                         "median_over_best": spread})
            cols = "  ".join(f"{k} {v / 1e6:7.2f}" for k, v in rates.items())
            print(f"{name:4s} n={n_nodes:3d}  Mnode-steps/s (best): {cols}", flush=True)
            print(f"{'':10s} median / best: " + "  ".join(
                f"{k} {v:.2f}" for k, v in spread.items()), flush=True)
            base = rates["eegfit_none"]
            delayed = ("round", "interpolate", "round_block", "interpolate_block") + (
                () if args.no_kernel else ("round_kernel", "interpolate_kernel"))
            print(f"{'':10s} delays cost (eegfit none / with): " + ", ".join(
                f"{d} {base / rates['eegfit_' + d]:.2f}x" for d in delayed), flush=True)
            if name != "jr":
                print(f"{'':10s} eegfit / neurolib with delays: " + ", ".join(
                    f"{d} {rates['eegfit_' + d] / rates['neurolib_round']:.2f}x"
                    for d in delayed) + f"; without: {base / rates['neurolib_none']:.2f}x",
                    flush=True)
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min) after: {load_after}", flush=True)

    full = load("hcp")
    slow = coupled(StuartLandau(), full.weights, lengths_mm=full.lengths_mm, speed_m_s=1.0)
    steps = slow.history_length(DT_MS)
    memory = {"n_nodes": full.n_nodes, "speed_m_s": 1.0, "longest_tract_mm":
              float(np.max(full.lengths_mm)), "history_steps": steps,
              "history_mib_float64": steps * full.n_nodes * 8 / 2 ** 20}
    print(f"history at 94 regions, 1 m/s, dt {DT_MS} ms: longest tract "
          f"{memory['longest_tract_mm']:.1f} mm -> {steps} steps x 94 nodes = "
          f"{memory['history_mib_float64']:.2f} MiB (float64; half in float32)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"duration_ms": duration, "dt_ms": DT_MS, "repeats": repeats,
                                    "eegfit_dtype": dtype,
                                    "load_average": [load_before, load_after], "rows": rows,
                                    "memory": memory}, indent=1))


if __name__ == "__main__":
    main()
