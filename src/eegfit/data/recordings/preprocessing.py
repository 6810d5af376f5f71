"""A recording's channel as a fitting target: re-reference, band-pass, pick (or average) channels
and cut windows, with every channel, window and band checked first.

Preprocessing, in this order, on the whole recording (so filter edges fall at the recording's
ends, not at each window's):

1. re-reference: ``"none"`` (keep the recording's own reference, the default), ``"average"``
   (subtract the mean of all channels) or a list of channels whose mean is subtracted;
2. band-pass: a zero-phase FIR filter (MNE's ``filter_data`` defaults), 1-45 Hz by default, or
   none;
3. channel: the named channel, or the mean of several named channels;
4. windows: the ``[start_s, end_s]`` intervals to keep (the whole recording by default).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from eegfit.data.recordings.channels import resolve_channels
from eegfit.data.recordings.files import Header, RecordingError, read_mv

log = logging.getLogger(__name__)

DEFAULT_FILTER = {"low_hz": 1.0, "high_hz": 45.0}


@dataclasses.dataclass(frozen=True)
class Recording:
    """One preprocessed channel of a recording, restricted to its windows.

    Attributes:
        path: the file it came from.
        channel: the channel's name, or ``"mean(O1,O2)"`` for an average of channels.
        sfreq_hz: sampling rate, Hz.
        windows_s: the kept ``(start_s, end_s)`` intervals.
        pieces_mv: one array per window: the preprocessed signal in mV.
        starts_s: recording time (s) of each window's first sample.
        file_channels: the file's own names of the channels used (``O1..`` for ``O1``).
        header_duration_s: the duration the file's header states, s (None: it states none).
        used_duration_s: the duration of the samples read, s (shorter than the header's for a
            truncated file).
    """

    path: str
    channel: str
    sfreq_hz: float
    windows_s: tuple[tuple[float, float], ...]
    pieces_mv: tuple[np.ndarray, ...]
    starts_s: tuple[float, ...]
    file_channels: tuple[str, ...] = ()
    header_duration_s: float | None = None
    used_duration_s: float | None = None

    def concatenated(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(time_s, eeg_mv, window_index)`` of every kept sample."""
        times = [s + np.arange(len(p)) / self.sfreq_hz for s, p in zip(self.starts_s,
                                                                       self.pieces_mv)]
        index = [np.full(len(p), i) for i, p in enumerate(self.pieces_mv)]
        return np.concatenate(times), np.concatenate(self.pieces_mv), np.concatenate(index)


def check_windows(windows_s, duration_s: float, path) -> tuple[tuple[float, float], ...]:
    """The windows as float pairs; ``RecordingError`` naming a window outside the recording."""
    if windows_s is None:
        return ((0.0, duration_s),)
    out = []
    for window in windows_s:
        start, end = (float(v) for v in window)
        if not 0 <= start < end:
            raise RecordingError(f"recording file {str(path)!r}: window {list(window)} must have "
                                 f"0 <= start < end (seconds)")
        if end > duration_s + 1e-9:
            raise RecordingError(f"recording file {str(path)!r}: window {list(window)} s lies "
                                 f"beyond the recording, which lasts {duration_s:g} s")
        out.append((start, end))
    if not out:
        raise RecordingError(f"recording file {str(path)!r}: windows_s is empty")
    return tuple(out)


def check_band(sfreq_hz: float, high_hz: float, what: str, path) -> None:
    """``RecordingError`` unless ``high_hz`` lies below the Nyquist frequency ``sfreq_hz / 2``."""
    if not high_hz < sfreq_hz / 2.0:
        raise RecordingError(
            f"recording file {str(path)!r}: sampling rate {sfreq_hz:g} Hz is too low for "
            f"{what} up to {high_hz:g} Hz (the Nyquist frequency is {sfreq_hz / 2:g} Hz)")


def check_signal(data_mv, names, used: dict, windows, sfreq_hz, path) -> None:
    """NaN/inf anywhere in a used channel, or a channel flat over a window: an error naming it
    and the key that asked for it (``used``: channel index -> e.g. ``"channels 'O1'"``)."""
    for i, asked in sorted(used.items()):
        channel = data_mv[i]
        if not np.all(np.isfinite(channel)):
            bad = int(np.sum(~np.isfinite(channel)))
            raise RecordingError(f"recording file {str(path)!r}: channel {names[i]!r} ({asked}) "
                                 f"has {bad} NaN or infinite sample(s)")
        for start, end in windows:
            piece = channel[int(round(start * sfreq_hz)):int(round(end * sfreq_hz))]
            if piece.size < 2 or np.ptp(piece) == 0:
                raise RecordingError(f"recording file {str(path)!r}: channel {names[i]!r} "
                                     f"({asked}) is flat in window [{start:g}, {end:g}] s")


