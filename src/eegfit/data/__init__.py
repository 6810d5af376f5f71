"""Readers of files that exist: structural connectomes, HCP resting-state BOLD, EEG recordings."""
