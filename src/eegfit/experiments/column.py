"""One neural mass (any model of the registry, Jansen-Rit by default), any of its fields fitted
from scalar features of its observable.

One parameter over a grid of ground truths (C from the RMS amplitude, the case study) and several
parameters together (C and the drive p from the RMS amplitude and the spectral peak) are the same
kind: the loss is the sum over the configured features of the squared relative error to the
target's feature, and the scan draws the features over the box (a line for one parameter, with
where each feature identifies it; a surface for two). The keys of its block::

    model: {name: jansen_rit, params: {A: 3.25, ...}, drive: {kind: constant, rate_hz: 220}}
    features: {rms: {}, spectral_peak_hz: {band_hz: [2, 20]}}
    scan: {n_points: 241, features: [rms, spectral_peak_hz]}

``model.name`` is a key of :data:`eegfit.models.MODELS` (``jansen_rit``, ``wilson_cowan``,
``wong_wang``, ``stuart_landau``); ``params`` are that model's fields, each checked against its
valid range when the config is read; ``drive`` one of the model's ``drives`` (for the models
whose input is not a rate in Hz: ``{kind: constant, value: ...}`` in the model's
``drive_units``). Features take the unit of the model's observable.

Seeds: the target's drive noise uses the seed's target key and the fit's its fit key
(:func:`eegfit.experiments.base.keys`), so with a noisy drive a fit never sees its target's noise.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from eegfit import io
from eegfit.experiments.base import (FigureKind, Kind, NPEKind, PosteriorKind, ScanKind, Target,
                                     as_float, keys, model_trace, noise_floor_var)
from eegfit.experiments.spec import Reader, Simulation, Spec
from eegfit.models import ConstantDrive, ConstantInput, JansenRit, model_class
from eegfit.models.base import check_value
from eegfit.signal import features as sf

DRIVES = JansenRit.drives
"""A Jansen-Rit column's drives by config name (fields in Hz, ms, Hz*s^0.5; see
eegfit.models.drive); another model's are its own ``drives``."""

TESTED_DT_MS = (0.1, 0.5)
"""The steps over which a noisy column's spectrum is tested not to depend on the step
(tests/test_noise_spectrum.py); a config outside them gets a warning naming the key."""


def read_drive(r: Reader, dt_ms: float | None = None, model_cls: type = JansenRit,
               drives: dict | None = None, default: str = "constant"):
    """A drive of ``model_cls`` from ``{kind, ...its fields}`` (Hz, ms, or the model's
    ``drive_units``), checked against the step. ``drives``: the kinds offered by config name
    (default the model's own ``drives``); ``default``: the kind of a block that names none."""
    drives = model_cls.drives if drives is None else drives
    kind = r.choice("kind", drives, default)
    cls = drives[kind]
    fields = {f.name: f.default for f in dataclasses.fields(cls)
              if f.name not in ("n_nodes", "unit")}  # a field whose default is None may be null
    Reader(r.block, r.where, ("kind", *fields))
    values = {name: r.number(name, optional=fields[name] is None,
                             above=0.0 if name in ("interval_ms", "tau_ms") else None)
              for name in fields if name in r.block}
    default = model_cls().drive  # the model's own default input, where the kind is its kind
    if type(default) is cls and hasattr(default, "unit"):
        values = {**{name: getattr(default, name) for name in fields}, **values}
    elif "mean" in fields and hasattr(default, "value"):  # a noisy input around the model's own
        values = {"mean": default.value, **values}
    if any(f.name == "unit" for f in dataclasses.fields(cls)):
        values["unit"] = model_cls.drive_units
    try:
        drive = cls(**values)
        if dt_ms is not None and hasattr(drive, "check"):
            drive.check(dt_ms)
    except (TypeError, ValueError) as err:
        raise ValueError(f"config {r.where}: {err}") from None
    if (dt_ms is not None and kind != "constant"
            and not TESTED_DT_MS[0] <= dt_ms <= TESTED_DT_MS[1]):
        warnings.warn(f"config {r.where}: a noisy column's spectrum is tested to be independent "
                      f"of the step for simulation.dt_ms in {list(TESTED_DT_MS)} ms; {dt_ms:g} "
                      f"ms lies outside", stacklevel=2)
    return drive


def read_column(r: Reader, dt_ms: float | None = None, drives=None):
    """The model of a ``model: {name, params, drive}`` block: the registry's ``name`` (default
    ``jansen_rit``) with its published constants where not given, every parameter checked against
    its valid range (a ``ValueError`` naming the key, before any simulation). ``drives(model_cls)
    -> (kinds by name, default kind)``: the drives offered (default the model's own, ``constant``
    where the block names no kind)."""
    model_cls = model_class(r.raw("name", "jansen_rit"), r.path("name"))
    offered, default = (model_cls.drives, "constant") if drives is None else drives(model_cls)
    known = tuple(f.name for f in dataclasses.fields(model_cls) if f.name != "drive")
    params = r.sub("params", known)
    values = {k: params.number(k) for k in params.block}
    for k, v in values.items():
        check_value(model_cls, k, v, f"config {params.path(k)}")
    return model_cls(**values, drive=read_drive(r.sub("drive"), dt_ms, model_cls, offered,
                                                default))


