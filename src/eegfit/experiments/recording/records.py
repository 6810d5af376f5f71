"""The recording kind's target and its records: a preprocessed recording's Welch spectra and
features (:func:`target_features`), its white floor as the block sets it
(:mod:`eegfit.observe.spectrum`), and the NetCDF layout of the target (the preprocessed channel,
the spectra, the features) and of a fit's extras (the model's spectrum and features at the best
parameters, the goodness of fit)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from eegfit.data import recordings as rec
from eegfit.experiments.base import as_float, keys
from eegfit.io import variable
from eegfit.observe import spectrum as observed_spectrum
from eegfit.signal import features as sf
from eegfit.signal import likelihood, spectral

FEATURE_DIMS = {"relative_power": "band", "normalised_psd": "shape_frequency"}
"""The dimension of each vector feature's own axis in the NetCDF files."""


def feature_bands(spec) -> list:
    """The bands of the fitted features (none for a kind fitting no features: the sensor)."""
    return sf.feature_bands(spec.features) if spec.features else []


def max_feature_hz(spec) -> float:
    """The highest frequency any fitted feature, or the likelihood, reads."""
    return max(high for _, (_, high) in feature_bands(spec) + [
        ("band_hz", spec.band_hz or (0.0, 0.0))])


def band_psd(target_ds, band_hz, n_bins: int) -> np.ndarray:
    """A target's Welch PSD over ``band_hz`` (frequency first; every channel), checked: the
    model's ``n_bins`` bins, finite and > 0 (a ``RecordingError`` otherwise)."""
    freqs = target_ds["frequency"].values
    band = target_ds["psd"].values[spectral.band_mask(freqs, band_hz)]
    if band.shape[0] != n_bins or not np.all(np.isfinite(band) & (band > 0)):
        raise rec.RecordingError(
            f"recording {target_ds.attrs.get('source_file', '')!r}: its Welch PSD over "
            f"{list(band_hz)} Hz must be finite and > 0 in each of the model's {n_bins} bins "
            f"(a flat or clipped channel?)")
    return band


def fit_band(spec) -> tuple[float, float]:
    """The band the features read, from the lowest to the highest frequency."""
    bands = [band for _, band in sf.feature_bands(spec.features)]
    return min(low for low, _ in bands), max(high for _, high in bands)


def floor_level(spec, freqs_hz, psd) -> float:
    """The recording's white floor: its mean PSD over ``noise_floor_hz`` (0 without it)."""
    return observed_spectrum.floor_level(freqs_hz, psd, spec.noise_floor_hz)


def floor_fraction(spec, freqs_hz, psd) -> float:
    """The recording's white floor (its mean PSD over ``noise_floor_hz``) as a fraction of its
    mean PSD over the features' band; 0 without ``noise_floor_hz``; a ``RecordingError``
    where it is no floor below the signal (half the band's mean or more)."""
    if spec.noise_floor_hz is None:
        return 0.0
    low, high = fit_band(spec)
    fraction = observed_spectrum.floor_fraction(freqs_hz, psd, spec.noise_floor_hz, (low, high))
    if not 0 <= fraction < 0.5:
        raise rec.RecordingError(
            f"config experiments.{spec.name}.noise_floor_hz: the recording's PSD over "
            f"{list(spec.noise_floor_hz)} Hz is {fraction:.3g} of its mean over the features' "
            f"band {[low, high]} Hz: not a floor below the signal")
    return fraction


def with_floor(spec, freqs_hz, psd, fraction):
    """``psd`` (frequency first) plus the white floor that is ``fraction`` of the result's mean
    over the features' band (:func:`eegfit.observe.spectrum.with_floor`); ``psd`` itself
    without ``noise_floor_hz``."""
    if spec.noise_floor_hz is None:
        return psd
    return observed_spectrum.with_floor(freqs_hz, psd, fraction, fit_band(spec))


