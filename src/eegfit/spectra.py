"""Welch spectra and the gain-free spectral features used to fit a scalp recording.

A model's EEG (``y1 - y2``, a membrane-potential difference in mV) and a scalp recording (µV
after volume conduction, skull and amplifier) share a spectral *shape*, not an absolute amplitude:
the two differ by an unknown gain. The features here are therefore invariant to a gain on the
signal — the peak frequency in a band, relative band powers, and the PSD normalised over a band —
so a model can be fitted to a recording without knowing (or fitting) that gain.

Everything is a pure JAX function (differentiable, batched by ``vmap``) of arrays whose LAST axis
is frequency (spectra) or time (segments); frequencies are static NumPy arrays, so bands are
selected by masks at trace time. Welch's method: the signal is cut into segments of
``segment_s`` seconds (``overlap`` shared), each de-meaned and Hann-windowed; the one-sided
periodogram of each segment is the per-window spectrum and their mean is the Welch PSD (the same
scaling as ``scipy.signal.welch(..., scaling="density")``). The spread of a feature over the
per-window spectra is its noise floor.

The frequency grid depends only on ``segment_s`` (bins at ``k / segment_s`` Hz), not on the
sampling rate, so a recording at 250 Hz and a model simulated at 10 kHz are compared bin for bin
on the same grid, without resampling either signal.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

_TINY = 1e-30  # keeps log(power) finite for a flat spectrum

FEATURE_UNITS = {"peak_frequency": "Hz", "relative_power": "1", "normalised_psd": "1/Hz"}
"""Unit of each spectral feature."""

FEATURE_LONG_NAMES = {
    "peak_frequency": "spectral peak frequency (soft-argmax of the PSD in a band)",
    "relative_power": "band power relative to the total power in the reference band",
    "normalised_psd": "PSD divided by its integral over the band",
}

DEFAULT_FEATURES = {
    "peak_frequency": {"band_hz": [6.0, 14.0], "sharpness": 10.0},
    "relative_power": {"bands": {"delta": [2.0, 4.0], "theta": [4.0, 8.0],
                                 "alpha": [8.0, 13.0], "beta": [13.0, 30.0]},
                       "total_hz": [2.0, 40.0]},
}
"""The features fitted when a config names none: alpha peak frequency and relative band powers."""


def segment_samples(segment_s: float, fs_hz: float) -> int:
    """Samples per segment; ``ValueError`` unless ``segment_s * fs_hz`` is a whole number."""
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


def segments(x, n_per_segment: int, overlap: float = 0.5):
    """The overlapping segments of ``x`` (time on the last axis): shape ``(..., n_seg, n)``."""
    starts = segment_starts(x.shape[-1], n_per_segment, overlap)
    if len(starts) == 0:
        raise ValueError(f"a signal of {x.shape[-1]} samples is shorter than one segment "
                         f"({n_per_segment} samples)")
    index = starts[:, None] + np.arange(n_per_segment)[None, :]
    return x[..., index]


def frequencies(n_per_segment: int, fs_hz: float) -> np.ndarray:
    """Frequencies (Hz) of the one-sided periodogram of an ``n_per_segment`` segment."""
    return np.fft.rfftfreq(n_per_segment, d=1.0 / fs_hz)


def periodogram(segs, fs_hz: float):
    """One-sided Hann periodogram (density, units² per Hz) of each segment (time last).

    Returns ``(freqs_hz, power)`` with ``power`` of shape ``(..., n_freqs)``.
    """
    n = segs.shape[-1]
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(segs.dtype)  # periodic
    centred = (segs - jnp.mean(segs, axis=-1, keepdims=True)) * window
    spectrum = jnp.fft.rfft(centred, axis=-1)
    power = (spectrum.real ** 2 + spectrum.imag ** 2) / (fs_hz * float(np.sum(window ** 2)))
    fold = np.full(power.shape[-1], 2.0)
    fold[0] = 1.0
    if n % 2 == 0:
        fold[-1] = 1.0  # the Nyquist bin has no negative twin
    return frequencies(n, fs_hz), power * fold.astype(segs.dtype)


def welch(x, *, fs_hz: float, segment_s: float, overlap: float = 0.5):
    """Welch PSD of ``x`` (time last): ``(freqs_hz, mean_power, per_segment_power)``.

    ``per_segment_power`` has shape ``(..., n_seg, n_freqs)``, ``mean_power`` ``(..., n_freqs)``.
    Differentiable in ``x``.
    """
    n = segment_samples(segment_s, fs_hz)
    freqs, power = periodogram(segments(x, n, overlap), fs_hz)
    return freqs, jnp.mean(power, axis=-2), power


def band_mask(freqs_hz: np.ndarray, band_hz, name: str = "band_hz",
              half_open: bool = False) -> np.ndarray:
    """Boolean mask of the bins inside ``band_hz`` (both ends included, or ``[low, high)`` with
    ``half_open``, so adjacent bands share no bin); ``ValueError`` if it is empty."""
    low, high = (float(b) for b in band_hz)
    if not 0 <= low < high:
        raise ValueError(f"{name} must satisfy 0 <= low < high, got {list(band_hz)}")
    below_high = freqs_hz < high - 1e-9 if half_open else freqs_hz <= high + 1e-9
    mask = (freqs_hz >= low - 1e-9) & below_high
    if not mask.any():
        raise ValueError(f"{name} {list(band_hz)} holds no frequency bin (bins every "
                         f"{freqs_hz[1] - freqs_hz[0]:g} Hz up to {freqs_hz[-1]:g} Hz)")
    return mask


def peak_frequency(freqs_hz, power, *, band_hz=(6.0, 14.0), sharpness: float = 10.0):
    """Smooth peak frequency (Hz) of a PSD in ``band_hz``: the centroid of the band's bins
    weighted by ``power ** sharpness`` (a softmax of ``sharpness * log power``), which sits within
    a fraction of a bin of the hard argmax but has a gradient. Invariant to a gain."""
    mask = band_mask(freqs_hz, band_hz)
    f_band = jnp.asarray(freqs_hz[mask])  # float32 unless JAX runs in float64
    weights = jax.nn.softmax(sharpness * jnp.log(power[..., mask] + _TINY), axis=-1)
    return jnp.sum(weights * f_band, axis=-1)


def _integral(freqs_hz, power, band_hz, name, half_open=False):
    mask = band_mask(freqs_hz, band_hz, name, half_open)
    return jnp.sum(power[..., mask], axis=-1) * float(freqs_hz[1] - freqs_hz[0])


def relative_power(freqs_hz, power, *, bands: dict, total_hz=(2.0, 40.0)):
    """Power in each band divided by the power in ``total_hz``: shape ``(..., n_bands)`` in the
    order of ``bands`` (name -> ``[low, high)`` Hz, half-open so that adjacent bands share no
    bin). Invariant to a gain."""
    total = _integral(freqs_hz, power, total_hz, "total_hz") + _TINY
    return jnp.stack([_integral(freqs_hz, power, band, f"bands.{name}", True) / total
                      for name, band in bands.items()], axis=-1)


def normalised_psd(freqs_hz, power, *, band_hz=(2.0, 40.0)):
    """The PSD over ``band_hz`` divided by its integral there (1/Hz; it integrates to 1): the
    spectral shape, invariant to a gain. Shape ``(..., n_bins_in_band)``."""
    mask = band_mask(freqs_hz, band_hz)
    band = power[..., mask]
    total = jnp.sum(band, axis=-1, keepdims=True) * float(freqs_hz[1] - freqs_hz[0])
    return band / (total + _TINY)


FEATURES = {"peak_frequency": peak_frequency, "relative_power": relative_power,
            "normalised_psd": normalised_psd}
"""Spectral features by the name a config uses, each ``f(freqs_hz, power, **options)``."""


def check_spec(spec: dict) -> dict:
    """``spec`` (feature name -> options) with each name known; ``ValueError`` naming it."""
    if not spec:
        raise ValueError("at least one spectral feature is needed; known: "
                         f"{sorted(FEATURES)}")
    unknown = sorted(set(spec) - set(FEATURES))
    if unknown:
        raise ValueError(f"unknown spectral feature(s) {unknown}; known: {sorted(FEATURES)}")
    return {name: dict(options or {}) for name, options in spec.items()}


def spectral_features(freqs_hz, power, spec: dict) -> dict:
    """Every feature of ``spec`` (name -> options) of a PSD (frequency last), by name."""
    return {name: FEATURES[name](freqs_hz, power, **options)
            for name, options in check_spec(spec).items()}


def feature_axes(freqs_hz: np.ndarray, spec: dict) -> dict:
    """The labels of each feature's trailing axis (``None`` for a scalar feature): band names
    for ``relative_power``, bin frequencies (Hz) for ``normalised_psd``."""
    axes = {}
    for name, options in check_spec(spec).items():
        if name == "relative_power":
            axes[name] = list(options["bands"])
        elif name == "normalised_psd":
            axes[name] = freqs_hz[band_mask(freqs_hz, options.get("band_hz", (2.0, 40.0)))]
        else:
            axes[name] = None
    return axes


def feature_bands(spec: dict) -> list[tuple[str, tuple[float, float]]]:
    """Every frequency band a spec reads, as ``(key, (low, high))``, for range checks."""
    out = []
    for name, options in check_spec(spec).items():
        if name == "relative_power":
            out.append((f"{name}.total_hz", tuple(options.get("total_hz", (2.0, 40.0)))))
            out += [(f"{name}.bands.{b}", tuple(v)) for b, v in options["bands"].items()]
        else:
            default = (6.0, 14.0) if name == "peak_frequency" else (2.0, 40.0)
            out.append((f"{name}.band_hz", tuple(options.get("band_hz", default))))
    return out


def spread(window_values, *, floor: float = 1e-3):
    """Standard deviation over windows (axis 0, ``ddof=1``) of window-level feature values, kept
    at least ``floor`` times the mean magnitude so a loss never divides by 0."""
    values = np.asarray(window_values, dtype=float)
    sd = np.std(values, axis=0, ddof=1) if values.shape[0] > 1 else np.zeros(values.shape[1:])
    scale = floor * np.maximum(np.mean(np.abs(values)), 1e-12)
    return np.maximum(sd, scale)


def misfit(model: dict, target: dict, noise: dict):
    """Loss of model features against target features in units of their noise floor.

    For each feature, the mean over its elements of ``((model - target) / noise) ** 2``; the loss
    is the mean over features, so each feature counts once whatever its length (a normalised PSD
    of 77 bins does not outweigh one peak frequency). A loss of about 1 or less means the model
    sits within one window-to-window spread of the recording.
    """
    terms = [jnp.mean(((model[k] - jnp.asarray(target[k])) / jnp.asarray(noise[k])) ** 2)
             for k in target]
    return sum(terms) / len(terms)


def n_segments(n_samples: int, n_per_segment: int, overlap: float = 0.5) -> int:
    """How many segments :func:`segments` cuts from ``n_samples``."""
    return len(segment_starts(n_samples, n_per_segment, overlap))


def nyquist_ok(fs_hz: float, high_hz: float) -> bool:
    """Whether ``high_hz`` lies below the Nyquist frequency of ``fs_hz``."""
    return high_hz < fs_hz / 2.0 and math.isfinite(high_hz)
