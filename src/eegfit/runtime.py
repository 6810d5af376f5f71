"""Process-level JAX settings for a job: threads, the persistent compilation cache, precision.

Call :func:`configure` before the first JAX computation of a process (importing eegfit computes
nothing). Snakemake jobs call it with the threads the rule was given, so ``--cores N`` and SLURM
allocations are not oversubscribed by XLA's own thread pool.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax


def configure(threads: int | None = None, cache_dir: str | os.PathLike | None = None,
              x64: bool = False) -> None:
    """Set XLA's CPU threads, enable the persistent compilation cache, choose float64.

    Args:
        threads: CPU threads XLA may use (``None`` leaves XLA's default: every core).
        cache_dir: folder of JAX's persistent compilation cache (``None``: off). Every
            compilation is cached (the minimum compile time to cache is set to 0; JAX's default
            skips those under 1 s, which are all of eegfit's), so N jobs compile once per machine.
        x64: compute in float64 (JAX's default is float32).
    """
    if threads is not None:
        flags = os.environ.get("XLA_FLAGS", "")
        if "intra_op_parallelism_threads" not in flags:
            os.environ["XLA_FLAGS"] = (f"{flags} --xla_cpu_multi_thread_eigen="
                                       f"{'true' if threads > 1 else 'false'} "
                                       f"intra_op_parallelism_threads={int(threads)}").strip()
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, str(int(threads)))
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(Path(cache_dir).resolve()))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_enable_x64", bool(x64))
