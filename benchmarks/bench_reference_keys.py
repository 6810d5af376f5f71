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

``--npe`` holds the recording NPE trained ``per_simulation`` under the block's estimated
covariance (4,000 simulations, 3,000 steps; amortized, then one and two focused rounds) to a
key-averaged reference: the model's PSD on a 9 x 9 design over about +-5 posterior sd
(:data:`NPE_BOX`), as 16 means of the configured 16 realisations at each of the fit keys of
seeds 0-3 (so 64x the realisations in all, kept in ``results/reference_keys_npe_psd.npz`` for a
rerun), each feature's quadratic in (a, b) fitted to the design, and the grid posterior of the
NPE's likelihood on 61 x 61 cells (+ a refinement) of that smooth mean. References: each key
alone (16x), each half of the keys (32x), all (64x: ``averaged``, the one the NPE is held to),
and the mean over the 64 sets of 16 realisations of their features (``mean_of_logs``: what a
flow trained on 16-realisation simulations learns, E log rather than log E). How far the
averaged reference moves between keys: the 16x keys' spread over 2 (sqrt of the 4 keys), and
the two halves' difference.
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


def demo_kind(block: dict):
    """The kind of a ``recording_demo`` block and its first target's observed spectrum, the
    demo recording written into (and read back from) a scratch directory."""
    from eegfit import experiments  # noqa: PLC0415

    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            kind = experiments.build("recording_demo", block)
            path = Path(kind.spec.demo["path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            kind.make_input("demo", path)
            return kind, kind.observed(kind.make_target(kind.targets()[0]))
        finally:
            os.chdir(here)


def run(mode: str) -> dict:
    import numpy as np  # noqa: PLC0415
    import yaml  # noqa: PLC0415

    from eegfit import infer  # noqa: PLC0415
    from eegfit.experiments.recording import npe as recording_npe  # noqa: PLC0415
    from eegfit.signal import likelihood  # noqa: PLC0415

    block = yaml.safe_load((HERE.parent / "config" / "config.yaml").read_text())[
        "experiments"]["recording_demo"]
    block.update(posterior={"method": "grid", "grid_points": 21, "refine": 1},
                 npe={"n_simulations": 4000, "steps": 3000})
    keys = {1: 3, 4: 2} if mode == "quick" else {1: 6, 4: 4}
    out = {"mode": mode, "box": BOX, "loadavg_start": list(os.getloadavg()), "runs": []}
    kind, observed = demo_kind(block)
    y = kind.npe_observed(observed)
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


# ---- --npe: the per_simulation NPE against a key-averaged reference ---------------------------

NPE_BOX = {"a": (100.5 - 1.8, 100.5 + 1.8), "b": (50.0 - 1.2, 50.0 + 1.2)}
"""About +-5 posterior sd around the demo's posterior under the estimated covariance."""
DESIGN, REF_FACTOR, REF_KEYS = 9, 16, 4


MAX_HZ = 50.0
"""The reference keeps the PSD up to here (the likelihood's band and the floor's)."""


def reference_psds(kind, floorless_cache: Path | None = None):
    """``(points (D, 2), freqs (F,), psd (REF_KEYS, D, REF_FACTOR, F))``: the model's
    floor-free PSD on a ``DESIGN`` x ``DESIGN`` design over :data:`NPE_BOX`, as ``REF_FACTOR``
    means of the configured realisations each (the realisations of the ``REF_FACTOR`` x
    reference at the fit key of each seed ``0 .. REF_KEYS - 1``: their mean is
    ``recording_npe.reference_problem``'s model PSD), up to :data:`MAX_HZ`. Kept in
    ``floorless_cache``: they do not depend on the NPE's basis, noise or flow."""
    import itertools  # noqa: PLC0415

    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from eegfit.experiments.base import keys  # noqa: PLC0415
    from eegfit.signal import spectral  # noqa: PLC0415

    names = kind.spec.names
    spec = kind.spec
    fs_hz = 1e3 / spec.simulation.dt_ms
    freqs = spectral.frequencies(spectral.segment_samples(spec.segment_s, fs_hz), fs_hz)
    keep = freqs <= MAX_HZ
    points = np.array(list(itertools.product(*(np.linspace(*NPE_BOX[n], DESIGN)
                                                for n in names))), float)
    if floorless_cache is not None and floorless_cache.exists():
        with np.load(floorless_cache) as z:
            if np.array_equal(z["points"], points) and z["psd"].shape[:3] == (
                    REF_KEYS, len(points), REF_FACTOR):
                return points, freqs[keep], z["psd"]
    n_real = spec.n_realisations
    dtype = jnp.result_type(float)

    @jax.jit
    def batch(v, split):  # (rows, REF_FACTOR, F): each group the mean of n_real realisations
        def one(p):
            model = kind.model_at({n: p[i] for i, n in enumerate(names)})
            psd = jax.vmap(lambda k: kind.realisation_psd(model, k)[keep])(split)
            return jnp.mean(jnp.reshape(psd, (REF_FACTOR, n_real, -1)), axis=1)
        return jax.vmap(one)(v)
    out = []
    for seed in range(REF_KEYS):
        split = jax.random.split(keys(seed)[1], n_real * REF_FACTOR)
        out.append(np.concatenate([np.asarray(batch(jnp.asarray(points[i:i + DESIGN], dtype),
                                                    split), float)
                                   for i in range(0, len(points), DESIGN)]))
    psd = np.stack(out)
    if floorless_cache is not None:
        np.savez(floorless_cache, points=points, psd=psd)
    return points, freqs[keep], psd


def reference_features(kind, y, freqs, psd):
    """The NPE's features ``(D, d)`` of ``psd`` (``(D, F)``, floor-free, frequencies
    ``freqs``; the target's floor added)."""
    import numpy as np  # noqa: PLC0415

    from eegfit.experiments.recording import records as spectrum_records  # noqa: PLC0415
    from eegfit.experiments.recording import npe as recording_npe  # noqa: PLC0415

    floor = float(np.exp(y["log_floor_fraction"])) if recording_npe.has_floor(kind) else 0.0
    floored = np.asarray(spectrum_records.with_floor(kind.spec, freqs, psd.T, floor), float)
    mask = kind._mask[:len(freqs)]
    return (recording_npe.basis(kind).T @ (recording_npe.whitening(kind)[0]
                                          @ np.log(floored[mask]))).T


def smooth_reference(kind, y, points, feats):
    """The grid posterior (61 x 61 cells and a refinement on :data:`NPE_BOX`) of the NPE's
    likelihood, ``N(y; m(theta), I)``, with ``m`` each feature's quadratic in ``theta`` fitted
    by least squares to ``feats`` (``(D, d)`` on ``points``). Returns the grid and the fit's
    rms residual (whitened units)."""
    import jax.numpy as jnp  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from eegfit import infer  # noqa: PLC0415

    names = kind.spec.names
    centre = np.array([0.5 * sum(NPE_BOX[n]) for n in names])
    half = np.array([0.5 * (NPE_BOX[n][1] - NPE_BOX[n][0]) for n in names])

    def design(x):  # 1, x1, x2, x1^2, x1 x2, x2^2 (standardised)
        z = (x - centre) / half
        return np.stack([np.ones(len(z)), z[:, 0], z[:, 1], z[:, 0] ** 2, z[:, 0] * z[:, 1],
                         z[:, 1] ** 2], -1)
    coef, *_ = np.linalg.lstsq(design(points), feats, rcond=None)
    residual = float(np.sqrt(np.mean((design(points) @ coef - feats) ** 2)))
    c = jnp.asarray(coef)
    c0, h0 = jnp.asarray(centre), jnp.asarray(half)
    observed = {k: v for k, v in y.items() if k != "log_floor_fraction"}

    def features(values, _context):
        z0 = (values[names[0]] - c0[0]) / h0[0]
        z1 = (values[names[1]] - c0[1]) / h0[1]
        m = jnp.stack([jnp.ones_like(z0), z0, z1, z0 ** 2, z0 * z1, z1 ** 2], -1) @ c
        return {f"log_psd_pc[{i}]": m[..., i] for i in range(c.shape[1])}
    prob = infer.problem(features, observed, {k: 1.0 for k in observed}, dict(NPE_BOX),
                         units=kind.units())
    return infer.grid_posterior(prob, 61, refine=1), residual


def run_npe(cache: Path | None, changes: dict | None = None) -> dict:
    """The default recording_demo with ``model_noise: per_simulation`` (and its estimated
    covariance): the key-averaged reference, its key-to-key spread, the NPE's training, its
    amortized and focused (1, 2 rounds) posteriors against the reference."""
    import numpy as np  # noqa: PLC0415
    import yaml  # noqa: PLC0415

    from eegfit.experiments import npe as xnpe  # noqa: PLC0415
    from eegfit.infer.npe import check as npe_check  # noqa: PLC0415
    from eegfit.infer.npe.train import focus  # noqa: PLC0415

    block = yaml.safe_load((HERE.parent / "config" / "config.yaml").read_text())[
        "experiments"]["recording_demo"]
    block.update(posterior={"method": "grid", "grid_points": 21, "refine": 1},
                 npe={"n_simulations": 4000, "steps": 3000, "model_noise": "per_simulation"})
    block.update(changes or {})  # a smaller run (a smoke check)
    out = {"mode": "npe", "box": NPE_BOX, "design": DESIGN, "ref_factor": REF_FACTOR,
           "ref_keys": REF_KEYS, "covariance": block["likelihood"]["covariance"],
           "loadavg_start": list(os.getloadavg())}
    kind, observed = demo_kind(block)
    t0 = time.perf_counter()
    y = kind.npe_observed(observed)
    out["pilot_and_basis_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    points, freqs, psd = reference_psds(kind, cache)
    out["reference_psd_s"] = time.perf_counter() - t0
    names = kind.spec.names
    refs, half = {}, REF_KEYS // 2

    def of_mean(groups):  # the features of the mean PSD over these keys' groups
        return reference_features(kind, y, freqs, groups.mean(axis=(0, 2)))

    def mean_of(groups):  # the mean over these keys' groups of each group's features
        return np.mean([reference_features(kind, y, freqs, groups[k, :, g])
                        for k in range(groups.shape[0]) for g in range(groups.shape[2])], axis=0)
    for k in range(REF_KEYS):
        refs[f"key{k}"] = smooth_reference(kind, y, points, of_mean(psd[k:k + 1]))
    refs["keys_first_half"] = smooth_reference(kind, y, points, of_mean(psd[:half]))
    refs["keys_second_half"] = smooth_reference(kind, y, points, of_mean(psd[half:]))
    refs["averaged"] = smooth_reference(kind, y, points, of_mean(psd))
    # the features' mean over independent sets of the configured realisations (what a flow
    # trained per simulation learns: E log, not log E), averaged over every key's groups
    refs["mean_of_logs"] = smooth_reference(kind, y, points, mean_of(psd))
    refs["mean_of_logs_first_half"] = smooth_reference(kind, y, points, mean_of(psd[:half]))
    refs["mean_of_logs_second_half"] = smooth_reference(kind, y, points, mean_of(psd[half:]))
    out["references"] = {label: {**{f"{n}_mean": g.mean(n) for n in names},
                                 **{f"{n}_sd": g.marginal(n).sd() for n in names},
                                 "fit_residual": res} for label, (g, res) in refs.items()}
    reference = refs["averaged"][0]
    for n in names:
        sd = reference.marginal(n).sd()
        per_key = [refs[f"key{k}"][0].mean(n) for k in range(REF_KEYS)]
        out[f"{n}_spread_{REF_FACTOR}x_over_sd"] = float(np.std(per_key, ddof=1) / sd)
        out[f"{n}_halves_diff_over_sd"] = float(
            (refs["keys_first_half"][0].mean(n) - refs["keys_second_half"][0].mean(n)) / sd)
        # the averaged reference's own key spread: the 16x spread over sqrt(keys), and the
        # halves' difference (each 2 keys) over sqrt(2) x sqrt(2)
        out[f"{n}_averaged_spread_est_over_sd"] = float(
            out[f"{n}_spread_{REF_FACTOR}x_over_sd"] / np.sqrt(REF_KEYS))
    t0 = time.perf_counter()
    est = xnpe.train(kind)
    out["training_s"] = time.perf_counter() - t0
    out["amortized"] = npe_check.compare(est, {"demo": (y, reference)})
    previous = est
    for n_round in (1, 2):
        t0 = time.perf_counter()
        previous, region = focus(previous, xnpe.prior_problem(kind), y,
                                 max_batch=kind.npe_max_batch)
        out[f"focused{n_round}_s"] = time.perf_counter() - t0
        out[f"focused{n_round}_region"] = {k: list(v) for k, v in region.items()}
        out[f"focused{n_round}"] = npe_check.compare(previous, {"demo": (y, reference)})
    for label in ("mean_of_logs",):
        out[f"amortized_vs_{label}"] = npe_check.compare(est, {"demo": (y, refs[label][0])})
        out[f"focused2_vs_{label}"] = npe_check.compare(previous, {"demo": (y, refs[label][0])})
    out["loadavg_end"] = list(os.getloadavg())
    return out


def print_npe(r: dict) -> None:
    from eegfit.infer.npe import check as npe_check  # noqa: PLC0415

    print(f"The recording NPE (per_simulation, covariance {r['covariance']}) against a reference "
          f"averaged over {r['ref_keys']} keys x {r['ref_factor']}x realisations (load "
          f"{r['loadavg_start'][0]:.1f} -> {r['loadavg_end'][0]:.1f}); reference PSDs "
          f"{r['reference_psd_s']:.0f} s, training {r['training_s']:.0f} s")
    for label, row in r["references"].items():
        print(f"  reference {label}: a {row['a_mean']:.3f} (sd {row['a_sd']:.3f}), b "
              f"{row['b_mean']:.3f} (sd {row['b_sd']:.3f}), quadratic fit residual "
              f"{row['fit_residual']:.3f}")
    factor = r["ref_factor"]
    for n in ("a", "b"):
        print(f"  {n}: the mean moves between keys by {r[f'{n}_spread_{factor}x_over_sd']:.2f} "
              f"sd at {factor}x; halves differ by {r[f'{n}_halves_diff_over_sd']:.2f} sd; the "
              f"averaged reference's spread about {r[f'{n}_averaged_spread_est_over_sd']:.2f} sd")
    for what in ("amortized", "focused1", "focused2", "amortized_vs_mean_of_logs",
                 "focused2_vs_mean_of_logs"):
        print(f"  {what}" + (f" ({r[what + '_s']:.0f} s)" if what + "_s" in r else ""))
        print(npe_check.table(r[what]))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--npe" in argv:
        argv.remove("--npe")
        cache = HERE / "results" / "reference_keys_npe_psd.npz"
        out = HERE / "results" / "reference_keys_npe.json"
        if argv[:1] == ["--out"]:
            out = Path(argv[1])
        return bench_io.finish(run_npe(cache), print_npe, out)
    return bench_io.main(__doc__, run, print_table, HERE / "results" / "reference_keys.json",
                         argv)


if __name__ == "__main__":
    sys.exit(main())
