"""How far one noise key moves the recording NPE's reference grid: the key-to-key spread of its
posterior mean, in posterior sd, at the configured realisations and at 4x.

Run alone::

    python benchmarks/bench_reference_keys.py [--quick] [--out FILE]

The default ``recording_demo`` (a and b from its 120 s demo at a = 100 /s, b = 50 /s, white floor
included, 16 realisations of 5.5 s at the default column, C = 135: a noisy limit cycle); the grid
of the NPE's likelihood (``recording_npe.reference_problem``: the model's mean PSD over ``factor``
x 16 realisations of the fit key of each seed) on 15 x 15 cells over a fixed box of about +-4
posterior sd around the demo's posterior (a in 100.55 +- 1.3 /s, b in 50.05 +- 0.9 /s). Full:
six keys at 1x, four at 4x; quick: three and two. Twice: with the analytic covariance (the NPE's
likelihood as it is) and with the realisations' (``likelihood.excess_covariance`` of 320 single
realisations at the demo's posterior, put in place of ``recording_npe.whitening`` for the
features, their principal directions and the reference alike). Reported per covariance and
factor: each key's means and sds, the standard deviation of the means over keys divided by the
mean posterior sd, and the time of a grid. A reference for the NPE's per-target bound (mean
within 0.25 sd) must move much less than that between keys. Not in ``run_all.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import bench_io

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

BOX = {"a": (100.55 - 1.3, 100.55 + 1.3), "b": (50.05 - 0.9, 50.05 + 0.9)}


def run(mode: str) -> dict:
    import numpy as np  # noqa: PLC0415
    import yaml  # noqa: PLC0415

    from eegfit import experiments, infer  # noqa: PLC0415
    from eegfit.experiments import recording_npe  # noqa: PLC0415
    from eegfit.signal import likelihood  # noqa: PLC0415

    block = yaml.safe_load((HERE.parent / "config" / "config.yaml").read_text())[
        "experiments"]["recording_demo"]
    block.update(posterior={"method": "grid", "grid_points": 21, "refine": 1},
                 npe={"n_simulations": 4000, "steps": 3000})
    keys = {1: 3, 4: 2} if mode == "quick" else {1: 6, 4: 4}
    out = {"mode": mode, "box": BOX, "loadavg_start": list(os.getloadavg()), "runs": []}
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            kind = experiments.build("recording_demo", block)
            path = Path(kind.spec.demo["path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            kind.make_input("demo", path)
            target = kind.targets()[0]
            observed = kind.observed(kind.make_target(target))
            y = kind.npe_observed(observed)
        finally:
            os.chdir(here)
    analytic = recording_npe.whitening(kind)
    excess = _excess(kind)
    out["excess_max"] = float(np.linalg.eigvalsh(excess)[-1])
    for covariance in ("analytic", "estimated"):
        if covariance == "estimated":  # the same problem with the realisations' covariance:
            # the module's whitening replaced (features, basis and reference all read it)
            sd = float(likelihood.log_psd_sd(recording_npe.target_dof(kind), kind.model_dof))
            estimated = (likelihood.whitening(np.full(kind.n_bins, sd), kind._n_per_segment,
                                              excess), analytic[1])
            recording_npe.whitening = lambda _kind, w=estimated: w
            kind._npe_basis = None
            y = kind.npe_observed(observed)
        for factor, n_keys in keys.items():
            for seed in range(n_keys):
                t0 = time.perf_counter()
                grid = infer.grid_posterior(recording_npe.reference_problem(
                    kind, y, seed, factor, BOX), 15, refine=0, max_batch=64)
                out["runs"].append({"covariance": covariance, "factor": factor, "seed": seed,
                                    "s": time.perf_counter() - t0,
                                    **{f"{n}_mean": grid.mean(n) for n in ("a", "b")},
                                    **{f"{n}_sd": grid.marginal(n).sd() for n in ("a", "b")}})
            rows = [r for r in out["runs"]
                    if r["factor"] == factor and r["covariance"] == covariance]
            for n in ("a", "b"):
                out[f"{covariance}_x{factor}_{n}_key_spread_over_sd"] = float(
                    np.std([r[f"{n}_mean"] for r in rows], ddof=1)
                    / np.mean([r[f"{n}_sd"] for r in rows]))
    out["loadavg_end"] = list(os.getloadavg())
    return out


def _excess(kind):
    """The excess covariance (``likelihood.excess_covariance``) of 320 single realisations of
    the block's model at the demo's posterior mean (a = 100.5 /s, b = 50.0 /s)."""
    import copy  # noqa: PLC0415
    import dataclasses  # noqa: PLC0415

    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from eegfit.signal import likelihood  # noqa: PLC0415

    one = copy.copy(kind)
    one.spec = dataclasses.replace(kind.spec, n_realisations=1)
    model = one.model_at({"a": 100.5, "b": 50.0})
    psd = jax.jit(jax.vmap(lambda k: one.model_spectrum(model, k)[1][kind._mask]))(
        jax.random.split(jax.random.key(9000), 320))
    return likelihood.excess_covariance(
        np.asarray(psd), kind.model_dof / kind.spec.n_realisations, kind._n_per_segment)


def print_table(r: dict) -> None:
    print(f"The recording NPE's reference grid at several fit keys ({r['mode']}; load "
          f"{r['loadavg_start'][0]:.1f} -> {r['loadavg_end'][0]:.1f})")
    print(f"  the realisations' largest excess at the demo's posterior: {r['excess_max']:.2f}")
    for row in r["runs"]:
        print(f"  {row['covariance']}, {row['factor']}x realisations, key {row['seed']}: a "
              f"{row['a_mean']:.3f} (sd {row['a_sd']:.3f}), b {row['b_mean']:.3f} (sd "
              f"{row['b_sd']:.3f}); {row['s']:.0f} s")
    for covariance in ("analytic", "estimated"):
        for factor in sorted({row["factor"] for row in r["runs"]}):
            spread_a, spread_b = (r[f"{covariance}_x{factor}_{n}_key_spread_over_sd"]
                                  for n in ("a", "b"))
            print(f"  {covariance}, {factor}x: the mean moves between keys by {spread_a:.2f} sd "
                  f"(a), {spread_b:.2f} sd (b)")


def main(argv=None) -> int:
    return bench_io.main(__doc__, run, print_table, HERE / "results" / "reference_keys.json",
                         argv)


if __name__ == "__main__":
    sys.exit(main())
