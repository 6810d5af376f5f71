"""Readers of files that exist: structural connectomes, HCP resting-state BOLD, EEG recordings
(the package :mod:`eegfit.data.recordings`: files, channels, preprocessing, and the channels a
recording shares with a lead field, :mod:`eegfit.data.recordings.sensor`), lead fields'
electrodes (montage, tvb-data)."""
