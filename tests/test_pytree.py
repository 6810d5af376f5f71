"""Two pytree classes never share a treedef, so never a compiled program (issue 21).

With ``jax.tree_util.register_dataclass`` (jax 0.10.2, and 0.12.1 still), the treedefs of two
different classes with the same number of fields and equal static metadata compare equal while
their hashes differ; ``jit``'s cache is keyed by the treedef, so a call with one class could run
the program traced for another. :func:`eegfit.models.base.pytree_dataclass` registers each class
so that its type is part of its treedef's identity.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp

from eegfit.models import (ConstantDrive, ConstantInput, JansenRit, OUNoiseDrive, StuartLandau,
                           UniformNoiseDrive, WhiteNoiseDrive, WhiteNoiseInput, WilsonCowan,
                           WongWang)
from eegfit.models.base import pytree_dataclass
from eegfit.models.network import NodeNoiseDrive, coupled, network

W = ((0.0, 1.0), (0.5, 0.0))
W3 = ((0.0, 0.8, 0.3), (0.5, 0.0, 1.0), (0.2, 0.6, 0.0))
INSTANCES = [JansenRit(), WilsonCowan(), WongWang(), StuartLandau(), ConstantDrive(),
             ConstantInput(1.0, unit="1/s"), UniformNoiseDrive(), WhiteNoiseDrive(),
             WhiteNoiseInput(), OUNoiseDrive(tau_ms=5.0), NodeNoiseDrive(), network(W),
             coupled(StuartLandau(), W)]


@pytree_dataclass
class Toy:
    """A user's two-field model with a constant drive in 1/s: StuartLandau's arity and static
    metadata."""

    gain: float = 1.0
    drive: ConstantInput = ConstantInput(0.0, unit="1/s")


def test_classes_of_equal_arity_and_metadata_have_unequal_treedefs():
    toy, sl = Toy(), StuartLandau(drive=ConstantInput(0.0, unit="1/s"))
    assert jax.tree.structure(toy.drive) == jax.tree.structure(sl.drive)
    assert jax.tree.structure(toy) != jax.tree.structure(sl)
    for a, b in itertools.combinations(INSTANCES, 2):
        assert jax.tree.structure(a) != jax.tree.structure(b), (type(a), type(b))


def test_leaves_keep_their_field_names_and_round_trip():
    model = network(W, k=3.0)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(model)[0]]
    assert paths[0] == ".node.A" and ".k" in paths and ".drive.low_hz" in paths
    leaves, treedef = jax.tree.flatten(model)
    assert treedef.unflatten(leaves) == model
    assert jax.tree.map(lambda x: x, coupled(WilsonCowan(), W)).node == WilsonCowan()


def test_each_of_400_classes_gets_its_own_program():
    """Measured with register_dataclass: 48 to 72 of 400 calls returned another class's value."""
    constant = jax.jit(lambda m: m.constant())
    wrong = []
    for i in range(400):
        cls = pytree_dataclass(type(f"K{i}", (), {"__annotations__": {"x": float}, "x": 1.0,
                                                  "constant": lambda self, i=i: float(i)}))
        if int(constant(cls(1.0))) != i:
            wrong.append(i)
    assert not wrong


def test_a_subclass_runs_its_own_equations():
    """A subclass that only changes the coupling form or the observable (as
    tests/test_reference_models.py builds one) runs its own equations through one jitted
    function, for 20 fresh subclasses of each model (new classes, new hashes: the 400-class loop's
    odds; tests/test_reference_models.py's own subclass passed under 20 PYTHONHASHSEEDs)."""
    field = jax.jit(lambda net, y: net.vector_field(y, 0.5))
    observe = jax.jit(lambda m, y: m.observe(y))
    y = jnp.linspace(0.05, 0.3, 6).reshape(2, 3)
    for cls in (WilsonCowan, StuartLandau):
        fields = {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}
        base_field = field(coupled(cls(), W3, k=0.6), y)
        for i in range(20):
            other = pytree_dataclass(type(f"OtherForm{i}", (cls,), {"coupling_form": {
                "additive": "diffusive", "diffusive": "additive"}[cls.coupling_form]}))
            flipped = pytree_dataclass(type(f"Flipped{i}", (cls,),
                                            {"observe": lambda self, y: -y[0]}))
            expected = coupled(other(**fields), W3, k=0.6).vector_field(y, 0.5)  # not jitted
            assert not jnp.allclose(expected, base_field)
            assert jnp.allclose(field(coupled(other(**fields), W3, k=0.6), y), expected, rtol=1e-5)
            assert jnp.array_equal(observe(flipped(**fields), y), -observe(cls(), y))
