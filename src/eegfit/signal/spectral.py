"""One spectral stack: periodograms, Welch's method, bands and the features of a spectrum.

Every function is a pure JAX function of arrays with the time (or, for a spectrum, frequency) on
``axis``; the default ``axis=0`` matches :class:`~eegfit.simulate.Trace`'s ``(time, *batch)``
layout, and a spectrum comes back with its frequency on that same axis. Frequencies are static
NumPy arrays, so bands are selected by masks at trace time and everything is differentiable and
batched (by its other axes or by ``vmap``).

One convention throughout, that of ``scipy.signal.periodogram`` / ``scipy.signal.welch`` with
``window="hann"``, ``detrend="constant"`` and ``scaling="density"``: each segment is de-meaned and
multiplied by a periodic Hann window, and the one-sided power is ``|FFT|^2 / (fs * sum(w^2))``,
doubled except at 0 Hz and at the Nyquist frequency, in unit^2/Hz for a signal in unit.

Welch's method cuts the signal into segments of ``segment_s`` seconds; its frequency grid depends
on ``segment_s`` only (bins every ``1 / segment_s`` Hz), so a recording at 250 Hz and a model
simulated at 10 kHz are compared bin for bin without resampling either. The spread of a feature
over the per-segment spectra is its noise floor.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from eegfit.signal.numerics import TINY, safe_log

_EDGE_HZ = 1e-9  # a bin this close to a band edge counts as on it (float rounding of k * df)


def check_band(band_hz, name: str = "band_hz") -> tuple[float, float]:
    """``(low, high)`` in Hz; ``ValueError`` naming ``name`` unless ``band_hz`` is two numbers
    with ``0 <= low < high`` (``[]``, ``'oops'``, ``[5, 5]`` and NaN are refused)."""
    if isinstance(band_hz, (str, bytes)) or not hasattr(band_hz, "__len__") or len(band_hz) != 2:
        raise ValueError(f"{name} must be a list [low, high] in Hz, got {band_hz!r}")
    try:
        low, high = (float(b) for b in band_hz)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be two numbers [low, high] in Hz, got {band_hz!r}") from None
    if not 0 <= low < high or not np.isfinite(high):
        raise ValueError(f"{name} must satisfy 0 <= low < high, got {list(band_hz)}")
    return low, high


def band_mask(freqs_hz: np.ndarray, band_hz, name: str = "band_hz",
              half_open: bool = False) -> np.ndarray:
    """Boolean mask of the bins of ``freqs_hz`` inside ``band_hz``: both ends included, or
    ``[low, high)`` with ``half_open`` (adjacent bands then share no bin). ``ValueError`` naming
    ``name`` for a bad band or one that holds no bin."""
    low, high = check_band(band_hz, name)
    below_high = freqs_hz < high - _EDGE_HZ if half_open else freqs_hz <= high + _EDGE_HZ
    mask = (freqs_hz >= low - _EDGE_HZ) & below_high
    if not mask.any():
        raise ValueError(f"{name} {list(band_hz)} holds no frequency bin (bins every "
                         f"{freqs_hz[1] - freqs_hz[0]:g} Hz up to {freqs_hz[-1]:g} Hz)")
    return mask


def frequencies(n_fft: int, fs_hz: float) -> np.ndarray:
    """Frequencies (Hz) of the one-sided spectrum of ``n_fft`` samples at ``fs_hz``."""
    return np.fft.rfftfreq(n_fft, d=1.0 / fs_hz)


def padded_length(n: int, pad_factor: int = 1) -> int:
    """FFT length for ``n`` samples: ``n`` itself for ``pad_factor`` 1, else ``pad_factor * n``
    rounded up to a power of two (zero padding interpolates the spectrum; it adds no
    resolution)."""
    if pad_factor == 1:
        return n
    if not (isinstance(pad_factor, int) and pad_factor >= 1):
        raise ValueError(f"pad_factor must be a whole number >= 1, got {pad_factor!r}")
    return 1 << max(0, (pad_factor * n - 1).bit_length())


def periodogram(x, *, fs_hz: float, axis: int = 0, pad_factor: int = 1):
    """One-sided periodic-Hann periodogram (density) of ``x`` along ``axis``.

    Args:
        x: signal in some unit (e.g. mV), time on ``axis``, samples ``1 / fs_hz`` s apart.
        fs_hz: sampling rate in Hz.
        axis: the time axis; the power has its frequency on the same axis.
        pad_factor: zero padding (see :func:`padded_length`); 1 equals
            ``scipy.signal.periodogram(x, fs_hz, window="hann")``, more equals it with
            ``nfft=padded_length(n, pad_factor)``.

    Returns:
        ``(freqs_hz, power)``: a NumPy array of ``n_fft // 2 + 1`` frequencies and the power in
        unit^2/Hz, shaped like ``x`` with ``n_fft // 2 + 1`` bins on ``axis``.
    """
    x_last = jnp.moveaxis(jnp.asarray(x), axis, -1)
    n = x_last.shape[-1]
    n_fft = padded_length(n, pad_factor)
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(x_last.dtype)
    centred = (x_last - jnp.mean(x_last, axis=-1, keepdims=True)) * window
    spectrum = jnp.fft.rfft(centred, n=n_fft, axis=-1)
    power = (spectrum.real ** 2 + spectrum.imag ** 2) / (fs_hz * float(np.sum(window ** 2)))
    fold = np.full(power.shape[-1], 2.0)
    fold[0] = 1.0
    if n_fft % 2 == 0:
        fold[-1] = 1.0  # the Nyquist bin has no negative twin
    power = power * fold.astype(power.dtype)
    return frequencies(n_fft, fs_hz), jnp.moveaxis(power, -1, axis)


def segment_samples(segment_s: float, fs_hz: float) -> int:
    """Samples per segment; ``ValueError`` unless ``segment_s * fs_hz`` is a whole number >= 4."""
    n = segment_s * fs_hz
    if not n >= 4 or abs(n - round(n)) > 1e-6 * max(1.0, n):
        raise ValueError(f"segment_s ({segment_s}) times the sampling rate ({fs_hz} Hz) must be "
                         f"a whole number of samples >= 4, got {n:g}")
    return int(round(n))


def segment_starts(n_samples: int, n_per_segment: int, overlap: float = 0.5) -> np.ndarray:
    """Start indices of the segments that fit in ``n_samples`` (step ``(1 - overlap) * n``)."""
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
    step = max(1, int(round(n_per_segment * (1.0 - overlap))))
    if n_samples < n_per_segment:
        return np.zeros(0, dtype=int)
    return np.arange(0, n_samples - n_per_segment + 1, step)


def segments(x, n_per_segment: int, overlap: float = 0.5, *, axis: int = 0):
    """The overlapping segments of ``x`` along ``axis``: that axis becomes two, (segment, time
    within the segment), e.g. ``(time, *batch)`` -> ``(n_seg, n_per_segment, *batch)``."""
    axis = axis % np.ndim(x)
    starts = segment_starts(np.shape(x)[axis], n_per_segment, overlap)
    if len(starts) == 0:
        raise ValueError(f"a signal of {np.shape(x)[axis]} samples is shorter than one segment "
                         f"({n_per_segment} samples)")
    index = starts[:, None] + np.arange(n_per_segment)[None, :]
    return jnp.moveaxis(jnp.moveaxis(jnp.asarray(x), axis, -1)[..., index], (-2, -1),
                        (axis, axis + 1))


def welch(x, *, fs_hz: float, segment_s: float, overlap: float = 0.5, axis: int = 0):
    """Welch PSD of ``x`` (time on ``axis``), as ``scipy.signal.welch(x, fs_hz, window="hann",
    nperseg=segment_s * fs_hz, noverlap=overlap * nperseg)``.

    Returns:
        ``(freqs_hz, mean_power, per_segment_power)``: ``mean_power`` (unit^2/Hz) is shaped like
        ``x`` with the frequency on ``axis``; ``per_segment_power`` has the segment on ``axis``
        and the frequency right after it (see :func:`segments`). Differentiable in ``x``.
    """
    axis = axis % np.ndim(x)
    n = segment_samples(segment_s, fs_hz)
    freqs, power = periodogram(segments(x, n, overlap, axis=axis), fs_hz=fs_hz, axis=axis + 1)
    return freqs, jnp.mean(power, axis=axis), power


def _in_band(freqs_hz, power, band_hz, axis, name="band_hz", half_open=False):
    """The bins of ``power`` (frequency on ``axis``) in the band, and their frequencies."""
    mask = band_mask(freqs_hz, band_hz, name, half_open)
    # a boolean index, not jnp.take: take's gather rounds its gradient differently, and the
    # recording's grad fit is sensitive enough to land elsewhere on that difference alone
    select = (slice(None),) * (axis % np.ndim(power)) + (mask,)
    return jnp.asarray(power)[select], freqs_hz[mask]


def band_integral(freqs_hz, power, band_hz, *, axis: int = 0, half_open: bool = False,
                  name: str = "band_hz"):
    """Power in ``band_hz`` (unit^2 for a PSD in unit^2/Hz): the sum of the band's bins times
    the bin width. The frequency ``axis`` is reduced."""
    band, _ = _in_band(freqs_hz, power, band_hz, axis, name, half_open)
    return jnp.sum(band, axis=axis) * float(freqs_hz[1] - freqs_hz[0])


def peak_frequency(freqs_hz, power, *, band_hz=(6.0, 14.0), sharpness: float = 10.0,
                   axis: int = 0):
    """Smooth peak frequency (Hz) of a PSD in ``band_hz``: a soft-argmax.

    The centroid of the band's frequencies weighted by ``power ** sharpness`` (a softmax of
    ``sharpness * log power``). At ``sharpness`` 10 a bin at half the peak's power weighs 1/1024
    of the peak's, so the result lies within a fraction of a bin of the hard argmax while having a
    gradient; a flat spectrum gives the band's centre. Invariant to a gain on the signal. The
    frequency ``axis`` is reduced.
    """
    band, f_band = _in_band(freqs_hz, power, band_hz, axis)
    shape = [1] * band.ndim
    shape[axis] = -1
    weights = jax.nn.softmax(sharpness * safe_log(band), axis=axis)
    return jnp.sum(weights * jnp.asarray(f_band, band.dtype).reshape(shape), axis=axis)


def relative_power(freqs_hz, power, *, bands: dict, total_hz=(2.0, 40.0), axis: int = 0):
    """Power in each band over the power in ``total_hz`` (1); invariant to a gain.

    ``bands`` maps a name to ``[low, high)`` Hz (half-open, so adjacent bands share no bin). The
    result has the bands, in the order of ``bands``, on ``axis`` in place of the frequency.
    """
    axis = axis % np.ndim(power)
    total = band_integral(freqs_hz, power, total_hz, axis=axis, name="total_hz") + TINY
    return jnp.stack([band_integral(freqs_hz, power, band, axis=axis, half_open=True,
                                    name=f"bands.{name}") / total
                      for name, band in bands.items()], axis=axis)


def normalised_psd(freqs_hz, power, *, band_hz=(2.0, 40.0), axis: int = 0):
    """The PSD over ``band_hz`` divided by its integral there (1/Hz; it integrates to 1): the
    spectral shape, invariant to a gain. The band's bins stay on ``axis``."""
    band, _ = _in_band(freqs_hz, power, band_hz, axis)
    total = jnp.sum(band, axis=axis, keepdims=True) * float(freqs_hz[1] - freqs_hz[0])
    return band / (total + TINY)


