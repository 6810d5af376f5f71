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


def fisher_z_rmse(fc: jax.Array, target_fc: jax.Array, pairs=None) -> jax.Array:
    """Root-mean-square difference of the Fisher z (``atanh``) of the upper triangles of two FC
    matrices: the correlations' differences on the scale where their sampling spread does not
    depend on their size (entries clipped to +-0.999). ``pairs`` (:func:`group_pairs`, a 0/1
    ``(n, n)`` mask): the mean over its pairs instead of over the upper triangle."""
    def z(m):
        return jnp.arctanh(jnp.clip(m, -0.999, 0.999))
    target_fc = jnp.asarray(target_fc, fc.dtype)
    if pairs is None:
        d = z(upper_triangle(fc)) - z(upper_triangle(target_fc))
        return jnp.sqrt(jnp.mean(d * d, axis=-1) + 1e-12)
    pairs = jnp.asarray(pairs, fc.dtype)
    d = z(fc) - z(target_fc)
    return jnp.sqrt(jnp.sum(pairs * d * d, axis=(-2, -1)) / jnp.sum(pairs) + 1e-12)


def group_pairs(channels, groups: dict, names=None) -> np.ndarray:
    """The channel pairs within and between the groups ``names`` (None: every pair of
    ``channels``) as a 0/1 mask ``(n, n)`` of the upper triangle: ``[i, j] = 1`` for ``i < j``
    where channels ``i`` and ``j`` both belong to one of those groups (``groups``: name ->
    channel names).

    Raises:
        ValueError: a name that is not a group, or fewer than 2 channels in those groups.
    """
    channels = [str(c) for c in channels]
    n = len(channels)
    if names is None:
        return np.triu(np.ones((n, n)), 1)
    unknown = [g for g in names if g not in groups]
    if unknown:
        raise ValueError(f"groups {unknown} are not channel groups ({list(groups)})")
    members = {str(c) for g in names for c in groups[g]}
    inside = np.array([c in members for c in channels])
    if inside.sum() < 2:
        raise ValueError(f"the groups {list(names)} hold {int(inside.sum())} of the channels "
                         f"{channels}; a pair needs 2")
    return np.triu(np.outer(inside, inside).astype(float), 1)


def band_coherence(x: jax.Array, fs_hz: float, band_hz, *, segment_s: float,
                   overlap: float = 0.5, imaginary: bool = False) -> jax.Array:
    """Coherence ``(channels, channels)`` of ``x`` ``(n_samples, channels)``, averaged over the
    Welch bins in ``band_hz``: the magnitude-squared coherence ``|S_ab|^2 / (S_aa S_bb)`` (as
    ``scipy.signal.coherence(x_a, x_b, fs_hz, window="hann", nperseg, noverlap)``), or with
    ``imaginary`` the imaginary part of the coherency, ``Im S_ab / sqrt(S_aa S_bb)`` (blind to
    zero-lag mixing: volume conduction; antisymmetric). ``S_ab`` is the mean over the Welch
    segments (:func:`eegfit.signal.spectral.segments`: de-meaned, periodic Hann window) of
    ``conj(X_a) X_b``, SciPy's ``csd`` convention. Differentiable; a flat channel gets 0."""
    from eegfit.signal import spectral  # noqa: PLC0415

    n = spectral.segment_samples(segment_s, fs_hz)
    bins = spectral.band_mask(spectral.frequencies(n, fs_hz), band_hz, "band_hz")
    seg = spectral.segments(x, n, overlap, axis=0)  # (segment, time, channel)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    seg = (seg - jnp.mean(seg, axis=1, keepdims=True)) * jnp.asarray(window, x.dtype)[:, None]
    spectrum = jnp.fft.rfft(seg, axis=1)[:, bins]  # (segment, bin, channel)
    re, im = jnp.real(spectrum), jnp.imag(spectrum)
    cross_re = jnp.einsum("sfa,sfb->fab", re, re) + jnp.einsum("sfa,sfb->fab", im, im)
    cross_im = jnp.einsum("sfa,sfb->fab", re, im) - jnp.einsum("sfa,sfb->fab", im, re)
    power = jnp.einsum("sfa,sfa->fa", re, re) + jnp.einsum("sfa,sfa->fa", im, im)
    norm = safe_rsqrt(power[:, :, None] * power[:, None, :])
    if imaginary:
        return jnp.mean(cross_im * norm, axis=0)
    return jnp.mean((cross_re ** 2 + cross_im ** 2) * norm * norm, axis=0)


def recorded_fc(data, fs_hz: float, band_hz, measure: str = "envelope", *,
                segment_s: float = 1.0, overlap: float = 0.5) -> np.ndarray:
    """:func:`band_fc` of recorded ``data`` ``(channels, time)`` (NumPy, float64):
    :func:`envelope_fc` for the envelope, :func:`band_coherence` in float64 otherwise."""
    if measure == "envelope":
        return envelope_fc(data, fs_hz, band_hz)
    with jax.enable_x64(True):
        return np.asarray(band_fc(jnp.asarray(np.asarray(data, float).T), fs_hz, band_hz,
                                  measure, segment_s=segment_s, overlap=overlap), float)


FC_MEASURES = ("envelope", "coherence", "imaginary_coherence")
"""The sensor FC measures: amplitude-envelope correlation, magnitude-squared coherence and the
imaginary part of the coherency, each in a band."""


def band_fc(x: jax.Array, fs_hz: float, band_hz, measure: str = "envelope", *,
            segment_s: float = 1.0, overlap: float = 0.5) -> jax.Array:
    """The sensor FC ``(channels, channels)`` of ``x`` ``(n_samples, channels)`` in
    ``band_hz`` by ``measure`` (:data:`FC_MEASURES`): :func:`band_envelope_fc` (the whole
    signal), or :func:`band_coherence` on Welch segments of ``segment_s``."""
    if measure == "envelope":
        return band_envelope_fc(x, fs_hz, band_hz)
    if measure not in FC_MEASURES:
        raise ValueError(f"measure must be one of {FC_MEASURES}, got {measure!r}")
    return band_coherence(x, fs_hz, band_hz, segment_s=segment_s, overlap=overlap,
                          imaginary=measure == "imaginary_coherence")


FC_OBJECTIVES = {"fc_rmse": fc_rmse, "fc_correlation_loss": fc_correlation_loss}
"""Losses between a model FC and a target FC, by the name a network config uses."""

__all__ = ["FC_MEASURES", "FC_OBJECTIVES", "band_coherence", "band_envelope_fc", "band_fc",
           "envelope_fc", "fc_correlation", "fc_correlation_loss", "fc_rmse", "fisher_z_rmse",
           "functional_connectivity", "group_pairs", "recorded_fc", "upper_triangle"]
