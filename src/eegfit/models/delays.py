"""What a network's conduction delays are made of, apart from the network: the delay modes, the
plan a rollout reads its history by (:class:`DelayPlan`), and the check of the delay settings
(:func:`check_delays`). :class:`eegfit.models.network.Network` builds on them.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import numpy as np

DELAY_MODES = ("interpolate", "round")

MAX_DELAY_BLOCK = 16
"""The most steps a delayed rollout reads the history for at once (:meth:`eegfit.models.network.Network.delay_block`):
beyond it the gather grows without making the loop faster (benchmarks/README.md)."""


class DelayPlan(NamedTuple):
    """Where and with which weights a rollout reads its delay history (computed once per
    rollout by :meth:`eegfit.models.network.Network.delay_plan`; the speed is constant over a
    rollout).

    Attributes:
        rows: ``(n, n)`` int32, each connection's read is history row ``now + rows`` (less
            ``history_length`` where that reaches it): ``rows = history_length - steps back``.
        flat: ``(n, n)`` int32, the same read's index in the flattened one-network history.
        now_weights: ``(n, n)``, each read's weight in this step's input.
        next_weights: ``(n, n)`` or ``None`` (``round``), its weight in the next step's input.
    """

    rows: jax.Array
    flat: jax.Array
    now_weights: jax.Array
    next_weights: jax.Array | None


@functools.lru_cache(maxsize=64)
def max_length_mm(lengths_mm: tuple) -> float:
    """The longest tract of a network's (static, hashable) length matrix, mm."""
    return max(max(row) for row in lengths_mm)


@functools.lru_cache(maxsize=64)
def shortest_delayed_mm(weights: tuple, lengths_mm: tuple) -> float:
    """The shortest tract off the diagonal, mm; 0 where a node's own (undelayed) coupling has a
    weight. Cached: a rollout asks at every call."""
    w, lengths = np.asarray(weights), np.asarray(lengths_mm)
    if np.any(np.diag(w) != 0):
        return 0.0
    return float(lengths[~np.eye(len(w), dtype=bool)].min())


def check_delays(weights, lengths_mm, speed_min_m_s, delay_mode: str = "interpolate",
                 speed_max_m_s: float | None = None) -> None:
    """Raise ``ValueError`` naming what is wrong with a network's delay settings: a length
    matrix whose shape is not the weights', NaN, infinite or negative lengths, a missing, zero or
    negative speed bound, an upper bound below it, an unknown delay mode. ``lengths_mm=None``
    (no delays) passes."""
    if delay_mode not in DELAY_MODES:
        raise ValueError(f"delay_mode must be one of {DELAY_MODES}, got {delay_mode!r}")
    if lengths_mm is None:
        return
    w, lengths = np.asarray(weights, dtype=float), np.asarray(lengths_mm, dtype=float)
    if lengths.shape != w.shape:
        raise ValueError(f"lengths_mm has shape {lengths.shape}, but the weights have shape "
                         f"{w.shape}: one tract length per connection")
    bad = np.argwhere(~np.isfinite(lengths) | (lengths < 0))
    if len(bad):
        i, j = bad[0]
        raise ValueError(f"lengths_mm must be finite and >= 0 mm, got {lengths[i, j]!r} at "
                         f"[{i}, {j}] ({len(bad)} such entries; a connectome without tract "
                         "lengths cannot have delays)")
    if not np.any(lengths > 0):
        return
    if speed_min_m_s is None or not float(speed_min_m_s) > 0 or \
            not math.isfinite(float(speed_min_m_s)):
        raise ValueError(f"speed_min_m_s (the conduction speed's lower bound, sizing the "
                         f"history) must be finite and > 0 m/s, got {speed_min_m_s!r}")
    if speed_max_m_s is not None and not (math.isfinite(float(speed_max_m_s))
                                          and float(speed_max_m_s) >= float(speed_min_m_s)):
        raise ValueError(f"speed_max_m_s (the conduction speed's upper bound) must be finite "
                         f"and >= speed_min_m_s = {speed_min_m_s!r} m/s, got {speed_max_m_s!r}")
