"""A network of Jansen-Rit columns on a structural connectome, fitted to functional connectivity
(the ``network`` kind): physics, FC features, gradients, recovery of the coupling within the noise
floor by both backends, the scan, the connectome loader and its bad inputs."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit import experiments
from eegfit.data import connectome
from eegfit.experiments import runner
from eegfit.models import JansenRit
from eegfit.models.network import Network, NodeNoiseDrive, network
from eegfit.signal.fc import (fc_correlation, fc_correlation_loss, fc_rmse,
                              functional_connectivity)
from eegfit.simulate import simulate

# Noise-driven nodes (uniform 50-150 Hz held 5 ms) on a 6-node synthetic SC; 4 s at 0.5 ms (Heun).
NAME = "test_network"
CFG = {
    "kind": "network",
    "connectome": {"source": "synthetic", "n_nodes": 6, "seed": 0},
    "model": {"params": {}, "drive": {"low_hz": 50.0, "high_hz": 150.0, "interval_ms": 5.0}},
    "parameters": {"k": {"truths": [60.0], "bounds": [0.0, 100.0], "start": 30.0}},
    "seeds": [0],
    "simulation": {"dt_ms": 0.5, "duration_ms": 4000.0, "transient_ms": 500.0,
                   "integrator": "heun", "grad_horizon_ms": 100.0},
    "n_realisations": 2, "objective": "fc_rmse",
    "backends": {"grad": {"optimizer": "adam", "learning_rate": 3.0, "n_steps": 15},
                 "nevergrad": {"optimizer": "DE", "num_candidates": 6, "n_steps": 4,
                               "options": {"popsize": 6, "initialization": "LHS"}}},
}
K_TRUE = 60.0
SIM = {k: v for k, v in CFG["simulation"].items() if k != "grad_horizon_ms"}
KIND = experiments.build(NAME, CFG)


def mean_fc(k, seed=0, n_nodes=6):
    model = KIND.model_at({"k": k})
    eeg = simulate(model, key=jax.random.key(seed), **SIM).observable
    fc = np.asarray(functional_connectivity(eeg))
    return fc[np.triu_indices(n_nodes, 1)], eeg


def test_shapes_and_symmetric_fc():
    upper, eeg = mean_fc(20.0)
    assert eeg.shape == (7000, 6) and bool(jnp.all(jnp.isfinite(eeg)))
    fc = np.asarray(functional_connectivity(eeg))
    assert fc.shape == (6, 6) and np.allclose(fc, fc.T, atol=1e-6)
    assert np.allclose(np.diag(fc), 1.0) and np.all(np.abs(fc) <= 1.0 + 1e-5)


def test_uncoupled_nodes_are_independent():
    """k = 0: each node follows its own column and noise alone; their FC is ~0 off-diagonal."""
    base = KIND.base_model()
    key = jax.random.key(3)
    eeg = simulate(KIND.model_at({"k": 0.0}), key=key, **SIM).observable
    drive = base.drive.per_step(key, 8000, 0.5)
    # Node 0 alone, as a 1-node network with its own drive column, gives the same trace.
    single = network(np.zeros((2, 2)), low_hz=50.0, high_hz=150.0, interval_ms=5.0)
    from eegfit.simulate import _rollout  # the compiled core, to feed the drive explicitly
    alone = _rollout(8000, 1000, 0.5, "heun", None, False)(
        jax.tree.map(jnp.asarray, single), drive[:, :2], jnp.zeros(6))
    np.testing.assert_allclose(np.asarray(alone), np.asarray(eeg[:, :2]), rtol=1e-5, atol=1e-5)
    upper = np.asarray(functional_connectivity(eeg))[np.triu_indices(6, 1)]
    # ~0 on average; single pairs of narrow-band (alpha) signals scatter by ~0.15 in 3.5 s
    assert abs(upper.mean()) < 0.05 and np.max(np.abs(upper)) < 0.35, upper


def test_stronger_coupling_raises_mean_fc():
    means = [mean_fc(k)[0].mean() for k in (0.0, 40.0, 80.0)]
    assert means[0] < means[1] < means[2], means
    assert means[2] > 0.3 and abs(means[0]) < 0.05


def test_fc_features():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(500, 4)))
    fc = functional_connectivity(x)
    np.testing.assert_allclose(np.asarray(fc), np.corrcoef(np.asarray(x).T), atol=1e-5)
    assert float(fc_correlation(fc, fc)) == pytest.approx(1.0, abs=1e-5)
    assert float(fc_correlation_loss(fc, fc)) == pytest.approx(0.0, abs=1e-5)
    assert float(fc_rmse(fc, fc)) < 1e-5
    other = functional_connectivity(jnp.asarray(rng.normal(size=(500, 4))))
    d = np.asarray(fc - other)[np.triu_indices(4, 1)]
    assert float(fc_rmse(fc, other)) == pytest.approx(np.sqrt(np.mean(d ** 2)), rel=1e-4)
    flat = x.at[:, 0].set(1.0)  # a flat node: correlation 0, finite gradient
    assert float(functional_connectivity(flat)[0, 1]) == 0.0
    g = jax.grad(lambda s: fc_rmse(functional_connectivity(flat * s), fc))(1.0)
    assert np.isfinite(float(g))


def test_gradient_of_fc_loss_wrt_k_is_finite_and_matches_finite_differences():
    """The FC loss is rugged in k on the scale of the noise, so the check is done in float64 on
    the plain (untruncated) gradient over a short window with a small step."""
    cfg = copy.deepcopy(CFG)
    cfg["simulation"].update(duration_ms=300.0, transient_ms=50.0, grad_horizon_ms=None)
    with jax.enable_x64(True):
        kind = experiments.build(NAME, cfg)
        (target,) = kind.targets()
        target_fc = kind.observed(kind.make_target(target))
        assert target_fc.dtype == jnp.float64
        loss_fn = experiments.fit_loss(kind, target_fc, 0)
        f = jax.jit(lambda k: loss_fn(kind.model_at({"k": k}))[0])
        k0, h = jnp.float64(40.0), 1e-3
        grad = float(jax.grad(f)(k0))
        fd = float((f(k0 + h) - f(k0 - h)) / (2 * h))
    assert np.isfinite(grad) and grad != 0.0
    assert grad == pytest.approx(fd, rel=1e-3, abs=1e-7)


@pytest.fixture(scope="module")
def target_ds():
    (target,) = KIND.targets()
    return runner.make_target(KIND, target)


@pytest.fixture(scope="module")
def floor(target_ds):
    """The fit record's extras with the best value at the truth: its noise floor."""
    (target,) = KIND.targets()
    at_truth = SimpleNamespace(best_params={"k": K_TRUE})
    extras = KIND.fit_extras(target, KIND.observed(target_ds), at_truth)
    return {name: extras[name][1] for name in ("noise_floor_loss", "fc_correlation_ceiling",
                                               "best_fc_correlation")}


