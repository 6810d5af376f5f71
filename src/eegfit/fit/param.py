"""Trainable parameters inside a model pytree, and the split of a model into fitted values.

Wrap any numeric field of a model in :class:`Param` to mark it (``fit=True``) with optional bounds.
A parameter is named by its path in the model: ``"C"``, ``"drive.rate_hz"``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class Param:
    """A parameter value in a model, marked as fitted or not, with optional bounds.

    Attributes:
        value: the start value (a number or an array), in the field's own units.
        fit: whether the Fitter optimises it.
        bounds: ``(low, high)`` in the same units, or ``None``. The grad backend keeps the value
            inside by projection after each step; the nevergrad backend searches this box.
    """

    value: Any
    fit: bool = True
    bounds: tuple[float, float] | None = None

    def tree_flatten(self):
        return (self.value,), (self.fit, self.bounds)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children[0], *aux)


def _is_param(x) -> bool:
    return isinstance(x, Param)


def _path_name(path) -> str:
    parts = []
    for key in path:
        for attr in ("name", "key", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
    return ".".join(parts)


def unwrap(model):
    """The model with every :class:`Param` replaced by its value (ready to simulate)."""
    return jax.tree.map(lambda x: x.value if _is_param(x) else x, model, is_leaf=_is_param)


@dataclasses.dataclass(frozen=True)
class Split:
    """A model split into its fitted parameters and a function that rebuilds it.

    Attributes:
        names: fitted parameter names, in model order.
        start: start value per name (float arrays of the default dtype).
        bounds: ``(low, high)`` per name, or ``None`` where unbounded.
        rebuild: ``rebuild(values)`` returns the model (plain values, no Params) with the fitted
            leaves taken from the dict ``values``; traceable, so it works under jit/grad/vmap.
    """

    names: tuple[str, ...]
    start: dict[str, jax.Array]
    bounds: dict[str, tuple[float, float] | None]
    rebuild: Callable[[dict[str, jax.Array]], Any]


def split(model, search_space: dict[str, tuple[float, float]] | None = None) -> Split:
    """Find the fitted Params of ``model`` and check them.

    ``search_space`` maps parameter names to ``(low, high)`` and overrides a Param's own bounds.

    Raises:
        ValueError: no trainable Param; a NaN or infinite value anywhere in the model; bounds with
            low >= high; a start value outside its bounds; a search_space name that is not fitted.
    """
    leaves, treedef = jax.tree_util.tree_flatten_with_path(model, is_leaf=_is_param)
    names, slots, start, bounds = [], [], {}, {}
    search_space = dict(search_space or {})
    for path, leaf in leaves:
        name = _path_name(path)
        value = leaf.value if _is_param(leaf) else leaf
        if isinstance(value, (int, float, np.ndarray, jax.Array)) and not np.all(
                np.isfinite(np.asarray(value))):
            raise ValueError(f"parameter {name!r} has a non-finite value: {value!r}")
        if _is_param(leaf) and leaf.fit:
            names.append(name)
            slots.append((True, name))
            start[name] = jnp.asarray(value, dtype=jnp.result_type(float))
            bounds[name] = _check_bounds(name, search_space.pop(name, leaf.bounds), start[name])
        else:
            slots.append((False, value))
    if not names:
        raise ValueError("the model has no trainable parameter: wrap a field in Param(value, "
                         "fit=True), e.g. JansenRit(C=Param(120.0, bounds=(110.0, 170.0)))")
    if search_space:
        raise ValueError(f"search_space names parameters that are not fitted: "
                         f"{sorted(search_space)}; fitted: {names}")

    def rebuild(values):
        return treedef.unflatten([values[v] if fitted else v for fitted, v in slots])
    return Split(tuple(names), start, bounds, rebuild)


def _check_bounds(name, bounds, value):
    if bounds is None:
        return None
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds of {name!r} must be (low, high), got {bounds!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"bounds of {name!r} must be finite with low < high, got {bounds!r}")
    v = np.asarray(value)
    if np.any(v < low) or np.any(v > high):
        raise ValueError(f"start value of {name!r} ({v.tolist()}) lies outside its bounds "
                         f"({low}, {high})")
    return (low, high)
