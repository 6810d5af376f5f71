"""The second lead field and the sensor FC measures: what they cost (issue 25).

Run alone (needs tvb-data and MNE)::

    python benchmarks/bench_sensor_fc.py [--signal-s 20] [--repeats 3]

- building each lead field (``tvb.lead_field(model=...)``: the surface one read and summed over
  vertices; the sphere one fitted and solved by MNE), interleaved, each the best of ``--repeats``;
- each FC measure of the sensor kind's loss (``eegfit.signal.fc.band_fc`` in 8-13 Hz, 1 s
  half-overlapping segments) on 63 channels of ``--signal-s`` at the model's 0.5 ms step, its
  value and its value and gradient (jitted, float32, after a compiling call), as a ratio to the
  envelope's. The load average before and after is printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

DT_MS = 0.5


def seconds(fn) -> float:
    import jax  # noqa: PLC0415

    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signal-s", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    from eegfit.data import tvb  # noqa: PLC0415
    from eegfit.signal import fc  # noqa: PLC0415

    print(f"load average (1, 5, 15 min) before: {os.getloadavg()}", flush=True)
    builds = {"surface": [], "sphere": []}
    for _ in range(args.repeats):  # interleaved
        for model in builds:
            builds[model].append(seconds(lambda m=model: jnp.asarray(
                tvb.lead_field(model=m).gain.sum())))
    for model, times in builds.items():
        print(f"lead field {model:8s} best {min(times):.3f} s  spread {min(times):.3f}-"
              f"{max(times):.3f} s", flush=True)
    fs_hz = 1000.0 / DT_MS
    x = jnp.asarray(np.random.default_rng(0).standard_normal(
        (int(args.signal_s * fs_hz), 63)), jnp.float32)
    target = jnp.zeros((63, 63)) + 0.1

    def timed(measure):
        def misfit(scale):
            return fc.fisher_z_rmse(fc.band_fc(x * scale, fs_hz, (8.0, 13.0), measure), target)
        value, both = jax.jit(misfit), jax.jit(jax.value_and_grad(misfit))
        value(1.0), both(1.0)  # compile
        return ([seconds(lambda: value(1.0)) for _ in range(args.repeats)],
                [seconds(lambda: both(1.0)) for _ in range(args.repeats)])
    rows = {m: timed(m) for m in fc.FC_MEASURES}
    base = [min(t) for t in rows["envelope"]]
    for measure, (value, both) in rows.items():
        print(f"{measure:20s} value {min(value) * 1e3:8.1f} ms ({min(value) / base[0]:.2f}x "
              f"envelope)  value+grad {min(both) * 1e3:8.1f} ms ({min(both) / base[1]:.2f}x); "
              f"spread {min(value) * 1e3:.1f}-{max(value) * 1e3:.1f} ms", flush=True)
    print(f"load average (1, 5, 15 min) after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
