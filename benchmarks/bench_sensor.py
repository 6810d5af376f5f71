"""Sensor-space EEG through the tvb-data lead field: what one evaluation costs (issue 25).

Run alone (not in ``run_all.py``; needs tvb-data)::

    python benchmarks/bench_sensor.py [--quick] [--out benchmarks/results/sensor.json]

Times, each the best of ``--repeats`` calls after a first (compiling) call, jitted, float32:

- building the region lead field from the files (read, sum over vertices, drop IO1/IO2);
- the lead field product alone: node activity of the recording's length (61 s, the real
  recording's, at the model's 0.5 ms step: 122,000 x 76) to 63 average-referenced channels;
- one evaluation of the channel likelihood: simulate the 76-region Jansen-Rit network (10 m/s
  delays, Heun at 0.5 ms, 0.5 s transient), project, Welch (1 s segments), the 63-channel
  likelihood over 2-40 Hz with one gain; and its value and gradient in the coupling k (full
  backpropagation, checkpointed rollout).

``--quick`` simulates 5 s instead of 61 s. The load average before and after is printed. Nothing
is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DT_MS = 0.5


def best_of(fn, repeats: int) -> list[float]:
    """Seconds of ``repeats`` calls after a first one (compiling)."""
    import jax  # noqa: PLC0415

    jax.block_until_ready(fn())
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "sensor.json")
    args = parser.parse_args()

    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    from eegfit.data import tvb  # noqa: PLC0415
    from eegfit.models.network import network  # noqa: PLC0415
    from eegfit.observe.leadfield import project  # noqa: PLC0415
    from eegfit.signal import likelihood, sensor  # noqa: PLC0415
    from eegfit.signal.spectral import band_mask, welch  # noqa: PLC0415
    from eegfit.simulate import simulate  # noqa: PLC0415

    signal_s = 5.0 if args.quick else 61.0
    load_before = os.getloadavg()
    print(f"load average (1, 5, 15 min) before: {load_before}", flush=True)
    rows = {}
    rows["lead_field_build_s"] = best_of(lambda: jnp.zeros(()) + tvb.lead_field().gain.sum(),
                                         args.repeats)
    lf, sc = tvb.lead_field(), tvb.connectome()
    n_steps = int(round(signal_s * 1000.0 / DT_MS))
    nodes = jnp.asarray(np.random.default_rng(0).standard_normal((n_steps, 76)), jnp.float32)
    product = jax.jit(lambda x: project(x, lf.gain))
    rows["product_s"] = best_of(lambda: product(nodes), args.repeats)

    fs_hz = 1000.0 / DT_MS
    n_seg = int(2 * signal_s - 1)  # 1 s segments, half overlapping
    dof = likelihood.welch_dof(n_seg, int(fs_hz))

    def eeg(k, seed):
        model = network(sc.weights, k=k, lengths_mm=sc.lengths_mm, speed_m_s=10.0,
                        interval_ms=5.0)
        x = simulate(model, duration_ms=1000.0 * signal_s + 500.0, dt_ms=DT_MS,
                     transient_ms=500.0, integrator="heun", key=jax.random.key(seed),
                     checkpoint=True).observable
        return project(x, lf.gain)

    freqs, target, _ = welch(eeg(50.0, 0), fs_hz=fs_hz, segment_s=1.0)
    mask = band_mask(np.asarray(freqs), (2.0, 40.0))
    lmat = likelihood.decorrelation(np.full(mask.sum(), likelihood.log_psd_sd(dof, dof)),
                                    int(fs_hz))
    target = sensor.band_log_psd(target, mask)

    def loss(k):
        return sensor.negative_log_likelihood(
            welch(eeg(k, 1), fs_hz=fs_hz, segment_s=1.0)[1], mask, lmat, target)

    value = jax.jit(loss)
    value_grad = jax.jit(jax.value_and_grad(loss))
    rows["evaluation_s"] = best_of(lambda: value(50.0), args.repeats)
    rows["value_and_grad_s"] = best_of(lambda: value_grad(50.0), args.repeats)
    load_after = os.getloadavg()
    for name, times in rows.items():
        print(f"{name:22s} best {min(times):.4f} s  median {np.median(times):.4f} s", flush=True)
    print(f"load average (1, 5, 15 min) after: {load_after}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"signal_s": signal_s, "dt_ms": DT_MS, "n_regions": 76,
                                    "n_channels": lf.shape[0], "repeats": args.repeats,
                                    "load_average": [load_before, load_after], "rows": rows},
                                   indent=1) + "\n")


if __name__ == "__main__":
    main()
