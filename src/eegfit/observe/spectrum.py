"""A measured spectrum: the model's PSD seen through a scalp gain with an aperiodic background
and a white floor.

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
batched like the PSD. A montage (:func:`profile_aperiodic_channels`, the sensor kind) has a
background per channel, ``A_c f^-chi``, with one exponent for the montage, profiled from the same
start within the same boxes jointly with the channel likelihood's gain(s). The white floor (a
recording's measurement noise: :func:`floor_level` over a band where the signal is gone) is
added to the model's PSD as the same fraction of its mean over the fitted band as the
recording's (:func:`floor_fraction`, :func:`with_floor`).

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


def _start(s, log_f0, exponent_box):
    """The box of ``log A`` (:data:`LOG_A_DECADES` around the mean PSD of each column of ``s``
    over the band) and the profile's start: ``chi = 1`` (clipped to its box) and a background
    equal to the model's PSD at the band's lowest bin."""
    log_mean = jnp.log(jnp.mean(s, axis=0) + TINY)
    a_low = log_mean + LOG_A_DECADES[0] * np.log(10.0)
    a_high = log_mean + LOG_A_DECADES[1] * np.log(10.0)
    chi = jnp.clip(jnp.ones_like(log_mean), *exponent_box)
    log_a = jnp.clip(jnp.log(s[0] + TINY) + chi * log_f0, a_low, a_high)
    return a_low, a_high, log_a, chi


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
    a_low, a_high, log_a, chi = _start(s, log_f[0], exponent_box)
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


def profile_aperiodic_channels(psd_band, freqs_band, decorrelate, target_log_psd, exponent_box,
                               gain: str = "common"):
    """Profile a montage's background out of the channel likelihood (:mod:`eegfit.signal.sensor`):
    channel ``c`` measures ``g_c (S_c + A_c f^-chi)``, one offset ``A_c`` per channel and **one
    exponent** ``chi`` for the montage, with the gain ``g`` shared by all channels
    (``gain="common"``) or one per channel. Damped Gauss-Newton on the decorrelated log-residual
    ``L^-1 (log(S_c + A_c f^-chi) + log g_c - log P_c)`` jointly in every ``log A_c``,
    ``chi`` and the log gain(s), from :func:`profile_aperiodic`'s start (``chi = 1``, each
    channel's background equal to its PSD at the band's lowest bin), with its boxes and
    :data:`N_STEPS` unrolled steps (differentiable, traceable; the normal equations are
    ``channels + 1 + gains`` square).

    Args:
        psd_band: the model's PSD on the likelihood's bins, ``(bins, channels)``.
        freqs_band: their frequencies (Hz, all > 0), static.
        decorrelate: ``L^-1``, ``(bins, bins)`` (:func:`eegfit.signal.likelihood.decorrelation`).
        target_log_psd: the recording's ``log P``, ``(bins, channels)``.
        exponent_box: ``(low, high)`` of ``chi``.
        gain: ``"common"`` or ``"per_channel"``, as the likelihood's.

    Returns:
        ``(total_psd, log_a, chi, log_gain)``: the model's PSD plus the background ``(bins,
        channels)``; ``log A_c`` (natural log, the model's units at 1 Hz, ``(channels,)``);
        ``chi`` (a scalar); the log gain at the end (a scalar, or ``(channels,)``), so that the
        recording's offset is ``log10(g_c A_c)``.
    """
    s = jnp.asarray(psd_band)
    n_bins, n_ch = s.shape
    log_f = jnp.asarray(np.log(freqs_band), s.dtype)[:, None]
    lmat = jnp.asarray(decorrelate, s.dtype)
    y = jnp.asarray(target_log_psd, s.dtype)
    low, high = exponent_box
    a_low, a_high, log_a, chi = _start(s, log_f[0], exponent_box)
    chi = chi[0]
    v = lmat @ jnp.ones(n_bins, s.dtype)
    vv = v @ v
    common = gain == "common"
    n_g = 1 if common else n_ch
    ia, ic = np.arange(n_ch), n_ch
    ig = np.array([n_ch + 1]) if common else n_ch + 1 + ia

    def offsets(r):  # the least-squares offset(s) of the residual r (bins, channels): -log g
        return jnp.sum(v @ r) / (n_ch * vv) if common else (v @ r) / vv

    for _ in range(N_STEPS):
        background = jnp.exp(log_a - chi * log_f)
        total = s + background
        share = background / total
        r0 = lmat @ (jnp.log(total) - y)
        residual = r0 - v[:, None] * offsets(r0)
        j_a, j_chi = lmat @ share, lmat @ (-log_f * share)        # (bins, channels)
        h = jnp.zeros((n_ch + 1 + n_g,) * 2, s.dtype)
        h = h.at[ia, ia].set(jnp.sum(j_a ** 2, axis=0) + 1e-6)
        h_ac = jnp.sum(j_a * j_chi, axis=0)
        h = h.at[ia, ic].set(h_ac).at[ic, ia].set(h_ac)
        h = h.at[ic, ic].set(jnp.sum(j_chi ** 2) + 1e-6)
        h_ag, h_cg = -(v @ j_a), -(v @ j_chi)                      # (channels,)
        if common:
            h = h.at[ia, ig[0]].set(h_ag).at[ig[0], ia].set(h_ag)
            h = h.at[ic, ig[0]].set(jnp.sum(h_cg)).at[ig[0], ic].set(jnp.sum(h_cg))
            h = h.at[ig[0], ig[0]].set(n_ch * vv)
        else:
            h = h.at[ia, ig].set(h_ag).at[ig, ia].set(h_ag)
            h = h.at[ic, ig].set(h_cg).at[ig, ic].set(h_cg)
            h = h.at[ig, ig].set(vv)
        grad = jnp.concatenate([jnp.sum(j_a * residual, axis=0), jnp.sum(j_chi * residual)[None],
                                jnp.atleast_1d(-jnp.sum(v @ residual) if common
                                               else -(v @ residual))])
        step = -jnp.linalg.solve(h, grad)
        log_a = jnp.clip(log_a + jnp.clip(step[ia], -3.0, 3.0), a_low, a_high)
        chi = jnp.clip(chi + jnp.clip(step[ic], -1.0, 1.0), low, high)
    total = s + jnp.exp(log_a - chi * log_f)
    return total, log_a, chi, -offsets(lmat @ (jnp.log(total) - y))


def floor_level(freqs_hz, psd, floor_hz) -> float:
    """A measured spectrum's white floor: its mean PSD over ``floor_hz`` (``(low, high)`` Hz;
    0 where None)."""
    if floor_hz is None:
        return 0.0
    floor = (np.asarray(freqs_hz) >= floor_hz[0]) & (np.asarray(freqs_hz) <= floor_hz[1])
    return float(np.mean(np.asarray(psd, dtype=float)[floor]))


def floor_fraction(freqs_hz, psd, floor_hz, band_hz) -> float:
    """The white floor (the mean PSD over ``floor_hz``) as a fraction of the mean PSD over
    ``band_hz``; 0 where ``floor_hz`` is None."""
    if floor_hz is None:
        return 0.0
    freqs_hz, psd = np.asarray(freqs_hz), np.asarray(psd, dtype=float)
    low, high = band_hz
    band = (freqs_hz >= low) & (freqs_hz <= high)
    return floor_level(freqs_hz, psd, floor_hz) / float(np.mean(psd[band]))


def with_floor(freqs_hz, psd, fraction, band_hz):
    """``psd`` (frequency first) plus the white floor that is ``fraction`` of the result's mean
    over ``band_hz``: ``c = fraction * mean / (1 - fraction)`` (a model PSD seen with the
    recording's measurement noise, which the model lacks)."""
    low, high = band_hz
    band = (np.asarray(freqs_hz) >= low) & (np.asarray(freqs_hz) <= high)
    mean = jnp.mean(psd[band], axis=0)
    return psd + fraction * mean / (1.0 - fraction)


__all__ = ["LOG_A_DECADES", "N_STEPS", "check_exponent_box", "floor_fraction", "floor_level",
           "profile_aperiodic", "profile_aperiodic_channels", "with_floor"]
