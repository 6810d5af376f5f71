"""Functional connectivity (FC) of a network's node signals, and losses between FC matrices.

An FC matrix is the Pearson correlation of every pair of node signals (1, dimensionless); it
ignores each node's amplitude and offset, so a model's FC can be compared with a BOLD or EEG FC
measured in other units. Everything is differentiable and safe for a flat node.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from eegfit.signal.numerics import safe_rsqrt


def functional_connectivity(x: jax.Array) -> jax.Array:
    """Pearson correlation matrix of the node signals: ``x`` is ``(n_samples, n_nodes)``, the
    result ``(n_nodes, n_nodes)`` (1 on the diagonal). A flat node gets correlation 0 with every
    other node (and a finite gradient), not NaN."""
    centred = x - jnp.mean(x, axis=0)
    z = centred * safe_rsqrt(jnp.mean(centred * centred, axis=0))
    fc = jnp.einsum("ti,tj->ij", z, z) / x.shape[0]
    return jnp.where(jnp.eye(x.shape[1], dtype=bool), 1.0, fc)


def upper_triangle(fc: jax.Array) -> jax.Array:
    """The entries above the diagonal of ``(..., n, n)`` matrices: ``(..., n * (n - 1) / 2)``."""
    i, j = np.triu_indices(fc.shape[-1], 1)
    return fc[..., i, j]


def fc_correlation(fc: jax.Array, target_fc: jax.Array) -> jax.Array:
    """Pearson correlation (1) of the upper triangles (diagonal excluded) of two FC matrices
    ``(..., n, n)``; 0, not NaN, where either triangle is constant."""
    a, b = upper_triangle(fc), upper_triangle(jnp.asarray(target_fc, fc.dtype))
    a, b = a - jnp.mean(a, axis=-1, keepdims=True), b - jnp.mean(b, axis=-1, keepdims=True)
    num = jnp.sum(a * b, axis=-1)
    return num * safe_rsqrt(jnp.sum(a * a, axis=-1) * jnp.sum(b * b, axis=-1))


def fc_correlation_loss(fc: jax.Array, target_fc: jax.Array) -> jax.Array:
    """``1 - fc_correlation``: 0 for FC patterns that agree up to scale and offset, up to 2."""
    return 1.0 - fc_correlation(fc, target_fc)


def fc_rmse(fc: jax.Array, target_fc: jax.Array) -> jax.Array:
    """Root-mean-square difference (1) of the upper triangles of two FC matrices ``(..., n, n)``.

    The 1e-12 under the root keeps the gradient finite at a perfect match (and is below float32
    resolution of any FC difference that matters).
    """
    d = upper_triangle(fc) - upper_triangle(jnp.asarray(target_fc, fc.dtype))
    return jnp.sqrt(jnp.mean(d * d, axis=-1) + 1e-12)


def envelope_fc(data, fs_hz: float, band_hz) -> np.ndarray:
    """Amplitude-envelope FC ``(channels, channels)`` of ``data`` ``(channels, time)``: each
    channel band-passed to ``band_hz`` (an ideal FFT filter), its Hilbert envelope, the envelopes'
    correlation."""
    from scipy.signal import hilbert  # noqa: PLC0415

    x = np.asarray(data, dtype=float)
    spectrum = np.fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1)
    freqs = np.fft.rfftfreq(x.shape[1], 1.0 / fs_hz)
    spectrum[:, (freqs < band_hz[0]) | (freqs > band_hz[1])] = 0.0
    envelope = np.abs(hilbert(np.fft.irfft(spectrum, n=x.shape[1], axis=1), axis=1))
    return np.corrcoef(envelope)


def band_power(freqs_hz, psd, band_hz) -> np.ndarray:
    """Power in ``band_hz`` per channel of ``psd`` ``(frequency, channels)``."""
    return np.asarray(spectral.band_integral(np.asarray(freqs_hz), np.asarray(psd), band_hz,
                                             axis=0))


def relative_band_power(freqs_hz, psd, band_hz, total_hz) -> np.ndarray:
    """Each channel's power in ``band_hz`` over its power in ``total_hz`` (gain-free)."""
    return band_power(freqs_hz, psd, band_hz) / band_power(freqs_hz, psd, total_hz)


def band_envelope_fc(x: jax.Array, fs_hz: float, band_hz) -> jax.Array:
    """:func:`envelope_fc` in JAX, differentiable: ``x`` is ``(n_samples, channels)``, the
    result ``(channels, channels)``. The same ideal FFT band-pass; the analytic signal as SciPy's
    ``hilbert`` builds it (the spectrum's positive frequencies doubled, negative ones zeroed,
    in one FFT); its modulus (``sqrt(|z|^2 + tiny)``: a finite gradient at a zero envelope)."""
    n = x.shape[0]
    freqs = np.fft.fftfreq(n, 1.0 / fs_hz)
    keep = (np.abs(freqs) >= band_hz[0]) & (np.abs(freqs) <= band_hz[1])
    weight = np.where(freqs > 0, 2.0, 0.0)  # the analytic signal (no 0 Hz: band_hz[0] > 0)
    if n % 2 == 0:
        weight[n // 2] = 1.0
    h = jnp.asarray(np.where(keep, weight, 0.0), x.dtype)
    z = jnp.fft.ifft(jnp.fft.fft(x - jnp.mean(x, axis=0), axis=0) * h[:, None], axis=0)
    envelope = jnp.sqrt(jnp.real(z) ** 2 + jnp.imag(z) ** 2 + 1e-30)
    return functional_connectivity(envelope)


def fisher_z_rmse(fc: jax.Array, target_fc: jax.Array) -> jax.Array:
    """Root-mean-square difference of the Fisher z (``atanh``) of the upper triangles of two FC
    matrices: the correlations' differences on the scale where their sampling spread does not
    depend on their size (entries clipped to +-0.999)."""
    def z(m):
        return jnp.arctanh(jnp.clip(upper_triangle(m), -0.999, 0.999))
    d = z(fc) - z(jnp.asarray(target_fc, fc.dtype))
    return jnp.sqrt(jnp.mean(d * d, axis=-1) + 1e-12)


FC_OBJECTIVES = {"fc_rmse": fc_rmse, "fc_correlation_loss": fc_correlation_loss}
"""Losses between a model FC and a target FC, by the name a network config uses."""

__all__ = ["FC_OBJECTIVES", "band_envelope_fc", "envelope_fc", "fisher_z_rmse", "fc_correlation", "fc_correlation_loss", "fc_rmse",
           "functional_connectivity", "upper_triangle"]