def test_target_record(target_ds):
    assert target_ds["eeg"].dims == ("time", "node") and target_ds["eeg"].shape == (7000, 6)
    fc = target_ds["fc"].values
    assert fc.shape == (6, 6) and np.allclose(fc, fc.T, atol=1e-6)
    np.testing.assert_allclose(fc, np.asarray(functional_connectivity(
        jnp.asarray(target_ds["eeg"].values))), atol=1e-5)
    np.testing.assert_allclose(target_ds["sc"].values, KIND.connectome.weights)
    assert target_ds.attrs["truth"] == K_TRUE and target_ds.attrs["seed"] == 0
    assert target_ds.attrs["connectome_source"] == "synthetic:seed=0"


def test_seed_to_seed_noise_floor_is_not_zero(floor):
    """Two noise realisations at identical k give different FC: the floor a fit cannot beat."""
    assert 0.02 < floor["noise_floor_loss"] < 0.5
    assert 0.0 < floor["fc_correlation_ceiling"] < 0.99
    assert floor["best_fc_correlation"] == pytest.approx(floor["fc_correlation_ceiling"])


@pytest.mark.parametrize("backend", ["grad", "nevergrad"])
def test_coupling_recovered_within_noise_floor(backend, target_ds, floor):
    (target,) = KIND.targets()
    ds, _ = runner.fit(KIND, backend, target, target_ds)
    assert ds.attrs["status"] in ("converged", "max_steps"), ds.attrs["status_message"]
    k = float(ds["best_k"])
    assert float(ds["noise_floor_loss"]) == pytest.approx(floor["noise_floor_loss"], rel=1e-5)
    assert float(ds["best_loss"]) <= 1.1 * floor["noise_floor_loss"], (float(ds["best_loss"]),
                                                                       floor)
    assert abs(k - K_TRUE) < 10.0, k  # the start (30) is 30 away
    assert np.all(np.isfinite(ds["loss"].values))
    assert ds["fitted_fc"].shape == (6, 6) and -1 <= float(ds["best_fc_correlation"]) <= 1
    for name, var in ds.data_vars.items():
        assert "units" in var.attrs and "long_name" in var.attrs, name


