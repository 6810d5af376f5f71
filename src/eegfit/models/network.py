"""A network of Jansen-Rit columns coupled through a structural connectivity matrix.

Node ``i`` is a Jansen-Rit column whose excitatory interneurons receive, besides its own drive
``p_i(t)``, the firing rates of the other nodes' pyramidal cells weighted by the SC and a global
coupling ``k``:

    input_i = p_i(t) + k * sum_j W_ij S(y1_j - y2_j)          (Hz)

with ``S`` the column's sigmoid (1/s). The state has shape ``(6, n_nodes)`` (nodes on the last
axis) and the observable ``y1 - y2`` (mV) of every node has shape ``(n_nodes,)``. Coupling is
instantaneous (no conduction delays: tract lengths are loaded but not used).

The SC is static metadata of the pytree (a tuple of tuples), not a leaf: every leaf stays a
per-network scalar, so :func:`eegfit.simulate.simulate` integrates a network like a column, and
under ``jax.vmap`` (a nevergrad population) its batching rule falls back to plain ``vmap`` (the
drive is per node). A new SC compiles anew.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from eegfit.models.base import Model, pytree_dataclass, static_field
from eegfit.models.jansen_rit import JansenRit


@pytree_dataclass
class NodeNoiseDrive:
    """Independent uniform noise per node (JR95's drive, one draw per node).

    Attributes:
        low_hz, high_hz: range of the uniform drive, Hz (shared by all nodes; fittable).
        n_nodes: number of nodes (static).
        interval_ms: hold time of one draw, ms (static); ``None`` draws every step.

    Its noise intensity is ``(high - low)^2 / 12 * hold`` (Hz^2 s), with ``hold`` the time a draw
    is held: fixed when ``interval_ms`` is a multiple of the step (5 ms at 0.5 ms), proportional
    to the step with ``None``. ``WhiteNoiseDrive(n_nodes=...)`` or ``OUNoiseDrive(n_nodes=...)``
    (:mod:`eegfit.models.drive`) define it per unit time instead.
    """

    low_hz: float = 50.0
    high_hz: float = 150.0
    n_nodes: int = static_field(1)
    interval_ms: float | None = static_field(None)

    units = {"low_hz": "Hz", "high_hz": "Hz"}
    needs_key = True

    def per_step(self, key, n_steps: int, dt_ms: float) -> jax.Array:
        """Drive per step and node, shape ``(n_steps, n_nodes)``."""
        if key is None:
            raise ValueError("NodeNoiseDrive needs a jax.random key: pass key= to simulate")
        hold = 1 if self.interval_ms is None else max(1, int(round(self.interval_ms / dt_ms)))
        n_draws = math.ceil(n_steps / hold)
        low, high = jnp.asarray(self.low_hz), jnp.asarray(self.high_hz)
        u = jax.random.uniform(key, (n_draws, self.n_nodes), dtype=jnp.result_type(float))
        values = low + (high - low) * u
        return jnp.repeat(values, hold, axis=0, total_repeat_length=n_draws * hold)[:n_steps]


@pytree_dataclass
class JansenRitNetwork(Model):
    """Jansen-Rit columns coupled through an SC (see the module docstring).

    Attributes:
        k: global coupling, dimensionless (Hz of input per 1/s of presynaptic firing rate).
        column: the parameters shared by every node (:class:`JansenRit`; its ``drive`` is unused).
        drive: the per-node drive (:class:`NodeNoiseDrive`).
        weights: the SC, a tuple of ``n_nodes`` tuples (static); build with :func:`network`.
    """

    k: float = 0.0
    column: JansenRit = JansenRit()
    drive: NodeNoiseDrive = NodeNoiseDrive()
    weights: tuple = static_field(((0.0,),))

    state_names = JansenRit.state_names
    state_units = JansenRit.state_units
    observable_name = "EEG observable y1 - y2 of each node"
    observable_units = "mV"
    drive_units = "Hz"
    drives = {"node_noise": NodeNoiseDrive}
    units = {"k": "1"}
    ranges = {}

    @property
    def n_nodes(self) -> int:
        return len(self.weights)

    def vector_field(self, y: jax.Array, drive_hz: jax.Array) -> jax.Array:
        """d(state)/dt per second; ``y`` has shape ``(6, n_nodes)``."""
        w = jnp.asarray(self.weights, dtype=y.dtype)
        rates = self.column.coupling_variable(y)  # S(y1 - y2), (n_nodes,), 1/s
        coupling = self.k * jnp.einsum("ij,...j->...i", w, rates)
        return self.column.vector_field(y, drive_hz, coupling)

    def observe(self, y: jax.Array) -> jax.Array:
        """Each node's EEG observable y1 - y2, mV, shape ``(n_nodes,)``."""
        return y[1] - y[2]


def network(weights, *, k: float = 0.0, column: JansenRit | None = None,
            low_hz: float = 50.0, high_hz: float = 150.0,
            interval_ms: float | None = None) -> JansenRitNetwork:
    """A :class:`JansenRitNetwork` on the SC ``weights`` (checked: square, finite, >= 0)."""
    from eegfit.data.connectome import check_weights  # noqa: PLC0415

    w = check_weights(weights)
    if not low_hz < high_hz:
        raise ValueError(f"low_hz must be < high_hz, got {low_hz!r} and {high_hz!r}")
    return JansenRitNetwork(
        k=k, column=column or JansenRit(),
        drive=NodeNoiseDrive(low_hz=low_hz, high_hz=high_hz, n_nodes=w.shape[0],
                             interval_ms=interval_ms),
        weights=tuple(tuple(float(x) for x in row) for row in np.asarray(w)))


@pytree_dataclass
class Network(Model):
    """Nodes of any model (:class:`eegfit.models.NeuralMass`) coupled through an SC, each node
    receiving its model's network input through its ``coupling_variable`` and ``coupling_form``:

        additive:  input_i = k * sum_j W_ij c_j
        diffusive: input_i = k * sum_j W_ij (c_j - c_i)

    (Wilson-Cowan: c = E into E's input; Wong-Wang: c = S_E, times J_NMDA into I_E; Stuart-Landau:
    c = x, diffusive, into dx/dt; Jansen-Rit: c = S(y1 - y2) into the drive, as
    :class:`JansenRitNetwork`). No conduction delays. Checked against neurolib's networks of
    ``wc``, ``ww`` and ``hopf`` nodes in tests/test_reference_models.py.

    Attributes:
        node: the parameters shared by every node (its own ``drive`` is the network's default).
        k: global coupling, in the unit of the node's network input per unit of its coupling
            variable (1 for Wilson-Cowan and Wong-Wang, 1/s for Stuart-Landau, Hz s for
            Jansen-Rit); neurolib's ``K_gl`` is the same number except for Stuart-Landau (k =
            1000 K_gl, its time being in ms).
        drive: the drive of every node (values per step broadcast over the nodes, or one per
            node on a trailing axis).
        weights: the SC, a tuple of ``n_nodes`` tuples (static); build with :func:`coupled`.
    """

    node: object = JansenRit()
    k: float = 0.0
    drive: object = None
    weights: tuple = static_field(((0.0,),))

    def __post_init__(self):
        if self.drive is None:
            object.__setattr__(self, "drive", self.node.drive)

    @property
    def n_nodes(self) -> int:
        return len(self.weights)

    @property
    def state_names(self) -> tuple[str, ...]:
        return self.node.state_names

    @property
    def units(self) -> dict[str, str]:
        return {"k": getattr(self.node, "coupling_units", "1")}

    ranges = {}  # k: any finite value (the node's own ranges hold for its fields)

    @property
    def state_units(self) -> dict[str, str]:
        return self.node.state_units

    @property
    def observable_name(self) -> str:
        return f"{self.node.observable_name} of each node"

    @property
    def drive_units(self) -> str:
        return self.node.drive_units

    @property
    def drives(self) -> dict[str, type]:
        return self.node.drives

    @property
    def observable_units(self) -> str:
        return self.node.observable_units

    @property
    def initial_state(self) -> np.ndarray:
        """The node's initial state on every node, shape ``(n_states, n_nodes)``."""
        y0 = getattr(self.node, "initial_state", (0.0,) * len(self.node.state_names))
        return np.repeat(np.asarray(y0, dtype=float)[:, None], self.n_nodes, axis=1)

    def vector_field(self, y: jax.Array, drive: jax.Array) -> jax.Array:
        """d(state)/dt per second; ``y`` has shape ``(n_states, *batch, n_nodes)``."""
        w = jnp.asarray(self.weights, dtype=y.dtype)
        sent = self.node.coupling_variable(y)  # (..., n_nodes)
        received = jnp.einsum("ij,...j->...i", w, sent)
        if self.node.coupling_form == "diffusive":
            received = received - w.sum(axis=1) * sent
        return self.node.vector_field(y, drive, self.k * received)

    def observe(self, y: jax.Array) -> jax.Array:
        """Each node's observable, shape ``(*batch, n_nodes)``."""
        return self.node.observe(y)


def coupled(node, weights, *, k: float = 0.0, drive=None) -> Network:
    """A :class:`Network` of ``node`` on the SC ``weights`` (checked: square, finite, >= 0)."""
    from eegfit.data.connectome import check_weights  # noqa: PLC0415

    w = check_weights(weights)
    return Network(node=node, k=k, drive=drive,
                   weights=tuple(tuple(float(x) for x in row) for row in np.asarray(w)))


__all__ = ["JansenRitNetwork", "Network", "NodeNoiseDrive", "coupled", "network"]
