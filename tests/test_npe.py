"""Neural posterior estimation of C from the RMS amplitude (eegfit.infer.npe), one small flow
trained once on real prior simulations (fixed seeds): calibrated by SBC, agreeing with the exact
grid posterior, reloaded with the same draws, written as the same InferenceData as the other
methods, and every bad input refused naming it."""

from __future__ import annotations

import hashlib
import math

import jax.numpy as jnp
import numpy as np
import pytest

from eegfit import infer
from eegfit.infer import idata, npe, sbc
from eegfit.infer.npe import check as npe_check
from eegfit.infer.npe import io as npe_io
from eegfit.infer.npe.train import focus, train
from test_infer import BOX, never_called, rms_at, rms_feature

REL_SD = 0.05  # broad enough for a small flow and budget to resolve; the noise of training
SETTINGS = npe.Settings(n_simulations=4000, steps=1500, batch_size=256, flow_layers=1,
                        nn_width=32, seed=0)


def c_problem(observed: float = 1.0, features=rms_feature, bounds=BOX, priors=None):
    return infer.problem(features, {"rms": observed},
                         infer.relative_scale({"rms": observed}, REL_SD), bounds, priors,
                         units={"C": "1"}, feature_units={"rms": "mV"})


@pytest.fixture(scope="module")
def estimator():
    return train(c_problem(), npe.Noise(rel_sd=REL_SD), SETTINGS)


@pytest.fixture(scope="module")
def calibration(estimator):
    return sbc.calibrate(estimator, c_problem(), runs=200, draws=99, bins=10)


def test_sbc_ranks_are_uniform_and_coverage_follows_the_diagonal(calibration):
    assert calibration.attrs["runs"] == 200
    assert int(calibration["rank_count"].sum()) == 200
    assert float(calibration["chi2_p"].sel(parameter="C")) > 0.01, calibration["rank_count"]
    level = calibration["level"].values
    for name in ("coverage_central", "coverage_hpd"):
        cover = calibration[name].values.reshape(len(level), -1)[:, 0]
        assert np.max(np.abs(cover - level)) < 0.15, (name, cover)


@pytest.mark.parametrize("truth", [135.0, 160.0])
def test_npe_mean_agrees_with_the_grid_posterior(estimator, truth):
    observed = rms_at(truth)
    grid = infer.grid_posterior(c_problem(observed), 241)
    marginal = grid.marginal("C")
    draws = estimator.sample({"rms": observed}, 1000, seed=1)["C"]
    assert abs(draws.mean() - marginal.mean()) < 0.25 * marginal.sd(), (draws.mean(),
                                                                        marginal.mean(),
                                                                        marginal.sd())
    assert 0.7 < draws.std() / marginal.sd() < 1.4


@pytest.mark.parametrize("truth", [140.0, 150.0])
def test_a_focused_round_holds_the_npe_to_its_grid_per_target(estimator, truth):
    """Issue 22: each target's NPE sd within 1.3x of the grid's and its mean within 0.25 grid
    sd, by a sequential round on the prior truncated to the amortized posterior."""
    observed = {"rms": rms_at(truth)}
    grid = infer.grid_posterior(c_problem(observed["rms"]), 241)
    focused, region = focus(estimator, c_problem(), observed)
    rows = npe_check.compare(focused, {f"C={truth:g}": (observed, grid)})
    assert npe_check.passed(rows), npe_check.table(rows)
    assert BOX["C"][0] <= region["C"][0] < truth < region["C"][1] <= BOX["C"][1]


def test_saved_estimator_reloads_with_the_same_draws_and_bytes(estimator, tmp_path):
    path = npe_io.save(estimator, tmp_path / "npe.eqx")
    again = npe_io.load(path, npe_io.expected(c_problem(), npe.Noise(rel_sd=REL_SD)))
    observed = {"rms": rms_at(140.0)}
    assert np.array_equal(again.sample(observed, 100, seed=3)["C"],
                          estimator.sample(observed, 100, seed=3)["C"])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    side = npe_io.sidecar_path(path).read_text()
    npe_io.save(again, tmp_path / "npe.eqx")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert npe_io.sidecar_path(path).read_text() == side
    assert '"C": [\n   110.0,' in side and '"rms"' in side


def test_npe_posterior_is_the_same_inference_data_as_the_others(estimator, tmp_path):
    observed = rms_at(150.0)
    post = infer.posterior(c_problem(observed), "npe", estimator=estimator, draws=1000, seed=0,
                           truth={"C": 150.0})
    assert post.grid is None and post.n_evaluations == 0
    groups = post.groups(attrs={"experiment": "test"})
    assert groups["posterior"]["C"].shape == (4, 250)
    assert groups["posterior"].attrs["sampled_from"] == "npe"
    assert {"posterior", "sample_stats", "prior", "observed_data", "constant_data",
            "identifiability"} <= set(groups)
    path = idata.write(groups, tmp_path / "npe.nc")
    from eegfit.infer.nuts import _arviz

    data = _arviz().from_netcdf(path)
    assert data.posterior["C"].shape == (4, 250)
    assert post.verdicts["C"].truth_position == "inside"


