"""A network of neural masses on a structural connectome, fitted to functional connectivity.

The target is the FC (correlation matrix of the node signals) simulated at a known coupling with
the target's noise; each fit simulates with its own noise (the fit key of its seed, common to all
its evaluations) and minimises an FC objective. Two noise realisations never give the same FC, so
a fit cannot do better than the **noise floor**: the objective (and the FC correlation) between
the target and the FC at the truth under the fit's noise. Keys of its block::

    connectome: {source: hcp, n_nodes: 10, subject: null, seed: 0, symmetrise: false,
                 delays: false, speed_m_s: 10, delay_mode: interpolate}
    model: {params: {}, drive: {low_hz: 50, high_hz: 150, interval_ms: 5}}   # Jansen-Rit nodes
    model: {name: wilson_cowan, params: {}, drive: {kind: white_noise, ...}}  # any model's nodes
    n_realisations: 4          # the fit's FC: the mean over this many noise realisations
    objective: fc_rmse         # fc_rmse | fc_correlation_loss
    observable: eeg            # eeg | bold (Balloon-Windkessel on the firing rates)
    bold: {dt_ms: 10, tr_s: 0.72, discard_s: 10, input_sd: 0.1}
    scan: {n_points: 21}

The model is always the one :class:`eegfit.models.network.Network` (built by
:func:`~eegfit.models.network.coupled`; fitted fields ``k``, ``speed_m_s`` and ``node.<field>``):
its nodes are ``model.name`` (Jansen-Rit by default), coupled through its own coupling variable
and form, with the drive ``model.drive`` read as a column's (:func:`node_drives`), independent per
node where it is noisy. A Jansen-Rit node is also offered, and by default given, JR95's per-node
uniform drive ``{kind: node_uniform_noise, low_hz, high_hz, interval_ms}``
(:class:`~eegfit.models.network.NodeNoiseDrive`), so the block of before ``drive.kind`` existed,
``drive: {low_hz, high_hz, interval_ms}``, reads as that kind. The BOLD
signal's input is the nodes' firing rate where the model has a sigmoid (Jansen-Rit: S(y1 - y2)),
its observable otherwise (Wilson-Cowan's E, Wong-Wang's S_E, Stuart-Landau's x). Several
parameters (k and the speed, say) are fitted together; the scan is then a surface over the first
two (:func:`eegfit.experiments.scan.network_surface`).

With ``connectome.delays: true`` (any nodes; a connectome with tract lengths)
the coupling is delayed by the tract lengths over the conduction speed ``speed_m_s`` (m/s): the
fixed ``connectome.speed_m_s``, or a fitted parameter ``speed_m_s`` whose box's lower end sizes
the history (:class:`eegfit.models.network.Network`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from eegfit.observe import bold
from eegfit.data import connectome as sc
from eegfit.experiments.base import (FigureKind, Kind, PosteriorKind, ScanKind, Target, as_float,
                                     keys, model_trace)
from eegfit.experiments.column import read_column
from eegfit.experiments.spec import Reader, Simulation, Spec, integer
from eegfit.models.drive import NodeNoiseDrive
from eegfit.models.network import DELAY_MODES, Network as NodesNetwork, coupled
from eegfit.signal.fc import FC_OBJECTIVES, fc_correlation, functional_connectivity


@dataclasses.dataclass(frozen=True)
class Bold:
    """The BOLD forward model's settings: its step (a multiple of the simulation step, at most
    10 ms), the sampling interval (s), the discarded start (s) and the input noise."""

    dt_ms: float = 10.0
    tr_s: float = bold.HCP_TR_S
    discard_s: float = 10.0
    input_sd: float = 0.1


@dataclasses.dataclass(frozen=True)
class NetworkSpec(Spec):
    """The network kind's own keys (see the module docstring)."""

    connectome: dict = dataclasses.field(default_factory=lambda: {
        "source": "synthetic", "n_nodes": 10, "subject": None, "seed": 0, "symmetrise": False})
    column: object = None
    """The node model with its drive (``n_nodes`` set by the kind from the connectome)."""
    n_realisations: int = 1
    objective: str = "fc_rmse"
    observable: str = "eeg"
    bold: Bold = Bold()
    scan_points: int = 21
    scan_seeds: tuple[int, ...] = ()

    # the FC loss of seconds of noisy network ripples below ~1 % of the box; the 100 ms truncated
    # gradient agrees in sign with its slope over 2 % but underestimates it (rel error 0.4-0.9:
    # benchmarks/bench_gradients.py), which Adam's normalised step absorbs
    gradient_check = {"rtol": 1.0, "rel_step": 0.02}
    extra_keys = ("connectome", "model", "n_realisations", "objective", "observable", "bold",
                  "scan")

    @classmethod
    def read_extra(cls, r: Reader, simulation: Simulation) -> dict:
        defaults = {f.name: f.default_factory() for f in dataclasses.fields(cls)
                    if f.default_factory is not dataclasses.MISSING}
        conn = r.sub("connectome", ("source", "n_nodes", "subject", "seed", "symmetrise",
                                    "delays", "speed_m_s", "delay_mode"))
        connectome = {"source": conn.choice("source", sc.SOURCES,
                                            defaults["connectome"]["source"]),
                      "n_nodes": None if conn.block.get("n_nodes", 1) is None
                      else conn.integer("n_nodes", defaults["connectome"]["n_nodes"], low=2),
                      "subject": conn.raw("subject"), "seed": conn.integer("seed", 0, low=0),
                      "symmetrise": conn.boolean("symmetrise", False)}
        if conn.boolean("delays", False):  # absent: the dict (and the provenance) of before
            connectome.update(delays=True, speed_m_s=conn.number("speed_m_s", 10.0, above=0.0),
                              delay_mode=conn.choice("delay_mode", DELAY_MODES, "interpolate"))
        elif conn.has("speed_m_s") or conn.has("delay_mode"):
            raise ValueError(f"config {conn.path('speed_m_s')} and delay_mode need "
                             f"{conn.path('delays')}: true")
        column = read_column(r.sub("model", ("name", "params", "drive")), simulation.dt_ms,
                             node_drives)
        b = r.sub("bold", tuple(f.name for f in dataclasses.fields(Bold)))
        bold_spec = Bold(**{f.name: b.number(f.name, f.default, above=0.0)
                            for f in dataclasses.fields(Bold)})
        scan = r.sub("scan", ("n_points", "seeds"))
        return {"connectome": connectome,
                "column": column,
                "n_realisations": r.integer("n_realisations", cls.n_realisations, low=1),
                "objective": r.choice("objective", FC_OBJECTIVES, cls.objective),
                "observable": r.choice("observable", ("eeg", "bold"), cls.observable),
                "bold": bold_spec, "scan_points": scan.integer("n_points", cls.scan_points, low=2),
                "scan_seeds": tuple(integer(s, f"{scan.where}.seeds", low=0)
                                    for s in scan.raw("seeds") or [])}


