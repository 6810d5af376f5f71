"""Several network parameters at once (issue 23, part 3): the coupling k and the conduction speed
fitted together on a delayed HCP sub-network by both backends and the multi-start grad, with the
2-D loss surface, the Laplace covariance and the 2-D grid posterior; and the FC as a smooth
function of the speed (part 2's figure, checked on a small network)."""

from __future__ import annotations

import copy
import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eegfit.experiments as ex
from eegfit.data import connectome
from eegfit.experiments import posterior, runner
from eegfit.models import StuartLandau, WhiteNoiseInput
from eegfit.models.network import coupled
from eegfit.signal.fc import functional_connectivity
from eegfit.simulate import simulate

# Hopf nodes below their bifurcation (a damped 10 Hz focus, as tests/test_network_models.py) on
# the 5 strongest HCP regions with conduction delays (tracts 0-220 mm): at 5 m/s the delays are
# a quarter to half a period, so the FC tells the speed; k and v fitted together.
K_TRUE, V_TRUE = 30.0, 5.0
BLOCK = {
    "kind": "network",
    "parameters": {"k": {"bounds": [0, 60], "start": 10, "truths": [K_TRUE]},
                   "speed_m_s": {"bounds": [2, 20], "start": 10, "truths": [V_TRUE]}},
    "seeds": [0],
    "connectome": {"source": "hcp", "n_nodes": 5, "delays": True},
    "model": {"name": "stuart_landau", "params": {"a": -20.0, "omega": 62.8},
              "drive": {"kind": "white_noise", "sigma": 1.0}},
    "simulation": {"dt_ms": 1.0, "duration_ms": 6000.0, "transient_ms": 1000.0,
                   "integrator": "heun", "grad_horizon_ms": 500.0},
    "objective": "fc_rmse",
    "scan": {"n_points": 7},
    "uncertainty": {"rel_sd": 0.05},
    # the speed's 90 % set is [3.4, 5.5] m/s here (12 % of the box): max_width 0.15 calls it
    # identified; k's runs along a valley to the box's edge ([37, 60]): not identified
    "posterior": {"method": "grid", "grid_points": 13, "refine": 1, "verdict_points": 0,
                  "scale": {"seed_spread": 4}, "max_width": 0.15},
    "backends": {
        "grad": {"optimizer": "adam", "learning_rate": 0.05, "learning_rate_units": "box",
                 "n_steps": 12},
        "nevergrad": {"optimizer": "DE", "num_candidates": 6, "n_steps": 4,
                      "options": {"popsize": 6, "initialization": "LHS"}}},
}


def build(block=BLOCK):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the step outside JR's tested range
        return ex.build("delayed_k_v", copy.deepcopy(block))


@pytest.fixture(scope="module")
def kind():
    return build()


@pytest.fixture(scope="module")
def target_ds(kind):
    return runner.make_target(kind, kind.targets()[0])


@pytest.fixture(scope="module")
def verdict(kind, target_ds):
    """The grid posterior's verdict per parameter (13 x 13 points, the FC's 10 entries scaled
    by their spread over 4 seeds)."""
    groups = posterior.run(kind, kind.targets()[0], target_ds)
    return groups["identifiability"]


def test_the_target_holds_the_fc_without_delays(kind, target_ds):
    """The same truth and noise without delays gives another FC (what the delays change)."""
    fc, undelayed = target_ds["fc"].values, target_ds["fc_no_delays"].values
    assert fc.shape == undelayed.shape == (5, 5)
    assert not np.allclose(fc, undelayed, atol=0.02)
    model = dataclasses.replace(kind.model_at({"k": K_TRUE, "speed_m_s": V_TRUE}),
                                lengths_mm=None)
    again = functional_connectivity(simulate(model, key=ex.base.keys(0)[0],
                                             **kind.spec.simulation.kwargs()).observable)
    np.testing.assert_allclose(undelayed, np.asarray(again), atol=1e-6)


def test_the_surface_spans_both_parameters_and_is_lowest_at_the_true_speed(kind, target_ds):
    scan = runner.scan(kind, [target_ds])
    assert scan["objective"].dims == ("run", "k", "speed_m_s")
    assert scan["objective"].shape == (1, 7, 7) and scan["speed_m_s"].attrs["units"] == "m/s"
    assert list(scan["target"].values) == ["k=30_speed_m_s=5"]
    surface = scan["objective"].values[0]
    np.testing.assert_allclose(surface[0], surface[0, 0])  # k = 0: the speed does nothing
    speeds = scan["speed_m_s"].values
    assert speeds[int(np.argmin(surface[1:].min(axis=0)))] == V_TRUE  # grid 2, 5, 8, ...
    # the surface's points are the kind's loss at them (axes not swapped)
    data = kind.fit_data(kind.observed(target_ds), 0)
    at = float(kind.loss(kind.model_at({"k": scan["k"].values[3],
                                        "speed_m_s": speeds[5]}), data)[0])
    assert surface[3, 5] == pytest.approx(at, rel=1e-4)


@pytest.mark.parametrize("backend, extra", [("grad", {}), ("nevergrad", {}),
                                            ("grad", {"n_starts": 3, "n_steps": 6})])
