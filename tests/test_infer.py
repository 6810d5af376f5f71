"""Posteriors of C from the RMS amplitude (eegfit.infer), with real simulations at small sizes:
calibration of the 90 % sets, the RMS dip's two branches, NUTS against the grid posterior, the
InferenceData file, and every bad input refused before any simulation runs."""

from __future__ import annotations

import hashlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from eegfit import JansenRit, UniformNoiseDrive, infer, rms, simulate
from eegfit.infer import idata

WINDOW = {"duration_ms": 600.0, "transient_ms": 200.0, "dt_ms": 0.1}  # the case study's
BOX = {"C": (110.0, 170.0)}


def rms_feature(values, context):
    """The case study's feature at C (a batch of C broadcasts: one simulation)."""
    return {"rms": rms(simulate(JansenRit(C=values["C"]), **WINDOW).observable)}


def rms_at(c: float) -> float:
    return float(rms_feature({"C": jnp.asarray(c)}, None)["rms"])


def c_problem(observed: float, scale: float, **kwargs):
    return infer.problem(rms_feature, {"rms": observed}, {"rms": scale}, BOX,
                         units={"C": "1"}, feature_units={"rms": "mV"}, **kwargs)


def never_called(values, context):
    raise AssertionError("a simulation ran before the input was checked")


# ---- bad input: a clear error naming it, before any simulation -------------------------------

BAD_PROBLEMS = [
    ("empty box", dict(bounds={"C": (170.0, 110.0)}), "box of 'C' is empty"),
    ("degenerate box", dict(bounds={"C": (150.0, 150.0)}), "box of 'C' is empty"),
    ("NaN in the box", dict(bounds={"C": (math.nan, 170.0)}), "box of 'C': low"),
    ("zero scale", dict(scale={"rms": 0.0}), "scale of feature 'rms' must be > 0"),
    ("negative scale", dict(scale={"rms": -0.1}), "scale of feature 'rms' must be > 0"),
    ("NaN scale", dict(scale={"rms": math.nan}), "scale of feature 'rms'"),
    ("missing scale", dict(scale={}), "no scale for the observed feature(s) ['rms']"),
    ("NaN observed feature", dict(observed={"rms": math.nan}), "observed feature 'rms'"),
    ("prior outside the bounds", dict(priors={"C": infer.Uniform(100.0, 160.0)}),
     "prior of 'C' lies outside its bounds"),
    ("prior beyond the box", dict(priors={"C": infer.TruncatedNormal(150, 5, 150, 200)}),
     "prior of 'C' lies outside its bounds"),
    ("prior of no parameter", dict(priors={"D": infer.Uniform(0, 1)}), "['D']"),
]


@pytest.mark.parametrize("label, change, message", BAD_PROBLEMS,
                         ids=[b[0] for b in BAD_PROBLEMS])
def test_bad_problem_is_refused_naming_it(label, change, message):
    args = dict(observed={"rms": 4.3}, scale={"rms": 0.04}, bounds=dict(BOX))
    args.update(change)
    with pytest.raises(ValueError) as err:
        infer.problem(never_called, **args)
    assert message in str(err.value), f"{label}: {err.value}"


BAD_SETTINGS = [
    ("zero chains", dict(method="nuts", chains=0), "chains must be an integer >= 1"),
    ("zero draws", dict(method="nuts", draws=0), "draws must be an integer >= 1"),
    ("negative warm-up", dict(method="nuts", warmup=-1), "warmup must be an integer >= 0"),
    ("unknown method", dict(method="mcmc"), "method must be one of"),
    ("HDS probability 1", dict(hds_prob=1.0), "hds_prob"),
    ("grid of 1 point", dict(grid_points=1), "n_points must be an integer >= 2"),
]


@pytest.mark.parametrize("label, change, message", BAD_SETTINGS,
                         ids=[b[0] for b in BAD_SETTINGS])
def test_bad_setting_is_refused_before_sampling(label, change, message):
    problem = infer.problem(never_called, {"rms": 4.3}, {"rms": 0.04}, BOX)
    with pytest.raises(ValueError) as err:
        infer.posterior(problem, **change)
    assert message in str(err.value), f"{label}: {err.value}"


def test_nuts_refuses_a_start_outside_the_box():
    problem = infer.problem(never_called, {"rms": 4.3}, {"rms": 0.04}, BOX)
    with pytest.raises(ValueError, match="starts of 'C'.*outside its box"):
        infer.nuts(problem, chains=2, starts={"C": [150.0, 180.0]})


