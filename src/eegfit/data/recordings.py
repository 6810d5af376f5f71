"""Measured EEG as a fitting target: read a recording, pick and preprocess a channel, cut windows.

Files are read with MNE (EDF and BDF through ``mne.io.read_raw_edf``/``read_raw_bdf``, FIF through
``mne.io.read_raw_fif``); MNE serves every format we take, so there is no reader of our own.
MNE returns volts (it applies the EDF/BDF header's physical dimension, and FIF is stored in SI
units); we convert to mV, the unit of the model's EEG.

Preprocessing, in this order, on the whole recording (so filter edges fall at the recording's
ends, not at each window's):

1. re-reference: ``"none"`` (keep the recording's own reference, the default), ``"average"``
   (subtract the mean of all channels) or a list of channels whose mean is subtracted;
2. band-pass: a zero-phase FIR filter (MNE's ``filter_data`` defaults), 1-45 Hz by default, or
   none;
3. channel: the named channel, or the mean of several named channels;
4. windows: the ``[start_s, end_s]`` intervals to keep (the whole recording by default).

A channel is named as the config names it: the file's own name (``O1..``), or a 10-20 name
(``O1``) that :func:`resolve_channels` finds in the common EDF spellings (``EEG O1``, ``O1-A1``,
``O1-REF``, ``O1..``, any case); none or several matches is an error listing the file's names.

An EDF/BDF file shorter than its header says (a recording not stopped cleanly, a copy cut short)
is refused unless the caller accepts it (``accept_truncated``): MNE then reads the records the
file holds, and the seconds used and the header's seconds are kept (:class:`Header`).

Every bad input raises :class:`RecordingError` (a ``ValueError``; ``FileNotFoundError`` for a
missing file) naming the file and the channel, window or value at fault, before anything is fitted.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

V_TO_MV = 1e3
UNITS = ("V", "mV", "uV")
"""Units a config may declare for an EDF/BDF whose header lacks them."""

DEFAULT_FILTER = {"low_hz": 1.0, "high_hz": 45.0}
EXTENSIONS = (".edf", ".bdf", ".fif", ".fif.gz")


class RecordingError(ValueError):
    """A recording cannot serve as a target; the message names the file and what is wrong."""


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


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fif.gz" if name.endswith(".fif.gz") else path.suffix.lower()


REFERENCE_SUFFIXES = ("REF", "A1", "A2", "A1A2", "M1", "M2", "M1M2", "LE", "RE", "AVG", "AV",
                      "AR", "CAR")
"""Reference labels an EDF appends to a channel's name (``O1-A1``, ``O1-REF``); a bipolar
derivation (``O1-O2``) is not one and is never taken for ``O1``."""

_EEG_PREFIX = re.compile(r"^EEG[\s_:-]*")
_REF_SUFFIX = re.compile(r"[\s_]*-[\s_]*(" + "|".join(REFERENCE_SUFFIXES) + r")$")


def canonical(name: str) -> str:
    """A channel name without its EDF decorations: upper case, no ``EEG`` prefix, no padding dots
    and no reference suffix (``"EEG O1-REF"``, ``"O1.."``, ``"o1-a1"`` -> ``"O1"``)."""
    out = _EEG_PREFIX.sub("", name.strip().upper()).rstrip(". ")
    return _REF_SUFFIX.sub("", out).rstrip(". ")


def resolve_channels(wanted, names, path, key: str = "channels") -> list[str]:
    """The file's name of each channel in ``wanted``: the name itself where the file has it,
    otherwise the one file channel with the same :func:`canonical` name. ``RecordingError``,
    naming ``key``, the value and the file's channels, where none or several match."""
    out = []
    for name in wanted:
        if name in names:
            out.append(name)
            continue
        found = [n for n in names if canonical(n) == canonical(name)]
        if len(found) != 1:
            what = ("matches no channel" if not found else
                    f"matches several channels ({found}; name one of them exactly)")
            raise RecordingError(
                f"{key}: {name!r} {what} of recording file {str(path)!r} (tried its own spelling "
                f"and the EDF ones: 'EEG {name}', '{name}-REF', '{name}-A1', '{name}..', any "
                f"case); the file's channels: {list(names)}")
        out.append(found[0])
    return out


