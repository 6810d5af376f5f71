"""Readers of files that exist: structural connectomes, HCP resting-state BOLD, EEG recordings
(the package :mod:`eegfit.data.recordings`), lead fields' electrodes (montage, tvb-data)."""

import importlib


def __getattr__(name: str):
    # the sensor recording's module before it joined the recordings package: an old import path
    if name == "sensor_recording":
        return importlib.import_module("eegfit.data.recordings.sensor")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
