"""Observation models: what a sensor sees of a model's activity (BOLD through a Balloon-Windkessel model)."""
