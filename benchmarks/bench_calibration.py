"""The spectral likelihood's calibration at full size: 2-D posteriors of (a, b) at the default
recording block's sizes, in the noise-driven focus (C = 120) and in the limit cycle (C = 135, the
default column).

Run alone::

    python benchmarks/bench_calibration.py [--quick] [--out FILE]

Recordings: the Jansen-Rit simulator written in tests/test_likelihood.py (stochastic Heun at
0.1 ms, independent noise per recording) at a = 100 /s, b = 50 /s, 120 s each (the default demo's
length), their Welch PSD by SciPy at the simulator's rate (2 s Hann segments, half overlapping).
The fitting model is eegfit's, as the default recording block runs it: 0.5 ms Heun, the mean PSD
of 16 realisations of 5 s after 0.5 s, each recording with its own noise key. Per recording: the
loss on a 9 x 9 grid over the box (a in [80, 120], b in [40, 60]), then on an 11 x 11 grid around
its minimum sized from a local quadratic, a bicubic spline of it on a fine grid, the posterior
exp(-loss) on it (flat prior), its marginal 90 % intervals and sds, and the grid's minimum as the
point fit. Two likelihoods, each with its own refinements from the same coarse grid:
``analytic`` (the sampling statistics' covariance) and ``estimated`` (times the excess
covariance that 320 realisations at the coarse minimum show, ``likelihood.excess_covariance``).
Reported per regime and likelihood: how many 90 % intervals hold the truth against the 99 %
interval of Bin(n, 0.9), the mean posterior sd over the spread (sd) of the point fits, the
median chi-square p-value, and the time per recording (both). Quick: 6 recordings, 8
realisations, 60 s, a pilot of 160.
First, the cost of one likelihood evaluation of the default block, with and without the
aperiodic profile, and of its value and gradient.
Nothing asserts; the JSON keeps every number.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import bench_io

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE.parent / "tests"))

TRUTH = {"a": 100.0, "b": 50.0}
COVARIANCES = ("analytic", "estimated")
BOX = {"a": (80.0, 120.0), "b": (40.0, 60.0)}


def _posterior(values_a, values_b, nll):
    """Marginal means, sds and 90 % intervals of (a, b), and the point fit, from the loss on a
    grid (a bicubic spline of it on a 201 x 201 grid)."""
    import numpy as np  # noqa: PLC0415
    from scipy import interpolate  # noqa: PLC0415

    spline = interpolate.RectBivariateSpline(values_a, values_b, nll, kx=3, ky=3)
    fa = np.linspace(values_a[0], values_a[-1], 201)
    fb = np.linspace(values_b[0], values_b[-1], 201)
    loss = spline(fa, fb)
    density = np.exp(-(loss - loss.min()))
    out = {}
    i, j = np.unravel_index(np.argmin(loss), loss.shape)
    for name, axis, grid, best in (("a", 1, fa, fa[i]), ("b", 0, fb, fb[j])):
        marginal = density.sum(axis=axis)
        marginal /= np.trapezoid(marginal, grid)
        mean = np.trapezoid(grid * marginal, grid)
        sd = math.sqrt(np.trapezoid((grid - mean) ** 2 * marginal, grid))
        cdf = np.cumsum(marginal)
        low, high = np.interp([0.05, 0.95], cdf / cdf[-1], grid)
        out[name] = {"point": float(best), "mean": float(mean), "sd": sd, "low": float(low),
                     "high": float(high)}
    return out, float(loss.min())


def _regime(c_value: float, n_records: int, duration_s: float, n_realisations: int,
            n_pilot: int) -> dict:
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from scipy import stats  # noqa: PLC0415

    import test_likelihood as t  # noqa: PLC0415
    from eegfit.models import JansenRit, WhiteNoiseDrive  # noqa: PLC0415
    from eegfit.signal import likelihood as lk  # noqa: PLC0415
    from eegfit.signal import spectral  # noqa: PLC0415
    from eegfit.simulate import simulate  # noqa: PLC0415

    t0 = time.perf_counter()
    eeg = t.recordings({**TRUTH, "C": c_value}, n_records, duration_s, seed=21) * 10.0
    freqs, psd = t.scipy_welch(eeg, t.REC_FS_HZ)
    record_s = time.perf_counter() - t0
    band = (freqs >= 2.0) & (freqs <= 40.0)
    n_rec = int(2.0 * t.REC_FS_HZ)
    target_dof = lk.welch_dof(len(spectral.segment_starts(eeg.shape[1], n_rec)), n_rec)
    sim = dict(dt_ms=0.5, duration_ms=5500.0, transient_ms=500.0, integrator="heun")
    fs = 1e3 / sim["dt_ms"]
    n_model = spectral.segment_samples(2.0, fs)
    kept = int(round((sim["duration_ms"] - sim["transient_ms"]) * fs / 1e3))
    realisation_dof = lk.welch_dof(len(spectral.segment_starts(kept, n_model)), n_model)
    model_dof = lk.welch_dof([len(spectral.segment_starts(kept, n_model))] * n_realisations,
                             n_model)
    band_model = spectral.band_mask(spectral.frequencies(n_model, fs), (2.0, 40.0))
    whiten = lk.whitening(lk.log_psd_sd(target_dof, model_dof) * np.ones(band.sum()), n_model)

    def psd_of(a, b, k):
        model = JansenRit(a=a, b=b, C=c_value,
                          drive=WhiteNoiseDrive(mean_hz=t.MEAN_HZ, sigma_hz_sqrt_s=t.SIGMA))
        return spectral.welch(simulate(model, key=k, **sim).observable, fs_hz=fs, segment_s=2.0,
                              axis=0)[1][band_model]

    @jax.jit
    def log_model(a, b, key):  # a, b: flat arrays of grid points
        keys = jax.random.split(key, n_realisations)
        mean = jax.vmap(lambda ai, bi: jnp.mean(jax.vmap(lambda k: psd_of(ai, bi, k))(keys),
                                                axis=0))(a, b)
        return jnp.log(mean)

    pilot = jax.jit(jax.vmap(psd_of, in_axes=(None, None, 0)))

    def loss(values_a, values_b, key, target, whiten):
        ga, gb = np.meshgrid(values_a, values_b, indexing="ij")
        lm = np.asarray(log_model(jnp.asarray(ga.ravel(), jnp.float32),
                                  jnp.asarray(gb.ravel(), jnp.float32), key), dtype=float)
        nll = 0.5 * np.sum((lm @ whiten.T - whiten @ target) ** 2, axis=1)
        return nll.reshape(ga.shape)

    rows, t1 = {name: [] for name in COVARIANCES}, time.perf_counter()
    for i, target in enumerate(np.log(psd[:, band])):
        key = jax.random.key(5000 + i)
        coarse_a, coarse_b = np.linspace(*BOX["a"], 9), np.linspace(*BOX["b"], 9)
        nll = loss(coarse_a, coarse_b, key, target, whiten)
        ia, ib = np.unravel_index(np.argmin(nll), nll.shape)
        # the realisations' own covariance, from n_pilot realisations at the coarse minimum
        realisations = pilot(jnp.float32(coarse_a[ia]), jnp.float32(coarse_b[ib]),
                             jax.random.split(jax.random.key(9000 + i), n_pilot))
        excess = lk.excess_covariance(np.asarray(realisations), realisation_dof, n_model)
        whitenings = {"analytic": whiten, "estimated": lk.whitening(
            lk.log_psd_sd(target_dof, model_dof) * np.ones(band.sum()), n_model, excess)}
        for name, w in whitenings.items():
            centre, half = [coarse_a[ia], coarse_b[ib]], [5.0, 2.5]
            for _ in range(2):  # a local grid, then one sized to +-4 sd of the local posterior
                values_a = np.clip(np.linspace(centre[0] - half[0], centre[0] + half[0], 11),
                                   *BOX["a"])
                values_b = np.clip(np.linspace(centre[1] - half[1], centre[1] + half[1], 11),
                                   *BOX["b"])
                values_a, values_b = np.unique(values_a), np.unique(values_b)
                nll = loss(values_a, values_b, key, target, w)
                post, best = _posterior(values_a, values_b, nll)
                centre = [post["a"]["mean"], post["b"]["mean"]]
                half = [max(4.0 * post["a"]["sd"], 0.2), max(4.0 * post["b"]["sd"], 0.1)]
            rows[name].append({**post, "p_value": lk.goodness_of_fit(best, int(band.sum()),
                                                                     2)[1],
                               "excess_max": float(np.linalg.eigvalsh(excess)[-1])})
    fit_s = time.perf_counter() - t1
    low, high = stats.binom.interval(0.99, n_records, 0.9)
    out = {"C": c_value, "n_recordings": n_records, "duration_s": duration_s,
           "n_realisations": n_realisations, "n_pilot": n_pilot,
           "binomial_99": [int(low), int(high)], "recordings_s": record_s,
           "per_recording_s": fit_s / n_records}
    for cov, cov_rows in rows.items():
        out[cov] = {"median_p_value": float(np.median([r["p_value"] for r in cov_rows])),
                    "excess_max_median": float(np.median([r["excess_max"] for r in cov_rows]))}
        for name in ("a", "b"):
            points = np.array([r[name]["point"] for r in cov_rows])
            s = {"covered": int(sum(r[name]["low"] <= TRUTH[name] <= r[name]["high"]
                                    for r in cov_rows)),
                 "mean_sd": float(np.mean([r[name]["sd"] for r in cov_rows])),
                 "point_spread": float(np.std(points, ddof=1)),
                 "mean_point": float(np.mean(points))}
            s["sd_over_spread"] = s["mean_sd"] / s["point_spread"]
            out[cov][name] = s
    return out


def _evaluation_cost(repeats: int) -> dict:
    """One likelihood evaluation of the default recording block (16 realisations of 5.5 s at
    0.5 ms, Welch, the likelihood), compiled, on a target of the same shape; with the aperiodic
    profile and without; the median of ``repeats`` calls, and its value-and-grad."""
    import copy  # noqa: PLC0415

    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import yaml  # noqa: PLC0415

    from eegfit import experiments  # noqa: PLC0415
    from eegfit.experiments.base import as_float  # noqa: PLC0415
    from eegfit.signal import likelihood as lk  # noqa: PLC0415

    block = yaml.safe_load((HERE.parent / "config" / "config.yaml").read_text())[
        "experiments"]["recording_demo"]
    out = {}
    for label, aperiodic in (("plain", None), ("aperiodic", {"exponent": [0.0, 4.0]})):
        kind = experiments.build("recording_demo", {**copy.deepcopy(block),
                                                    "aperiodic": aperiodic})
        n = kind.n_bins
        whiten = lk.whitening(0.2 * np.ones(n), 4000)
        data = {"log_psd": jax.numpy.asarray(whiten @ np.linspace(0.0, -3.0, n)),
                "whiten": jax.numpy.asarray(whiten), "key": jax.random.key(0),
                "floor_fraction": jax.numpy.asarray(0.01)}

        def loss(a, b, kind=kind, data=data):
            return kind.loss(kind.model_at({"a": a, "b": b}), data)[0]
        value = jax.jit(loss)
        grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        args = (as_float(100.0), as_float(50.0))
        for name, fn in (("value_s", value), ("value_and_grad_s", grad)):
            jax.block_until_ready(fn(*args))
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                jax.block_until_ready(fn(*args))
                times.append(time.perf_counter() - t0)
            out[f"{label}_{name}"] = float(np.median(times))
    return out


def run(mode: str) -> dict:
    quick = mode == "quick"
    sizes = (6, 60.0, 8, 160) if quick else (20, 120.0, 16, 320)
    return {"mode": mode, "evaluation": _evaluation_cost(3 if quick else 10),
            "regimes": [_regime(c, *sizes) for c in (120.0, 135.0)]}


def print_table(r: dict) -> None:
    e = r["evaluation"]
    print(f"One likelihood evaluation of the default recording block (16 x 5.5 s at 0.5 ms): "
          f"{e['plain_value_s'] * 1e3:.0f} ms, value and gradient (a, b) "
          f"{e['plain_value_and_grad_s'] * 1e3:.0f} ms; with the aperiodic profile "
          f"{e['aperiodic_value_s'] * 1e3:.0f} ms / {e['aperiodic_value_and_grad_s'] * 1e3:.0f} ms")
    print(f"Spectral likelihood calibration ({r['mode']}): 2-D grid posteriors of (a, b)")
    for g in r["regimes"]:
        print(f"  C = {g['C']:g}: {g['n_recordings']} recordings of {g['duration_s']:g} s, "
              f"{g['n_realisations']} realisations; 99 % binomial interval of the 90 % sets "
              f"{g['binomial_99']}; {g['per_recording_s']:.1f} s per recording (both)")
        for cov in COVARIANCES:
            c = g[cov]
            print(f"   {cov} covariance (median chi-square p {c['median_p_value']:.2f}; the "
                  f"pilot's ({g['n_pilot']} realisations) largest excess "
                  f"{c['excess_max_median']:.2f}, median)")
            for name in ("a", "b"):
                s = c[name]
                print(f"    {name}: covered {s['covered']}/{g['n_recordings']}, posterior sd "
                      f"{s['mean_sd']:.3g} / spread of the point fits {s['point_spread']:.3g} = "
                      f"{s['sd_over_spread']:.2f}, mean point fit {s['mean_point']:.2f} "
                      f"(truth {TRUTH[name]:g})")


def main(argv=None) -> int:
    return bench_io.main(__doc__, run, print_table, HERE / "results" / "calibration.json", argv)


if __name__ == "__main__":
    sys.exit(main())
