"""Recording files: read an EDF, BDF or FIF file's header and samples (in mV), refuse a truncated
one unless asked to take it, and write test and demo recordings.

Files are read with MNE (EDF and BDF through ``mne.io.read_raw_edf``/``read_raw_bdf``, FIF through
``mne.io.read_raw_fif``); MNE serves every format we take, so there is no reader of our own.
MNE returns volts (it applies the EDF/BDF header's physical dimension, and FIF is stored in SI
units); we convert to mV, the unit of the model's EEG.

An EDF/BDF file shorter than its header says (a recording not stopped cleanly, a copy cut short)
is refused unless the caller accepts it (``accept_truncated``): MNE then reads the records the
file holds, and the seconds used and the header's seconds are kept (:class:`Header`).

Every bad input raises :class:`RecordingError` (a ``ValueError``; ``FileNotFoundError`` for a
missing file) naming the file and the value at fault, before anything is fitted.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

V_TO_MV = 1e3
UNITS = ("V", "mV", "uV")
"""Units a config may declare for an EDF/BDF whose header lacks them."""

EXTENSIONS = (".edf", ".bdf", ".fif", ".fif.gz")


class RecordingError(ValueError):
    """A recording cannot serve as a target; the message names the file and what is wrong."""


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fif.gz" if name.endswith(".fif.gz") else path.suffix.lower()


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
