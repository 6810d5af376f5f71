"""A measured spectrum: the model's PSD seen through a scalp gain with an aperiodic background.

Measured EEG is ``P(f) = g (S(f) + A f^-chi) (+ a white floor)``: ``S`` the neural-mass model's
PSD (mV^2/Hz), ``g`` an unknown gain, ``A f^-chi`` the aperiodic (1/f) background that a column
does not make (specparam/FOOOF's offset ``log10(g A)`` and exponent ``chi``, without a knee). The
gain is profiled out exactly by the likelihood's whitening (:mod:`eegfit.signal.likelihood`: a
constant offset of the log-PSD costs nothing); ``A`` and ``chi`` are **profiled out** here, for
every model PSD, by a fixed number of damped Gauss-Newton steps on the whitened log-residual from
a fixed start (the background equal to the model's PSD at the band's lowest bin, ``chi = 1``),
``log A`` kept within ``[-4, 2]`` decades of the model's mean PSD over the band and ``chi`` in its
box. The loop is unrolled, so the profiled loss is differentiable in the model's parameters (its
derivative is the partial one at the profiled optimum, up to the last step's residual), and
batched like the PSD.

The same parts as DCM for cross-spectral densities (Moran et al. 2007; Friston et al. 2012),
where a linearised model is driven by pink-and-white neuronal innovations and observed with
channel noise of an amplitude and an exponent: here the background is added to the observed
spectrum rather than driving the model, and the model is simulated, not linearised (README,
"The spectral likelihood").
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from eegfit.signal.numerics import TINY

N_STEPS = 12
"""Gauss-Newton steps of the profile (converged to float32 rounding in the tests' cases)."""

LOG_A_DECADES = (-4.0, 2.0)
"""Where ``log10 A`` may go, in decades around the model's mean PSD over the band (at 1 Hz)."""


def check_exponent_box(box, where: str = "aperiodic.exponent") -> tuple[float, float]:
    """``(low, high)`` of the aperiodic exponent, or ``ValueError`` naming ``where`` (empty,
    non-finite, or outside [-1, 6])."""
    try:
        low, high = (float(b) for b in box)
    except (TypeError, ValueError):
        raise ValueError(f"config {where} must be [low, high], got {box!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and -1.0 <= low < high <= 6.0):
        raise ValueError(f"config {where} must satisfy -1 <= low < high <= 6 (an exponent of "
                         f"1/f^chi), got {list(box)}: the box is empty or out of range")
    return low, high


def profile_aperiodic(psd_band, freqs_band, whiten, observed, exponent_box):
    """Profile ``A`` and ``chi`` out of the whitened log-residual of ``psd_band + A f^-chi``.

    Args:
        psd_band: the model's PSD on the likelihood's bins (bins first; later axes: a batch).
        freqs_band: their frequencies (Hz, all > 0), static.
        whiten: the likelihood's whitening ``W`` (``(n - 1, n)``).
        observed: ``W log P_target``.
        exponent_box: ``(low, high)`` of ``chi``.

    Returns:
        ``(total_psd, log_a, chi)``: the model's PSD plus the profiled background on the bins,
        ``log A`` (natural log, mV^2/Hz at 1 Hz) and ``chi``, each batched like the PSD.
    """
    s = jnp.asarray(psd_band)
    extra = (1,) * (s.ndim - 1)
    log_f = jnp.asarray(np.log(freqs_band), s.dtype).reshape((-1,) + extra)
    w = jnp.asarray(whiten, s.dtype)
    obs = jnp.reshape(jnp.asarray(observed, s.dtype), (-1,) + extra)
    low, high = exponent_box
    log_mean = jnp.log(jnp.mean(s, axis=0) + TINY)
    a_low = log_mean + LOG_A_DECADES[0] * np.log(10.0)
    a_high = log_mean + LOG_A_DECADES[1] * np.log(10.0)
    chi = jnp.clip(jnp.ones_like(log_mean), low, high)
    log_a = jnp.clip(jnp.log(s[0] + TINY) + chi * log_f[0], a_low, a_high)
    for _ in range(N_STEPS):
        background = jnp.exp(log_a - chi * log_f)
        total = s + background
        share = background / total
        residual = jnp.tensordot(w, jnp.log(total), axes=1) - obs
        j_a = jnp.tensordot(w, share, axes=1)
        j_chi = jnp.tensordot(w, -log_f * share, axes=1)
        g_a, g_chi = jnp.sum(j_a * residual, axis=0), jnp.sum(j_chi * residual, axis=0)
        h_aa = jnp.sum(j_a * j_a, axis=0) + 1e-6
        h_cc = jnp.sum(j_chi * j_chi, axis=0) + 1e-6
        h_ac = jnp.sum(j_a * j_chi, axis=0)
        det = h_aa * h_cc - h_ac ** 2
        step_a = -(h_cc * g_a - h_ac * g_chi) / det
        step_chi = -(h_aa * g_chi - h_ac * g_a) / det
        log_a = jnp.clip(log_a + jnp.clip(step_a, -3.0, 3.0), a_low, a_high)
        chi = jnp.clip(chi + jnp.clip(step_chi, -1.0, 1.0), low, high)
    return s + jnp.exp(log_a - chi * log_f), log_a, chi


__all__ = ["LOG_A_DECADES", "N_STEPS", "check_exponent_box", "profile_aperiodic"]
