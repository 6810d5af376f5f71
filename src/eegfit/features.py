"""Scalar, phase-invariant, differentiable features of a trace.

Every feature is a pure function of a trace ``x`` whose first axis is time (samples ``dt_ms``
apart); trailing axes are a batch and are kept, so one call serves a batch of simulations. None
depends on the phase of the signal, so a model and a target that drift out of phase still agree.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_TINY = 1e-30  # keeps log(power) finite for a flat signal; far below any physical power in mV^2/Hz


def rms(x: jax.Array, *, dt_ms: float | None = None) -> jax.Array:
    """Root-mean-square amplitude of the de-meaned signal (mV for a trace in mV).

    A flat signal has RMS 0 with a gradient of 0, not NaN: the square root is taken only where
    the variance is positive (the double-``where`` trick). ``dt_ms`` is accepted and ignored, so
    all features share one signature.
    """
    del dt_ms
    shifted = x - x[0]  # exact zeros for a flat signal (a float32 mean of equal values is not)
    centred = shifted - jnp.mean(shifted, axis=0)
    var = jnp.mean(centred * centred, axis=0)
    positive = var > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)


def psd(x: jax.Array, *, dt_ms: float, pad_factor: int = 4) -> tuple[jax.Array, jax.Array]:
    """One-sided periodogram of the de-meaned, Hann-windowed signal.

    Args:
        x: trace, time on axis 0, in mV.
        dt_ms: sample spacing in ms.
        pad_factor: zero-padding to ``pad_factor`` times the length (rounded up to a power of two)
            for a finer frequency grid (interpolation only; it adds no resolution).

    Returns:
        ``(freqs_hz, power)``: frequencies as a NumPy array (static, so bands can be selected
        under ``jit``) and power in mV^2/Hz, shape ``(n_freqs, *batch)``.
    """
    n = x.shape[0]
    n_fft = 1 << max(0, (pad_factor * n - 1).bit_length())
    window = np.hanning(n).astype(x.dtype).reshape((n,) + (1,) * (x.ndim - 1))
    centred = (x - jnp.mean(x, axis=0)) * window
    fs_hz = 1e3 / dt_ms
    spectrum = jnp.fft.rfft(centred, n=n_fft, axis=0)
    power = (spectrum.real ** 2 + spectrum.imag ** 2) / (fs_hz * np.sum(window ** 2))
    power = power.at[1:].multiply(2.0)  # one-sided: fold negative frequencies
    return np.fft.rfftfreq(n_fft, d=dt_ms * 1e-3), power


def _band(freqs_hz, band_hz):
    low, high = band_hz
    if not 0 <= low < high:
        raise ValueError(f"band_hz must satisfy 0 <= low < high, got {band_hz!r}")
    return (freqs_hz >= low) & (freqs_hz <= high)


def spectral_peak_hz(x: jax.Array, *, dt_ms: float, band_hz: tuple[float, float] = (1.0, 40.0),
                     sharpness: float = 10.0, pad_factor: int = 4) -> jax.Array:
    """Smooth spectral-peak frequency in Hz: a soft-argmax of the PSD over ``band_hz``.

    The peak is the centroid of the frequencies in the band weighted by ``power ** sharpness``
    (a softmax of ``sharpness * log(power)``). At ``sharpness`` = 10 (default) the weight of a bin
    at half the peak power is 1/1024 of the peak's, so the result sits within a fraction of a bin
    of the hard argmax while staying differentiable (a hard argmax has zero gradient). A flat
    signal gives the centre of the band, with a finite gradient.
    """
    freqs_hz, power = psd(x, dt_ms=dt_ms, pad_factor=pad_factor)
    mask = _band(freqs_hz, band_hz)
    f_band, p_band = jnp.asarray(freqs_hz[mask], power.dtype), power[mask]
    weights = jax.nn.softmax(sharpness * jnp.log(p_band + _TINY), axis=0)
    return jnp.tensordot(f_band, weights, axes=(0, 0))


def band_power(x: jax.Array, *, dt_ms: float, band_hz: tuple[float, float] = (8.0, 13.0),
               pad_factor: int = 4) -> jax.Array:
    """Power of the signal in ``band_hz`` (mV^2): the PSD integrated over the band."""
    freqs_hz, power = psd(x, dt_ms=dt_ms, pad_factor=pad_factor)
    mask = _band(freqs_hz, band_hz)
    df_hz = freqs_hz[1] - freqs_hz[0]
    return jnp.sum(power[mask], axis=0) * df_hz


FEATURES = {"rms": rms, "spectral_peak_hz": spectral_peak_hz, "band_power": band_power}
"""Features by name (the names a config may use), each ``f(x, *, dt_ms, **options)``."""

UNITS = {"rms": "mV", "spectral_peak_hz": "Hz", "band_power": "mV^2"}
"""Unit of each feature's value."""


def feature(name: str):
    """The feature function called ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return FEATURES[name]
    except KeyError:
        raise ValueError(f"unknown feature {name!r}; known: {sorted(FEATURES)}") from None


# --- Functional connectivity of a network ------------------------------------------------------

def functional_connectivity(x: jax.Array) -> jax.Array:
    """Pearson correlation matrix of the node signals: ``x`` is ``(n_samples, n_nodes)``, the
    result ``(n_nodes, n_nodes)`` (1 on the diagonal). A flat node gets correlation 0 with every
    other node (and a finite gradient), not NaN."""
    centred = x - jnp.mean(x, axis=0)
    var = jnp.mean(centred * centred, axis=0)
    positive = var > 0
    scale = jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, var, 1.0)), 0.0)
    z = centred * scale
    fc = jnp.einsum("ti,tj->ij", z, z) / x.shape[0]
    n = x.shape[1]
    return jnp.where(jnp.eye(n, dtype=bool), 1.0, fc)


def _upper(fc: jax.Array) -> jax.Array:
    n = fc.shape[-1]
    i, j = np.triu_indices(n, 1)
    return fc[..., i, j]


def fc_correlation(fc: jax.Array, target_fc: jax.Array) -> jax.Array:
    """Pearson correlation of the upper triangles (diagonal excluded) of two FC matrices (1)."""
    a, b = _upper(fc), _upper(jnp.asarray(target_fc, fc.dtype))
    a, b = a - jnp.mean(a, axis=-1, keepdims=True), b - jnp.mean(b, axis=-1, keepdims=True)
    num = jnp.sum(a * b, axis=-1)
    den2 = jnp.sum(a * a, axis=-1) * jnp.sum(b * b, axis=-1)
    positive = den2 > 0
    return jnp.where(positive, num * jax.lax.rsqrt(jnp.where(positive, den2, 1.0)), 0.0)


def fc_correlation_loss(fc: jax.Array, target_fc: jax.Array) -> jax.Array:
    """``1 - fc_correlation``: 0 for FC patterns that agree up to scale and offset, up to 2."""
    return 1.0 - fc_correlation(fc, target_fc)


def fc_rmse(fc: jax.Array, target_fc: jax.Array) -> jax.Array:
    """Root-mean-square difference of the upper triangles of two FC matrices (1)."""
    d = _upper(fc) - _upper(jnp.asarray(target_fc, fc.dtype))
    return jnp.sqrt(jnp.mean(d * d, axis=-1) + 1e-12)  # offset keeps the gradient finite at 0


FC_OBJECTIVES = {"fc_rmse": fc_rmse, "fc_correlation_loss": fc_correlation_loss}
"""Losses between a model FC and a target FC, by name (what a network config may use)."""
