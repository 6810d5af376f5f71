"""The small interface every neural-mass model implements, and the pytree dataclass helper.

A model is an immutable pytree (a frozen dataclass registered with JAX) whose numeric fields are
leaves, so it passes through ``jit``, ``grad`` and ``vmap`` untouched, and any field can be made
trainable by wrapping its value in :class:`eegfit.fit.Param`.

Adding a model means one new module that defines a class decorated with :func:`pytree_dataclass`
and implementing :class:`NeuralMass`:

- ``state_names``: names of the state variables (their count is the state size);
- ``units``: unit string per numeric field (used for NetCDF attrs and docs);
- ``drive``: a field holding a drive (:mod:`eegfit.models.drive`), the external input in Hz;
- ``vector_field(y, drive_hz)``: time derivative of the state in units per **second**, for a state
  ``y`` of shape ``(n_states, *batch)`` and a drive broadcastable to ``batch``; write it row-wise
  (``y[0]``, ``y[1]``, ...) and elementwise so that a batch of parameter sets is plain broadcasting;
- ``observe(y)``: the observable from the state, shape ``batch``, in ``observable_units`` (the
  features of a trace take that unit: an RMS of an EEG in mV is in mV).

:func:`eegfit.simulate.simulate` integrates any such model; nothing else needs to change.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Protocol, runtime_checkable

import jax


def pytree_dataclass(cls):
    """Make ``cls`` a frozen dataclass and register it as a JAX pytree.

    Fields declared with ``dataclasses.field(metadata={"static": True})`` become static metadata
    (hashable, part of the compiled function's identity); all others are pytree children.
    """
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    meta = [f.name for f in fields if f.metadata.get("static", False)]
    data = [f.name for f in fields if not f.metadata.get("static", False)]
    return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)


def static_field(default):
    """A dataclass field that is static metadata of the pytree, not a leaf."""
    return dataclasses.field(default=default, metadata={"static": True})


@runtime_checkable
class NeuralMass(Protocol):
    """Interface of a neural-mass model (see the module docstring)."""

    state_names: ClassVar[tuple[str, ...]]
    units: ClassVar[dict[str, str]]
    observable_units: ClassVar[str]

    def vector_field(self, y: jax.Array, drive_hz: jax.Array) -> jax.Array: ...

    def observe(self, y: jax.Array) -> jax.Array: ...