# ---- bad input: a clear error naming it ------------------------------------------------------

def test_wrong_length_and_nan_features_are_refused(estimator):
    with pytest.raises(ValueError, match="feature vector has length 2, .* trained on 1 feature"):
        estimator.sample([1.0, 2.0], 10)
    with pytest.raises(ValueError, match=r"observed feature\(s\) \['rms'\] are not finite"):
        estimator.sample({"rms": math.nan}, 10)
    with pytest.raises(ValueError, match=r"do not match the trained features \['rms'\]"):
        estimator.sample({"peak": 1.0}, 10)
    with pytest.raises(ValueError, match=r"feature\(s\) \['rms'\] are <= 0"):
        estimator.sample({"rms": -0.5}, 10)


@pytest.mark.parametrize("change, message", [
    (dict(n_simulations=0), "n_simulations .the simulation budget. must be an integer >= 1"),
    (dict(steps=0), "steps must be an integer >= 1"),
    (dict(learning_rate=math.nan), "learning_rate must be a finite number > 0"),
])
def test_a_bad_budget_is_refused_before_any_simulation(change, message):
    with pytest.raises(ValueError, match=message):
        train(c_problem(features=never_called), npe.Noise(rel_sd=REL_SD),
              npe.Settings(**{**SETTINGS.__dict__, **change}))


def test_bad_noise_and_sbc_settings_are_refused(estimator):
    with pytest.raises(ValueError, match="rel_sd must be a finite number > 0"):
        npe.Noise(rel_sd=0.0)
    with pytest.raises(ValueError, match="SBC runs must be an integer >= 2"):
        sbc.calibrate(estimator, c_problem(features=never_called), runs=0)
    with pytest.raises(ValueError, match="SBC seed 0 is the training seed"):
        sbc.calibrate(estimator, c_problem(features=never_called), seed=0)


@pytest.mark.parametrize("problem, noise, message", [
    (dict(bounds={"C": (100.0, 170.0)}), REL_SD, "other prior bounds"),
    (dict(priors={"C": infer.TruncatedNormal(140.0, 10.0)}), REL_SD, "other priors"),
    (dict(), 0.01, "other likelihood noise"),
])
def test_a_prior_that_does_not_match_the_trained_one_is_refused(estimator, tmp_path, problem,
                                                                noise, message):
    path = npe_io.save(estimator, tmp_path / "npe.eqx")
    with pytest.raises(ValueError, match=message):
        npe_io.load(path, npe_io.expected(c_problem(**problem), npe.Noise(rel_sd=noise)))


def test_npe_training_is_seeded(estimator):
    """A rerun trains the same weights (its compiled loop reused: only the run costs)."""
    again = train(c_problem(), npe.Noise(rel_sd=REL_SD), SETTINGS)
    observed = {"rms": rms_at(150.0)}
    assert np.array_equal(again.sample(observed, 50, 0)["C"], estimator.sample(observed, 50, 0)["C"])
    assert jnp.all(jnp.isfinite(again.scaling.z_sd))


def test_two_parameters_through_a_linear_model(tmp_path):
    """Two parameters, two features, a fixed sd: the flow's 2-D path (permutation, joint HDS),
    checked against the posterior it should find: near the identity, 0.5 wide."""

    def linear(values, context):
        return {"sum": values["a"] + values["b"], "diff": values["a"] - values["b"]}

    box = {"a": (-5.0, 5.0), "b": (-5.0, 5.0)}
    problem = infer.problem(linear, {"sum": 1.0, "diff": 0.0}, {"sum": 0.5, "diff": 0.5}, box)
    noise = npe.Noise(rel_sd=None, sd={"sum": 0.5, "diff": 0.5})
    est = train(problem, noise, npe.Settings(n_simulations=3000, steps=600, nn_width=16))
    draws = est.sample({"sum": 2.0, "diff": 1.0}, 2000, seed=0)  # a = 1.5, b = 0.5
    assert abs(draws["a"].mean() - 1.5) < 0.15 and abs(draws["b"].mean() - 0.5) < 0.15
    assert 0.25 < draws["a"].std() < 0.5  # the exact posterior's sd: 0.5 / sqrt(2) = 0.35
    cal = sbc.calibrate(est, problem, runs=40, draws=19, bins=4)
    assert cal["coverage_central"].shape == (19, 2) and cal["coverage_hpd"].shape == (19,)
    path = npe_io.save(est, tmp_path / "ab.eqx")
    with pytest.raises(ValueError, match="other likelihood noise"):
        npe_io.load(path, npe_io.expected(problem, npe.Noise(rel_sd=0.01)))
