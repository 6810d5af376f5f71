"""The sensor kind's posterior (:mod:`eegfit.experiments.sensor.score`): the channel likelihood's
whitened entries reproduce its loss; the pilot's summary table is interpolated as SciPy does;
bad config is refused at planning; and on demo recordings at known couplings the 90 % sets hold
the truth as often as they should, where the channel likelihood's own (uninflated) covariance
makes them about 4.5x too narrow."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BLOCK = yaml.safe_load((ROOT / ".test" / "sensor.yaml").read_text())["experiments"]["sensor_k"]
POSTERIOR = {"method": "grid", "grid_points": 241, "refine": 0, "verdict_points": 0}


@pytest.mark.parametrize("gain", ["common", "per_channel"])
def test_whitened_entries_give_the_channel_likelihood(gain):
    from eegfit.signal import likelihood, sensor

    rng = np.random.default_rng(1)
    n_bins, n_channels = 14, 6
    decorrelate = likelihood.decorrelation(np.full(n_bins, 0.4), 16)
    model, target = rng.normal(size=(2, n_bins, n_channels))
    nll = float(sensor.negative_log_likelihood(np.exp(model), np.ones(n_bins, bool), decorrelate,
                                               target, gain))
    e = np.asarray(sensor.whitened_entries(model, decorrelate, gain)
                   - sensor.whitened_entries(target, decorrelate, gain))
    assert e.shape == ((n_bins * n_channels - 1,) if gain == "common"
                       else ((n_bins - 1) * n_channels,))
    assert 0.5 * e @ e == pytest.approx(nll, rel=1e-5)
    # the gain drops out: a common offset (or one per channel) leaves the entries alone
    offset = 0.7 if gain == "common" else rng.normal(size=n_channels)
    shifted = sensor.whitened_entries(model + offset, decorrelate, gain)
    np.testing.assert_allclose(shifted, sensor.whitened_entries(model, decorrelate, gain),
                               atol=1e-4)


def test_the_score_table_is_interpolated_as_scipy_does():
    import jax.numpy as jnp
    from scipy.interpolate import RegularGridInterpolator

    from eegfit.experiments.sensor import score

    rng = np.random.default_rng(2)
    axes = [np.linspace(20, 80, 9), np.linspace(100, 300, 5)]
    table = rng.normal(size=(9, 5, 3))                      # (G1, G2, directions)
    whiten = np.tril(rng.normal(size=(3, 3))) + 3 * np.eye(3)
    points = np.column_stack([rng.uniform(20, 80, 50), rng.uniform(100, 300, 50)])
    nodes = np.stack([(points[:, i] - a[0]) / (a[1] - a[0]) for i, a in enumerate(axes)])
    got = np.asarray(score.predicted((jnp.moveaxis(jnp.asarray(table), -1, 0),
                                      jnp.asarray(whiten)), jnp.asarray(nodes)))
    want = whiten @ RegularGridInterpolator(axes, table)(points).T
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def build(**changes):
    from eegfit import experiments

    block = copy.deepcopy(BLOCK)
    block.update(changes)
    return experiments.build("sensor_k", block, check_optimizers=False)


@pytest.mark.parametrize("change, match", [
    ({"posterior": {**POSTERIOR, "verdict_points": 61}}, r"posterior\.verdict_points"),
    ({"likelihood": {"pilot_realisations": 2}}, r"likelihood\.pilot_realisations"),
    ({"likelihood": {"pilot_grid_points": 1}}, r"likelihood\.pilot_grid_points"),
    ({"likelihood": {"covariance": "estimated"}}, r"likelihood"),
])
def test_bad_posterior_config_is_refused_at_planning(tvb, change, match):
    with pytest.raises(ValueError, match=match):
        build(**change)


def demo_posteriors(truth_k: float, seed: int, workdir: Path) -> dict:
    """One demo recording at ``truth_k`` (4 s, its own noise seed): its target (with the pilot)
    and the grid posterior of k, with the measured covariance and with the channel likelihood's
    own (``K_1 = v_1 I``: the break-check)."""
    from eegfit import infer
    from eegfit.experiments import posterior, runner

    kind = build(simulation={**BLOCK["simulation"], "duration_ms": 5000.0},
                 demo={**BLOCK["demo"], "duration_s": 4, "seed": seed, "truth": {"k": truth_k}},
                 posterior=POSTERIOR, likelihood={"pilot_realisations": 8})
    path = workdir / f"demo_{seed}.edf"
    kind.make_input("demo", path)
    kind.spec.files["demo"] = str(path)
    target = kind.targets()[0]
    ds = runner.make_target(kind, target)
    cov = ds["score_covariance_1"]
    analytic = ds.assign(score_covariance_1=(cov.dims, cov.attrs["single_variance"]
                                             * np.eye(ds.sizes["direction"]), cov.attrs))
    out = {"kind": kind, "target": target, "ds": ds}
    for label, target_ds in (("measured", ds), ("analytic", analytic)):
        prob, _ = posterior.problem(kind, target, kind.observed(target_ds))
        post = infer.posterior(prob, "grid", truth={"k": truth_k}, grid_points=241, refine=0)
        out[label] = (post.summaries["k"], post.verdicts["k"].truth_level < 0.9, prob)
    return out


@pytest.mark.slow
def test_the_90_percent_sets_of_demo_recordings_are_calibrated(tvb):
    """6 demo recordings at couplings drawn in [35, 65]: the 90 % sets hold the truth within the
    99 % binomial interval of Bin(6, 0.9) (3-6) and the mean squared z of the posterior means
    within chi2_6 / 6's (0.11-3.0); the channel likelihood's own covariance fails the second
    (its posteriors about 4.5x too narrow). NUTS on one target agrees with its grid."""
    from scipy import stats

    from eegfit import infer

    truths = np.random.default_rng(7).uniform(35.0, 65.0, 6)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [demo_posteriors(float(k), 200 + i, Path(tmp)) for i, k in enumerate(truths)]
    n = len(runs)
    lo, _ = stats.binom.ppf([0.005, 0.995], n, 0.9)
    z2_hi = stats.chi2.ppf(0.995, n) / n
    result = {}
    for label in ("measured", "analytic"):
        covered = sum(r[label][1] for r in runs)
        z2 = np.mean([((r[label][0]["mean"] - k) / r[label][0]["sd"]) ** 2
                      for r, k in zip(runs, truths)])
        result[label] = (covered, z2)
    covered, z2 = result["measured"]
    assert covered >= lo and z2 < z2_hi, result
    assert result["analytic"][1] > z2_hi, result
    assert all(float(r["ds"]["score_inflation"]) > 3 for r in runs), result
    # NUTS through the same problem: no simulation per step, its mean near the grid's
    summary, _, prob = runs[0]["measured"]
    draws = infer.posterior(prob, "nuts", chains=2, draws=300, warmup=300, seed=0,
                            reference_grid=False).summaries["k"]
    assert abs(draws["mean"] - summary["mean"]) < 0.3 * summary["sd"], (draws, summary)