def test_each_backend_recovers_within_the_floor_or_the_verdict_flags_it(
        kind, target_ds, verdict, backend, extra):
    """Every fit reaches the noise floor (the loss of the truth under the fit's noise) within
    10 %; a parameter the posterior identifies lies within 15 % of its box of the truth, one it
    does not is flagged (``identified`` 0: k along its valley, on this small network)."""
    block = copy.deepcopy(BLOCK)
    block["backends"][backend].update(extra)
    fit_kind = build(block) if extra else kind
    ds, _ = runner.fit(fit_kind, backend, fit_kind.targets()[0], target_ds)
    assert ds.attrs["status"] in ("max_steps", "converged"), ds.attrs["status"]
    assert float(ds["best_loss"]) <= 1.1 * float(ds["noise_floor_loss"])
    for name, truth, width in (("k", K_TRUE, 60.0), ("speed_m_s", V_TRUE, 18.0)):
        identified = bool(verdict["identified"].sel(parameter=name))
        if identified:
            assert abs(float(ds[f"best_{name}"]) - truth) <= 0.15 * width, (name, ds)
    assert bool(verdict["identified"].sel(parameter="speed_m_s"))
    # the fitted FC is the FC at both best values (not the first parameter's alone)
    best = {n: float(ds[f"best_{n}"]) for n in ("k", "speed_m_s")}
    expected = kind.fit_fc(kind.model_at(best), ex.base.keys(0)[1])
    np.testing.assert_allclose(ds["fitted_fc"].values, np.asarray(expected), atol=1e-5)
    assert ds["hessian"].shape == (2, 2) and "std_speed_m_s" in ds


def test_fc_changes_smoothly_with_the_speed():
    """At fixed coupling and noise, the FC of a 5-node HCP network is Lipschitz in the speed
    from 1 to 100 m/s with interpolated delays: halving the (log) spacing halves the largest
    change between neighbours; rounding the delays to whole steps makes jumps that do not
    shrink so."""
    conn = connectome.load("hcp", n_nodes=5)
    drive = WhiteNoiseInput(mean=0.0, sigma=1.0, unit="1/s", n_nodes=5)

    def largest_step(mode, n):
        base = coupled(StuartLandau(a=-20.0, omega=62.8), conn.weights, k=30.0, drive=drive,
                       lengths_mm=conn.lengths_mm, speed_m_s=20.0, speed_min_m_s=1.0,
                       delay_mode=mode)

        def fc(v):
            eeg = simulate(dataclasses.replace(base, speed_m_s=v), key=jax.random.key(0),
                           dt_ms=1.0, duration_ms=3000.0, transient_ms=500.0).observable
            return functional_connectivity(eeg)
        fcs = np.asarray(jax.jit(jax.vmap(fc))(jnp.geomspace(1.0, 100.0, n)))
        return np.abs(np.diff(fcs, axis=0)).max()

    coarse, fine = largest_step("interpolate", 40), largest_step("interpolate", 80)
    assert fine / coarse < 0.6 and fine < 0.02, (coarse, fine)  # measured 0.022 -> 0.011
    assert largest_step("round", 80) / largest_step("round", 40) > 0.6  # 0.040 -> 0.028


def test_a_jansen_rit_network_takes_delays():
    """One network model: JR95's uniform-drive block with ``connectome.delays`` builds the
    generic Network with the Jansen-Rit node, delayed (it was refused before), and its trace
    differs from the undelayed one under the same noise."""
    from eegfit.models import JansenRit
    from eegfit.models.network import NodeNoiseDrive

    block = {"kind": "network", "parameters": {"k": {"truths": [60.0], "bounds": [0.0, 100.0],
                                                     "start": 30.0}},
             "seeds": [0], "connectome": {"source": "hcp", "n_nodes": 4, "delays": True,
                                          "speed_m_s": 3.0},
             "model": {"params": {}, "drive": {"low_hz": 50.0, "high_hz": 150.0,
                                               "interval_ms": 5.0}},
             "simulation": {"dt_ms": 0.5, "duration_ms": 400.0, "integrator": "heun"},
             "backends": {"grad": {"optimizer": "adam", "learning_rate": 1.0, "n_steps": 2}}}
    model = ex.build("jr_delayed", block).model_at({"k": 60.0})
    assert isinstance(model.node, JansenRit) and isinstance(model.drive, NodeNoiseDrive)
    assert model.has_delays and model.speed_m_s == 3.0 and model.history_length(0.5) > 10
    sim = {"key": jax.random.key(0), "dt_ms": 0.5, "duration_ms": 400.0}
    delayed = np.asarray(simulate(model, **sim).observable)
    undelayed = np.asarray(simulate(dataclasses.replace(model, lengths_mm=None), **sim).observable)
    assert np.all(np.isfinite(delayed))
    assert np.max(np.abs(delayed - undelayed)) > 0.1  # mV, once the delayed input arrives
    block["parameters"] = {"column.C": {"truths": [135.0], "bounds": [120.0, 150.0],
                                        "start": 130.0}}
    with pytest.raises(ValueError, match=r"jr_delayed\.parameters\.column\.C: .* node\.C"):
        ex.build("jr_delayed", block)
    block["parameters"] = {"node.C": block["parameters"].pop("column.C")}
    assert ex.build("jr_delayed", block).model_at({"node.C": 140.0}).node.C == 140.0