NODE_UNIFORM = "node_uniform_noise"
"""The drive kind of JR95's network: independent uniform noise per node, ``{low_hz, high_hz,
interval_ms}`` (Hz, Hz, ms; :class:`~eegfit.models.network.NodeNoiseDrive`)."""


def node_drives(model_cls: type) -> tuple[dict, str]:
    """The drives of a network's node by config name, and the kind of a drive block that names
    none: the model's own (default ``constant``), and for a node driven by a rate in Hz
    (Jansen-Rit) also :data:`NODE_UNIFORM`, its default."""
    if model_cls.drive_units != NodeNoiseDrive.units["low_hz"]:
        return model_cls.drives, "constant"
    return {**model_cls.drives, NODE_UNIFORM: NodeNoiseDrive}, NODE_UNIFORM


def delay_args(name: str, connectome: dict, parameters, lengths_mm) -> dict:
    """The delay arguments of :func:`coupled` for experiment ``name`` (none without
    ``connectome.delays``): the tract lengths, the speed (the configured one, kept inside a
    fitted speed's box), its lower bound (the fitted box's, else the speed), which sizes the
    history, and its upper bound, which lets the rollout read delays in blocks."""
    if not connectome.get("delays"):
        return {}
    if not np.all(np.isfinite(lengths_mm)):
        raise ValueError(f"config experiments.{name}.connectome.delays: the "
                         f"{connectome.get('source', 'chosen')} connectome has no tract lengths "
                         f"(NaN); use hcp or gw")
    fitted = {p.name: p for p in parameters}.get("speed_m_s")
    speed_min = connectome["speed_m_s"] if fitted is None else min(fitted.bounds)
    if not speed_min > 0:
        raise ValueError(f"config experiments.{name}.parameters.speed_m_s.bounds must be > 0 m/s "
                         f"(the lowest speed sizes the delay history), got {list(fitted.bounds)}")
    speed_max = connectome["speed_m_s"] if fitted is None else max(fitted.bounds)
    return {"lengths_mm": lengths_mm, "speed_m_s": min(max(connectome["speed_m_s"], speed_min),
                                                       speed_max),
            "speed_min_m_s": speed_min, "speed_max_m_s": speed_max,
            "delay_mode": connectome["delay_mode"]}


