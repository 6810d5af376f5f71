"""Truncated and checkpointed gradients of ``simulate`` against references built here.

``grad_horizon_ms=H`` cuts backpropagation through the state every H ms (the network, recording
and empirical-FC fits use it). The reference is an Euler rollout of the JR95 equations written in
JAX in this file, run window by window with ``jax.lax.stop_gradient`` on the state entering each
window; its gradient of the settled RMS must match eegfit's to rel 1e-4 in float64 (measured
1e-13). ``checkpoint=True`` only rematerialises the rollout in the backward pass, so its gradient
must equal the plain one.

Windows start at step 0 and the transient is a multiple of the horizon here, so the window
boundaries are the multiples of H whatever convention the transient follows.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit import ConstantDrive, JansenRit, rms, simulate, simulate_rms

DT_MS = 0.1
TRANSIENT_MS = 50.0
HORIZON_MS = 25.0
# Both regimes in one batch: C = 138 (alpha) and 150 (slow); gradients in C, B and the drive p.
THETA = {"C": (138.0, 150.0), "B": (22.0, 22.0), "p": (220.0, 220.0)}
GRAD_RTOL = 1e-4


def jr95_field(y, theta):
    """JR95's vector field (per second), the other constants at the paper's values."""
    A, a, b, v0, e0, r = 3.25, 100.0, 50.0, 6.0, 2.5, 0.56
    c, B, p = theta["C"], theta["B"], theta["p"]

    def sigm(v):
        return 2.0 * e0 / (1.0 + jnp.exp(r * (v0 - v)))
    y0, y1, y2, y3, y4, y5 = y
    return jnp.stack([y3, y4, y5,
                      A * a * sigm(y1 - y2) - 2.0 * a * y3 - a * a * y0,
                      A * a * (p + 0.8 * c * sigm(c * y0)) - 2.0 * a * y4 - a * a * y1,
                      B * b * 0.25 * c * sigm(0.25 * c * y0) - 2.0 * b * y5 - b * b * y2])


def reference_rms(theta, *, duration_ms, horizon_ms, first_boundary_step=0):
    """Summed RMS (mV) over the batch of the settled EEG of an Euler rollout whose state
    gradient is stopped where each window of ``horizon_ms`` begins (the windows start at
    ``first_boundary_step``, before which one more window runs); ``None`` stops it nowhere."""
    n_steps = int(round(duration_ms / DT_MS))
    dt_s = DT_MS * 1e-3
    cut = (lambda y: y) if horizon_ms is None else jax.lax.stop_gradient
    k = n_steps if horizon_ms is None else int(round(horizon_ms / DT_MS))

    def step(y, _):
        y = y + dt_s * jr95_field(y, theta)
        return y, y[1] - y[2]

    def window(y, length):
        return jax.lax.scan(step, cut(y), None, length=length)
    y, pieces = jnp.zeros((6,) + jnp.shape(theta["C"])), []
    if first_boundary_step:
        y, eeg = window(y, first_boundary_step)
        pieces.append(eeg)
    n_windows, rest = divmod(n_steps - first_boundary_step, k)
    y, eeg = jax.lax.scan(lambda y, _: window(y, k), y, None, length=n_windows)
    pieces.append(eeg.reshape((n_windows * k,) + eeg.shape[2:]))
    if rest:
        pieces.append(window(y, rest)[1])
    settled = jnp.concatenate(pieces)[int(round(TRANSIENT_MS / DT_MS)):]
    return jnp.sum(jnp.sqrt(jnp.mean((settled - jnp.mean(settled, axis=0)) ** 2, axis=0)))


def eegfit_rms(theta, *, duration_ms, via="trace", **options):
    """Summed RMS (mV) over the batch of eegfit's settled EEG."""
    model = JansenRit(C=theta["C"], B=theta["B"], drive=ConstantDrive(theta["p"]))
    sim = {"duration_ms": duration_ms, "transient_ms": TRANSIENT_MS, "dt_ms": DT_MS, **options}
    if via == "trace":
        return jnp.sum(rms(simulate(model, **sim).observable))
    return jnp.sum(simulate_rms(model, **sim))


def _gradient(f):
    compiled = functools.lru_cache(maxsize=None)(
        lambda **kwargs: jax.jit(jax.grad(functools.partial(f, **kwargs))))

    def gradient(**kwargs):
        """d f / d (B, C, p) at THETA for each column of the batch, shape (3, 2)."""
        theta = {name: jnp.asarray(value, dtype=jnp.float64) for name, value in THETA.items()}
        g = compiled(**kwargs)(theta)
        return np.array([np.asarray(g[name]) for name in sorted(g)])
    return gradient


reference_gradient, eegfit_gradient = _gradient(reference_rms), _gradient(eegfit_rms)


@pytest.mark.parametrize("duration_ms", [200.0, 190.0])  # 6 windows after the transient; 5.6
@pytest.mark.parametrize("via", ["trace", "simulate_rms"])
def test_truncated_gradient_matches_stop_gradient_reference(x64, via, duration_ms):
    got = eegfit_gradient(duration_ms=duration_ms, via=via, grad_horizon_ms=HORIZON_MS)
    want = reference_gradient(duration_ms=duration_ms, horizon_ms=HORIZON_MS)
    np.testing.assert_allclose(got, want, rtol=GRAD_RTOL)
    # not vacuous: truncation changes every gradient by far more than the tolerance
    full = reference_gradient(duration_ms=duration_ms, horizon_ms=None)
    assert np.min(np.abs(want - full) / np.abs(full)) > 100 * GRAD_RTOL


def test_the_tolerance_tells_a_window_shifted_by_one_step(x64):
    # boundaries one step late (25.1 ms, 50.1 ms, ...) change the gradient by more than rel 1e-4
    want = reference_gradient(duration_ms=200.0, horizon_ms=HORIZON_MS)
    shifted = reference_gradient(duration_ms=200.0, horizon_ms=HORIZON_MS,
                                 first_boundary_step=int(round(HORIZON_MS / DT_MS)) + 1)
    assert np.max(np.abs(shifted - want) / np.abs(want)) > 10 * GRAD_RTOL


def test_full_gradient_matches_the_reference(x64):
    # without truncation the reference is eegfit's plain gradient: they share only the paper
    np.testing.assert_allclose(eegfit_gradient(duration_ms=200.0),
                               reference_gradient(duration_ms=200.0, horizon_ms=None),
                               rtol=GRAD_RTOL)


@pytest.mark.parametrize("via,horizon_ms", [("trace", None), ("simulate_rms", HORIZON_MS)])
def test_checkpointed_gradient_equals_the_plain_one(x64, via, horizon_ms):
    kwargs = {"duration_ms": 190.0, "via": via, "grad_horizon_ms": horizon_ms}
    np.testing.assert_allclose(eegfit_gradient(checkpoint=True, **kwargs),
                               eegfit_gradient(**kwargs), rtol=1e-12)