def test_a_grid_takes_at_most_two_parameters():
    problem = infer.problem(never_called, {"rms": 4.3}, {"rms": 0.04},
                            {"A": (1, 2), "B": (1, 2), "C": (1, 2)})
    with pytest.raises(ValueError, match="1 or 2 parameters.*NUTS"):
        infer.grid_posterior(problem)


# ---- the pieces: transform, priors, highest-density sets ---------------------------------------

def test_box_transform_and_its_jacobian():
    box = infer.Box(110.0, 170.0)
    z = jnp.linspace(-6.0, 6.0, 13)
    x = box.to_x(z)
    assert np.all((x > 110) & (x < 170))
    np.testing.assert_allclose(box.to_z(x), z, atol=2e-4)
    slope = jax.vmap(jax.grad(box.to_x))(z)
    np.testing.assert_allclose(box.log_jacobian(z), np.log(slope), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("prior", [infer.Uniform(120.0, 160.0),
                                   infer.TruncatedNormal(140.0, 8.0, 110.0, 170.0)])
def test_priors_are_normalised_on_their_support(prior):
    x = np.linspace(*prior.support, 20001)
    density = np.exp(np.asarray(prior.log_prob(jnp.asarray(x))))
    assert np.trapezoid(density, x) == pytest.approx(1.0, rel=1e-3)
    draws = np.asarray(prior.sample(jax.random.key(0), 4000))
    assert np.all((draws >= prior.support[0]) & (draws <= prior.support[1]))


def test_hds_of_two_bumps_is_two_intervals_with_the_truth_placed():
    edges = np.linspace(0.0, 10.0, 1001)
    c = 0.5 * (edges[1:] + edges[:-1])
    density = np.exp(-0.5 * ((c - 3) / 0.2) ** 2) + 0.5 * np.exp(-0.5 * ((c - 7) / 0.2) ** 2)
    marginal = infer.Marginal(edges, density / density.sum())
    (a, b, m1), (c2, d, m2) = marginal.hds(0.9)
    assert a < 3 < b < c2 < 7 < d and m1 + m2 == pytest.approx(0.9, abs=0.01)
    verdict = infer.identifiability("x", marginal, (0.0, 10.0), truth=5.0)
    assert not verdict.identified and verdict.truth_position == "between"
    assert verdict.truth_level > 0.9
    assert infer.identifiability("x", marginal, (0, 10), truth=3.0).truth_position == "inside"


# ---- the posterior of C -------------------------------------------------------------------------

def test_coverage_of_90_percent_sets_is_binomial():
    """Truths drawn from the prior, observations from the likelihood: the number of 90 % sets
    that contain the truth lies in the 99 % interval of Bin(n, 0.9)."""
    from scipy.stats import binom

    rng = np.random.default_rng(11)
    n, scale = 24, 0.05  # mV
    truths = rng.uniform(*BOX["C"], n)
    clean = np.asarray(rms_feature({"C": jnp.asarray(truths, jnp.float32)}, None)["rms"])
    observed = clean + scale * rng.standard_normal(n)
    inside = 0
    for truth, y in zip(truths, observed):
        post = infer.posterior(c_problem(float(y), scale), "grid", truth={"C": truth},
                               grid_points=241, refine=1)
        inside += post.verdicts["C"].truth_level < 0.9
    low, high = binom.interval(0.99, n, 0.9)
    assert low <= inside <= high, (inside, low, high)


@pytest.fixture(scope="module")
def dip_and_alpha():
    """Posteriors of C at 0.1 % scale: C* = 146.6 (inside the RMS dip) and C* = 135 (alpha)."""
    out = {}
    for truth in (146.6, 135.0):
        y = rms_at(truth)
        out[truth] = infer.posterior(c_problem(y, 0.001 * y), "grid", truth={"C": truth})
    return out


def test_a_target_in_the_rms_dip_is_two_intervals_not_identified(dip_and_alpha):
    verdict = dip_and_alpha[146.6].verdicts["C"]
    assert len(verdict.intervals) == 2, verdict.describe()
    assert not verdict.identified
    (a, b, _), (c, d, _) = verdict.intervals
    assert a < b < 145.0 < c < 146.6 < d  # one branch on the rise before the dip, one in it
    assert verdict.truth_position == "inside"


def test_an_alpha_target_is_one_narrow_interval(dip_and_alpha):
    verdict = dip_and_alpha[135.0].verdicts["C"]
    assert len(verdict.intervals) == 1 and verdict.identified, verdict.describe()
    assert verdict.intervals[0][0] < 135.0 < verdict.intervals[0][1]
    assert verdict.width_fraction < 0.01


@pytest.fixture(scope="module")
def nuts_vs_grid():
    """NUTS (4 chains x 1000 draws) and the grid posterior at 1 % scale, C* = 135 and 160. The
    chains start near the mode, as the pipeline's start from the nevergrad population: NUTS does
    not find or weigh modes (from prior draws, a chain can stay far off, which R-hat shows)."""
    out = {}
    for truth in (135.0, 160.0):
        y = rms_at(truth)
        problem = c_problem(y, 0.01 * y)
        out[truth] = (infer.posterior(problem, "nuts", truth={"C": truth}, chains=4,
                                      draws=1000, warmup=300, seed=1, reference_grid=False,
                                      starts={"C": truth + np.array([-1.0, -0.3, 0.3, 1.0])}),
                      infer.grid_posterior(problem, 241, refine=3).marginal("C"))
    return out


def test_nuts_converges_on_an_identified_target(nuts_vs_grid):
    post, _ = nuts_vs_grid[135.0]
    summary = post.summaries["C"]
    assert summary["rhat"] < 1.01, summary
    assert summary["ess_bulk"] > 400 and summary["ess_tail"] > 400, summary
    assert post.nuts.stats["diverging"].sum() == 0
    assert post.verdicts["C"].identified


@pytest.mark.parametrize("truth", [135.0, 160.0])
def test_nuts_mean_and_90_percent_interval_match_the_grid(nuts_vs_grid, truth):
    post, marginal = nuts_vs_grid[truth]
    s = post.summaries["C"]
    q05, q95 = marginal.quantile([0.05, 0.95])
    assert abs(s["mean"] - marginal.mean()) < 3 * s["mcse_mean"], (s, marginal.mean())
    assert abs(s["q05"] - q05) < 3 * s["mcse_q05"], (s, q05)
    assert abs(s["q95"] - q95) < 3 * s["mcse_q95"], (s, q95)


# ---- the file ---------------------------------------------------------------------------------

def test_inference_data_file_reads_with_arviz_and_xarray_and_repeats(dip_and_alpha, tmp_path):
    from eegfit.infer.nuts import _arviz

    groups = dip_and_alpha[146.6].groups(attrs={"experiment": "test", "seed": 0})
    first, second = idata.write(groups, tmp_path / "a.nc"), idata.write(groups, tmp_path / "b.nc")
    assert hashlib.sha256(first.read_bytes()).digest() == \
        hashlib.sha256(second.read_bytes()).digest()
    data = _arviz().from_netcdf(first)
    assert {"posterior", "sample_stats", "prior", "observed_data", "identifiability",
            "grid"} <= set(data.groups())
    for group in idata.read(first).values():
        assert "created_at" not in group.attrs
        for name, var in group.data_vars.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
    with xr.open_dataset(first, group="identifiability") as ident:
        assert int(ident["n_intervals"].sel(parameter="C")) == 2
        assert str(ident["truth_position"].sel(parameter="C").values) == "inside"
        assert ident.attrs["method"] == "grid" and ident.attrs["experiment"] == "test"
    with xr.open_dataset(first, group="posterior") as post:
        assert post["C"].dims == ("chain", "draw") and post["C"].attrs["units"] == "1"
    with xr.open_dataset(first, group="observed_data") as obs:
        assert obs["rms"].attrs["units"] == "mV"


# ---- a noisy drive: the scale is the seed-to-seed spread -------------------------------------

def test_seed_spread_scale_of_a_noisy_drive():
    model = JansenRit(C=135.0, drive=UniformNoiseDrive())

    def features(key):
        return {"rms": rms(simulate(model, key=key, **WINDOW).observable)}

    keys = [jax.random.key(s) for s in range(6)]
    scale = infer.spread_scale(features, keys)
    assert 0 < scale["rms"] < 0.5 * float(features(keys[0])["rms"])
    with pytest.raises(ValueError, match="no seed-to-seed spread"):
        infer.spread_scale(lambda key: {"rms": jnp.asarray(1.0)}, keys)