class Network(Kind, PosteriorKind, ScanKind, FigureKind):
    """The global coupling, the conduction speed or any node field (one or several together) of
    a network fitted to an FC."""

    Spec = NetworkSpec
    summary_columns = ("best_fc_correlation", "fc_correlation_ceiling")
    has_scan = True
    draws = "eegfit.plots.network:network_kind_figures"

    def __init__(self, spec: NetworkSpec):
        self._conn = self._base = None
        for name in spec.names:  # JansenRitNetwork's field, before the one Network
            if name.startswith("column."):
                raise ValueError(f"config experiments.{spec.name}.parameters.{name}: a node's "
                                 f"field is node.{name.partition('.')[2]} (column.<field> was "
                                 f"the Jansen-Rit network's before it became the generic one)")
        if spec.observable == "bold":
            block = spec.bold.dt_ms / spec.simulation.dt_ms
            if not (spec.bold.dt_ms <= 10.0 and abs(block - round(block)) < 1e-9 and block >= 1):
                raise ValueError(f"config experiments.{spec.name}.bold.dt_ms must be a multiple "
                                 f"of simulation.dt_ms ({spec.simulation.dt_ms:g}) and at most "
                                 f"10 ms, got {spec.bold.dt_ms:g}")
        super().__init__(spec)

    @property
    def figure_names(self) -> tuple[str, ...]:
        """The FC matrices; the objective over the box (one parameter) or the loss surface of
        the first two with the fits' paths; with delays, the FC with and without them."""
        names = ("fc_matrices", "fc_vs_k" if len(self.spec.names) == 1 else "loss_surface")
        return names + (("fc_delays",) if self.spec.connectome.get("delays") else ())

    @property
    def connectome(self) -> sc.Connectome:
        """The structural connectome (read once)."""
        if self._conn is None:
            c = self.spec.connectome
            self._conn = sc.load(c["source"], n_nodes=c["n_nodes"], subject=c["subject"],
                                 seed=c["seed"], symmetrise=c["symmetrise"])
        return self._conn

    def base_model(self) -> NodesNetwork:
        if self._base is None:
            drive = self.spec.column.drive  # independent per node where it is noisy
            if "n_nodes" in {f.name for f in dataclasses.fields(drive)}:
                drive = dataclasses.replace(drive, n_nodes=len(self.connectome.weights))
            self._base = coupled(self.spec.column, self.connectome.weights, drive=drive,
                                 **self._delays())
        return self._base

    def _delays(self) -> dict:
        return delay_args(self.spec.name, self.spec.connectome, self.spec.parameters,
                          self.connectome.lengths_mm)

    @staticmethod
    def bold_input(model, signal: jax.Array) -> jax.Array:
        """What drives a node's BOLD signal: its firing rate where its model has a sigmoid (of
        the observable: Jansen-Rit's S(y1 - y2)), its observable otherwise."""
        node = model.node
        return node.sigmoid(signal) if hasattr(node, "sigmoid") else signal

    def aux_units(self) -> dict:
        return {self.spec.objective: "1", "fc_correlation": "1"}

    @property
    def loss_label(self) -> tuple[str, str]:
        return {"fc_rmse": ("RMS difference of model and target FC", "1"),
                "fc_correlation_loss": ("1 \u2212 FC correlation", "1")}[self.spec.objective]

    # ---- the FC of a model -------------------------------------------------------------------
    def fc_at(self, model, key) -> jax.Array:
        """FC ``(nodes, nodes)`` of ``model`` with the noise of ``key``: of the EEG observable,
        or of the BOLD signal (``observable: bold``)."""
        eeg = model_trace(self, model, key).observable
        if self.spec.observable == "eeg":
            return functional_connectivity(eeg)
        b = self.spec.bold
        block = int(round(b.dt_ms / self.spec.simulation.dt_ms))
        rates = bold.block_mean(self.bold_input(model, eeg), block)
        return bold.bold_fc(rates, dt_s=b.dt_ms / 1000.0, tr_s=b.tr_s, discard_s=b.discard_s,
                            input_sd=b.input_sd)

    def fit_fc(self, model, key) -> jax.Array:
        """The FC a fit compares with its target: the mean over ``n_realisations`` noise
        realisations split from ``key``, the fit key of its seed (the same at every evaluation).
        The simulations are unrolled, not vmapped, so a gradient through them stays plain."""
        n = self.spec.n_realisations
        fit_keys = jax.random.split(key, n)
        return sum(self.fc_at(model, fit_keys[r]) for r in range(n)) / n

    # ---- posteriors: the FC's entries above the diagonal, one feature each ---------------------
    noisy = True

    def _fc_entries(self, fc) -> dict:
        rows, cols = np.triu_indices(fc.shape[-1], 1)
        return {f"fc[{i},{j}]": fc[..., i, j] for i, j in zip(rows.tolist(), cols.tolist())}

    def simulate_features(self, values: dict, key) -> dict:
        """The fit's FC (its realisations' mean) at ``values`` (a batch is mapped), by entry."""
        shape = jnp.broadcast_shapes(*(jnp.shape(v) for v in values.values()))
        flat = {n: jnp.broadcast_to(jnp.asarray(v), shape).reshape(-1) for n, v in values.items()}
        fc = jax.vmap(lambda v: self.fit_fc(self.model_at(v), key))(flat)
        return self._fc_entries(fc.reshape(shape + fc.shape[-2:]))

    def posterior_observed(self, observed) -> dict:
        return observed if isinstance(observed, dict) else self._fc_entries(np.asarray(observed))

    # ---- targets, loss, extras --------------------------------------------------------------------
    def make_target(self, target: Target) -> xr.Dataset:
        from eegfit.experiments.fc_records import target_dataset  # noqa: PLC0415

        model = self.model_at({n: as_float(v) for n, v in target.truth.items()})
        trace = model_trace(self, model, keys(target.seed)[0])
        if not bool(jnp.all(jnp.isfinite(trace.observable))):
            raise FloatingPointError(f"experiment {self.spec.name}: the network target "
                                     f"{target.label} (seed {target.seed}) diverged; lower "
                                     f"simulation.dt_ms")
        undelayed = None
        if model.has_delays:  # the same truth and noise without delays: what delays change
            undelayed = functional_connectivity(model_trace(
                self, dataclasses.replace(model, lengths_mm=None), keys(target.seed)[0]).observable)
        return target_dataset(self.connectome, trace.time_ms, trace.observable,
                              functional_connectivity(trace.observable), model.node,
                              delays=bool(self.spec.connectome.get("delays")),
                              fc_no_delays=undelayed)

    def observed(self, target_ds: xr.Dataset):
        return jnp.asarray(target_ds["fc"].values, jnp.result_type(float))

    def loss(self, model, data):
        """The FC objective against the target FC (``data["observed"]``) with the fit's noise
        (``data["key"]``); aux: the objective and the FC correlation."""
        obj, name = FC_OBJECTIVES[self.spec.objective], self.spec.objective
        fc, observed = self.fit_fc(model, data["key"]), data["observed"]
        value = obj(fc, observed)
        return value, {name: value, "fc_correlation": fc_correlation(fc, observed)}

    def fit_extras(self, target: Target, observed, result) -> dict:
        from eegfit.experiments.fc_records import fit_vars  # noqa: PLC0415

        return fit_vars(self, target, observed, result)

    def scan(self, target_datasets) -> xr.Dataset:
        from eegfit.experiments.scan import network_scan  # noqa: PLC0415

        return network_scan(self, target_datasets)
