"""The network kind with nodes of any model (``model.name`` or ``drive.kind`` in its block): a
Stuart-Landau network's coupling recovered from its FC, the per-node noise independent, the units
following the model, the old Jansen-Rit block untouched, and a bad block refused by name."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml

import eegfit.experiments as ex
from eegfit.experiments import runner
from eegfit.models import StuartLandau, WhiteNoiseInput, WilsonCowan
from eegfit.models import ConstantDrive, JansenRit
from eegfit.models.network import Network, NodeNoiseDrive
from eegfit.simulate import simulate

# Hopf nodes below their bifurcation (a damped 10 Hz focus) driven by independent white noise and
# coupled diffusively: the FC rises with k, so k is identified (its scan's minimum lies at the
# truth); 1 ms steps are fine for a 10 Hz focus (the warning is the JR column's tested range).
BLOCK = {
    "kind": "network",
    "parameters": {"k": {"bounds": [0, 60], "start": 10, "truths": [30]}},
    "seeds": [0],
    "connectome": {"source": "synthetic", "n_nodes": 6, "subject": None, "seed": 0},
    "model": {"name": "stuart_landau", "params": {"a": -20.0, "omega": 62.8},
              "drive": {"kind": "white_noise", "sigma": 1.0}},
    "simulation": {"dt_ms": 1.0, "duration_ms": 12000.0, "transient_ms": 1000.0,
                   "integrator": "heun", "grad_horizon_ms": 500.0},
    "objective": "fc_rmse",
    "scan": {"n_points": 7},
    "backends": {"grad": {"optimizer": "adam", "learning_rate": 3.0, "n_steps": 15, "tol": None}},
}


def build(block=BLOCK):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the step outside JR's tested range
        return ex.build("sl_net", copy.deepcopy(block))


@pytest.fixture(scope="module")
def kind():
    return build()


@pytest.fixture(scope="module")
def target_ds(kind):
    return runner.make_target(kind, kind.targets()[0])


def test_nodes_are_the_named_model_with_independent_noise(kind):
    model = kind.base_model()
    assert isinstance(model, Network) and isinstance(model.node, StuartLandau)
    assert model.drive == WhiteNoiseInput(mean=0.0, sigma=1.0, unit="1/s", n_nodes=6)
    assert kind.units() == {"k": "1/s"}  # Stuart-Landau's coupling: input to dx/dt per unit x
    x = np.asarray(simulate(kind.model_at({"k": 0.0}), key=jax.random.key(0),
                            **kind.spec.simulation.kwargs()).observable)
    c = np.corrcoef(x.T)[np.triu_indices(6, 1)]
    assert np.all(np.abs(c) < 0.15), c  # uncoupled, the nodes' noises are independent


def test_the_scan_is_lowest_at_the_truth_and_fc_rises_with_k(kind, target_ds):
    scan = runner.scan(kind, [target_ds])
    values = scan["value"].values
    assert values[int(np.argmin(scan["objective"].values[0]))] == 30.0
    assert np.all(np.diff(scan["mean_fc"].values[0]) > 0)


def test_grad_fit_moves_from_its_start_to_the_truth(kind, target_ds):
    """From k = 10 the gradient of the FC objective carries the fit to within 15 % of k = 30 (an
    optimizer that ignores the loss stays at its start, 67 % off)."""
    ds, _ = runner.fit(kind, "grad", kind.targets()[0], target_ds)
    assert ds.attrs["status"] in ("max_steps", "converged")
    assert abs(float(ds["best_k"]) - 30.0) / 30.0 < 0.15, float(ds["best_k"])
    assert ds["best_k"].attrs["units"] == "1/s"


def test_the_jansen_rit_block_still_builds_the_jansen_rit_network():
    block = copy.deepcopy(BLOCK)
    block["model"] = {"params": {}, "drive": {"low_hz": 50.0, "high_hz": 150.0,
                                              "interval_ms": 5.0}}
    block["simulation"]["dt_ms"] = 0.5
    model = build(block).base_model()
    assert isinstance(model.node, JansenRit) and isinstance(model.drive, NodeNoiseDrive)


JR_NET = {**BLOCK, "simulation": {**BLOCK["simulation"], "dt_ms": 0.5}}


@pytest.mark.parametrize("model", [
    {"params": {}, "drive": {"low_hz": 50.0, "high_hz": 150.0, "interval_ms": 5.0}},
    {"drive": {"kind": "node_uniform_noise", "low_hz": 50.0, "high_hz": 150.0,
               "interval_ms": 5.0}},
    {"name": "jansen_rit", "drive": {"low_hz": 50.0, "interval_ms": 5.0}},
])
def test_the_legacy_drive_is_a_drive_kind_of_the_jansen_rit_node(model):
    """The block of before ``drive.kind``, the kind named, and the default model named: one node
    model carrying its per-node drive, whose ``n_nodes`` alone the kind sets."""
    kind = build({**JR_NET, "model": model})
    assert not hasattr(kind.spec, "drive")
    assert kind.spec.column.drive == NodeNoiseDrive(50.0, 150.0, interval_ms=5.0)
    assert kind.base_model().drive == NodeNoiseDrive(50.0, 150.0, n_nodes=6, interval_ms=5.0)
    assert kind.base_model().node == kind.spec.column


def test_a_jansen_rit_node_without_a_drive_gets_jr95s_per_node_drive():
    for model in ({}, {"params": {}}, {"name": "jansen_rit"}):
        drive = build({**JR_NET, "model": model}).base_model().drive
        assert drive == NodeNoiseDrive(50.0, 150.0, n_nodes=6, interval_ms=None), model
    drive = build({**JR_NET, "model": {"drive": {"kind": "constant"}}}).base_model().drive
    assert drive == ConstantDrive(220.0)


@pytest.mark.parametrize("model, culprit", [
    ({"drive": {"low_hz": 50.0, "sigma": 1.0}}, r"model\.drive has unknown key.*sigma"),
    ({"drive": {"kind": "white_noise", "low_hz": 50.0}}, r"model\.drive has unknown key.*low_hz"),
    ({"drive": {"low_hz": 150.0, "high_hz": 50.0}}, r"model\.drive: low_hz must be < high_hz"),
    ({"drive": {"low_hz": None}}, r"model\.drive\.low_hz must be a finite number"),
    ({"drive": {"interval_ms": -5.0}}, r"model\.drive\.interval_ms must be > 0"),
    ({"name": "stuart_landau", "drive": {"kind": "node_uniform_noise"}},
     r"model\.drive\.kind must be one of \['constant', 'white_noise'\]"),
    ({"name": "stuart_landau", "drive": {"low_hz": 50.0}},
     r"model\.drive has unknown key.*low_hz"),
])
def test_a_mixed_or_wrong_drive_is_refused_by_name(model, culprit):
    with pytest.raises(ValueError, match=r"experiments\.sl_net\." + culprit):
        build({**JR_NET, "model": model})


def test_the_targets_node_signals_carry_the_node_models_units(target_ds):
    """A Stuart-Landau network's node signals are dimensionless x, not Jansen-Rit's mV; the
    Jansen-Rit network's target keeps its attrs (and bytes) as before."""
    assert target_ds["eeg"].attrs == {"units": "1", "long_name": "node oscillator coordinate x"}
    block = copy.deepcopy(BLOCK)
    block["model"] = {"params": {}, "drive": {"low_hz": 50.0, "high_hz": 150.0,
                                              "interval_ms": 5.0}}
    block["simulation"].update(dt_ms=0.5, duration_ms=1500.0, transient_ms=500.0)
    kind = build(block)
    jr = runner.make_target(kind, kind.targets()[0])
    assert jr["eeg"].attrs == {"units": "mV", "long_name": "node EEG observable y1 - y2"}