def target_features(spec, recording: rec.Recording) -> dict:
    """Welch spectra of a preprocessed recording's segments and their features: ``freqs_hz``,
    ``psd`` (mean over segments, mV²/Hz), ``psd_segment``, ``segment_start_s``, ``features``
    (of the mean PSD: the target), ``window_values`` (per segment), ``spread`` (sd over
    segments: the noise floor), ``axes`` (labels of each feature's own axis), ``psd_dof`` (the
    Welch PSD's equivalent degrees of freedom: segments, overlap, window; windows cut apart do
    not overlap)."""
    n = spectral.segment_samples(spec.segment_s, recording.sfreq_hz)
    powers, starts, counts = [], [], []
    for piece, start_s in zip(recording.pieces_mv, recording.starts_s):
        idx = spectral.segment_starts(len(piece), n, spec.overlap)
        if len(idx) == 0:
            continue  # a window shorter than one segment adds nothing
        freqs, power = spectral.periodogram(spectral.segments(np.asarray(piece), n, spec.overlap),
                                            fs_hz=recording.sfreq_hz, axis=1)
        powers.append(np.asarray(power, dtype=float))
        counts.append(len(idx))
        starts.append(start_s + idx / recording.sfreq_hz)
    n_seg = sum(len(p) for p in powers)
    if n_seg < 2:
        raise rec.RecordingError(
            f"recording file {recording.path!r}: its windows hold {n_seg} Welch segment(s) of "
            f"{spec.segment_s} s; at least 2 are needed for a noise floor (use longer windows "
            f"or a shorter segment_s)")
    psd_segment = np.concatenate(powers)
    psd = psd_segment.mean(axis=0)
    values = {k: np.asarray(v, float) for k, v in sf.spectral_features(
        freqs, psd, spec.features, axis=0).items()}
    window = {k: np.asarray(v, float) for k, v in sf.spectral_features(
        freqs, psd_segment, spec.features, axis=1).items()}
    return {"freqs_hz": freqs, "psd": psd, "psd_segment": psd_segment,
            "segment_start_s": np.concatenate(starts), "features": values,
            "window_values": window, "spread": {k: spectral.spread(v) for k, v in window.items()},
            "axes": sf.feature_axes(freqs, spec.features),
            "psd_dof": likelihood.welch_dof(counts, n, spec.overlap)}


def aux_of(features: dict, axes: dict) -> dict:
    """Scalar aux values for a fit's history: the peak and each relative band power."""
    aux = {}
    for name, value in features.items():
        if axes[name] is None:
            aux[name] = value
        elif name == "relative_power":
            aux.update({f"relative_power_{b}": value[..., i] for i, b in enumerate(axes[name])})
    return aux


def preprocessed_dataset(recording: rec.Recording) -> xr.Dataset:
    """The preprocessed channel on a ``time`` axis (s since the recording's start); its attrs
    name the file's channels used and the seconds read against those the header states."""
    time_s, eeg_mv, window = recording.concatenated()
    windows = np.asarray(recording.windows_s, dtype=float).reshape(-1, 2)
    return xr.Dataset(
        {"eeg": variable(("time",), eeg_mv, "mV", f"preprocessed EEG of {recording.channel}"),
         "window_index": variable(("time",), window, "1", "index of the kept window of the sample"),
         "window_start": variable(("window",), windows[:, 0], "s", "start of each kept window"),
         "window_end": variable(("window",), windows[:, 1], "s", "end of each kept window")},
        coords={"time": ("time", time_s, {"units": "s", "long_name": "time since the "
                                          "recording's first sample"})},
        attrs={"channel": recording.channel, "sfreq_hz": recording.sfreq_hz,
               "source_file": recording.path,
               "file_channels": ",".join(recording.file_channels),
               "used_duration_s": float(recording.used_duration_s),
               "header_duration_s": (np.nan if recording.header_duration_s is None
                                     else float(recording.header_duration_s)),
               "truncated": int(rec.is_truncated(recording.used_duration_s,
                                                 recording.header_duration_s,
                                                 recording.sfreq_hz))})


def feature_vars(prefix: str, values: dict, axes: dict, long: str, extra_dims=()) -> dict:
    out = {}
    for name, value in values.items():
        dims = tuple(extra_dims) + ((FEATURE_DIMS[name],) if axes[name] is not None else ())
        out[f"{prefix}{name}"] = variable(dims, value, sf.units(name, "mV"),
                                      f"{sf.long_name(name)}, {long}")
    return out


def axis_coords(axes: dict) -> dict:
    coords = {}
    for name, labels in axes.items():
        if name == "relative_power":
            coords["band"] = ("band", np.asarray(labels, dtype=str), {"long_name": "band"})
        elif name == "normalised_psd":
            coords["shape_frequency"] = ("shape_frequency", np.asarray(labels, dtype=float),
                                         {"units": "Hz", "long_name": "frequency of the "
                                          "normalised PSD's bins"})
    return coords


def frequency_coord(freqs) -> dict:
    return {"frequency": ("frequency", freqs, {"units": "Hz", "long_name": "frequency"})}


