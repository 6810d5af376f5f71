"""simulate(): time axis, shapes, integrators, batching, noisy drive, gradient options."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit import JansenRit, UniformNoiseDrive, rms, simulate

C_BATCH = (120.0, 135.0, 150.0, 165.0)


def test_time_axis_in_ms_and_shapes(case):
    trace = simulate(JansenRit(), **case.sim)
    n = 4000  # (600 - 200) ms / 0.1 ms
    assert trace.time_ms.shape == (n,) and trace.observable.shape == (n,)
    assert trace.time_ms[0] == pytest.approx(200.1, abs=1e-4)
    assert trace.time_ms[-1] == pytest.approx(600.0, abs=1e-3)
    np.testing.assert_allclose(np.diff(np.asarray(trace.time_ms)), 0.1, rtol=1e-3)


def test_batched_model_has_trailing_batch_axis(case):
    trace = simulate(JansenRit(C=jnp.array(C_BATCH)), **case.sim)
    assert trace.observable.shape == (4000, len(C_BATCH))
    assert trace.time_ms.shape == (4000,)


@pytest.mark.parametrize("c", [135.0, 150.0])
def test_integrators_agree_and_converge(case, c):
    rms_of = {name: float(rms(case.eeg(JansenRit(C=c), integrator=name)))
              for name in ("euler", "heun", "rk4")}
    assert all(value > 1.0 for value in rms_of.values())  # all oscillate
    assert rms_of["heun"] == pytest.approx(rms_of["rk4"], rel=1e-3)
    assert rms_of["euler"] == pytest.approx(rms_of["rk4"], rel=0.05)
    # Euler is first order: halving dt halves its error against RK4.
    euler_half = float(rms(case.eeg(JansenRit(C=c), dt_ms=0.05)))
    ratio = (rms_of["euler"] - rms_of["rk4"]) / (euler_half - rms_of["rk4"])
    assert 1.6 < ratio < 2.4


def test_batched_model_equals_per_c_simulations(case):
    batched = case.eeg(JansenRit(C=jnp.array(C_BATCH)))
    single = jnp.stack([case.eeg(JansenRit(C=c)) for c in C_BATCH], axis=1)
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-5)


def test_vmap_over_c_equals_batched_model(case):
    c_values = jnp.array(C_BATCH)
    mapped = jax.vmap(lambda c: case.eeg(JansenRit(C=c)))(c_values)
    assert mapped.shape == (len(C_BATCH), 4000)
    np.testing.assert_allclose(mapped.T, case.eeg(JansenRit(C=c_values)), rtol=1e-5, atol=1e-5)


def test_noisy_drive_needs_a_key(case):
    with pytest.raises(ValueError, match="key"):
        simulate(JansenRit(drive=UniformNoiseDrive()), **case.sim)


def test_noisy_drive_is_reproducible_per_key(case):
    model = JansenRit(drive=UniformNoiseDrive())
    first = case.eeg(model, key=jax.random.key(0))
    again = case.eeg(model, key=jax.random.key(0))
    other = case.eeg(model, key=jax.random.key(1))
    np.testing.assert_array_equal(first, again)
    assert float(jnp.max(jnp.abs(first - other))) > 0.1
    assert np.all(np.isfinite(first)) and np.all(np.isfinite(other))


def test_noisy_drive_values_lie_in_range():
    values = np.asarray(UniformNoiseDrive().per_step(jax.random.key(3), 5000, 0.1))
    assert values.shape == (5000,)
    assert values.min() >= 120.0 and values.max() <= 320.0
    # uniform: it fills the range rather than sitting at one value
    assert values.min() < 130.0 and values.max() > 310.0
    assert abs(values.mean() - 220.0) < 5.0


def test_noisy_drive_interval_holds_draws():
    values = np.asarray(UniformNoiseDrive(interval_ms=1.0).per_step(jax.random.key(0), 95, 0.1))
    assert values.shape == (95,)
    blocks = [values[i:i + 10] for i in range(0, 95, 10)]  # 1 ms = 10 steps of 0.1 ms
    assert all(np.all(block == block[0]) for block in blocks)
    assert len({float(block[0]) for block in blocks}) == len(blocks)  # a new draw per block


GRAD_WINDOW = {"duration_ms": 300.0, "transient_ms": 100.0, "dt_ms": 0.1}
GRAD_OPTIONS = {
    "plain": {},
    "checkpoint": {"checkpoint": True},
    "horizon": {"grad_horizon_ms": 70.0},  # 700 steps: divides neither 1000 nor 2000 steps
    "horizon+checkpoint": {"grad_horizon_ms": 70.0, "checkpoint": True},
}


@functools.cache
def trace_and_grad(option: str):
    """EEG at C = 135 and d RMS / dC, from one compiled value-and-grad with these options."""
    def amplitude(c):
        eeg = simulate(JansenRit(C=c), **GRAD_WINDOW, **GRAD_OPTIONS[option]).observable
        return rms(eeg), eeg
    (_, eeg), grad = jax.jit(jax.value_and_grad(amplitude, has_aux=True))(135.0)
    return np.asarray(eeg), float(grad)


@pytest.mark.parametrize("option", ["checkpoint", "horizon", "horizon+checkpoint"])
def test_gradient_options_keep_the_forward_trace(option):
    plain_eeg, _ = trace_and_grad("plain")
    eeg, grad = trace_and_grad(option)
    np.testing.assert_allclose(eeg, plain_eeg, rtol=1e-6, atol=1e-6)
    assert np.isfinite(grad) and grad != 0.0


def test_checkpoint_gradient_equals_full_backprop():
    full = trace_and_grad("plain")[1]
    assert full != 0.0
    assert trace_and_grad("checkpoint")[1] == pytest.approx(full, rel=1e-4)  # remat is exact
    # truncation really cuts the gradient (it is meant to differ)
    assert trace_and_grad("horizon")[1] != pytest.approx(full, rel=1e-2)