@dataclasses.dataclass(frozen=True)
class Header:
    """What a recording file says about itself, read without its samples.

    Attributes:
        path: the file; ``names``: its channels (as MNE names them); ``sfreq_hz``: Hz.
        used_duration_s: the duration of the samples the file holds (what is read), s.
        header_duration_s: the duration its header states (EDF/BDF: records x record length),
            s; None where it states none (FIF, or an EDF whose record count is -1).
        partial_bytes: bytes after the last whole record (a record cut off; never read).
    """

    path: str
    names: tuple[str, ...]
    sfreq_hz: float
    used_duration_s: float
    header_duration_s: float | None = None
    partial_bytes: int = 0

    @property
    def truncated(self) -> bool:
        return is_truncated(self.used_duration_s, self.header_duration_s, self.sfreq_hz)


def is_truncated(used_duration_s: float, header_duration_s: float | None,
                 sfreq_hz: float) -> bool:
    """Whether a file holds less than its header states (by more than half a sample)."""
    return header_duration_s is not None and used_duration_s < header_duration_s - 0.5 / sfreq_hz


def _edf_layout(path: Path, bytes_per_sample: int) -> tuple[float | None, int]:
    """``(header duration s or None, bytes after the last whole record)`` of an EDF/BDF file,
    from its fixed header: record count (bytes 236-244), record length (244-252), header size
    (184-192), signal count (252-256) and each signal's samples per record."""
    with open(path, "rb") as fh:
        fixed = fh.read(256)
        n_signals = int(fixed[252:256].decode("ascii").strip())
        fh.seek(256 + 216 * n_signals)
        per_record = [int(fh.read(8).decode("ascii").strip()) for _ in range(n_signals)]
    n_records = int(fixed[236:244].decode("ascii").strip())
    record_s = float(fixed[244:252].decode("ascii").strip())
    header_bytes = int(fixed[184:192].decode("ascii").strip())
    record_bytes = sum(per_record) * bytes_per_sample
    partial = (path.stat().st_size - header_bytes) % record_bytes if record_bytes else 0
    return (n_records * record_s if n_records > 0 else None), int(partial)


def _open(path, units: str | None):
    """The MNE Raw of ``path`` (samples not loaded) and the file's :class:`Header`."""
    import mne  # noqa: PLC0415  (an optional dependency, imported only when reading)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recording file {str(path)!r} does not exist")
    suffix = _suffix(path)
    if suffix not in EXTENSIONS:
        raise RecordingError(f"recording file {str(path)!r}: unknown format {suffix!r}; "
                             f"eegfit reads {', '.join(EXTENSIONS)}")
    if units is not None and units not in UNITS:
        raise RecordingError(f"recording units must be one of {UNITS}, got {units!r}")
    try:
        if suffix in (".edf", ".bdf"):
            reader = mne.io.read_raw_edf if suffix == ".edf" else mne.io.read_raw_bdf
            raw = reader(path, preload=False, units=units, verbose="error")
            header_s, partial = _edf_layout(path, 2 if suffix == ".edf" else 3)
        else:
            raw = mne.io.read_raw_fif(path, preload=False, verbose="error")
            header_s, partial = None, 0
    except Exception as err:  # MNE raises many kinds for a corrupt file
        raise RecordingError(f"cannot read recording file {str(path)!r}: "
                             f"{type(err).__name__}: {err}") from err
    sfreq_hz = float(raw.info["sfreq"])
    return raw, Header(str(path), tuple(raw.ch_names), sfreq_hz, float(raw.n_times / sfreq_hz),
                       header_s, partial)


def read_header(path, units: str | None = None) -> Header:
    """The :class:`Header` of ``path`` (no samples read): what planning checks a config by."""
    return _open(path, units)[1]


def check_truncation(header: Header, accept: bool, key: str = "accept_truncated") -> None:
    """A file shorter than its header: ``RecordingError`` naming ``key`` unless ``accept``;
    accepted, a warning in the log with the seconds used."""
    if not header.truncated:
        return
    cut = (f"its header states {header.header_duration_s:g} s but it holds "
           f"{header.used_duration_s:g} s" + (f" (and {header.partial_bytes} bytes of a record "
                                              f"cut off)" if header.partial_bytes else ""))
    if not accept:
        raise RecordingError(
            f"recording file {header.path!r} is truncated: {cut}. It is refused: copy the file "
            f"again, or set {key}: true to fit the {header.used_duration_s:g} s it holds")
    log.warning("recording file %r is truncated: %s; %s: true, so the %g s it holds are used",
                header.path, cut, key, header.used_duration_s)


