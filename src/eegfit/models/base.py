"""The one protocol every neural-mass model fills in, its parameter ranges, and the pytree helper.

A model is an immutable pytree (a frozen dataclass registered with JAX) whose numeric fields are
leaves, so it passes through ``jit``, ``grad`` and ``vmap`` untouched, and any field can be made
trainable by wrapping its value in :class:`eegfit.fit.Param`.

Adding a model means one new module that defines a class decorated with :func:`pytree_dataclass`,
deriving from :class:`Model` (for ``check``) and filling in :class:`NeuralMass`:

- **state**: ``state_names`` (their count is the state size) and ``state_units``; optionally
  ``initial_state`` (the state at t = 0 by default; zeros if absent);
- **parameters**: ``units`` (unit string per numeric field, for NetCDF attrs and docs) and
  ``ranges`` (the valid :class:`Range` of a field; a field not listed must be finite). A value
  outside its range is a ``ValueError`` naming the field, raised by ``check()`` and by
  :func:`eegfit.simulate.simulate` before any step, and by the experiments when a config is read;
- **drive**: a field ``drive`` holding a drive (:mod:`eegfit.models.drive`) whose per-step value,
  in ``drive_units``, is the external input the vector field takes; ``drives`` names the drive
  classes a config may choose (``{"constant": ConstantInput, ...}``);
- **vector field**: ``vector_field(y, drive, coupling=None)``: the time derivative of the state in
  units per **second**, for a state ``y`` of shape ``(n_states, *batch)`` and a drive (and network
  input) broadcastable to ``batch``; written row-wise (``y[0]``, ``y[1]``, ...) and elementwise, so
  that a batch of parameter sets is plain broadcasting;
- **observable**: ``observe(y)``, shape ``batch``, in ``observable_units`` and described by
  ``observable_name`` (a NetCDF ``long_name``); the features of a trace take that unit (an RMS
  of an EEG in mV is in mV, of a Wilson-Cowan activity dimensionless);
- **coupling** (a network's node, :class:`Node`): ``coupling_variable(y)``, what it sends (Jansen-
  Rit: the pyramidal firing rate S(y1 - y2); Wilson-Cowan: E; Wong-Wang: the NMDA gating S_E;
  Stuart-Landau: x), and ``coupling_form``: ``"additive"`` (node i receives
  ``k * sum_j W_ij c_j``) or ``"diffusive"`` (``k * sum_j W_ij (c_j - c_i)``). That input enters
  the vector field as its ``coupling`` argument, where the model says (Jansen-Rit: added to the
  drive of the excitatory interneurons, Hz; Wilson-Cowan: to the input of E; Wong-Wang: times
  J_NMDA to the current into E; Stuart-Landau: to dx/dt); ``coupling_units`` (default "1") is
  the unit of a network's global coupling k. :class:`eegfit.models.network.Network` couples the
  nodes of any model this way.

:func:`eegfit.simulate.simulate` integrates any such model, and the ``column``, ``network``,
``empirical_fc`` and ``recording`` experiment kinds take it by its registry name
(:data:`eegfit.models.MODELS`, ``model: {name: ...}``); nothing else needs to change.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Literal, Protocol, runtime_checkable

import jax
import numpy as np


def pytree_dataclass(cls):
    """Make ``cls`` a frozen dataclass and register it as a JAX pytree.

    Fields declared with ``dataclasses.field(metadata={"static": True})`` become static metadata
    (hashable, part of the compiled function's identity); all others are pytree children, keyed
    by their field name (``jax.tree_util.GetAttrKey``).

    The class is registered with ``register_pytree_with_keys``, whose treedefs compare equal only
    for the same class. ``jax.tree_util.register_dataclass`` (jax 0.10 to 0.12 at least) makes
    treedefs of two different classes with the same number of fields and equal static metadata
    compare equal while their hashes differ, so ``jit``'s cache, keyed by the treedef, could run
    the program traced for one model class on another (issue 21).
    """
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    meta = tuple(f.name for f in fields if f.metadata.get("static", False))
    data = tuple(f.name for f in fields if not f.metadata.get("static", False))
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in data)

    def flatten_with_keys(obj):
        return (tuple(zip(keys, (getattr(obj, n) for n in data))),
                tuple(getattr(obj, n) for n in meta))

    def flatten(obj):
        return tuple(getattr(obj, n) for n in data), tuple(getattr(obj, n) for n in meta)

    def unflatten(meta_values, children):
        return cls(**dict(zip(data, children)), **dict(zip(meta, meta_values)))

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls


def static_field(default):
    """A dataclass field that is static metadata of the pytree, not a leaf."""
    return dataclasses.field(default=default, metadata={"static": True})


@dataclasses.dataclass(frozen=True)
class Range:
    """The valid values of a model parameter: ``low`` to ``high``, each end open or closed.

    Every value must also be finite; a field without a range need only be finite.
    """

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: np.ndarray) -> bool:
        """Whether every element of ``value`` is finite and inside the range."""
        value = np.asarray(value, dtype=float)
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return bool(np.all(np.isfinite(value) & above & below))

    def __str__(self) -> str:
        if math.isinf(self.low) and math.isinf(self.high):
            return "finite"
        if math.isinf(self.high):
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if math.isinf(self.low):
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return (f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'}")


FINITE = Range()
POSITIVE = Range(0.0, math.inf, low_open=True)
"""A time constant, a rate, a gain: > 0."""
NONNEGATIVE = Range(0.0)
"""A coupling strength, a weight: >= 0."""


def _concrete(value) -> np.ndarray | None:
    """``value`` as a float array, or ``None`` when it is traced or not numeric (then unchecked:
    a fit's bounds guard a traced value)."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):  # jax's TracerArrayConversionError is a TypeError
        return None


def field_range(model, name: str) -> Range:
    """The valid range of the numeric field ``name`` of ``model`` (finite if the model names
    none)."""
    return getattr(model, "ranges", {}).get(name, FINITE)


def check_value(model, name: str, value, where: str | None = None) -> None:
    """Raise ``ValueError`` if ``value`` (concrete) lies outside the range of field ``name`` of
    ``model`` (a class or an instance), naming ``where`` (default ``Model.name``) and the unit."""
    v = _concrete(value)
    rng = field_range(model, name)
    if v is None or rng.contains(v):
        return
    cls = model if isinstance(model, type) else type(model)
    unit = getattr(model, "units", {}).get(name)
    unit = f" {unit}" if unit and unit != "1" else ""
    shown = v.item() if v.ndim == 0 else v.tolist()
    raise ValueError(f"{where or cls.__name__ + '.' + name} = {shown!r}{unit} is outside the "
                     f"valid range of {cls.__name__}.{name}: {rng}")


def check(model) -> None:
    """Raise ``ValueError`` naming the first field of ``model`` (a model or a drive, nested ones
    included) whose concrete value lies outside its valid range, or a drive whose unit is not the
    model's drive unit. A field holding a :class:`eegfit.fit.Param` has its value and bounds
    checked; traced values (inside ``jit``, ``grad``, ``vmap``) are skipped."""
    for f in dataclasses.fields(model):
        if f.metadata.get("static", False):
            continue
        value = getattr(model, f.name)
        if dataclasses.is_dataclass(value) and not hasattr(value, "fit"):
            check(value)
            continue
        if hasattr(value, "fit") and hasattr(value, "value"):  # a Param (models import no fit)
            check_value(model, f.name, value.value)
            for end in value.bounds or ():
                check_value(model, f.name, end, f"{type(model).__name__}.{f.name} bound")
            continue
        check_value(model, f.name, value)
    drive, expected = getattr(model, "drive", None), getattr(model, "drive_units", None)
    unit = getattr(drive, "unit", None)
    if unit is not None and expected is not None and unit != expected:
        raise ValueError(f"{type(model).__name__}.drive is in {unit!r}, but the model's drive "
                         f"is in {expected!r}")


class Model:
    """Base class of the models: what every model shares beyond its equations."""

    def check(self) -> None:
        """Raise ``ValueError`` naming a parameter outside its valid range (see :func:`check`)."""
        check(self)


@runtime_checkable
class NeuralMass(Protocol):
    """Interface of a neural-mass model, or of a network of them (see the module docstring)."""

    state_names: ClassVar[tuple[str, ...]]
    state_units: ClassVar[dict[str, str]]
    units: ClassVar[dict[str, str]]
    ranges: ClassVar[dict[str, Range]]
    observable_name: ClassVar[str]
    observable_units: ClassVar[str]
    drive_units: ClassVar[str]
    drives: ClassVar[dict[str, type]]

    def vector_field(self, y: jax.Array, drive: jax.Array,
                     coupling: jax.Array | None = None) -> jax.Array: ...

    def observe(self, y: jax.Array) -> jax.Array: ...

    def check(self) -> None: ...


@runtime_checkable
class Node(NeuralMass, Protocol):
    """A neural mass that can be a node of a network: it says what it sends and how."""

    coupling_form: ClassVar[Literal["additive", "diffusive"]]

    def coupling_variable(self, y: jax.Array) -> jax.Array: ...
