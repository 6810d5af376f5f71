"""Targets in chunks, one job's targets each: a job makes or fits its chunk in one process, its
fits as one batch."""

from __future__ import annotations

MAX_AUTO_CHUNK = 256
"""The largest chunk ``chunk_size: auto`` makes (the memory of a batch grows with it)."""


def chunk_targets(targets: list, chunk_size="auto", cores: int | None = None) -> list[list]:
    """``targets`` in chunks, one job's targets each (a job makes or fits its chunk in one
    process, its fits as one batch).

    ``chunk_size``: an integer, or ``"auto"``: as many chunks as ``cores`` (default: this
    machine's CPU count, ``os.cpu_count()``), nearly equal, none above :data:`MAX_AUTO_CHUNK`
    targets. The machine's count, not Snakemake's ``--cores``: chunks set the jobs' inputs and
    params, so a chunking that followed ``--cores`` would rerun every fit when it changed.
    """
    if chunk_size == "auto":
        import os  # noqa: PLC0415

        n_chunks = max(1, cores or os.cpu_count() or 1, -(-len(targets) // MAX_AUTO_CHUNK))
        n_chunks = min(n_chunks, max(1, len(targets)))
        bounds = [i * len(targets) // n_chunks for i in range(n_chunks + 1)]
        return [targets[a:b] for a, b in zip(bounds, bounds[1:])]
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"config batching.chunk_size must be an integer >= 1 or auto, got "
                         f"{chunk_size!r}")
    return [targets[i:i + chunk_size] for i in range(0, len(targets), chunk_size)]


__all__ = ["MAX_AUTO_CHUNK", "chunk_targets"]
