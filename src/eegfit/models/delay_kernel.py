"""A hand-written read of a delayed network's history for a block of steps (issue 23): the C++
XLA FFI handler ``_kernels/delay_read.cc``, built with ``g++`` on first use, and
:func:`kernel_read`, the same values as :func:`eegfit.models.delays.delayed_received` in blocks
from a history laid out ``[node, time]`` (each connection's K reads of a block adjacent in
memory: contiguous loads and vector multiply-adds, one index per connection per block).

``EEGFIT_DELAY_KERNEL`` chooses: ``xla`` (the default; the XLA gather of
:func:`~eegfit.models.delays.delayed_received`) or ``ffi`` (this kernel, where it builds: else
the XLA read, with one warning naming the reason). The library is cached in
``$EEGFIT_KERNEL_CACHE`` (default ``~/.cache/eegfit``) under a hash of the source, the
compiler's flags, jaxlib's version and the CPU's flags, written atomically (a temporary file
renamed), so that concurrent first uses do not see a half-written library.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import pathlib
import shutil
import subprocess
import tempfile
import warnings

import jax
import jax.numpy as jnp

from eegfit.models.delays import DelayPlan, delayed_received

KERNEL_ENV = "EEGFIT_DELAY_KERNEL"
KERNEL_MODES = ("xla", "ffi")
DEFAULT_MODE = "xla"
LANES = 8
"""Values one vector load of the kernel reads; a block's window is padded to a multiple."""
MAX_VECTORS = 2
"""Vectors a block's window may span (K <= 16 = :data:`eegfit.models.delays.MAX_DELAY_BLOCK`)."""
TARGET = "eegfit_delay_read"
SOURCE = pathlib.Path(__file__).parent / "_kernels" / "delay_read.cc"
FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-w")


def mode() -> str:
    """The delay read ``EEGFIT_DELAY_KERNEL`` asks for (``ValueError`` naming a bad value)."""
    value = os.environ.get(KERNEL_ENV, DEFAULT_MODE)
    if value not in KERNEL_MODES:
        raise ValueError(f"{KERNEL_ENV} must be one of {KERNEL_MODES}, got {value!r}")
    return value


def pad(block: int) -> int:
    """Columns the ``[node, time]`` history holds beyond its ring (mirroring its first ones) so
    that a block's window, read in whole vectors, never wraps."""
    return LANES * -(-block // LANES)


def use_kernel(history_shape, block: int) -> bool:
    """Whether a blocked rollout of one network (history ``(n, length)``; a broadcast batch
    has more axes) can read through the kernel: a block it handles, and built (else one
    warning naming the reason, and the XLA read)."""
    return (len(history_shape) == 2 and 1 < block <= LANES * MAX_VECTORS and
            _registered())


def _cpu_flags() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return ""


def _library_path() -> pathlib.Path:
    import jaxlib
    key = hashlib.sha256("\0".join((SOURCE.read_text(), " ".join(FLAGS), jaxlib.__version__,
                                    _cpu_flags())).encode()).hexdigest()[:16]
    cache = pathlib.Path(os.environ.get("EEGFIT_KERNEL_CACHE",
                                        pathlib.Path.home() / ".cache" / "eegfit"))
    return cache / f"delay_read-{key}.so"


def _build(target: pathlib.Path) -> None:
    """Compile :data:`SOURCE` into ``target`` (a temporary file renamed into place)."""
    compiler = shutil.which(os.environ.get("CXX", "g++"))
    if compiler is None:
        raise RuntimeError("no C++ compiler (g++, or $CXX) on the PATH")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        done = subprocess.run([compiler, *FLAGS, f"-I{jax.ffi.include_dir()}", "-o", tmp,
                               str(SOURCE)], capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise RuntimeError(f"{compiler} failed: {done.stderr.strip()[-500:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.cache
def _registered() -> bool:
    """Build (once per cache) and register the kernel with XLA; ``False``, with a warning naming
    the reason, where that fails."""
    try:
        path = _library_path()
        if not path.exists():
            _build(path)
        library = ctypes.cdll.LoadLibrary(str(path))
        jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(library.EegfitDelayRead),
                                    platform="cpu")
    except Exception as error:  # noqa: BLE001 - any failure falls back, named once
        warnings.warn(f"{KERNEL_ENV}=ffi: the delay-read kernel is unavailable ({error}); "
                      "using the XLA read", RuntimeWarning, stacklevel=3)
        return False
    return True


def _xla_read(history, now, rows, now_weights, next_weights, block, length):
    """The read by :func:`eegfit.models.delays.delayed_received` of the ring (columns ``[0,
    length)``) of a ``[node, time]`` history: the kernel's reference and its derivative."""
    n = rows.shape[0]
    plan = DelayPlan(rows, rows * n + jnp.arange(n, dtype=rows.dtype), now_weights,
                     next_weights)
    return delayed_received(history[:, :length].T, now, plan, block)


def _ffi_read(history, now, rows, now_weights, next_weights, block, length):
    n = rows.shape[0]
    parts = (jax.ShapeDtypeStruct((block, n), history.dtype),
             jax.ShapeDtypeStruct((0 if next_weights is None else block, n), history.dtype))
    call = jax.ffi.ffi_call(TARGET, parts, vmap_method="sequential")
    nxt = jnp.zeros((0,), history.dtype) if next_weights is None else next_weights
    now_part, next_part = call(history, now.astype(jnp.int32), rows.astype(jnp.int32),
                               now_weights, nxt, length=int(length))
    return now_part, None if next_weights is None else next_part


@functools.partial(jax.custom_jvp, nondiff_argnums=(5, 6))
def _read(history, now, rows, now_weights, next_weights, block, length):
    return _ffi_read(history, now, rows, now_weights, next_weights, block, length)


@_read.defjvp
def _read_jvp(block, length, primals, tangents):
    """The kernel's values; their derivative the XLA read's (exact: the same sums), so that
    gradients in the history and the weights (the speed's, interpolating) are the XLA path's."""
    history, now, rows, now_weights, next_weights = primals
    out = _ffi_read(history, now, rows, now_weights, next_weights, block, length)
    _, tangent = jax.jvp(lambda h, a, b: _xla_read(h, now, rows, a, b, block, length),
                         (history, now_weights, next_weights),
                         (tangents[0], tangents[3], tangents[4]))
    return out, tangent


def kernel_read(history: jax.Array, now: jax.Array, plan: DelayPlan, block: int, length: int):
    """:func:`eegfit.models.delays.delayed_received`'s blocked read, ``(now part, next part)``
    each ``(block, n)`` (the second ``None`` with ``round``), from ``history`` ``(n, length +
    pad(block))`` laid out ``[node, time]`` whose last :func:`pad` columns mirror its first;
    ``now`` in ``[0, length)``. Each part sums its sources in ascending order."""
    return _read(history, now, plan.rows, plan.now_weights, plan.next_weights, block, length)
