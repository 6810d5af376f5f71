"""One feature registry: every feature a config may name, with its function, units and long name.

A feature is a scalar (or a short vector, e.g. one value per band), phase-invariant and
differentiable summary of a signal. It reads either a *trace* (``f(x, *, dt_ms, axis=0,
**options)``, time on ``axis``: a simulated column's EEG) or a *spectrum* (``f(freqs_hz, power,
*, axis=0, **options)``, frequency on ``axis``: the Welch PSD of a recording or a model). Trailing
axes are a batch and are kept. Units follow the observable's unit (``rms`` of a trace in µV is in
µV), so :func:`units` takes that unit as an argument.

The options a config may give a feature are its keyword arguments (read from its signature, so
a new option needs no second list); :func:`check_options` refuses unknown names and bad values
before any job runs, naming the config path.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from eegfit.signal import spectral
from eegfit.signal.numerics import safe_sqrt

_NOT_OPTIONS = {"dt_ms", "axis"}  # keyword arguments set by the caller, never by a config


@dataclasses.dataclass(frozen=True)
class Feature:
    """A registered feature.

    Attributes:
        function: the feature, ``f(x, *, dt_ms, axis, **options)`` (trace) or
            ``f(freqs_hz, power, *, axis, **options)`` (spectrum).
        units: its unit, with ``{unit}`` standing for the observable's unit (``"{unit}^2"``).
        long_name: what it is, for a NetCDF ``long_name``.
        reads: ``"trace"`` or ``"spectrum"``.
    """

    function: Callable
    units: str
    long_name: str
    reads: str


# ---- trace features --------------------------------------------------------------------------

def psd(x: jax.Array, *, dt_ms: float, pad_factor: int = 4, axis: int = 0):
    """Whole-trace periodogram (periodic Hann, density) of ``x``, zero-padded ``pad_factor``-fold
    to a power of two for a finer grid: :func:`eegfit.signal.spectral.periodogram` at
    ``fs_hz = 1000 / dt_ms``. Returns ``(freqs_hz, power)``, the power (unit^2/Hz) with its
    frequency on ``axis``."""
    return spectral.periodogram(x, fs_hz=1e3 / dt_ms, axis=axis, pad_factor=pad_factor)


def rms(x: jax.Array, *, dt_ms: float | None = None, axis: int = 0) -> jax.Array:
    """Root-mean-square amplitude of the de-meaned signal (the signal's unit), ``axis`` reduced.

    A flat signal has RMS 0 with a gradient of 0, not NaN (:func:`~eegfit.signal.numerics.
    safe_sqrt`). ``dt_ms`` is accepted and ignored, so every trace feature has one signature.
    """
    del dt_ms
    # shifted by the first sample: exact zeros for a flat signal (a float32 mean of equal values
    # is not exact)
    shifted = x - jax.lax.index_in_dim(x, 0, axis % x.ndim, keepdims=True)
    centred = shifted - jnp.mean(shifted, axis=axis, keepdims=True)
    return safe_sqrt(jnp.mean(centred * centred, axis=axis))


def mean(x: jax.Array, *, dt_ms: float | None = None, axis: int = 0) -> jax.Array:
    """Mean of the trace over ``axis`` (the signal's unit): the feature of a model settled at a
    fixed point (Wong-Wang's S_E), where the RMS is 0. ``dt_ms`` is accepted and ignored."""
    del dt_ms
    return jnp.mean(x, axis=axis)


def spectral_peak_hz(x: jax.Array, *, dt_ms: float, band_hz=(1.0, 40.0), sharpness: float = 10.0,
                     pad_factor: int = 4, axis: int = 0) -> jax.Array:
    """Smooth spectral-peak frequency (Hz) of a trace: the soft-argmax
    (:func:`~eegfit.signal.spectral.peak_frequency`) of its zero-padded periodogram (:func:`psd`)
    over ``band_hz``. A flat signal gives the band's centre, with a finite gradient."""
    freqs_hz, power = psd(x, dt_ms=dt_ms, pad_factor=pad_factor, axis=axis)
    return spectral.peak_frequency(freqs_hz, power, band_hz=band_hz, sharpness=sharpness,
                                   axis=axis)


def band_power(x: jax.Array, *, dt_ms: float, band_hz=(8.0, 13.0), pad_factor: int = 4,
               axis: int = 0) -> jax.Array:
    """Power of a trace in ``band_hz`` (the signal's unit squared): its periodogram
    (:func:`psd`) integrated over the band."""
    freqs_hz, power = psd(x, dt_ms=dt_ms, pad_factor=pad_factor, axis=axis)
    return spectral.band_integral(freqs_hz, power, band_hz, axis=axis)


FEATURES: dict[str, Feature] = {
    "rms": Feature(rms, "{unit}", "root-mean-square amplitude of the de-meaned trace", "trace"),
    "spectral_peak_hz": Feature(spectral_peak_hz, "Hz", "spectral peak frequency of the trace "
                                "(soft-argmax of its periodogram in a band)", "trace"),
    "band_power": Feature(band_power, "{unit}^2", "power of the trace in a band (its "
                          "periodogram integrated over the band)", "trace"),
    "mean": Feature(mean, "{unit}", "mean of the trace", "trace"),
    "peak_frequency": Feature(spectral.peak_frequency, "Hz", "spectral peak frequency "
                              "(soft-argmax of the PSD in a band)", "spectrum"),
    "relative_power": Feature(spectral.relative_power, "1", "band power relative to the total "
                              "power in the reference band", "spectrum"),
    "normalised_psd": Feature(spectral.normalised_psd, "1/Hz", "PSD divided by its integral "
                              "over the band", "spectrum"),
}
"""Every feature by the name a config uses."""

TRACE_FEATURES = tuple(n for n, f in FEATURES.items() if f.reads == "trace")
"""Names of the features of a trace (what a column experiment may fit)."""

RECORDED_TRACE_FEATURES = ("rms", "spectral_peak_hz", "band_power")
"""The features every simulated column target records beside its fitted ones: a fixed list, so a
feature added to the registry changes no existing target file."""

SPECTRUM_FEATURES = tuple(n for n, f in FEATURES.items() if f.reads == "spectrum")
"""Names of the features of a spectrum (what a recording experiment may fit)."""

_QUANTITIES = {"psd": "{unit}^2/Hz"}  # units of non-feature quantities that follow the signal's

DEFAULT_SPECTRUM_FEATURES = {
    "peak_frequency": {"band_hz": [6.0, 14.0], "sharpness": 10.0},
    "relative_power": {"bands": {"delta": [2.0, 4.0], "theta": [4.0, 8.0],
                                 "alpha": [8.0, 13.0], "beta": [13.0, 30.0]},
                       "total_hz": [2.0, 40.0]},
}
"""The features a recording fit uses when its config names none: the alpha peak frequency and
the relative band powers."""


def _known(reads: str | None = None) -> list[str]:
    return sorted(n for n, f in FEATURES.items() if reads in (None, f.reads))


def _entry(name: str, where: str | None = None) -> Feature:
    try:
        return FEATURES[name]
    except (KeyError, TypeError):
        at = f" at {where}" if where else ""
        raise ValueError(f"unknown feature {name!r}{at}; known: {_known()}") from None


def feature(name: str) -> Callable:
    """The function of the feature called ``name``; ``ValueError`` naming the known ones."""
    return _entry(name).function


def units(name: str, signal_units: str = "mV") -> str:
    """Unit of feature ``name`` (or of ``"psd"``) for a signal in ``signal_units``."""
    template = _QUANTITIES[name] if name in _QUANTITIES else _entry(name).units
    return template.format(unit=signal_units)


def long_name(name: str) -> str:
    """The long name of feature ``name``."""
    return _entry(name).long_name


def option_defaults(name: str) -> dict:
    """The options feature ``name`` takes, each with its default (``inspect.Parameter.empty``
    for a required one), in signature order."""
    params = inspect.signature(_entry(name).function).parameters.values()
    return {p.name: p.default for p in params
            if p.kind is p.KEYWORD_ONLY and p.name not in _NOT_OPTIONS}


# ---- checking a config's feature options -----------------------------------------------------

def _check_number(value, path: str, *, integer: bool = False, minimum: float = 0.0) -> None:
    kinds = int if integer else (int, float)
    ok = isinstance(value, kinds) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value < minimum if integer else value <= minimum):
        kind = f"a whole number >= {minimum:g}" if integer else f"a finite number > {minimum:g}"
        raise ValueError(f"{path} must be {kind}, got {value!r}")


def _check_bands(bands, path: str) -> None:
    if not isinstance(bands, dict) or not bands:
        raise ValueError(f"{path} must be a non-empty mapping name -> [low, high] Hz, got "
                         f"{bands!r}")
    for band_name, band in bands.items():
        spectral.check_band(band, f"{path}.{band_name}")


_VALUE_CHECKS = {
    "band_hz": spectral.check_band,
    "total_hz": spectral.check_band,
    "bands": _check_bands,
    "sharpness": _check_number,
    "pad_factor": lambda v, path: _check_number(v, path, integer=True, minimum=1),
}
"""How each option's value is checked, by option name (shared by every feature taking it)."""


def check_options(name: str, options: dict | None = None, *, where: str | None = None,
                  reads: str | None = None) -> dict:
    """The options of feature ``name`` as a new dict, checked; ``ValueError`` naming the key.

    Args:
        name: a feature's name.
        options: its options (``None``: none), e.g. ``{"band_hz": [2, 20]}``.
        where: the config path of the options, e.g. ``"multi.features.spectral_peak_hz"``; an
            error names ``f"{where}.{key}"`` (default: the feature's name).
        reads: ``"trace"`` or ``"spectrum"``: refuse a feature that reads the other.

    Refused: an unknown feature, an option the function does not take, a missing required
    option, a band that is not ``[low, high]`` with ``0 <= low < high`` (``[]``, ``'oops'``), a
    non-positive ``sharpness``, a ``pad_factor`` that is not a whole number >= 1.
    """
    where = where or name
    entry = _entry(name, where)
    if reads is not None and entry.reads != reads:
        raise ValueError(f"{where}: {name!r} is a feature of a {entry.reads}; here only features "
                         f"of a {reads} are known: {_known(reads)}")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ValueError(f"{where} must be a mapping of options, got {options!r}")
    allowed = option_defaults(name)
    for key, value in options.items():
        if key not in allowed:
            raise ValueError(f"{where}.{key} is not an option of feature {name!r}; it takes "
                             f"{sorted(allowed) or 'no options'}")
        if key in _VALUE_CHECKS:
            _VALUE_CHECKS[key](value, f"{where}.{key}")
    missing = [k for k, d in allowed.items() if d is inspect.Parameter.empty and k not in options]
    if missing:
        raise ValueError(f"{where}.{missing[0]} is required by feature {name!r}")
    return dict(options)


def check_spec(spec: dict, *, where: str = "features", reads: str | None = None) -> dict:
    """A checked copy of ``spec`` (feature name -> options, at least one); ``ValueError`` naming
    ``f"{where}.{name}..."`` (see :func:`check_options`)."""
    if not isinstance(spec, dict) or not spec:
        raise ValueError(f"{where} must name at least one feature; known: {_known(reads)}")
    return {name: check_options(name, options, where=f"{where}.{name}", reads=reads)
            for name, options in spec.items()}


# ---- spectrum features of a spec -------------------------------------------------------------

def spectral_features(freqs_hz: np.ndarray, power, spec: dict, *, axis: int = 0) -> dict:
    """Every feature of ``spec`` (name -> options) of a PSD with its frequency on ``axis``."""
    return {name: feature(name)(freqs_hz, power, axis=axis, **options)
            for name, options in check_spec(spec, reads="spectrum").items()}


def feature_axes(freqs_hz: np.ndarray, spec: dict) -> dict:
    """The labels of each spectrum feature's own axis (``None`` for a scalar feature): band names
    for ``relative_power``, bin frequencies (Hz) for ``normalised_psd``."""
    axes = {}
    for name, options in check_spec(spec, reads="spectrum").items():
        if name == "relative_power":
            axes[name] = list(options["bands"])
        elif name == "normalised_psd":
            band = options.get("band_hz", option_defaults(name)["band_hz"])
            axes[name] = freqs_hz[spectral.band_mask(freqs_hz, band)]
        else:
            axes[name] = None
    return axes


def feature_bands(spec: dict) -> list[tuple[str, tuple[float, float]]]:
    """Every frequency band the features of ``spec`` read (given or default), as
    ``("name.option", (low, high))`` in Hz, for range checks against a filter or Nyquist."""
    out = []
    for name, options in check_spec(spec).items():
        for key, default in option_defaults(name).items():
            value = options.get(key, default)
            if key in ("band_hz", "total_hz"):
                out.append((f"{name}.{key}", tuple(float(b) for b in value)))
            elif key == "bands":
                out += [(f"{name}.bands.{b}", tuple(float(f) for f in v))
                        for b, v in value.items()]
    return out


__all__ = ["DEFAULT_SPECTRUM_FEATURES", "FEATURES", "Feature", "RECORDED_TRACE_FEATURES",
           "SPECTRUM_FEATURES", "TRACE_FEATURES", "band_power", "check_options", "check_spec",
           "feature", "feature_axes", "feature_bands", "long_name", "mean", "option_defaults",
           "psd", "rms",
           "spectral_features", "spectral_peak_hz", "units"]
