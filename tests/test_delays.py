"""Networks with conduction delays (issue 23, parts 1 and 2).

Against an independent implementation: neurolib 0.6.2's ``hopf`` and ``wc`` networks with tract
lengths (``lengthMat``, mm) and a conduction speed (``signalV``, m/s), integrated by their numba
Euler loops, no noise, float64, on the 5 strongest nodes of the HCP connectome at two speeds.
eegfit's ``delay_mode="round"`` takes neurolib's conventions (a constant history equal to the
initial state; delays rounded to whole steps): traces must agree within 1e-6 relative (measured:
rounding only, about 1e-13), and a speed 5 % off must fail that comparison. HCP's lengths are
symmetric, so a transposed length matrix is caught by a 3-node network with directed lengths.

The interpolating mode is checked for what it is for: the gradient in the speed against a
central finite difference in float64. Zero lengths give exactly the undelayed network; bad
delay settings are a ValueError naming them before any step.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit.data.connectome import load
from eegfit.models import JansenRit, StuartLandau, WilsonCowan, WongWang
from eegfit.models.network import Network, coupled
from eegfit.simulate import simulate

pytest.importorskip("numba", reason="neurolib's integrators need numba (requirements.txt)")
pytest.importorskip("neurolib.models.hopf.timeIntegration",
                    reason="neurolib 0.6.2 (pip install --no-deps neurolib==0.6.2)")
from test_reference_models import (  # noqa: E402
    SC, WC_CASE, neurolib_stuart_landau, neurolib_wilson_cowan)

DT_MS, DURATION_MS = 0.1, 150.0
BAR = 1e-6  # the bar, relative to the largest |reference| value
NODES = {  # node model, global coupling k (neurolib's K_gl; / 1000 for hopf), neurolib's loop
    "hopf": (StuartLandau(), 100.0, neurolib_stuart_landau),
    "wc": (WC_CASE, 0.6, neurolib_wilson_cowan),
}
SPEEDS_M_S = (6.0, 15.0)  # HCP's 5-node lengths 35-188 mm: delays of 2-31 ms and 2-13 ms


@pytest.fixture(scope="module")
def hcp5():
    return load("hcp", n_nodes=5)


def initial_state(n_nodes: int, name: str) -> np.ndarray:
    """Distinct initial states per node (2, n_nodes), in each model's range."""
    spread = np.linspace(0.5, 1.5, n_nodes)
    return np.array([[0.3], [-0.2]]) * spread if name == "hopf" else np.array([[0.05], [0.02]]) \
        * spread


def ours(name, weights, lengths_mm, speed_m_s, y0, *, mode="round", dt_ms=DT_MS,
         duration_ms=DURATION_MS) -> np.ndarray:
    node, k, _ = NODES[name]
    with jax.enable_x64(True):
        model = coupled(jax.tree.map(jnp.float64, node), weights, k=k, lengths_mm=lengths_mm,
                        speed_m_s=speed_m_s, delay_mode=mode)
        return np.asarray(simulate(model, dt_ms=dt_ms, duration_ms=duration_ms,
                                   y0=jnp.asarray(y0, jnp.float64)).observable)


def neurolib(name, weights, lengths_mm, speed_m_s, y0) -> np.ndarray:
    node, k, run = NODES[name]
    return run(node, DT_MS, DURATION_MS, y0, np.asarray(weights), k, lengths_mm=lengths_mm,
               speed_m_s=speed_m_s)


def deviation(a, reference) -> float:
    assert a.shape == reference.shape
    return float(np.max(np.abs(a - reference)) / np.max(np.abs(reference)))


