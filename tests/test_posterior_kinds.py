"""Posteriors of the kinds whose features are not scalars: a network's FC (an entry per pair of
nodes, scaled by its seed-to-seed spread) and a recording's spectrum features (an entry per band
and a recording's whitened log-PSD (an entry per degree of freedom, so that the log likelihood is
minus the fit's loss), through the same runner as the column's."""

from __future__ import annotations

import copy
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import eegfit.experiments as ex
from eegfit.experiments import posterior, runner
from test_network_models import BLOCK, build

ROOT = Path(__file__).resolve().parents[1]
NETWORK_POSTERIOR = {"method": "grid", "grid_points": 31, "refine": 1, "verdict_points": 0,
                     "scale": {"seed_spread": 6}}


@pytest.fixture(scope="module")
def network():
    block = copy.deepcopy(BLOCK)
    block["posterior"] = NETWORK_POSTERIOR
    kind = build(block)
    target = kind.targets()[0]
    return kind, target, runner.make_target(kind, target)


def test_network_posterior_holds_the_coupling(network):
    """k = 30 /s lies inside the one interval of the 90 % set, from the FC's 15 entries."""
    kind, target, target_ds = network
    groups = posterior.run(kind, target, target_ds)
    verdict = groups["identifiability"].sel(parameter="k")
    assert str(verdict["truth_position"].values) == "inside", verdict
    assert int(verdict["n_intervals"]) == 1
    assert len(groups["observed_data"].data_vars) == 15  # 6 nodes: 15 pairs
    assert groups["identifiability"].attrs["scale"].startswith("seed-to-seed spread over 6")


def test_a_scale_for_a_vector_feature_serves_its_entries_and_none_is_refused(network):
    kind = network[0]
    observed = {"fc[0,1]": 0.3, "fc[0,2]": 0.2}
    block = copy.deepcopy(BLOCK)
    block["posterior"] = {**NETWORK_POSTERIOR, "scale": {"sd": {"fc": 0.05}}}
    sd, how = posterior.scale(build(block), observed, None)
    assert sd == {"fc[0,1]": 0.05, "fc[0,2]": 0.05} and how == "sd given per feature"
    with pytest.raises(ValueError, match=r"experiments\.sl_net\.posterior\.scale.*give rel_sd"):
        posterior.scale(kind, observed, None)  # a seed spread needs a truth (empirical FC)


@pytest.fixture(scope="module")
def recording(tmp_path_factory, monkeypatch_module):
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    block = config["experiments"]["recording_demo"]
    block["posterior"] = {"method": "grid", "grid_points": 15, "refine": 1}
    monkeypatch_module.chdir(tmp_path_factory.mktemp("recording"))
    kind = ex.build("recording_demo", block)
    path = Path(kind.spec.demo["path"])
    path.parent.mkdir(parents=True)
    kind.make_input("demo", path)
    target = kind.targets()[0]
    return kind, target, runner.make_target(kind, target)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_recording_likelihood_is_minus_the_fits_loss(recording):
    kind, target, target_ds = recording
    observed = kind.observed(target_ds)
    problem, how = posterior.problem(kind, target, observed)
    assert how == "the target's own likelihood"
    data = kind.fit_data(observed, target.seed)
    offsets, losses = [], []
    for a, b in ((100.0, 50.0), (90.0, 55.0), (106.0, 47.0)):
        values = {"a": jnp.asarray(a), "b": jnp.asarray(b)}
        loss = float(kind.loss(kind.model_at(values), data)[0])
        offsets.append(float(problem.log_likelihood(values)) + loss)
        losses.append(loss)
    assert max(losses) > 1.0  # the points differ in misfit...
    assert np.ptp(offsets) < 1e-3 * max(losses)  # ...and the likelihood follows it exactly


def test_recording_posterior_holds_the_demos_truth(recording):
    kind, target, target_ds = recording
    verdict = posterior.run(kind, target, target_ds)["identifiability"]
    assert list(verdict["truth_position"].values) == ["inside", "inside"], verdict
    assert list(verdict["parameter"].values) == ["a", "b"]