@pytest.mark.parametrize("change, culprit", [
    (lambda b: b["model"].update(name="hopfield"), "experiments.sl_net.model.name"),
    (lambda b: b["model"]["params"].update(tau=1.0), "experiments.sl_net.model.params"),
    (lambda b: b["model"]["drive"].update(sigma=-1.0), "experiments.sl_net.model.drive"),
    (lambda b: b["model"]["drive"].update(kind="pink"), "experiments.sl_net.model.drive.kind"),
    (lambda b: b["parameters"].update({"node.b": b["parameters"].pop("k")}),
     "experiments.sl_net.parameters.node.b"),
])
def test_a_bad_model_block_is_refused_by_name(change, culprit):
    block = copy.deepcopy(BLOCK)
    change(block)
    with pytest.raises(ValueError, match=culprit.replace(".", r"\.")):
        build(block)


def test_the_recording_kind_takes_any_model_by_name():
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config/config.yaml")
                            .read_text())
    block = config["experiments"]["recording_demo"]
    block["model"] = {"name": "wilson_cowan", "params": {"tau_e": 2.5},
                      "drive": {"kind": "white_noise", "sigma": 0.01}}
    block["parameters"] = {"c_ee": {"bounds": [10, 20], "start": 14}}
    block.pop("demo", None)
    kind = ex.build("rec_wc", block)
    assert isinstance(kind.base_model(), WilsonCowan) and kind.base_model().tau_e == 2.5
    block["parameters"] = {"a": {"bounds": [80, 120], "start": 90}}  # a Jansen-Rit field
    with pytest.raises(ValueError, match=r"experiments\.rec_wc\.parameters\.a"):
        ex.build("rec_wc", block)