@pytest.mark.parametrize("speed_m_s", SPEEDS_M_S)
@pytest.mark.parametrize("name", sorted(NODES))
def test_delayed_network_agrees_with_neurolib(name, speed_m_s, hcp5):
    y0 = initial_state(5, name)
    steps = hcp5.lengths_mm / speed_m_s / DT_MS
    off_diagonal = ~np.eye(5, dtype=bool)
    # no delay within 1e-6 step of a rounding tie, where the two sides could round apart
    assert np.all(np.abs(steps - np.floor(steps) - 0.5) > 1e-6)
    reference = neurolib(name, hcp5.weights, hcp5.lengths_mm, speed_m_s, y0)
    assert reference.shape == (int(round(DURATION_MS / DT_MS)), 5)
    assert deviation(ours(name, hcp5.weights, hcp5.lengths_mm, speed_m_s, y0), reference) < BAR
    # power: the same network with a speed 5 % off, or without delays, fails the comparison
    assert np.min(steps[off_diagonal]) > 10  # delays of many steps: 5 % moves them by steps
    for wrong in (1.05 * speed_m_s, 0.95 * speed_m_s):
        assert deviation(ours(name, hcp5.weights, hcp5.lengths_mm, wrong, y0), reference) > 1e-3
    assert deviation(ours(name, hcp5.weights, None, speed_m_s, y0), reference) > 1e-3


def test_directed_lengths_are_read_from_j_to_i():
    """neurolib's Dmat[i, j] delays the connection from node j to node i, as Cmat[i, j]: with
    directed lengths a transposed length matrix fails (the HCP lengths are symmetric)."""
    lengths = np.array([[0.0, 40.0, 90.0], [10.0, 0.0, 60.0], [75.0, 25.0, 0.0]])
    y0 = initial_state(3, "hopf")
    reference = neurolib("hopf", SC, lengths, 5.0, y0)
    assert deviation(ours("hopf", SC, lengths, 5.0, y0), reference) < BAR
    assert deviation(ours("hopf", SC, lengths.T, 5.0, y0), reference) > 1e-3


def test_the_history_is_sized_by_the_longest_tract_over_the_lowest_speed(hcp5):
    model = coupled(StuartLandau(), hcp5.weights, lengths_mm=hcp5.lengths_mm, speed_m_s=10.0,
                    speed_min_m_s=2.5)
    longest_mm = float(np.max(hcp5.lengths_mm))
    assert model.max_delay_ms() == pytest.approx(longest_mm / 2.5)
    assert model.history_length(0.1) == int(np.floor(longest_mm / 2.5 / 0.1)) + 2
    assert coupled(StuartLandau(), hcp5.weights, lengths_mm=np.zeros((5, 5))).history_length(
        0.1) == 0
    assert coupled(StuartLandau(), hcp5.weights).history_length(0.1) == 0


@pytest.mark.parametrize("node", [JansenRit(), WilsonCowan(), WongWang(), StuartLandau()],
                         ids=lambda m: type(m).__name__)
def test_zero_lengths_give_exactly_the_undelayed_network(node, hcp5):
    """Any node model: zero lengths (either mode, any speed) run the undelayed rollout, bit for
    bit; real lengths change the trace (the delays reach every model's coupling)."""
    with jax.enable_x64(True):
        node = jax.tree.map(jnp.float64, node)
        undelayed = coupled(node, hcp5.weights, k=0.5)
        kwargs = {"dt_ms": 0.1, "duration_ms": 60.0, "integrator": "heun"}
        expected = np.asarray(simulate(undelayed, **kwargs).observable)
        for mode in ("round", "interpolate"):
            zero = coupled(node, hcp5.weights, k=0.5, lengths_mm=np.zeros((5, 5)),
                           speed_m_s=3.0, delay_mode=mode)
            assert np.array_equal(np.asarray(simulate(zero, **kwargs).observable), expected)
        delayed = coupled(node, hcp5.weights, k=0.5, lengths_mm=hcp5.lengths_mm, speed_m_s=5.0)
        assert not np.allclose(np.asarray(simulate(delayed, **kwargs).observable), expected)


