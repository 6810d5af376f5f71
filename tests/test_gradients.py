"""Gradients through the simulation: d/dC of the case-study loss against finite differences.

Run in float64 (``jax.enable_x64`` as a context manager, so the rest of the suite stays float32):
in float32 a central difference of a 4000-sample RMS has too little precision to check 1e-4.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit import JansenRit, rms, simulate

STEP_C = 1e-3  # central-difference step in C; truncation error ~ STEP_C**2, far below 1e-4


def central_difference(f, x, h=STEP_C):
    return (f(x + h) - f(x - h)) / (2 * h)


def test_loss_gradient_matches_finite_differences(case, x64):
    def amplitude(c):
        return rms(simulate(JansenRit(C=c), **case.sim).observable)

    target_rms = amplitude(jnp.float64(case.c_slow))
    assert target_rms.dtype == jnp.float64

    def loss(c):
        return ((amplitude(c) - target_rms) / target_rms) ** 2

    checks = {  # function -> C values where it is smooth and its derivative is not 0
        "rms": (amplitude, (135.0, 138.0, 150.0, 160.0)),
        "loss": (loss, (125.0, 135.0, 138.0, 160.0)),  # not at C* = 150, where d loss/dC = 0
    }
    for name, (f, c_values) in checks.items():
        value, grad = jax.jit(f), jax.jit(jax.grad(f))
        for c in map(jnp.float64, c_values):
            exact, approx = float(grad(c)), float(central_difference(value, c))
            assert np.isfinite(exact) and exact != 0.0, (name, float(c))
            assert exact == pytest.approx(approx, rel=1e-4), (name, float(c))


def test_gradient_at_a_quiescent_column_is_finite(x64):
    # C = 60 settles to a fixed point: over a settled window the RMS is ~0 and its derivative
    # must be finite and ~0, not NaN (sqrt at 0).
    settled = {"duration_ms": 2000.0, "transient_ms": 1500.0}
    value, grad = jax.jit(jax.value_and_grad(
        lambda c: rms(simulate(JansenRit(C=c), **settled).observable)))(jnp.float64(60.0))
    assert float(value) < 1e-10
    assert np.isfinite(float(grad)) and abs(float(grad)) < 1e-8


@pytest.mark.parametrize("c", [60.0, 63.0, 84.0])
def test_quiescent_column_has_zero_rms_and_gradient_in_float32(c):
    # The settled EEG of these columns is exactly constant in float32; a flat signal must give
    # RMS 0 and a gradient of exactly 0 (so a fit there reports "stalled"), not float noise.
    settled = {"duration_ms": 1500.0, "transient_ms": 1000.0}
    value, grad = jax.jit(jax.value_and_grad(
        lambda c: rms(simulate(JansenRit(C=c), **settled).observable)))(c)
    assert value.dtype == jnp.float32
    assert float(value) == 0.0 and float(grad) == 0.0