@functools.lru_cache(maxsize=8)
def _extras_program(kind: Kind):
    """``(truth, best, data) -> (noise floors, time_ms, fitted traces)`` of a chunk's fits,
    one row each (vmapped, jitted: compiled once per chunk size)."""
    def one(truth, best, data):
        floor = kind.loss(kind.model_at(truth), data)[0]
        trace = kind.simulate(best, data["key"])
        return floor, trace.time_ms, trace.observable
    return jax.jit(jax.vmap(one, out_axes=(0, None, 0)))


@functools.lru_cache(maxsize=None)
def _compiled_features(kind, names: tuple):
    """``kind``'s features ``names`` of a trace as one jitted function (eager, op by op, they
    cost several ms per target)."""
    return jax.jit(lambda observable: kind._features(observable, names))


@dataclasses.dataclass(frozen=True)
class ColumnSpec(Spec):
    """The column kind's own keys: ``model``, ``features`` and ``scan``."""

    model: object = JansenRit()
    features: dict = dataclasses.field(default_factory=lambda: {"rms": {}})
    scan_points: int = 61
    scan_features: tuple[str, ...] = ("rms", "spectral_peak_hz")

    extra_keys = ("model", "features", "scan")

    @classmethod
    def read_extra(cls, r: Reader, simulation: Simulation) -> dict:
        model = read_column(r.sub("model", ("name", "params", "drive")), simulation.dt_ms)
        feats = r.sub("features", default={"rms": {}})
        if not feats.block:
            raise ValueError(f"config {feats.where} must name at least one feature")
        features = {name: sf.check_options(name, opts or {}, where=feats.path(name),
                                           reads="trace")
                    for name, opts in feats.block.items()}
        scan = r.sub("scan", ("n_points", "features"))
        scan_features = tuple(scan.raw("features", list(cls.scan_features)))
        for name in scan_features:
            sf.check_options(name, {}, where=scan.path("features"), reads="trace")
        return {"model": model, "features": features,
                "scan_points": scan.integer("n_points", cls.scan_points, low=2),
                "scan_features": scan_features}


