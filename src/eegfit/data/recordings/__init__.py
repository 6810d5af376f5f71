"""Measured EEG: recording files read into a fitting target, one module per step.

- :mod:`~eegfit.data.recordings.files`: read an EDF, BDF or FIF file (MNE) into mV, its header
  and a truncated file's refusal, and write test and demo recordings;
- :mod:`~eegfit.data.recordings.channels`: a channel found by its 10-20 name in the EDF
  spellings (``EEG O1``, ``O1-A1``, ``O1..``);
- :mod:`~eegfit.data.recordings.preprocessing`: one channel as a column's target: re-reference,
  band-pass, pick or average channels, cut windows (:func:`load` = read + preprocess);
- :mod:`~eegfit.data.recordings.sensor`: the channels a recording shares with a lead field, as
  sensor-space targets (imported on its own: it needs the lead field and the montage).

Every bad input raises :class:`RecordingError` (a ``ValueError``; ``FileNotFoundError`` for a
missing file) naming the file and the channel, window or value at fault, before anything is fitted.
"""

from __future__ import annotations

from eegfit.data.recordings.channels import REFERENCE_SUFFIXES, canonical, resolve_channels
from eegfit.data.recordings.files import (EXTENSIONS, UNITS, V_TO_MV, Header, RecordingError,
                                          check_truncation, is_truncated, read, read_header,
                                          read_mv, write)
from eegfit.data.recordings.preprocessing import (DEFAULT_FILTER, Recording, check_band,
                                               check_signal, check_windows, filter_band, load,
                                               preprocess)

__all__ = ["DEFAULT_FILTER", "EXTENSIONS", "REFERENCE_SUFFIXES", "UNITS", "V_TO_MV", "Header",
           "Recording", "RecordingError", "canonical", "check_band", "check_signal",
           "check_truncation", "check_windows", "filter_band", "is_truncated", "load",
           "preprocess", "read", "read_header", "read_mv", "resolve_channels", "write"]
