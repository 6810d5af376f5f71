"""A batch of fits of one problem: whether the loss takes per-fit data, the batch's size from its
data, seeds and starts, and the start values of every fit, checked."""

from __future__ import annotations

import inspect

import jax
import numpy as np

from eegfit.fit.param import Split


def takes_data(loss_fn) -> bool:
    """Whether ``loss_fn`` needs a second positional argument (``loss_fn(model, data)``)."""
    try:
        inspect.signature(loss_fn).bind(None)
    except TypeError:
        return True
    except ValueError:  # no signature (a builtin): assume the one-argument form
        return False
    return False


def _leading_size(tree, what: str) -> int | None:
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return None
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(f"fit_many: every leaf of {what} needs the same leading (batch) axis, "
                         f"got shapes {[np.shape(x) for x in leaves]}")
    return sizes.pop()


def batch_size(data, seeds, starts) -> int:
    """The number of fits: the leading axis of ``data``, the length of ``seeds`` and the leading
    axis of ``starts``, which must agree (at least one given)."""
    sizes = {what: size for what, size in (
        ("data", _leading_size(data, "data")),
        ("seeds", None if seeds is None else len(seeds)),
        ("starts", _leading_size(starts, "starts"))) if size is not None}
    if not sizes:
        raise ValueError("fit_many: give data, seeds or starts (one row per fit)")
    if len(set(sizes.values())) != 1:
        raise ValueError(f"fit_many: the batch sizes disagree: {sizes}")
    n = next(iter(sizes.values()))
    if n < 1:
        raise ValueError("fit_many: the batch is empty")
    return n


def start_values(split: Split, starts: dict | None, n: int) -> dict:
    """Start values name -> ``(n, *shape)`` NumPy arrays: ``starts`` where given, else the
    split's start for every fit; each checked against its bounds."""
    unknown = sorted(set(starts or {}) - set(split.names))
    if unknown:
        raise ValueError(f"starts names parameters that are not fitted: {unknown}")
    out = {}
    for name in split.names:
        start = np.asarray(split.start[name])
        value = (np.broadcast_to(start, (n,) + start.shape) if starts is None or name not in starts
                 else np.asarray(starts[name], dtype=start.dtype))
        if value.shape != (n,) + start.shape:
            raise ValueError(f"starts[{name!r}] must have shape {(n,) + start.shape}, got "
                             f"{value.shape}")
        bounds = split.bounds[name]
        if bounds is not None and (np.any(value < bounds[0]) or np.any(value > bounds[1])):
            raise ValueError(f"starts[{name!r}] has values outside the bounds {bounds}")
        out[name] = np.array(value)
    return out
