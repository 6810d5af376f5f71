"""A recording's channels as sensor-space targets: the channels it shares with a lead field, on
the same average reference as the model's projection.

:func:`load` reads a recording (:mod:`eegfit.data.recordings.files`), picks the channels it
shares with a :class:`~eegfit.observe.leadfield.LeadField` (all of them, or the ones named,
found by their 10-20 names, aliases and EDF spellings: :func:`eegfit.data.montage.match`),
re-references them to their own average (the mean over exactly these channels, as
:func:`eegfit.observe.leadfield.project` does over the same lead-field rows: a recording
referenced over other channels would not be the model's signal) and band-passes them (MNE's FIR,
1-45 Hz by default). The lead field comes back restricted to the same channels in the same order.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from eegfit.data import montage
from eegfit.data.recordings import files, preprocessing
from eegfit.observe.leadfield import LeadField


@dataclasses.dataclass(frozen=True)
class SensorRecording:
    """Channels of a recording matched to a lead field's rows.

    Attributes:
        path: the file. sfreq_hz: Hz.
        data_mv: ``(n_channels, n_samples)``, average-referenced over these channels, filtered, mV.
        file_channels: the file's names of the channels (``O1..``), in the data's order.
        lead_field: the lead field of the same channels, same order (its ``electrodes`` are the
            lead field's names: ``T7`` for a file's ``T3``).
        band_pass: the filter applied (``None``: none).
    """

    path: str
    sfreq_hz: float
    data_mv: np.ndarray
    file_channels: tuple[str, ...]
    lead_field: LeadField
    band_pass: dict | None

    @property
    def channels(self) -> tuple[str, ...]:
        return self.lead_field.electrodes


def shared(file_names, lead_field: LeadField) -> dict[str, int]:
    """The file's channels that are one of the lead field's electrodes, in the file's order:
    file name -> row of the lead field."""
    out = {}
    for name in file_names:
        try:
            out[name] = montage.match([name], lead_field.electrodes, lead_field.aliases)[0]
        except ValueError:
            continue
    return out


def load(path, lead_field: LeadField, *, channels=None, units=None,
         band_pass=preprocessing.DEFAULT_FILTER,
         accept_truncated: bool = False) -> SensorRecording:
    """The channels of ``path`` shared with ``lead_field`` (``channels=None``) or the ones named
    (any name of the electrode: ``P8`` finds a file's ``T6-A1``), average-referenced over
    themselves and band-passed; see the module doc.

    Raises:
        ValueError: a named channel that no electrode of the lead field matches (before the file
            is read), fewer than 2 channels, or (``RecordingError``) one the file lacks (or has
            twice), NaN/inf or a flat channel.
    """
    if channels is not None:  # the lead field first: cheap, and before reading the file
        channels = [channels] if isinstance(channels, str) else list(channels)
        wanted = montage.match(channels, lead_field.electrodes, lead_field.aliases)
    data_mv, header = files.read_mv(path, units, accept_truncated)
    names = list(header.names)
    in_file = shared(names, lead_field)
    if channels is None:
        channels, file_channels = list(in_file), list(in_file)
    else:
        file_channels = _named_in_file(channels, wanted, in_file, lead_field, path, names)
    if len(file_channels) < 2:
        raise ValueError(f"{str(path)!r}: {len(file_channels)} channel(s) shared with the lead "
                         f"field ({file_channels}); a montage needs at least 2")
    idx = [names.index(c) for c in file_channels]
    duration_s = data_mv.shape[1] / header.sfreq_hz
    preprocessing.check_signal(data_mv, names,
                               {i: f"channels {c!r}" for i, c in zip(idx, channels)},
                               ((0.0, duration_s),), header.sfreq_hz, path)
    data = np.asarray(data_mv[idx], dtype=float)
    data = preprocessing.filter_band(data - data.mean(axis=0, keepdims=True), header.sfreq_hz,
                                     band_pass, path)
    rows = [in_file[c] for c in file_channels]
    return SensorRecording(path=str(path), sfreq_hz=float(header.sfreq_hz), data_mv=data,
                           file_channels=tuple(file_channels), lead_field=lead_field.take(rows),
                           band_pass=None if band_pass is None else dict(band_pass))


def _named_in_file(channels, rows, in_file: dict, lead_field: LeadField, path, names) -> list:
    """The file's name of each named channel (its lead-field row in ``rows``):
    ``RecordingError`` naming the channel, its electrode and aliases where the file has none
    or several of it."""
    file_channels = []
    for channel, row in zip(channels, rows):
        found = [n for n, r in in_file.items() if r == row]
        if len(found) != 1:
            what = "matches no channel" if not found else f"matches several channels {found}"
            raise files.RecordingError(
                f"channels: {channel!r} (electrode {lead_field.electrodes[row]!r}, aliases "
                f"{list(lead_field.aliases[row])}) {what} of recording file {str(path)!r}; "
                f"the file's channels: {names}")
        file_channels.append(found[0])
    return file_channels


__all__ = ["SensorRecording", "load", "shared"]
