"""What a sensor target and a sensor fit record (:mod:`eegfit.experiments.sensor`): the
recording's preprocessed channels, Welch PSDs, alpha power and sensor FC with the electrodes'
positions; a fit's model spectra, alpha power and FC at the best parameters, its profiled
aperiodic background, goodness of fit and identifiability check
(:func:`eegfit.experiments.sensor.identifiability.profile_vars`)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import xarray as xr
from scipy import stats

from eegfit.data import recordings as rec
from eegfit.experiments.base import as_float, keys
from eegfit.experiments.sensor.identifiability import profile_vars
from eegfit.io import variable
from eegfit.signal import likelihood, spectral
from eegfit.signal.fc import envelope_fc, group_pairs, recorded_fc
from eegfit.signal.spectral import relative_band_power

PEAK_BAND_HZ = (6.0, 14.0)


def channel_coords(lf, file_channels) -> dict:
    pos = np.asarray(lf.positions_mm, dtype=float)
    return {"channel": ("channel", np.asarray(lf.electrodes, dtype=str),
                        {"long_name": "electrode (the lead field's name)"}),
            "file_channel": ("channel", np.asarray(file_channels, dtype=str),
                             {"long_name": "the recording file's channel name"}),
            **{f"position_{axis}": ("channel", pos[:, i], {
                "units": "mm", "long_name": f"electrode position, {axis} (tvb-data's frame: x "
                                            f"to the nasion, y to the left ear, z up)"})
               for i, axis in enumerate("xyz")}}


def target_dataset(spec, recording, groups: dict) -> xr.Dataset:
    """The preprocessed channels, their Welch PSDs ``(frequency, channel)`` and degrees of
    freedom, alpha power and the alpha-envelope FC."""
    n = spectral.segment_samples(spec.segment_s, recording.sfreq_hz)
    data = recording.data_mv
    n_seg = len(spectral.segment_starts(data.shape[1], n, spec.overlap))
    if n_seg < 2:
        seconds = data.shape[1] / recording.sfreq_hz
        raise rec.RecordingError(f"recording file {recording.path!r}: {seconds:g} s hold {n_seg} "
                                 f"Welch segment(s) of segment_s {spec.segment_s} s; at least 2 "
                                 f"are needed")
    freqs, psd, _ = spectral.welch(data.T, fs_hz=recording.sfreq_hz, segment_s=spec.segment_s,
                                   overlap=spec.overlap, axis=0)
    freqs, psd = np.asarray(freqs, float), np.asarray(psd, float)
    if not np.all(np.isfinite(psd)):
        raise rec.RecordingError(f"recording file {recording.path!r}: NaN/inf in its Welch PSD")
    time_s = np.arange(data.shape[1]) / recording.sfreq_hz
    channels = recording.channels
    return xr.Dataset(
        {"eeg": variable(("channel", "time"), data, "mV", "preprocessed EEG, average reference over "
                     "the channels shared with the lead field"),
         "psd": variable(("frequency", "channel"), psd, "mV2/Hz", "Welch PSD of each channel"),
         "psd_dof": variable((), likelihood.welch_dof(n_seg, n, spec.overlap), "1",
                         "equivalent degrees of freedom of each channel's Welch PSD"),
         "alpha_power": variable(("channel",), relative_band_power(freqs, psd, spec.alpha_hz,
                                                               spec.band_hz), "1",
                             f"power in {list(spec.alpha_hz)} Hz over power in "
                             f"{list(spec.band_hz)} Hz"),
         **fc_vars(spec, data, recording.sfreq_hz, channels, groups)},
        coords={"frequency": ("frequency", freqs, {"units": "Hz", "long_name": "frequency"}),
                "time": ("time", time_s, {"units": "s", "long_name": "time since the "
                                                                     "recording's first sample"}),
                "channel_b": ("channel_b", np.asarray(channels, dtype=str),
                              {"long_name": "electrode"}),
                **channel_coords(recording.lead_field, recording.file_channels)},
        attrs={"source_file": recording.path, "sfreq_hz": recording.sfreq_hz,
               "n_channels": len(channels),
               **{f"group.{k}": ",".join(v) for k, v in groups.items()}})


def fc_label(spec) -> str:
    """What the records' ``fc`` is: the alpha envelope FC, or the ``fc`` block's measure."""
    if not spec.fc:
        return f"amplitude-envelope correlation in {list(spec.alpha_hz)} Hz"
    measure = {"envelope": "amplitude-envelope correlation", "coherence": "magnitude-squared "
               "coherence", "imaginary_coherence": "imaginary coherency"}[spec.fc["measure"]]
    return f"{measure} in {list(spec.fc['band_hz'])} Hz"


def fc_vars(spec, data, sfreq_hz: float, channels, groups: dict) -> dict:
    """The target's sensor FC ``(channel, channel_b)``: the alpha envelope FC, or with ``fc``
    its measure in its band and ``fc_pairs``, the mask of the pairs its misfit compares."""
    if not spec.fc:
        return {"fc": variable(("channel", "channel_b"), envelope_fc(data, sfreq_hz,
                                                                     spec.alpha_hz), "1",
                               fc_label(spec))}
    fc = spec.fc
    try:
        pairs = group_pairs(channels, groups, fc["groups"])
    except ValueError as err:
        raise rec.RecordingError(f"config experiments.{spec.name}.fc.groups: {err}") from None
    return {"fc": variable(("channel", "channel_b"), recorded_fc(
        data, sfreq_hz, fc["band_hz"], fc["measure"], segment_s=spec.segment_s,
        overlap=spec.overlap), "1", fc_label(spec)),
            "fc_pairs": variable(("channel", "channel_b"), pairs.astype(np.int8), "1",
                                 "1 for the pairs the FC misfit compares (fc.groups: "
                                 f"{'all' if fc['groups'] is None else ','.join(fc['groups'])})")}


def peak_hz(freqs_hz, psd) -> float:
    """The soft peak frequency (6-14 Hz) of the channels' mean PSD ``(frequency, channels)``."""
    return float(spectral.peak_frequency(np.asarray(freqs_hz), jnp.mean(jnp.asarray(psd), axis=1),
                                         band_hz=PEAK_BAND_HZ))


