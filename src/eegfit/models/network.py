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

from eegfit.models.base import pytree_dataclass, static_field
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
class JansenRitNetwork:
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
    observable_units = "mV"
    units = {"k": "1"}

    @property
    def n_nodes(self) -> int:
        return len(self.weights)

    def vector_field(self, y: jax.Array, drive_hz: jax.Array) -> jax.Array:
        """d(state)/dt per second; ``y`` has shape ``(6, n_nodes)``."""
        w = jnp.asarray(self.weights, dtype=y.dtype)
        rates = self.column.sigmoid(y[1] - y[2])  # (n_nodes,), 1/s
        coupling = self.k * jnp.einsum("ij,...j->...i", w, rates)
        return self.column.vector_field(y, drive_hz + coupling)

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


__all__ = ["JansenRitNetwork", "NodeNoiseDrive", "network"]
