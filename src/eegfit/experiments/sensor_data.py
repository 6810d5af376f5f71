"""The sensor kind's inputs and records: the lead field of its channels (checked at planning), the
channel groups, its demo recording, the target's and a fit's spectra per channel, alpha power and
the sensor FC (:mod:`eegfit.experiments.sensor`)."""

from __future__ import annotations

import functools
import os

import numpy as np
import xarray as xr

from eegfit.data import recordings as rec
from eegfit.io import variable
from eegfit.signal import likelihood, spectral

GROUP_PREFIXES = {  # default channel groups: an electrode's name without its number
    "frontal": ("FP", "AF", "F"), "central": ("FC", "C", "CP"), "temporal": ("FT", "T", "TP"),
    "parietal": ("P",), "occipital": ("PO", "O", "I", "CB")}


@functools.lru_cache(maxsize=4)
def lead_field(how: str, drop: tuple[str, ...]):
    """tvb-data's region lead field (read once per process)."""
    from eegfit.data import tvb  # noqa: PLC0415

    return tvb.lead_field(how, drop)


def check_forward_model(spec) -> tuple:
    """At planning (no simulation): tvb-data installed, the lead field finite after
    ``lead_field.drop``, its regions those of the connectome, the channels and groups among its
    electrodes. Returns ``(lead field, connectome)``; a ``ValueError`` naming the key."""
    from eegfit.data import montage, tvb  # noqa: PLC0415

    where = f"config experiments.{spec.name}"
    try:
        tvb.data_dir()
    except ModuleNotFoundError as err:
        raise ValueError(f"{where}.kind: sensor reads its lead field and connectome from the "
                         f"optional extra tvb-data (GPL-3), not installed ({err}): pip install "
                         f"tvb-data=={tvb.VERSION}, or pip install -e '.[eeg]'") from None
    try:
        lf = lead_field(spec.lead_field["how"], spec.lead_field["drop"])
    except ValueError as err:
        raise ValueError(f"{where}.lead_field.drop {list(spec.lead_field['drop'])}: "
                         f"{err}") from None
    conn = tvb.connectome(symmetrise=spec.connectome["symmetrise"])
    check_regions(lf, conn, f"{where}.lead_field")
    if spec.channels is not None:
        montage.match(spec.channels, lf.electrodes, lf.aliases, key=f"{where}.channels")
    allowed = spec.channels or lf.electrodes
    for group, names in spec.groups.items():
        rows = montage.match(names, lf.electrodes, lf.aliases, key=f"{where}.groups.{group}")
        outside = [n for n, r in zip(names, rows) if lf.electrodes[r] not in {
            lf.electrodes[i] for i in montage.match(allowed, lf.electrodes, lf.aliases)}]
        if outside:
            raise ValueError(f"{where}.groups.{group}: {outside} are not among {where}.channels")
    return lf, conn


def check_regions(lf, conn, where: str) -> None:
    """The lead field's columns are the connectome's regions, in its order (a ``ValueError``
    naming ``where`` and the first region that differs)."""
    if lf.gain.shape[1] != len(conn.weights) or tuple(lf.regions) != tuple(conn.labels):
        first = next((i for i, (a, b) in enumerate(zip(lf.regions, conn.labels)) if a != b),
                     min(len(lf.regions), len(conn.labels)))
        raise ValueError(f"{where}: its {lf.gain.shape[1]} region columns do not match the "
                         f"connectome's {len(conn.weights)} regions (labels and order; first "
                         f"difference at column {first})")


def groups_of(channels, configured: dict) -> dict[str, list[str]]:
    """The channel groups among ``channels`` (lead-field names): the configured ones (each
    member by its lead-field name), else by name prefix (:data:`GROUP_PREFIXES`: ``Fp1`` is
    frontal, ``FC5`` central, ``PO3`` occipital); empty groups left out."""
    from eegfit.data import montage  # noqa: PLC0415

    if configured:
        out = {}
        for name, members in configured.items():
            forms = {rec.canonical(m) for m in members}
            forms |= {rec.canonical(montage.ALIASES_10_20.get(m.upper(), m)) for m in members}
            out[name] = [c for c in channels if rec.canonical(c) in forms]
        return {k: v for k, v in out.items() if v}
    out = {name: [] for name in GROUP_PREFIXES}
    for channel in channels:
        head = channel.rstrip("0123456789zZ").upper()
        for name, prefixes in GROUP_PREFIXES.items():
            if head in prefixes:
                out[name].append(channel)
                break
    return {k: v for k, v in out.items() if v}


def check_file(spec, lf, label: str, path: str) -> None:
    """At planning, a file that exists (its header only): at least 2 channels shared with the
    lead field, each named channel in it, its rate above the band's Nyquist frequency."""
    from eegfit.data import sensor_recording  # noqa: PLC0415

    where = f"config experiments.{spec.name}"
    if spec.demo and spec.demo["path"] == path or not os.path.isfile(path):
        return
    try:
        header = rec.read_header(path, spec.units)
    except rec.RecordingError as err:
        raise rec.RecordingError(f"{where}.files.{label}: {err}") from None
    shared = sensor_recording.shared(header.names, lf)
    if spec.channels is not None:
        from eegfit.data import montage  # noqa: PLC0415

        rows = set(shared.values())
        missing = [c for c, r in zip(spec.channels, montage.match(
            spec.channels, lf.electrodes, lf.aliases)) if r not in rows]
        if missing:
            raise rec.RecordingError(f"{where}.channels: {missing} are not channels of "
                                     f"{where}.files.{label} ({path!r}: {list(header.names)})")
    elif len(shared) < 2:
        raise rec.RecordingError(f"{where}.files.{label}: {path!r} shares {len(shared)} channel(s)"
                                 f" with the lead field ({list(shared)}); a montage needs 2")
    try:
        rec.check_band(header.sfreq_hz, spec.band_hz[1], "the likelihood's band", path)
    except ValueError as err:
        raise rec.RecordingError(f"{where}.band_hz: {err}") from None


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
         "fc": variable(("channel", "channel_b"), envelope_fc(data, recording.sfreq_hz,
                                                           spec.alpha_hz), "1",
                    f"amplitude-envelope correlation in {list(spec.alpha_hz)} Hz")},
        coords={"frequency": ("frequency", freqs, {"units": "Hz", "long_name": "frequency"}),
                "time": ("time", time_s, {"units": "s", "long_name": "time since the "
                                                                     "recording's first sample"}),
                "channel_b": ("channel_b", np.asarray(channels, dtype=str),
                              {"long_name": "electrode"}),
                **channel_coords(recording.lead_field, recording.file_channels)},
        attrs={"source_file": recording.path, "sfreq_hz": recording.sfreq_hz,
               "n_channels": len(channels),
               **{f"group.{k}": ",".join(v) for k, v in groups.items()}})


__all__ = ["GROUP_PREFIXES", "band_power", "channel_coords", "check_file", "check_forward_model",
           "check_regions",
           "envelope_fc", "groups_of", "lead_field", "relative_band_power", "target_dataset"]