@pytest.mark.parametrize("mode", ["interpolate", "round"])
def test_the_history_is_read_at_the_delay(mode):
    """A history whose value d steps back is d on every node: node i receives sum_j W_ij
    tau_ij / dt, interpolated (or rounded to whole steps), wherever the ring buffer's current
    row is."""
    lengths = np.array([[0.0, 40.0, 90.0], [10.0, 0.0, 63.0], [75.0, 25.0, 0.0]])
    speed, dt_ms = 4.0, 0.3
    model = coupled(StuartLandau(), SC, lengths_mm=lengths, speed_m_s=speed, delay_mode=mode)
    size = model.history_length(dt_ms)
    steps_back = lengths / speed / dt_ms
    expected = (SC * (steps_back if mode == "interpolate" else np.round(steps_back))).sum(axis=1)
    with jax.enable_x64(True):
        for now in (0, 17, size - 1):
            rows = (now - np.arange(size)) % size  # the row holding d steps back, d = 0, 1, ...
            history = np.zeros((size, 3))
            history[rows] = np.arange(size, dtype=float)[:, None]
            plan = model.delay_plan(size, dt_ms, jnp.float64)
            for batch in (history, np.stack([history, 2.0 * history], axis=1)):
                scale = np.array([1.0, 2.0])[:, None] if batch.ndim == 3 else 1.0
                read = model.delayed_received(jnp.asarray(batch), jnp.int32(now), plan)
                # interpolating: the read's part for the next step is one step further back
                # there, so the input at this step is this read's part plus the last step's
                last = model.delayed_received(jnp.asarray(batch), jnp.int32(now - 1), plan)
                got = read[0] if mode == "round" else read[0] + last[1]
                np.testing.assert_allclose(np.asarray(got), scale * expected, rtol=1e-12)


def naive_interpolated_hopf(weights, lengths_mm, speed_m_s, k, y0, dt_ms, n_steps):
    """Euler on a Stuart-Landau network (eegfit's units: a, omega, k per second) with x_j at
    t - tau_ij interpolated linearly in the stored steps, x before t = 0 equal to x(0): a plain
    NumPy loop, the interpolating mode's reference."""
    node, dt_s = StuartLandau(), dt_ms * 1e-3
    weights = np.asarray(weights)
    back = np.asarray(lengths_mm) / speed_m_s / dt_ms  # steps back, fractional
    np.fill_diagonal(back, 0.0)
    xs, (x, v) = [np.array(y0[0], float)], np.array(y0, float)
    out = []
    for n in range(n_steps):
        def past(d, j):  # x_j at step n - d, d fractional; the initial state before step 0
            whole = int(np.floor(d))
            at = [xs[max(n - m, 0)][j] for m in (whole, whole + 1)]
            return at[0] + (d - whole) * (at[1] - at[0])
        received = np.array([sum(weights[i, j] * (past(back[i, j], j) - x[i])
                                 for j in range(len(x))) for i in range(len(x))])
        growth = node.a - x * x - v * v
        x, v = (x + dt_s * (growth * x - node.omega * v + k * received),
                v + dt_s * (growth * v + node.omega * x))
        xs.append(x)
        out.append(x)
    return np.array(out)


def test_interpolated_delays_agree_with_a_naive_loop():
    """The interpolating mode against a plain loop, directed lengths at fractional steps."""
    lengths = np.array([[0.0, 40.3, 90.7], [10.1, 0.0, 63.2], [75.5, 25.9, 0.0]])
    y0 = initial_state(3, "hopf")
    expected = naive_interpolated_hopf(SC, lengths, 7.0, 100.0, y0, DT_MS, 400)
    got = ours("hopf", SC, lengths, 7.0, y0, mode="interpolate", duration_ms=40.0)
    assert deviation(got, expected) < 1e-10
    rounded = ours("hopf", SC, lengths, 7.0, y0, mode="round", duration_ms=40.0)
    assert deviation(rounded, expected) > 1e-4  # the two modes differ visibly here