def features_dataset(target: dict) -> xr.Dataset:
    """The Welch spectra, the target features, their per-segment values and spreads."""
    axes = target["axes"]
    data = {"psd": variable(("frequency",), target["psd"], sf.units("psd", "mV"),
                        "Welch PSD: mean of the segments' periodograms"),
            "psd_segment": variable(("segment", "frequency"), target["psd_segment"],
                                sf.units("psd", "mV"),
                                "periodogram of each Welch segment"),
            "segment_start": variable(("segment",), target["segment_start_s"], "s",
                                  "recording time of each segment's first sample"),
            "psd_dof": variable((), target["psd_dof"], "1", "equivalent degrees of freedom of the "
                            "Welch PSD (Percival & Walden)")}
    data.update(feature_vars("", target["features"], axes, "of the Welch PSD (the target)"))
    data.update(feature_vars("window_", target["window_values"], axes, "of each segment",
                             ("segment",)))
    data.update(feature_vars("spread_", target["spread"], axes,
                             "standard deviation over segments (the noise floor)"))
    coords = {**frequency_coord(target["freqs_hz"]), **axis_coords(axes),
              "segment": ("segment", np.arange(len(target["segment_start_s"])),
                          {"long_name": "Welch segment (window-level values)"})}
    return xr.Dataset(data, coords=coords,
                      attrs={"n_segments": len(target["segment_start_s"])})


def aperiodic_vars(kind, observed: dict, psd, n: int) -> dict:
    """The profiled aperiodic background at the best parameters: its exponent, its offset in
    the recording's units (specparam's ``log10(g A)``: the gain is the mean log-ratio of the
    recording's PSD to the model's over the band) and its PSD in the model's units."""
    total, (log_a, chi) = kind.observed_band(psd, observed["whiten"], observed["log_psd"])
    log_gain = float(np.mean(np.log(observed["band_psd"]) - np.log(np.asarray(total, float))))
    freqs = np.asarray(observed["freqs_hz"], float)
    background = np.where(freqs > 0, np.exp(float(log_a)) * np.maximum(freqs, 1e-12) ** -float(
        chi), np.nan)
    return {"aperiodic_exponent": variable((), float(chi), "1", "exponent chi of the profiled "
                                       "aperiodic background A f^-chi"),
            "aperiodic_offset": variable((), (float(log_a) + log_gain) / np.log(10.0),
                                     "log10(mV2/Hz)", "offset log10(g A) of the aperiodic "
                                     "background in the recording's units (specparam's)"),
            "model_aperiodic_psd": variable(("frequency",), background[:n], sf.units("psd", "mV"),
                                        "the profiled aperiodic background, in the model's "
                                        "units (model_psd + this is what the fit compares)")}


def fit_vars(kind, target, observed: dict, result) -> dict:
    """The model PSD and features at the best parameters, beside the target's features and
    noise floor (no model values if the fit failed)."""
    axes, out = observed["axes"], {}
    best = {k: float(v) for k, v in result.best_params.items()}
    if all(np.isfinite(v) for v in best.values()):
        model = kind.model_at({k: as_float(v) for k, v in best.items()})
        freqs, psd = kind.model_spectrum(model, keys(target.seed)[1], observed["floor_fraction"])
        values = sf.spectral_features(freqs, psd, kind.spec.features, axis=0)
        n = len(observed["freqs_hz"])  # same bin spacing; the model's grid runs further up
        out["model_psd"] = variable(("frequency",), np.asarray(psd, float)[:n], sf.units("psd", "mV"),
                                "Welch PSD of the model at the best parameters")
        out.update(feature_vars("model_", {k: np.asarray(v, float) for k, v in values.items()},
                                axes, "of the fitted model"))
        if kind.spec.aperiodic is not None:
            out.update(aperiodic_vars(kind, observed, psd, n))
    loss = float(result.best_loss)
    chi2_dof, p_value = (likelihood.goodness_of_fit(loss, kind.n_bins, len(kind.spec.parameters))
                         if np.isfinite(loss) else (np.nan, np.nan))
    out["chi2_per_dof"] = variable((), chi2_dof, "1", "goodness of fit: twice the best loss over "
                               "the bins' degrees of freedom (about 1 where the model makes the "
                               "spectrum)")
    out["fit_p_value"] = variable((), p_value, "1", "chi-square p-value of the best fit (below 0.01: "
                              "the model does not make the recording's spectrum)")
    out.update(feature_vars("target_", observed["features"], axes, "of the recording"))
    out.update(feature_vars("spread_", observed["spread"], axes,
                            "standard deviation over the recording's segments"))
    out["coords"] = {**frequency_coord(observed["freqs_hz"]), **axis_coords(axes)}
    return out
