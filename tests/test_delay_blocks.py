"""A delayed network's input read for a block of steps at once (issue 23's speed goals).

With an upper bound on the speed, every connection reaches at least K - 1 steps back, so the
inputs of K steps can be read in one gather before they are stepped
(:meth:`eegfit.models.network.Network.delay_block`). That must change nothing but the speed: the
same traces, RMS, batches and truncated gradients as the step-by-step read (float rounding
only), neurolib's traces within the issue's bar, and bad bounds named before any step.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit.data.connectome import load
from eegfit.models import StuartLandau
from eegfit.models.delays import check_reads
from eegfit.models.network import MAX_DELAY_BLOCK, coupled
from eegfit.simulate import simulate, simulate_rms

pytest.importorskip("numba", reason="neurolib's integrators need numba (requirements.txt)")
pytest.importorskip("neurolib.models.hopf.timeIntegration",
                    reason="neurolib 0.6.2 (pip install --no-deps neurolib==0.6.2)")
from test_delays import BAR, SC, delay_block, deviation, initial_state, neurolib  # noqa: E402



@pytest.fixture(scope="module")
def hcp5():
    return load("hcp", n_nodes=5)


def shortest_mm(conn) -> float:
    lengths = np.asarray(conn.lengths_mm)
    return float(lengths[~np.eye(len(lengths), dtype=bool)].min())


def network(conn, mode: str, speed_max_m_s=None, speed_m_s: float = 8.0):
    return coupled(jax.tree.map(jnp.float64, StuartLandau()), conn.weights, k=100.0,
                   lengths_mm=conn.lengths_mm, speed_m_s=speed_m_s, speed_min_m_s=4.0,
                   speed_max_m_s=speed_max_m_s, delay_mode=mode)


def test_the_block_is_the_shortest_delay_in_steps(hcp5):
    shortest = shortest_mm(hcp5)
    with jax.enable_x64(True):
        assert network(hcp5, "round").delay_block(0.1) == 1  # no upper bound: step by step
        assert network(hcp5, "round", 8.0).delay_block(0.5) == math.floor(
            shortest / 8 / 0.5) + 1
        assert network(hcp5, "round", 8.0).delay_block(0.1) == MAX_DELAY_BLOCK
    # a node's own (undelayed) coupling is added from the state, so it does not limit a block
    weights = np.asarray(hcp5.weights) + np.eye(5)
    own = coupled(StuartLandau(), weights, lengths_mm=hcp5.lengths_mm, speed_m_s=8.0,
                  speed_max_m_s=8.0)
    assert own.delay_block(0.5) == math.floor(shortest / 8 / 0.5) + 1


@pytest.mark.parametrize("mode", ["round", "interpolate"])
def test_blocks_give_the_step_by_step_rollout(mode, hcp5):
    """Traces (a transient and an output that are no whole number of blocks, the transient
    long enough that its short block reads a history that has moved), the in-scan RMS,
    and batches of speeds in both batching layouts."""
    speed_max = shortest_mm(hcp5) / (0.1 * 4.5)  # K = 5 at 0.1 ms
    with jax.enable_x64(True):
        y0 = jnp.asarray(initial_state(5, "hopf"))
        steps, blocks = network(hcp5, mode), network(hcp5, mode, speed_max)
        assert blocks.delay_block(0.1) == 5
        settings = {"dt_ms": 0.1, "duration_ms": 100.3, "transient_ms": 50.2, "y0": y0}
        ref = np.asarray(simulate(steps, **settings).observable)
        scale = np.max(np.abs(ref))
        np.testing.assert_allclose(simulate(blocks, **settings).observable, ref, rtol=0,
                                   atol=1e-12 * scale)
        np.testing.assert_allclose(simulate_rms(blocks, **settings),
                                   simulate_rms(steps, **settings), rtol=1e-12)
        for n in (3, 10):  # plain vmap, and the broadcast layout from 9
            speeds = jnp.linspace(4.5, 20.0, n)

            def run(model):
                return jax.vmap(lambda v: simulate(dataclasses.replace(model, speed_m_s=v),
                                                   **settings).observable)(speeds)
            np.testing.assert_allclose(run(blocks), run(steps), rtol=0, atol=1e-12 * scale)


def test_blocks_cut_a_truncated_gradient_where_the_steps_did(hcp5):
    """A 2 ms horizon (20 steps, 4 blocks of 5): 280 output steps in whole blocks end on a
    window's edge and 3 more follow in a short block, which must start a new window."""
    speed_max = shortest_mm(hcp5) / (0.1 * 4.5)
    with jax.enable_x64(True):
        y0 = jnp.asarray(initial_state(5, "hopf"))

        def grad(model, **kwargs):
            return float(jax.grad(lambda v: jnp.mean(simulate(
                dataclasses.replace(model, speed_m_s=v), dt_ms=0.1, duration_ms=29.6,
                transient_ms=1.3, y0=y0, **kwargs).observable ** 2))(8.0))
        steps, blocks = network(hcp5, "interpolate"), network(hcp5, "interpolate", speed_max)
        truncated = grad(steps, grad_horizon_ms=2.0)
        assert truncated != pytest.approx(grad(steps), rel=1e-3)  # the cut matters here
        assert grad(blocks, grad_horizon_ms=2.0) == pytest.approx(truncated, rel=1e-9)
        assert grad(blocks, checkpoint=True) == pytest.approx(grad(steps), rel=1e-9)


