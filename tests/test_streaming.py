"""simulate_rms: the RMS accumulated inside the scan equals the RMS of the stored trace."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit import JansenRit, UniformNoiseDrive, rms, simulate, simulate_rms

WINDOW = dict(duration_ms=600.0, transient_ms=200.0)


@pytest.mark.parametrize("C", [120.0, 135.0, 145.0, 160.0])
def test_streaming_rms_equals_trace_rms(C):
    model = JansenRit(C=C)
    assert float(simulate_rms(model, **WINDOW)) == pytest.approx(
        float(rms(simulate(model, **WINDOW).observable)), rel=2e-5)


def test_streaming_rms_batched_noisy_and_chunked():
    C = jnp.linspace(125.0, 165.0, 16)
    batch = jax.vmap(lambda c: simulate_rms(JansenRit(C=c), **WINDOW))(C)  # broadcast layout
    loop = np.array([float(simulate_rms(JansenRit(C=c), **WINDOW)) for c in C])
    np.testing.assert_allclose(np.asarray(batch), loop, rtol=1e-5)
    noisy = JansenRit(C=135.0, drive=UniformNoiseDrive())
    key = jax.random.key(3)
    assert float(simulate_rms(noisy, key=key, **WINDOW)) == pytest.approx(
        float(rms(simulate(noisy, key=key, **WINDOW).observable)), rel=2e-5)
    chunked = simulate_rms(JansenRit(C=150.0), grad_horizon_ms=50.0, checkpoint=True, **WINDOW)
    assert float(chunked) == pytest.approx(float(simulate_rms(JansenRit(C=150.0), **WINDOW)),
                                           rel=1e-6)


def test_streaming_rms_gradients():
    grad_stream = jax.grad(lambda c: simulate_rms(JansenRit(C=c), **WINDOW))(140.0)
    grad_trace = jax.grad(lambda c: rms(simulate(JansenRit(C=c), **WINDOW).observable))(140.0)
    assert float(grad_stream) == pytest.approx(float(grad_trace), rel=1e-3)
    settled = dict(duration_ms=2000.0, transient_ms=1500.0)  # a quiescent column, settled
    flat = jax.grad(lambda c: simulate_rms(JansenRit(C=c), **settled))(60.0)
    assert float(flat) == 0.0