class Column(Kind, PosteriorKind, NPEKind, ScanKind, FigureKind):
    """A neural mass (Jansen-Rit by default) fitted from scalar features of its observable."""

    Spec = ColumnSpec
    loss_label = ("sum of squared relative feature errors", "1")
    draws = "eegfit.plots.column:column_kind_figures"
    figure_truths = 4
    """The most truths whose EEG the eeg_fit figure draws (first seed; evenly spread)."""

    def __init__(self, spec: ColumnSpec):
        for name in spec.names:
            if name.startswith("drive.") and spec.model.drive.needs_key:
                raise ValueError(f"config experiments.{spec.name}.parameters.{name}: fitting the "
                                 f"drive needs model.drive.kind: constant")
        super().__init__(spec)
        self.scan_dims = len(spec.names) if len(spec.names) <= 2 else 0

    @property
    def has_scan(self) -> bool:
        return self.scan_dims > 0

    @property
    def figure_names(self) -> tuple[str, ...]:
        return {1: ("eeg_fit", "landscape"), 2: ("loss_surface",)}.get(self.scan_dims, ())

    def base_model(self):
        return self.spec.model

    @property
    def signal_units(self) -> str:
        """The unit of the model's observable, which its features' units follow."""
        return type(self.spec.model).observable_units

    def simulate(self, values: dict, key):
        return model_trace(self, self.model_at(values), key)

    def model_features(self, model, key) -> dict:
        """The loss's features of ``model``'s observable with the noise of ``key``."""
        return self.feature_values(model_trace(self, model, key).observable)

    def feature_values(self, observable, names=None) -> dict:
        """The features of a trace (time on axis 0; trailing axes a batch), by name (one
        compiled call for a trace given as an array, not traced)."""
        names = tuple(names or self.spec.features)
        if isinstance(observable, jax.core.Tracer):
            return self._features(observable, names)
        return _compiled_features(self, names)(observable)

    def _features(self, observable, names) -> dict:
        dt_ms = self.spec.simulation.dt_ms
        return {n: sf.feature(n)(observable, dt_ms=dt_ms, **self.spec.features.get(n, {}))
                for n in names}

    def aux_units(self) -> dict:
        return {n: sf.units(n, self.signal_units) for n in self.spec.features}

    @property
    def noisy(self) -> bool:
        return not isinstance(self.spec.model.drive, (ConstantDrive, ConstantInput))

    def simulate_features(self, values: dict, key) -> dict:
        """The loss's features at ``values`` (a batch broadcasts: one simulation)."""
        return self.model_features(self.model_at(values), key)

    # ---- targets -----------------------------------------------------------------------------
    def make_target(self, target: Target) -> xr.Dataset:
        trace = self.simulate({n: as_float(v) for n, v in target.truth.items()},
                              keys(target.seed)[0])
        if not bool(jnp.all(jnp.isfinite(trace.observable))):
            raise FloatingPointError(
                f"experiment {self.spec.name}: the target {target.label} (seed {target.seed}) "
                f"diverged: its EEG is not finite; lower simulation.dt_ms or change the truth")
        names = list(dict.fromkeys([*self.spec.features, *sf.RECORDED_TRACE_FEATURES]))
        features = {name: ((), float(value), {"units": sf.units(name, self.signal_units),
                                              "long_name": f"target's {sf.long_name(name)}"})
                    for name, value in self.feature_values(trace.observable, names).items()}
        return io.trace_dataset(trace.time_ms, trace.observable, attrs={}, units=self.signal_units,
                                long_name=type(self.spec.model).observable_name,
                                variables=features)

    def observed(self, target_ds: xr.Dataset) -> dict:
        return {n: float(target_ds[n]) for n in self.spec.features}

    def loss(self, model, data):
        """The sum over features of the squared error relative to the target's feature
        (``data["observed"]``; absolute where that is 0); the fit's drive noise is its fit key
        (``data["key"]``) at every evaluation."""
        observed = data["observed"]
        values = self.model_features(model, data["key"])
        scales = {n: jnp.where(observed[n] == 0, 1.0, jnp.abs(observed[n])) for n in values}
        return sum(((values[n] - observed[n]) / scales[n]) ** 2 for n in values), values

    def fit_extras(self, target: Target, observed, result) -> dict:
        return self._batched_extras([target], [observed], [result])[0]

    def fit_extras_many(self, targets: list[Target], observed: list, results: list) -> list[dict]:
        """Each fit's noise floor, target features and trace at its best parameters, the
        chunk's simulations in one compiled call (a fit without truth has no noise floor; one
        with a non-finite best value no fitted trace). A subclass that overrides
        :meth:`fit_extras` gets its own, one fit at a time."""
        if type(self).fit_extras is not Column.fit_extras:
            return Kind.fit_extras_many(self, targets, observed, results)
        return self._batched_extras(targets, observed, results)

    def _batched_extras(self, targets: list[Target], observed: list, results: list) -> list[dict]:
        names = self.spec.names
        data = jax.tree.map(lambda *xs: jnp.stack(xs),
                            *[self.fit_data(o, t.seed) for o, t in zip(observed, targets)])
        truth = {n: np.asarray([as_float(t.truth[n]) if t.truth else np.nan for t in targets])
                 for n in names}
        best = {n: np.asarray([np.asarray(r.best_params[n], float) for r in results])
                for n in names}
        floors, time_ms, eeg = _extras_program(self)(truth, best, data)
        time_ms, eeg = np.asarray(time_ms), np.asarray(eeg)
        out = []
        for b, (target, obs, result) in enumerate(zip(targets, observed, results)):
            extras = {} if target.truth is None else noise_floor_var(float(floors[b]))
            for name, value in obs.items():
                extras[f"target_{name}"] = ((), value, {
                    "units": sf.units(name, self.signal_units), "long_name": f"target's {name}"})
            if all(np.all(np.isfinite(result.best_params[n])) for n in names):
                extras["fitted_eeg"] = (("time",), eeg[b], {
                    "units": self.signal_units, "long_name": "EEG simulated at the best params"})
                extras["coords"] = {"time": ("time", time_ms, {"units": "ms",
                                                               "long_name": "time"})}
            out.append(extras)
        return out

    # ---- the scan and the figures --------------------------------------------------------------
    def scan_targets(self) -> list[Target]:
        """Two parameters: the first seed's target of each truth (its loss surface); one: none
        (the features over the box do not depend on a target)."""
        return self._first_seeds() if self.scan_dims == 2 else []

    def figure_targets(self) -> list[Target]:
        """One parameter: the first seed of at most :attr:`figure_truths` truths, evenly spread
        (the eeg_fit figure's rows); two: every target (each fit's path on its surface)."""
        if self.scan_dims != 1:
            return self.targets()
        first = self._first_seeds()
        if len(first) <= self.figure_truths:
            return first
        picks = np.linspace(0, len(first) - 1, self.figure_truths).round().astype(int)
        return [first[i] for i in sorted(set(picks))]

    def _first_seeds(self) -> list[Target]:
        """The first seed's target of each truth, in the order of the truths."""
        return [t for t in self.targets() if t.seed == self.spec.seeds[0]]

    def scan(self, target_datasets) -> xr.Dataset | None:
        from eegfit.experiments.scan import column_scan  # noqa: PLC0415

        return column_scan(self, target_datasets) if self.has_scan else None