def read(path, units: str | None = None, *, accept_truncated: bool = False,
         ) -> tuple[np.ndarray, list[str], float]:
    """Read every channel of ``path``: ``(data_mv (n_channels, n_samples), names, sfreq_hz)``.

    Args:
        path: an EDF, BDF or FIF file.
        units: EDF/BDF only: the unit of channels whose header gives none (``V``, ``mV``, ``uV``);
            a header's own unit always wins (MNE's rule).
        accept_truncated: read a file shorter than its header states (its whole records) rather
            than refuse it (:func:`check_truncation`).
    """
    data_mv, header = read_mv(path, units, accept_truncated)
    return data_mv, list(header.names), header.sfreq_hz


def read_mv(path, units, accept_truncated) -> tuple[np.ndarray, Header]:
    """Every channel of the file in mV ``(channels, samples)`` and its header, a truncated
    file refused unless ``accept_truncated``; a file MNE cannot read is a RecordingError."""
    raw, header = _open(path, units)
    check_truncation(header, accept_truncated)
    try:
        data_v = raw.get_data()
    except Exception as err:  # MNE raises many kinds for a corrupt file
        raise RecordingError(f"cannot read recording file {str(path)!r}: "
                             f"{type(err).__name__}: {err}") from err
    return data_v * V_TO_MV, header


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
    import mne  # noqa: PLC0415

    channels = [channels] if isinstance(channels, str) else list(channels)
    if not channels:
        raise RecordingError(f"recording file {str(path)!r}: no channel named")
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
    duration_s = data_mv.shape[1] / sfreq_hz
    windows = check_windows(windows_s, duration_s, path)
    if max_feature_hz is not None:
        check_band(sfreq_hz, max_feature_hz, "the features", path)
    check_signal(data_mv, names, used, windows, sfreq_hz, path)
    data = np.asarray(data_mv, dtype=float)
    if ref_idx:
        data = data - data[ref_idx].mean(axis=0, keepdims=True)
    picked = data[idx].mean(axis=0)
    if band_pass is not None:
        low, high = band_pass.get("low_hz"), band_pass.get("high_hz")
        if high is not None:
            check_band(sfreq_hz, float(high), "the band-pass filter", path)
        if low is not None and high is not None and not float(low) < float(high):
            raise RecordingError(f"recording filter: low_hz ({low}) must be < high_hz ({high})")
        picked = mne.filter.filter_data(picked, sfreq_hz, low, high, verbose="error")
    label = channels[0] if len(channels) == 1 else f"mean({','.join(channels)})"
    pieces, starts = [], []
    for start, end in windows:
        i0, i1 = int(round(start * sfreq_hz)), int(round(end * sfreq_hz))
        pieces.append(picked[i0:i1])
        starts.append(i0 / sfreq_hz)
    return Recording(path=str(path), channel=label, sfreq_hz=float(sfreq_hz),
                     windows_s=windows, pieces_mv=tuple(pieces), starts_s=tuple(starts),
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


def write(path, signals_mv: dict, sfreq_hz: float) -> Path:
    """Write channels (name -> samples in mV) as EDF (physical unit µV, 16 bit), BDF (µV, 24 bit)
    or FIF.

    Used to make test and demo recordings; EDF export needs the ``edfio`` package.
    """
    import mne  # noqa: PLC0415

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(signals_mv)
    data_v = np.stack([np.asarray(signals_mv[n], dtype=float) for n in names]) / V_TO_MV
    info = mne.create_info(names, sfreq_hz, ch_types="eeg")
    raw = mne.io.RawArray(data_v, info, verbose="error")
    suffix = _suffix(path)
    if suffix in (".fif", ".fif.gz"):
        raw.save(path, overwrite=True, verbose="error")
    elif suffix == ".edf":
        mne.export.export_raw(path, raw, fmt="edf", physical_range="channelwise",
                              overwrite=True, verbose="error")
    elif suffix == ".bdf":  # MNE exports no BDF: write its 24-bit signals with edfio directly
        import edfio  # noqa: PLC0415

        edfio.Bdf([edfio.BdfSignal(data_v[i] * 1e6, sfreq_hz, label=name, physical_dimension="uV")
                   for i, name in enumerate(names)]).write(path)
    else:
        raise RecordingError(f"eegfit writes .edf, .bdf and .fif recordings, not {suffix!r}")
    return path