def test_blocked_reads_agree_with_neurolib(hcp5):
    y0 = initial_state(5, "hopf")
    reference = neurolib("hopf", hcp5.weights, hcp5.lengths_mm, 6.0, y0)
    with jax.enable_x64(True):
        model = network(hcp5, "round", speed_max_m_s=6.0, speed_m_s=6.0)
        assert model.delay_block(0.1) > 1
        ours = np.asarray(simulate(model, dt_ms=0.1, duration_ms=150.0,
                                   y0=jnp.asarray(y0)).observable)
    assert deviation(ours, reference) < BAR


@pytest.mark.parametrize("mode", ["round", "interpolate"])
@pytest.mark.parametrize("own", [0.0, 0.4], ids=["no-diagonal", "weighted-diagonal"])
def test_every_read_stays_in_the_history(own, mode, hcp5):
    """Every entry of the plan, the diagonal included, reads a step the ring buffer holds, at
    every position of the buffer and every step of the largest block the network allows
    (checked by brute force over the positions): an out-of-window index would be clamped by
    XLA or, promised in bounds, read whatever lies there, unnoticed where its weight is 0."""
    weights = np.asarray(hcp5.weights) + own * np.eye(5)
    with jax.enable_x64(True):
        for speed, speed_max, dt_ms in [(4.0, 4.0, 0.1), (5.0, 30.0, 0.5), (30.0, 30.0, 0.3)]:
            model = coupled(StuartLandau(), weights, lengths_mm=hcp5.lengths_mm,
                            speed_m_s=speed, speed_min_m_s=4.0, speed_max_m_s=speed_max,
                            delay_mode=mode)
            size, block = model.history_length(dt_ms), model.delay_block(dt_ms)
            assert block > 1
            check_reads(model.delay_plan(size, dt_ms, jnp.float64), size, block)
        # the check has power: a diagonal entry reading the current step breaks a block
        plan = model.delay_plan(size, dt_ms, jnp.float64)
    rows = np.asarray(plan.rows).copy()
    rows[2, 2] = size
    bad = plan._replace(rows=rows, flat=rows * 5 + np.arange(5))
    check_reads(bad, size, 1)
    with pytest.raises(ValueError, match=r"connection \[2, 2\] reads 0 steps back"):
        check_reads(bad, size, 2)


def test_a_weighted_diagonal_is_undelayed_in_blocks_as_in_neurolib(hcp5):
    """Wilson-Cowan (additive coupling, so a node's own term counts) on the 5-node HCP network
    with a weighted diagonal: neurolib reads it at the current step (its Dmat's diagonal is
    0); eegfit's step-by-step and blocked rollouts both add it from the state."""
    from test_delays import NODES  # noqa: PLC0415

    weights = np.asarray(hcp5.weights) + 0.5 * np.max(hcp5.weights) * np.eye(5)
    y0 = initial_state(5, "wc")
    reference = neurolib("wc", weights, hcp5.lengths_mm, 6.0, y0)
    node, k, _ = NODES["wc"]
    traces = {}
    with jax.enable_x64(True):
        for speed_max in (None, 6.0):
            model = coupled(jax.tree.map(jnp.float64, node), weights, k=k,
                            lengths_mm=hcp5.lengths_mm, speed_m_s=6.0, delay_mode="round",
                            speed_max_m_s=speed_max)
            traces[speed_max] = np.asarray(simulate(model, dt_ms=0.1, duration_ms=150.0,
                                                    y0=jnp.asarray(y0)).observable)
        assert model.delay_block(0.1) == MAX_DELAY_BLOCK
    for trace in traces.values():
        assert deviation(trace, reference) < BAR
    without = neurolib("wc", hcp5.weights, hcp5.lengths_mm, 6.0, y0)
    assert deviation(without, reference) > 1e-3  # the diagonal matters here


@pytest.mark.parametrize("settings, named", [
    ({"speed_min_m_s": 4.0, "speed_max_m_s": 3.0}, "speed_max_m_s"),
    ({"speed_max_m_s": float("nan")}, "speed_max_m_s"),
    ({"speed_m_s": 9.0, "speed_max_m_s": 8.0}, "speed_max_m_s"),
])
def test_bad_upper_speed_bounds_are_named(settings, named):
    with pytest.raises(ValueError, match=named):
        coupled(StuartLandau(), SC, **{"lengths_mm": 50.0 * (1 - np.eye(3)), "speed_m_s": 5.0,
                                       **settings})


def test_the_config_bounds_the_speed_from_above():
    """The fitted speed's box (its upper end) or the fixed speed is the bound."""
    from eegfit import experiments  # noqa: PLC0415

    assert experiments.build("fitted", delay_block()).base_model().speed_max_m_s == 20.0
    fixed = experiments.build("fixed", {**delay_block(speed_m_s=6.0), "parameters": {
        "k": {"truths": [50.0], "start": 30.0, "bounds": [0.0, 100.0]}}})
    assert fixed.base_model().speed_max_m_s == 6.0