def goodness(kind, loss: float, n_channels: int) -> tuple[float, float]:
    """``(chi2 / dof, p)`` of a best loss: ``2 loss`` against a chi-square on the entries
    (bins x channels) less the gains and the background (an offset per channel, one exponent)
    profiled and the parameters fitted, the channels counted as independent (they are not:
    volume conduction; README)."""
    if not np.isfinite(loss):
        return np.nan, np.nan
    gains = 1 if kind.spec.gain == "common" else n_channels
    background = 0 if kind.spec.aperiodic is None else n_channels + 1
    dof = max(kind.n_bins * n_channels - gains - background - len(kind.spec.parameters), 1)
    return 2.0 * loss / dof, float(stats.chi2.sf(2.0 * loss, dof))


def fit_vars(kind, target, observed: dict, result) -> dict:
    """The model at the best parameters (PSD per channel, alpha power, envelope FC, peak), the
    goodness of fit, the target's peak and the identifiability check."""
    spec, tds = kind.spec, observed["target_ds"]
    freqs_t = np.asarray(observed["freqs_hz"], float)
    out = {"target_alpha_peak_hz": variable((), peak_hz(freqs_t, tds["psd"].values), "Hz",
                                        "peak frequency (6-14 Hz) of the recording's channel-"
                                        "mean PSD")}
    best = {k: float(v) for k, v in result.best_params.items()}
    loss = float(result.best_loss)
    chi2_dof, p_value = goodness(kind, loss, len(observed["channels"]))
    out["chi2_per_dof"] = variable((), chi2_dof, "1", "twice the best loss over the entries' degrees "
                               "of freedom (channels counted as independent)")
    out["fit_p_value"] = variable((), p_value, "1", "chi-square p-value of the best fit (channels "
                              "counted as independent: too small where they are correlated)")
    out["coords"] = {"frequency": ("frequency", freqs_t, {"units": "Hz", "long_name": "frequency"}),
                     "channel": ("channel", np.asarray(observed["channels"], dtype=str),
                                 {"long_name": "electrode"}),
                     "channel_b": ("channel_b", np.asarray(observed["channels"], dtype=str),
                                   {"long_name": "electrode"})}
    if not all(np.isfinite(v) for v in best.values()):
        out["model_alpha_peak_hz"] = variable((), np.nan, "Hz", "no finite fit")
        return out
    model = kind.model_at({k: as_float(v) for k, v in best.items()})
    gain = jnp.asarray(observed["gain"], jnp.result_type(float))
    fit_key = keys(target.seed)[1]
    signal = kind.sensor_signal(model, fit_key, gain)  # simulated once: its PSD and its FC
    psd = np.asarray(kind.signal_psd(signal) if kind.spec.n_realisations == 1 else
                     kind.model_psd(model, fit_key, gain), float)
    n = len(freqs_t)  # same bin spacing; the model's grid runs further up
    if kind.spec.aperiodic is not None:
        background, background_vars = aperiodic_vars(kind, observed, psd, n)
        out.update(background_vars)
        out["model_network_psd"] = variable(("frequency", "channel"), psd[:n], "mV2/Hz (a.u.)",
                                        "Welch PSD of the network's channels at the best "
                                        "parameters, without the background")
        out["network_alpha_peak_hz"] = variable((), peak_hz(kind.freqs_hz, psd), "Hz", "peak "
                                            "frequency (6-14 Hz) of the network's channel-mean "
                                            "PSD, without the background")
        psd = psd + background  # what the likelihood compares with the recording
    if spec.fc:
        model_fc = np.asarray(kind.model_fc(signal), float)
        out["fc_misfit"] = variable((), float(kind.fc_misfit(signal, observed["target_fc"],
                                                             observed["fc_pairs"])),
                                    "1", f"RMSE of the Fisher z of the model's sensor FC "
                                    f"({fc_label(spec)}) against the recording's over the "
                                    f"pairs of fc_pairs; the loss adds it times "
                                    f"{spec.fc['weight']:g}")
    signal = np.asarray(signal, float).T
    fs_hz = 1e3 / spec.simulation.dt_ms
    if not spec.fc:
        model_fc = envelope_fc(signal, fs_hz, spec.alpha_hz)
    out.update({
        "model_psd": variable(("frequency", "channel"), psd[:n], "mV2/Hz (a.u.)", "Welch PSD of the "
                          "model's channels at the best parameters (lead field units), plus the "
                          "aperiodic background where the fit has one"),
        "model_alpha_power": variable(("channel",), relative_band_power(
            kind.freqs_hz, psd, spec.alpha_hz, spec.band_hz), "1",
            f"model's power in {list(spec.alpha_hz)} Hz over {list(spec.band_hz)} Hz"),
        "model_fc": variable(("channel", "channel_b"), model_fc, "1",
                             f"model's {fc_label(spec)}"),
        "model_alpha_peak_hz": variable((), peak_hz(kind.freqs_hz, psd), "Hz",
                                    "peak frequency (6-14 Hz) of the model's channel-mean PSD")})
    profile = profile_vars(kind, target, observed, best, loss)
    out["coords"].update(profile.pop("coords", {}))
    out.update(profile)
    return out


