"""Observation models: what a sensor sees of a model's activity (BOLD through a Balloon-Windkessel
model; EEG through a lead field, :mod:`eegfit.observe.leadfield`)."""