def filter_band(data_mv: np.ndarray, sfreq_hz: float, band: dict | None, path) -> np.ndarray:
    """``data_mv`` (samples on the last axis) through MNE's zero-phase FIR band-pass ``band``
    (``{"low_hz", "high_hz"}``, either ``None`` for a high- or low-pass only; ``None``: no
    filter), its upper edge checked against the Nyquist frequency first."""
    if band is None:
        return data_mv
    import mne  # noqa: PLC0415  (an optional dependency, imported only when filtering)

    low, high = band.get("low_hz"), band.get("high_hz")
    if high is not None:
        check_band(sfreq_hz, float(high), "the band-pass filter", path)
    if low is not None and high is not None and not float(low) < float(high):
        raise RecordingError(f"recording filter: low_hz ({low}) must be < high_hz ({high})")
    return mne.filter.filter_data(data_mv, sfreq_hz, low, high, verbose="error")


def _channel_rows(names, path, channels, reference):
    """The named channels' rows in the file and the reference's, and what asked for each row
    (``used``: row -> ``"channels 'O1'"``, ``"reference average"``, ...)."""
    file_channels = resolve_channels(channels, names, path, "channels")
    idx = [names.index(c) for c in file_channels]
    if reference in (None, "none"):
        ref_idx, used = [], {}
    elif reference == "average":
        ref_idx = list(range(len(names)))
        used = {i: "reference average" for i in ref_idx}
    else:
        reference = [reference] if isinstance(reference, str) else list(reference)
        ref_idx = [names.index(c) for c in resolve_channels(reference, names, path, "reference")]
        used = {i: f"reference {c!r}" for i, c in zip(ref_idx, reference)}
    used.update({i: f"channels {c!r}" for i, c in zip(idx, channels)})
    taken = {c: f for c, f in zip(channels, file_channels) if c != f}
    if taken:
        log.info("recording file %r: channel(s) %s taken as the file's %s", str(path),
                 list(taken), list(taken.values()))
    return file_channels, idx, ref_idx, used


def _cut(signal, windows, sfreq_hz) -> tuple[tuple, tuple]:
    """The pieces of ``signal`` in ``windows`` (s) and each one's start time (s)."""
    pieces, starts = [], []
    for start, end in windows:
        i0, i1 = int(round(start * sfreq_hz)), int(round(end * sfreq_hz))
        pieces.append(signal[i0:i1])
        starts.append(i0 / sfreq_hz)
    return tuple(pieces), tuple(starts)


def preprocess(data_mv: np.ndarray, names: list[str], sfreq_hz: float, *, path, channels,
               reference="none", band_pass=DEFAULT_FILTER, windows_s=None,
               max_feature_hz: float | None = None, header: Header | None = None) -> Recording:
    """Re-reference, band-pass, pick (or average) channels and cut windows; see the module doc.

    Args:
        data_mv: all channels, ``(n_channels, n_samples)``, mV.
        names: channel names; ``sfreq_hz``: sampling rate; ``path``: the file (for messages).
        channels: a channel name or a list of names (averaged).
        reference: ``"none"``, ``"average"`` or a list of reference channels.
        band_pass: ``{"low_hz", "high_hz"}`` (either may be ``None`` for a high- or low-pass
            only) or ``None`` for no filter.
        windows_s: list of ``[start_s, end_s]``, or ``None`` for the whole recording.
        max_feature_hz: the highest frequency the features read (checked against Nyquist).
        header: the file's :class:`Header` (its stated and read durations, kept in the result).
    """
    channels = [channels] if isinstance(channels, str) else list(channels)
    if not channels:
        raise RecordingError(f"recording file {str(path)!r}: no channel named")
    file_channels, idx, ref_idx, used = _channel_rows(names, path, channels, reference)
    duration_s = data_mv.shape[1] / sfreq_hz
    windows = check_windows(windows_s, duration_s, path)
    if max_feature_hz is not None:
        check_band(sfreq_hz, max_feature_hz, "the features", path)
    check_signal(data_mv, names, used, windows, sfreq_hz, path)
    data = np.asarray(data_mv, dtype=float)
    if ref_idx:
        data = data - data[ref_idx].mean(axis=0, keepdims=True)
    picked = filter_band(data[idx].mean(axis=0), sfreq_hz, band_pass, path)
    pieces, starts = _cut(picked, windows, sfreq_hz)
    label = channels[0] if len(channels) == 1 else f"mean({','.join(channels)})"
    return Recording(path=str(path), channel=label, sfreq_hz=float(sfreq_hz),
                     windows_s=windows, pieces_mv=pieces, starts_s=starts,
                     file_channels=tuple(file_channels),
                     header_duration_s=header.header_duration_s if header else None,
                     used_duration_s=duration_s)


def load(path, *, channels, units=None, reference="none", band_pass=DEFAULT_FILTER,
         windows_s=None, max_feature_hz=None, accept_truncated: bool = False) -> Recording:
    """:func:`read` then :func:`preprocess` one file."""
    data_mv, header = read_mv(path, units, accept_truncated)
    return preprocess(data_mv, list(header.names), header.sfreq_hz, path=path, channels=channels,
                      reference=reference, band_pass=band_pass, windows_s=windows_s,
                      max_feature_hz=max_feature_hz, header=header)