def aperiodic_vars(kind, observed: dict, psd, n: int) -> tuple[np.ndarray, dict]:
    """The profiled background at the best parameters (``psd`` the network's channel PSDs on
    the model's grid): ``A_c f^-chi`` on that grid (0 at 0 Hz, where it is not defined) and its
    exponent, its offset per channel in the recording's units (specparam's ``log10(g A_c)``) and
    its PSD on the first ``n`` bins."""
    dtype = jnp.result_type(float)
    _, (log_a, chi, log_gain) = kind.observed_band(
        jnp.asarray(psd, dtype), jnp.asarray(observed["decorrelate"], dtype),
        jnp.asarray(observed["log_psd"], dtype))
    log_a, chi = np.asarray(log_a, float), float(chi)
    f = np.asarray(kind.freqs_hz, float)[:, None]
    background = np.where(f > 0, np.exp(log_a) * np.where(f > 0, f, 1.0) ** -chi, 0.0)
    offset = (log_a + np.asarray(log_gain, float)) / np.log(10.0)
    return background, {
        "aperiodic_exponent": variable((), chi, "1", "exponent chi of the profiled aperiodic "
                                   "background A_c f^-chi (one for the montage)"),
        "aperiodic_offset": variable(("channel",), offset, "log10(mV2/Hz)", "offset log10(g A_c) "
                                 "of each channel's aperiodic background (specparam's), the "
                                 "recording's units"),
        "model_aperiodic_psd": variable(("frequency", "channel"), background[:n], "mV2/Hz (a.u.)",
                                    "the profiled aperiodic background of each channel, lead "
                                    "field units")}


__all__ = ["PEAK_BAND_HZ", "aperiodic_vars", "channel_coords", "fc_label", "fc_vars", "fit_vars",
           "goodness", "peak_hz", "target_dataset"]
