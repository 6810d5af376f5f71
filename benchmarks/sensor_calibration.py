"""Not a timing: how far the channel likelihood's independence assumption is from the truth
(issue 25). Channels seen through one lead field share most of their signal, so the likelihood,
which counts every (bin, channel) entry as independent, is too sharp; this measures by how much.

Run alone (needs tvb-data; about 2-4 minutes on 2 cores)::

    python benchmarks/sensor_calibration.py [--quick] [--out PATH]   # default: benchmarks/results/

For ``--pairs`` independent (target, model) noise pairs at the truth, twice the loss at the truth
``2 L`` of a 76-region Jansen-Rit network (tvb-data SC, 10 m/s delays, k = 50, Heun at 1 ms,
``--signal-s`` s after 1 s) is computed two ways:

- **sensors**: the 63 average-referenced channels of the lead field, one gain (the sensor kind's
  loss);
- **regions, uncoupled**: the 76 regions' own signals at k = 0 (independent by construction),
  one gain: where the independence assumption holds, with the network's own (bursty) dynamics;
- **white noise** (the control of the machinery): 76 channels of independent Gaussian white
  noise, the same Welch and likelihood: about 1 where the likelihood's statistics hold.

Under the assumption ``2 L`` is about chi-square with ``N - 1`` degrees of freedom (``N`` entries):
mean ``N - 1``, variance ``2 (N - 1)``. The printed ``variance ratio`` (measured over assumed) is
the factor by which the likelihood is too sharp (its log-likelihood differences too large);
``N_channels / ratio`` the effective number of independent channels.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DT_MS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--signal-s", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "sensor_calibration.json")
    args = parser.parse_args()
    if args.quick:
        args.pairs = 8

    import dataclasses  # noqa: PLC0415
    import functools  # noqa: PLC0415

    import jax  # noqa: PLC0415

    from eegfit.data import tvb  # noqa: PLC0415
    from eegfit.models.network import network  # noqa: PLC0415
    from eegfit.observe.leadfield import project  # noqa: PLC0415
    from eegfit.signal import likelihood, sensor  # noqa: PLC0415
    from eegfit.signal.spectral import band_mask, segment_starts, welch  # noqa: PLC0415
    from eegfit.simulate import simulate  # noqa: PLC0415

    load_before = os.getloadavg()
    lf, sc = tvb.lead_field(), tvb.connectome()
    fs_hz = 1000.0 / DT_MS
    base = network(sc.weights, k=50.0, lengths_mm=sc.lengths_mm, speed_m_s=10.0,
                   interval_ms=5.0)
    n_samples = int(args.signal_s * fs_hz)
    n_seg = len(segment_starts(n_samples, int(fs_hz), 0.5))
    dof = likelihood.welch_dof(n_seg, int(fs_hz))
    freqs = np.arange(int(fs_hz) // 2 + 1, dtype=float)
    mask = band_mask(freqs, (2.0, 40.0))
    lmat = likelihood.decorrelation(np.full(mask.sum(), likelihood.log_psd_sd(dof, dof)),
                                    int(fs_hz))

    @functools.partial(jax.jit, static_argnums=2)
    def psd(k, key, sensors: bool):
        x = simulate(dataclasses.replace(base, k=k), key=key, dt_ms=DT_MS,
                     duration_ms=1000.0 * args.signal_s + 1000.0, transient_ms=1000.0,
                     integrator="heun").observable
        return welch(project(x, lf.gain) if sensors else x, fs_hz=fs_hz, segment_s=1.0)[1]

    rng = np.random.default_rng(0)

    def white(k, key, sensors):
        del k, key, sensors
        return welch(rng.standard_normal((n_samples, 76)), fs_hz=fs_hz, segment_s=1.0)[1]

    rows = {}
    for name, k, sensors, make in (("sensors", 50.0, True, psd),
                                   ("regions_uncoupled", 0.0, False, psd),
                                   ("white_noise", 0.0, False, white)):
        twice = []
        for i in range(args.pairs):
            target = sensor.band_log_psd(make(k, jax.random.key(1000 + i), sensors), mask)
            model = make(k, jax.random.key(2000 + i), sensors)
            twice.append(2.0 * float(sensor.negative_log_likelihood(model, mask, lmat, target)))
        twice = np.asarray(twice)
        n = int(mask.sum()) * int(target.shape[1])
        ratio = float(np.var(twice, ddof=1) / (2.0 * (n - 1)))
        rows[name] = {"entries": n, "channels": int(target.shape[1]),
                      "mean_over_dof": float(np.mean(twice) / (n - 1)),
                      "variance_ratio": ratio,
                      "effective_channels": float(target.shape[1] / ratio),
                      "twice_loss": twice.tolist()}
        print(f"{name:18s} {target.shape[1]} channels, {n} entries: mean 2L / dof "
              f"{rows[name]['mean_over_dof']:.3f}, variance ratio {ratio:.1f}, effective "
              f"channels {rows[name]['effective_channels']:.1f} ({args.pairs} pairs)", flush=True)
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"pairs": args.pairs, "signal_s": args.signal_s,
                                    "dt_ms": DT_MS, "rows": rows,
                                    "load_average": [load_before, load_after]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