def test_interpolated_delays_give_the_gradient_in_the_speed(hcp5):
    """jax.grad of a loss in the speed against a central finite difference (float64), at a
    speed where no delay crosses a whole step within the difference's reach."""
    speed, h = 7.3, 1e-4
    steps = hcp5.lengths_mm[~np.eye(5, dtype=bool)] / DT_MS
    assert np.array_equal(np.floor(steps / (speed - h)), np.floor(steps / (speed + h)))
    y0 = initial_state(5, "hopf")
    with jax.enable_x64(True):
        base = coupled(jax.tree.map(jnp.float64, StuartLandau()), hcp5.weights, k=100.0,
                       lengths_mm=hcp5.lengths_mm, speed_m_s=speed, speed_min_m_s=5.0)

        def loss(v):
            model = dataclasses.replace(base, speed_m_s=v)
            x = simulate(model, dt_ms=DT_MS, duration_ms=80.0, y0=jnp.asarray(y0)).observable
            return jnp.mean(x[:, 0] * x[:, 3])
        grad = float(jax.grad(loss)(jnp.float64(speed)))
        fd = float((loss(speed + h) - loss(speed - h)) / (2 * h))
    assert abs(grad) > 1e-3  # the speed matters to this loss
    assert grad == pytest.approx(fd, rel=1e-5)


