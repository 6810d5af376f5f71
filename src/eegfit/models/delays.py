"""What a network's conduction delays are made of, apart from the network: the delay modes, the
plan a rollout reads its history by (:class:`DelayPlan`), the read itself
(:func:`delayed_received`), a debugging check of its indices (:func:`check_reads`), and the
check of the delay settings (:func:`check_delays`). :class:`eegfit.models.network.Network`
builds on them.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
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
            Every entry, the diagonal included, reads a step the history holds for any block
            the network allows (:func:`check_reads`).
        flat: ``(n, n)`` int32, the same read's index in the flattened one-network history.
        now_weights: ``(n, n)``, each read's weight in this step's input (0 on the diagonal).
        next_weights: ``(n, n)`` or ``None`` (``round``), its weight in the next step's input.
        own: ``(n,)`` or ``None`` (no weighted diagonal), each node's weight on its own
            coupling variable at the current step: the undelayed self-term, added by the
            rollout from the state, not read from the history.
    """

    rows: jax.Array
    flat: jax.Array
    now_weights: jax.Array
    next_weights: jax.Array | None
    own: jax.Array | None = None


def check_reads(plan: DelayPlan, history_length: int, block: int = 1) -> None:
    """Raise ``ValueError`` naming the first connection whose read by ``plan`` leaves the
    history it may read, for every ``now`` of a ring buffer of ``history_length`` rows and
    every step ``m < block`` of a block read at ``now``: after one wrap the row must lie in the
    buffer, and hold the value ``back - m`` steps before the block's first step (``back =
    history_length - rows``), which needs ``block - 1 <= back <= history_length - 1``. A
    debugging helper for a concrete plan (the rollout's indices are traced): XLA clamps an
    out-of-bounds gather index, or, under ``promise_in_bounds``, reads whatever lies there."""
    rows, flat = np.asarray(plan.rows), np.asarray(plan.flat)
    n, size = rows.shape[-1], int(history_length)
    if not np.array_equal(flat, rows * n + np.arange(n)):
        raise ValueError("plan.flat is not rows * n_nodes + the source node")
    now = np.arange(size)[:, None, None]
    for m in range(block):
        row = rows + now + m
        row = np.where(row >= size, row - size, row)  # the rollout's one wrap
        want = size - rows - m  # steps before the block's first step (row `now`)
        bad = (row < 0) | (row >= size) | (want < 0) | ((now - row) % size != want)
        if bad.any():
            i, j = np.argwhere(bad.any(axis=0))[0]
            raise ValueError(
                f"connection [{i}, {j}] reads {size - rows[i, j]} steps back in a history of "
                f"{size} steps: outside it for step {m} of a block of {block} (it must read "
                f"between {block - 1} and {size - 1} steps back)")


def delayed_received(history: jax.Array, now: jax.Array, plan: DelayPlan, block: int = 1):
    """One read of ``history`` (``(history_length, *batch, n_nodes)``, a ring buffer whose row
    ``now`` holds c at t_n and row ``now - d`` (mod its length) c at t_{n-d}) by the plan
    (:meth:`eegfit.models.network.Network.delay_plan`): ``(sum_j now_weights_ij
    c_j(t_{n - back_ij}), sum_j next_weights_ij c_j(t_{n - back_ij}))``, each ``(*batch,
    n_nodes)`` (the second ``None`` with ``round``), the diagonal (a node's own, undelayed
    term: ``plan.own``) left out. The input at step n is the first part plus the second part
    of step n - 1, so interpolating costs one gather per step, as rounding does. Each read's
    index is the plan's plus ``now`` (plus ``now * n_nodes`` flat; ``now`` in ``[-1,
    history_length)``), wrapped by one comparison: cheaper than a modulo per value
    (benchmarks/bench_delays.py: 1.6-1.8x at 94 nodes). With ``block`` K > 1
    (:meth:`eegfit.models.network.Network.delay_block`), the reads of steps n to n + K - 1 in
    one gather: each part ``(K, *batch, n_nodes)``, row m step n + m's."""
    n = plan.rows.shape[-1]
    if history.ndim == 2:  # one network (vmap batches it): one flat gather, in bounds
        if block == 1:
            index, spec = plan.flat + now * n, "ij,ij->i"
        else:  # step m's reads: now + m (still one wrap: every read is >= K - 1 back),
            # gathered target-major, (i, K, j), so that each part is a batched
            # contraction without a transpose of the gathered block (1.5x faster than
            # (K, i, j) interpolating, the same rounding: benchmarks/micro_delays.py)
            ahead = jnp.arange(block, dtype=jnp.int32)[None, :, None]
            index, spec = plan.flat[:, None, :] + (now + ahead) * n, "ij,ikj->ki"
        index = jnp.where(index >= history.size, index - history.size, index)
        # the barrier keeps XLA from fusing the gather into the sum (1.5x slower on a CPU
        # at 94 nodes: benchmarks/bench_delays.py)
        delayed = jax.lax.optimization_barrier(
            history.reshape(-1).at[index].get(mode="promise_in_bounds"))
        if plan.next_weights is None:
            return jnp.einsum(spec, plan.now_weights, delayed), None
        return (jnp.einsum(spec, plan.now_weights, delayed),
                jnp.einsum(spec, plan.next_weights, delayed))
    if block == 1:
        rows, spec = plan.rows + now, "ij,ij...->...i"
    else:
        rows = plan.rows + now + jnp.arange(block, dtype=jnp.int32)[:, None, None]
        spec = "ij,kij...->k...i"
    rows = jnp.where(rows >= history.shape[0], rows - history.shape[0], rows)
    delayed = history[rows, ..., jnp.arange(n)]  # ([K,] n, n, *batch)
    if plan.next_weights is None:
        return jnp.einsum(spec, plan.now_weights, delayed), None
    if block > 1:  # both parts in one contraction (two: 1.3-2x slower at 94 nodes)
        parts = jnp.einsum("s" + spec.replace("->", "->s"),
                           jnp.stack([plan.now_weights, plan.next_weights]), delayed)
        return parts[0], parts[1]
    return (jnp.einsum(spec, plan.now_weights, delayed),
            jnp.einsum(spec, plan.next_weights, delayed))


@functools.lru_cache(maxsize=64)
def max_length_mm(lengths_mm: tuple) -> float:
    """The longest tract of a network's (static, hashable) length matrix, mm."""
    return max(max(row) for row in lengths_mm)


@functools.lru_cache(maxsize=64)
def shortest_delayed_mm(lengths_mm: tuple) -> float:
    """The shortest tract off the diagonal, mm (a node's own coupling is undelayed). Cached: a
    rollout asks at every call."""
    lengths = np.asarray(lengths_mm)
    return float(lengths[~np.eye(len(lengths), dtype=bool)].min())


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