def spread(window_values, *, floor: float = 1e-3) -> np.ndarray:
    """Standard deviation over windows (axis 0, ``ddof=1``) of window-level feature values, kept
    at least ``floor`` times the mean magnitude so that a loss never divides by 0. Shape: that
    of one window's value; unit: the feature's."""
    values = np.asarray(window_values, dtype=float)
    sd = np.std(values, axis=0, ddof=1) if values.shape[0] > 1 else np.zeros(values.shape[1:])
    scale = floor * np.maximum(np.mean(np.abs(values)), 1e-12)
    return np.maximum(sd, scale)


def band_power(freqs_hz, psd, band_hz) -> np.ndarray:
    """Power in ``band_hz`` per channel of ``psd`` ``(frequency, channels)``."""
    return np.asarray(band_integral(np.asarray(freqs_hz), np.asarray(psd), band_hz,
                                             axis=0))


def relative_band_power(freqs_hz, psd, band_hz, total_hz) -> np.ndarray:
    """Each channel's power in ``band_hz`` over its power in ``total_hz`` (gain-free)."""
    return band_power(freqs_hz, psd, band_hz) / band_power(freqs_hz, psd, total_hz)


__all__ = ["band_integral", "band_mask", "band_power", "check_band", "frequencies",
           "normalised_psd", "padded_length", "peak_frequency", "periodogram",
           "relative_band_power", "relative_power", "segment_samples", "segment_starts", "segments",
           "spread", "welch"]