BAD = {
    "zero speed": ({"speed_m_s": 0.0}, "speed_m_s"),
    "negative speed": ({"speed_m_s": -3.0}, "speed_m_s"),
    "negative speed bound": ({"speed_min_m_s": -1.0}, "speed_min_m_s"),
    "speed below its bound": ({"speed_m_s": 2.0, "speed_min_m_s": 4.0}, "speed_min_m_s"),
    "NaN length": ({"lengths_mm": np.where(np.eye(3) == 0, np.nan, 0.0)}, "lengths_mm"),
    "negative length": ({"lengths_mm": -np.ones((3, 3))}, "lengths_mm"),
    "wrong shape": ({"lengths_mm": np.ones((4, 4))}, "shape"),
    "unknown mode": ({"delay_mode": "nearest"}, "delay_mode"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_delay_settings_are_named_before_any_step(case):
    kwargs, named = BAD[case]
    settings = {"lengths_mm": 50.0 * (1 - np.eye(3)), "speed_m_s": 5.0, **kwargs}
    with pytest.raises(ValueError, match=named):
        coupled(StuartLandau(), SC, **settings)


def test_a_network_built_directly_is_checked_by_simulate():
    lengths = tuple(tuple(row) for row in 50.0 * (1 - np.eye(3)))
    weights = tuple(tuple(row) for row in SC)
    for model, named in (
            (Network(node=StuartLandau(), weights=weights, lengths_mm=lengths), "speed_min_m_s"),
            (Network(node=StuartLandau(), weights=weights, lengths_mm=lengths, speed_m_s=1.0,
                     speed_min_m_s=2.0), "speed_m_s"),
            (Network(node=StuartLandau(), weights=weights, lengths_mm=lengths[:2],
                     speed_min_m_s=2.0), "shape")):
        with pytest.raises(ValueError, match=named):
            simulate(model, dt_ms=0.1, duration_ms=1.0)


def test_a_population_of_speeds_runs_batched(hcp5):
    """A nevergrad population is one vmap over the speed: each member equals its own run, and
    jax.grad follows each member (checkpointed as in a long fit)."""
    with jax.enable_x64(True):
        y0 = jnp.asarray(initial_state(5, "hopf"))
        base = coupled(jax.tree.map(jnp.float64, StuartLandau()), hcp5.weights, k=100.0,
                       lengths_mm=hcp5.lengths_mm, speed_m_s=8.0, speed_min_m_s=4.0)

        def run(v, **kwargs):
            return simulate(dataclasses.replace(base, speed_m_s=v), dt_ms=DT_MS,
                            duration_ms=40.0, y0=y0, **kwargs).observable
        speeds = jnp.array([4.5, 8.0, 12.0])
        batch = np.asarray(jax.vmap(run)(speeds))
        for member, speed in zip(batch, speeds):
            np.testing.assert_allclose(member, np.asarray(run(speed)), rtol=0, atol=1e-12)
        grads = jax.vmap(jax.grad(lambda v: jnp.mean(run(v, checkpoint=True) ** 2)))(speeds)
        assert float(grads[1]) == pytest.approx(
            float(jax.grad(lambda v: jnp.mean(run(v) ** 2))(8.0)), rel=1e-10)


# --- the network kind's config ----------------------------------------------------------------

def delay_block(**connectome) -> dict:
    return {"kind": "network", "model": {"name": "stuart_landau"},
            "connectome": {"source": "hcp", "n_nodes": 5, "delays": True, **connectome},
            "parameters": {"k": {"truths": [50.0], "bounds": [0.0, 100.0], "start": 30.0},
                           "speed_m_s": {"truths": [8.0], "bounds": [4.0, 20.0], "start": 12.0}},
            "seeds": [0], "simulation": {"dt_ms": 0.1, "duration_ms": 100.0},
            "backends": {"grad": {"optimizer": "adam", "learning_rate": 1.0, "n_steps": 2}}}


def test_the_config_fits_the_speed_of_a_delayed_network():
    """``connectome.delays: true`` with ``speed_m_s`` as a parameter: the box's low end sizes
    the history, and the loss has a gradient in the speed."""
    from eegfit import experiments  # noqa: PLC0415

    kind = experiments.build("delayed", delay_block())
    model = kind.base_model()
    assert model.speed_min_m_s == 4.0 and model.delay_mode == "interpolate"
    np.testing.assert_array_equal(np.asarray(model.lengths_mm), kind.connectome.lengths_mm)
    assert kind.units()["speed_m_s"] == "m/s"
    target = kind.make_target(kind.targets()[0])
    assert "conduction delays" in target["tract_length"].attrs["long_name"]
    assert target.identical(kind.make_target(kind.targets()[0]))  # a rerun: the same target
    data = kind.fit_data(kind.observed(target), 0)
    grad = jax.grad(lambda v: kind.loss(kind.model_at({"k": 50.0, "speed_m_s": v}),
                                        data)[0])(12.0)
    assert np.isfinite(float(grad)) and float(grad) != 0.0
    fixed = experiments.build("fixed", {**delay_block(speed_m_s=6.0, delay_mode="round"),
                                        "parameters": {"k": {"truths": [50.0], "start": 30.0,
                                                             "bounds": [0.0, 100.0]}}})
    assert (fixed.base_model().speed_m_s, fixed.base_model().speed_min_m_s) == (6.0, 6.0)


@pytest.mark.parametrize("change, named", [
    ({"connectome": {"source": "synthetic", "n_nodes": 5, "delays": True}}, "no tract lengths"),
    ({"connectome": {"source": "hcp", "n_nodes": 5, "speed_m_s": 5.0}}, r"connectome\.delays"),
    ({"parameters": {"speed_m_s": {"truths": [8.0], "bounds": [0.0, 20.0], "start": 9.0}}},
     r"parameters\.speed_m_s"),
    ({"connectome": {"source": "hcp", "n_nodes": 5, "delays": True, "speed_m_s": -1.0}},
     r"connectome\.speed_m_s"),
])
def test_bad_delay_config_is_named(change, named):
    from eegfit import experiments  # noqa: PLC0415

    with pytest.raises(ValueError, match=named):
        experiments.build("delayed", {**delay_block(), **change})


def test_a_nodes_own_connection_is_undelayed():
    """neurolib zeroes Dmat's diagonal: a self-connection with a tract length (a network built
    directly, not through coupled) is not delayed."""
    weights = np.array([[0.5, 0.8, 0.3], [0.5, 0.4, 1.0], [0.2, 0.6, 0.3]])
    lengths = np.array([[0.0, 40.0, 90.0], [10.0, 0.0, 63.0], [75.0, 25.0, 0.0]])
    y0 = initial_state(3, "hopf")
    expected = ours("hopf", weights, lengths, 5.0, y0, duration_ms=40.0)
    with jax.enable_x64(True):
        model = Network(node=jax.tree.map(jnp.float64, StuartLandau()), k=100.0, speed_m_s=5.0,
                        weights=tuple(map(tuple, weights)), speed_min_m_s=5.0,
                        lengths_mm=tuple(map(tuple, lengths + 30.0 * np.eye(3))),
                        delay_mode="round")
        got = np.asarray(simulate(model, dt_ms=DT_MS, duration_ms=40.0,
                                  y0=jnp.asarray(y0)).observable)
    np.testing.assert_array_equal(got, expected)
