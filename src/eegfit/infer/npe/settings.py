"""What an NPE is trained with (:mod:`eegfit.infer.npe`): the likelihood's noise on a simulated
feature and the training run's settings, each checked when made. Light (no equinox, no flowjax),
so a config can be checked against it at planning."""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class Noise:
    """The likelihood's noise on a simulated feature: ``rel_sd |f|`` (``rel_sd`` where ``f`` is 0)
    or a fixed ``sd`` per feature (in the feature's units).

    ``drive_noise``: the simulations are themselves random (a noisy drive): every training
    simulation gets its own noise (a key folded from the seed and the simulation's chunk, and
    independent noise within a chunk), and the likelihood's noise above is drawn on top. Without
    it, every simulation sees the problem's own context (a constant drive's features)."""

    rel_sd: float | None = 0.01
    sd: dict | None = None
    drive_noise: bool = False

    def __post_init__(self):
        if (self.rel_sd is None) == (self.sd is None):
            raise ValueError("NPE noise: give one of rel_sd and sd")
        for what, value in ([("rel_sd", self.rel_sd)] if self.sd is None else
                            [(f"sd of {k!r}", v) for k, v in self.sd.items()]):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"NPE noise: {what} must be a finite number > 0, got {value!r}")

    def scale(self, features: np.ndarray, names) -> np.ndarray:
        """The standard deviation of each feature ``(m, K)`` (columns in ``names`` order)."""
        if self.sd is not None:
            missing = sorted(set(names) - set(self.sd))
            if missing:
                raise ValueError(f"NPE noise: no sd for the feature(s) {missing}")
            return np.broadcast_to(np.asarray([self.sd[k] for k in names], float), features.shape)
        return self.rel_sd * np.where(features == 0, 1.0, np.abs(features))

    def describe(self) -> dict:
        out = {"rel_sd": self.rel_sd} if self.sd is None else {"sd": dict(self.sd)}
        return {**out, "drive_noise": True} if self.drive_noise else out


@dataclasses.dataclass(frozen=True)
class Settings:
    """The training run: simulation budget, flow size, optimisation and seed (each checked)."""

    n_simulations: int = 4000
    steps: int = 3000
    batch_size: int = 256
    learning_rate: float = 5e-3
    flow_layers: int = 1
    nn_width: int = 32
    knots: int = 8
    seed: int = 0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value, low = getattr(self, f.name), (0 if f.name == "seed" else 1)
            if f.name == "learning_rate":
                if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                    raise ValueError(f"NPE learning_rate must be a finite number > 0, got "
                                     f"{value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < low:
                what = " (the simulation budget)" if f.name == "n_simulations" else ""
                raise ValueError(f"NPE {f.name}{what} must be an integer >= {low}, got {value!r}")


__all__ = ["Noise", "Settings"]
