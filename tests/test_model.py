"""Jansen-Rit dynamics at the JR95 constants: the regimes of C at a constant 220 Hz drive."""

import jax.numpy as jnp
import numpy as np
import pytest

from eegfit import ConstantDrive, JansenRit, rms, simulate


def dominant_frequency_hz(eeg_mv, dt_ms: float) -> float:
    """Hard argmax of a zero-padded Hann periodogram (NumPy only, independent of features.py)."""
    x = np.asarray(eeg_mv, dtype=float)
    x = (x - x.mean()) * np.hanning(len(x))
    n_fft = 8 * len(x)
    power = np.abs(np.fft.rfft(x, n_fft)) ** 2
    return float(np.fft.rfftfreq(n_fft, dt_ms * 1e-3)[np.argmax(power)])


def test_defaults_are_jr95():
    model = JansenRit()
    assert (model.C, model.A, model.B, model.a, model.b) == (135.0, 3.25, 22.0, 100.0, 50.0)
    assert isinstance(model.drive, ConstantDrive) and model.drive.rate_hz == 220.0


def test_default_column_rings_in_alpha_band(case):
    eeg = case.eeg(JansenRit())
    assert float(rms(eeg)) > 0.5  # a visible oscillation, not a fixed point
    assert 8.0 <= dominant_frequency_hz(eeg, case.sim["dt_ms"]) <= 12.0


@pytest.mark.parametrize("c", [150.0, 165.0])
def test_slow_regime_oscillates_near_5_hz(case, c):
    eeg = case.eeg(JansenRit(C=c))
    assert 4.0 <= dominant_frequency_hz(eeg, case.sim["dt_ms"]) <= 7.0


def test_small_connectivity_settles_to_a_fixed_point():
    eeg = simulate(JansenRit(C=60.0), duration_ms=2000.0, transient_ms=1500.0).observable
    assert np.all(np.isfinite(eeg))
    assert float(rms(eeg)) < 1e-5
    assert float(jnp.max(eeg) - jnp.min(eeg)) < 1e-5


def test_slow_regime_is_larger_than_alpha_regime(case):
    slow = rms(case.eeg(JansenRit(C=jnp.array([150.0, 160.0, 170.0]))))
    alpha = rms(case.eeg(JansenRit(C=135.0)))
    assert np.all(np.asarray(slow) > 1.5 * float(alpha))


def test_rms_landscape_has_a_dip_near_145(case):
    # With the case study's short window the RMS is not monotone in C: it dips near C = 145.
    # A fit that assumes monotonicity (or a loss with a unique minimum) would be misled there.
    c_grid = np.linspace(140.0, 150.0, 41)
    amplitude = np.asarray(rms(case.eeg(JansenRit(C=jnp.asarray(c_grid)))))
    falls_after = c_grid[:-1][np.diff(amplitude) < 0]
    assert falls_after.size > 0, "RMS rises monotonically on 140..150; expected a dip"
    assert np.all((falls_after > 144.0) & (falls_after < 148.0)), falls_after
    assert amplitude[-1] > amplitude[0]  # yet it rises overall across the jump to the slow rhythm