def test_scan_is_one_dataset_over_runs_and_values():
    """The objective over the box per (target, noise seed): dims (run, value), each point the
    loss a fit with that seed would see."""
    cfg = copy.deepcopy(CFG)
    cfg["simulation"].update(duration_ms=600.0, transient_ms=100.0)
    cfg["scan"] = {"n_points": 3, "seeds": [0, 1]}
    kind = experiments.build(NAME, cfg)
    (target,) = kind.targets()
    target_ds = runner.make_target(kind, target)
    scan = runner.scan(kind, [target_ds])
    assert scan["objective"].dims == ("run", "value") and scan["objective"].shape == (2, 3)
    assert list(scan["run"].values) == ["k=60/seed=0", "k=60/seed=1"]
    assert list(scan["seed"].values) == [0, 1] and scan.attrs["record"] == "scan"
    np.testing.assert_allclose(scan["value"].values, [0.0, 50.0, 100.0])
    assert np.all(np.abs(scan["fc_correlation"].values) <= 1 + 1e-5)
    assert scan["objective"][0, 1] != scan["objective"][1, 1]  # each run its own noise
    loss = experiments.fit_loss(kind, kind.observed(target_ds), 1)(
        kind.model_at({"k": jnp.asarray(50.0)}))[0]
    assert float(scan["objective"][1, 1]) == pytest.approx(float(loss), rel=1e-3)


def test_network_batches_under_vmap():
    """A nevergrad population is one vmap over k; the batching rule falls back to plain vmap
    (per-node drive) and gives the same traces as one call per k."""
    key = jax.random.key(0)
    sim = {**SIM, "duration_ms": 200.0, "transient_ms": 0.0}
    ks = jnp.linspace(0.0, 90.0, 10)  # >= 9: the broadcast path would be taken for a column
    batched = jax.vmap(lambda k: simulate(KIND.model_at({"k": k}), key=key, **sim).observable)(ks)
    one = simulate(KIND.model_at({"k": ks[7]}), key=key, **sim).observable
    assert batched.shape == (10, 400, 6)
    np.testing.assert_allclose(np.asarray(batched[7]), np.asarray(one), rtol=1e-5, atol=1e-5)


def test_synthetic_connectome():
    conn = connectome.load("synthetic", n_nodes=8, seed=1)
    w = conn.weights
    assert w.shape == (8, 8) and np.allclose(w, w.T) and np.all(w >= 0)
    assert np.all(np.diag(w) == 0) and w.sum(axis=1).max() == pytest.approx(1.0)
    assert np.array_equal(w, connectome.load("synthetic", n_nodes=8, seed=1).weights)


def test_packaged_hcp_connectome(hcp_data):
    full = connectome.load("hcp")
    assert full.weights.shape == (94, 94) and full.lengths_mm.shape == (94, 94)
    small = connectome.load("hcp", n_nodes=10, subject="101309")
    w = small.weights
    assert w.shape == (10, 10) and np.allclose(w, w.T) and np.all(w >= 0)
    assert np.all(np.diag(w) == 0) and w.sum(axis=1).max() == pytest.approx(1.0)
    assert small.source == "hcp:101309" and len(small.labels) == 10
    assert np.all(np.isfinite(small.lengths_mm)) and np.nanmax(small.lengths_mm) > 10  # mm


@pytest.mark.parametrize("call, culprit", [
    (lambda: network(np.ones((3, 4))), "square"),
    (lambda: network(np.array([[0.0, -1.0], [1.0, 0.0]])), "non-negative"),
    (lambda: network(np.array([[0.0, np.nan], [1.0, 0.0]])), "non-finite"),
    (lambda: network(np.zeros((2, 2)), low_hz=200.0, high_hz=100.0), "low_hz"),
    (lambda: connectome.load("allen"), "unknown connectome 'allen'"),
    (lambda: connectome.load("synthetic"), "n_nodes"),
    (lambda: connectome.strongest(np.ones((4, 4)), 9), "n_nodes"),
    (lambda: connectome.normalise(np.eye(3)), "no connection"),
    (lambda: experiments.build(NAME, {**CFG, "objective": "fc_cosine"}),
     f"experiments.{NAME}.objective must be one of .* got 'fc_cosine'"),
    (lambda: experiments.build(NAME, {**CFG, "parameters": {"k": {**CFG["parameters"]["k"],
                                                                  "start": 500.0}}}),
     rf"experiments\.{NAME}\.parameters\.k\.start"),
    (lambda: experiments.build(NAME, {**CFG, "parameters": {"kk": CFG["parameters"]["k"]}}),
     rf"experiments\.{NAME}\.parameters\.kk: .* no parameter 'kk'"),
    (lambda: experiments.build(NAME, {**CFG, "observable": "bold",
                                      "bold": {"dt_ms": 0.75}}),
     rf"experiments\.{NAME}\.bold\.dt_ms"),
    (lambda: experiments.build(NAME, {**CFG, "connectome": {"source": "allen"}}),
     rf"experiments\.{NAME}\.connectome\.source"),
])
def test_bad_inputs_name_the_culprit(call, culprit):
    with pytest.raises(ValueError, match=culprit):
        call()


def test_network_is_a_neural_mass():
    from eegfit.models.base import NeuralMass

    model = KIND.base_model()
    assert isinstance(model, Network) and isinstance(model, NeuralMass)
    assert isinstance(model.node, JansenRit) and isinstance(model.drive, NodeNoiseDrive)
    assert model.n_nodes == 6 and model.observe(jnp.zeros((6, 6))).shape == (6,)
