"""What an experiment kind supplies: its science. Everything shared is in :mod:`.runner`.

A kind is a class deriving from :class:`Kind` that writes four methods on one loss protocol,
``base_model()``, ``make_target(target)``, ``observed(target_ds)`` and ``loss(model, data)``,
and a ``Spec`` (:class:`eegfit.experiments.spec.Spec`) for keys of its own; it may override a
few defaults (``targets``, ``fit_data``, ``aux_units``, ``fit_extras``, ``fit_extras_many``,
``depends_also``, ``summary_columns``, ``loss_label``). ``data = fit_data(observed, seed)`` is a
pytree of arrays, so the runner fits a chunk of targets as one batch and a new target compiles
nothing; code that needs one fit's loss alone closes it with :func:`fit_loss`.

Optional capabilities are protocols of their own, which a kind opts into by deriving from them
beside :class:`Kind` (``class Column(Kind, PosteriorKind, NPEKind, ScanKind, FigureKind)``);
the pipeline asks ``isinstance``: :class:`PosteriorKind` (the ``posterior:`` block),
:class:`NPEKind` (the ``npe:`` block), :class:`ScanKind` (``scan.nc``), :class:`FigureKind` (the
kind's own figures), :class:`InputKind` (files made before the targets, e.g. a demo recording).

A kind is named in the config by its built-in name (``KINDS``) or by an import path
``package.module:Class``, so a kind defined outside eegfit runs without editing eegfit.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import importlib
import typing

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from eegfit.experiments.spec import Spec
from eegfit.models.base import check_value
from eegfit.simulate import simulate

TARGET_STREAM, FIT_STREAM = 0, 1


@functools.lru_cache(maxsize=4096)  # a few ms of eager dispatch, asked for at every target and fit
def keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(target key, fit key) of an integer seed: a fit never sees its target's own noise.
    Concrete arrays even when asked for inside a trace (so caching them is safe)."""
    with jax.ensure_compile_time_eval():
        base = jax.random.key(int(seed))
        return jax.random.fold_in(base, TARGET_STREAM), jax.random.fold_in(base, FIT_STREAM)


def noise_floor_var(floor: float) -> dict:
    """The record variable of a fit's noise floor (the loss at the true parameters)."""
    return {"noise_floor_loss": ((), floor, {
        "units": "1", "long_name": "loss at the true parameters (the fit's noise vs the "
                                   "target's): the noise floor"})}


def set_path(tree, path: str, value):
    """A copy of a (nested) frozen dataclass with the field at dotted ``path`` replaced."""
    head, _, rest = path.partition(".")
    if not dataclasses.is_dataclass(tree) or head not in {f.name for f in
                                                          dataclasses.fields(tree)}:
        raise ValueError(f"unknown model parameter {path!r} in {type(tree).__name__}")
    new = set_path(getattr(tree, head), rest, value) if rest else value
    return dataclasses.replace(tree, **{head: new})


def get_path(tree, path: str):
    for part in path.split("."):
        tree = getattr(tree, part)
    return tree


def unit_of(model, path: str) -> str:
    """The unit of the field at dotted ``path`` (from its owner's ``units``; "1" if unknown)."""
    *parents, leaf = path.split(".")
    owner = model
    for part in parents:
        owner = getattr(owner, part)
    return getattr(owner, "units", {}).get(leaf, "1")


def as_float(value):
    """A config number as a JAX scalar of the default float dtype."""
    return jnp.asarray(value, jnp.result_type(float))


@dataclasses.dataclass(frozen=True)
class Target:
    """One fitted problem: its label (a path part), its ground truth (None for measured data)
    and the seed of its noise and of the fit."""

    label: str
    truth: dict | None
    seed: int


class Kind(abc.ABC):
    """The base of every experiment kind: the four abstract methods are what a kind must write
    (see the module docstring)."""

    Spec = Spec
    summary_columns: tuple[str, ...] = ()
    """Scalar variables of the kind's fit records copied into the summary table."""
    loss_label: tuple[str, str] = ("loss", "1")
    """The loss's name and units: the summary's loss columns and the convergence figure's axis."""

    def __init_subclass__(cls, **kwargs):
        """A class that writes a method of an optional protocol without deriving from it would
        be skipped silently by the pipeline: refused when the class is defined."""
        super().__init_subclass__(**kwargs)
        for protocol in OPTIONAL:
            written = [n for n in vars(protocol) if not n.startswith("_") and n in vars(cls)]
            if written and not issubclass(cls, protocol):
                raise TypeError(f"{cls.__qualname__} writes {written} of the optional protocol "
                                f"{protocol.__name__}: derive from it too, class "
                                f"{cls.__name__}(Kind, {protocol.__name__})")
        if issubclass(cls, NPEKind) and not issubclass(cls, PosteriorKind):
            raise TypeError(f"{cls.__qualname__}: an NPEKind is a PosteriorKind too")

    def __init__(self, spec: Spec):
        self.spec = spec
        model = self.base_model()
        for name in spec.names:  # a field the model does not have is a config error
            try:
                set_path(model, name, 0.0)
            except ValueError:
                raise ValueError(f"config experiments.{spec.name}.parameters.{name}: "
                                 f"{type(model).__name__} has no parameter {name!r}") from None
        for p in spec.parameters:  # so is a box or a truth outside the field's valid range
            *parents, leaf = p.name.split(".")
            owner = get_path(model, ".".join(parents)) if parents else model
            for key, values in (("bounds", p.bounds), ("truths", p.truths)):
                for value in values:
                    check_value(owner, leaf, value,
                                f"config experiments.{spec.name}.parameters.{p.name}.{key}")
        if spec.posterior is not None and not isinstance(self, PosteriorKind):
            raise ValueError(f"config experiments.{spec.name}.posterior: kind {spec.kind!r} has "
                             f"no feature likelihood (PosteriorKind.simulate_features); remove "
                             f"the block")
        if spec.npe is not None:
            check_npe(self)

    # ---- what a kind must write --------------------------------------------------------------
    @abc.abstractmethod
    def base_model(self):
        """The model with its fixed values (a pytree); the runner sets the fitted fields."""

    @abc.abstractmethod
    def make_target(self, target: Target) -> xr.Dataset:
        """The target's dataset (``target.truth``, ``target.seed``)."""

    @abc.abstractmethod
    def observed(self, target_ds: xr.Dataset):
        """What the loss compares with, read from the target's dataset."""

    @abc.abstractmethod
    def loss(self, model, data):
        """``(loss, aux)`` of ``model`` against one fit's ``data`` (see :meth:`fit_data`)."""

    # ---- defaults a kind may override ------------------------------------------------------------
    def targets(self) -> list[Target]:
        """One target per truth and seed (truths of several parameters go together)."""
        out = []
        for i in range(len(self.spec.parameters[0].truths)):
            truth = {p.name: p.truths[i] for p in self.spec.parameters}
            label = "_".join(f"{n}={v:g}" for n, v in truth.items())
            out += [Target(label, truth, seed) for seed in self.spec.seeds]
        return out

    def fit_data(self, observed, seed: int):
        """The fit's data, the second argument of :meth:`loss`: a pytree of arrays (the same
        structure and shapes for every target of the kind)."""
        dtype = jnp.result_type(float)
        return {"observed": jax.tree.map(lambda x: jnp.asarray(x, dtype), observed),
                "key": keys(seed)[1]}

    def aux_units(self) -> dict[str, str]:
        """Unit of each aux value the loss returns (default "1")."""
        return {}

    def fit_extras(self, target: Target, observed, result) -> dict:
        """Variables added to the fit's record: ``{name: (dims, values, attrs)}`` and
        ``coords``. The default: the loss at the truth (the noise floor), where there is one."""
        if target.truth is None:
            return {}
        truth = self.model_at({n: as_float(v) for n, v in target.truth.items()})
        return noise_floor_var(float(fit_loss(self, observed, target.seed)(truth)[0]))

    def fit_extras_many(self, targets: list[Target], observed: list, results: list) -> list[dict]:
        """:meth:`fit_extras` of each fit of a chunk (default: one at a time; a kind may compute
        them for the whole chunk at once)."""
        return [self.fit_extras(t, o, r) for t, o, r in zip(targets, observed, results)]

    def depends_also(self, stage: str) -> tuple[str, ...]:
        """Keys of the block that ``stage``'s outputs depend on although that stage usually
        ignores them (:data:`provenance.STAGE_IGNORES`): none by default."""
        return ()

    # ---- helpers, not overridden -------------------------------------------------------------
    @typing.final
    def model_at(self, values: dict):
        """The model with the fitted fields at ``values`` (name -> number or batch)."""
        model = self.base_model()
        for name, value in values.items():
            model = set_path(model, name, value)
        return model

    @typing.final
    def units(self) -> dict[str, str]:
        """Unit of each fitted parameter."""
        model = self.base_model()
        return {name: unit_of(model, name) for name in self.spec.names}


def fit_loss(kind: Kind, observed, seed: int):
    """``loss(model) -> (loss, aux)``: the kind's :meth:`~Kind.loss` closed over the data of one
    fit (the target's ``observed`` and the fit's ``seed``)."""
    data = kind.fit_data(observed, seed)
    return lambda model: kind.loss(model, data)


def model_trace(kind: Kind, model, key):
    """The model's :class:`~eegfit.simulate.Trace` with the experiment's simulation settings
    (``spec.simulation``) and the noise of ``key``: the first step of every kind's simulate ->
    features -> loss."""
    return simulate(model, key=key, **kind.spec.simulation.kwargs())


# ---- the optional protocols ------------------------------------------------------------------
class PosteriorKind(abc.ABC):
    """A kind whose loss compares features the posterior's likelihood can be built on (the
    config's ``posterior:`` block, :mod:`eegfit.experiments.posterior`)."""

    noisy: bool = False
    """Whether the model's drive is random (a posterior's scale is then its seed-to-seed spread)."""

    @abc.abstractmethod
    def simulate_features(self, values: dict, key) -> dict:
        """The features the loss compares, at ``values`` (name -> array; a batch broadcasts)
        with the drive noise of ``key`` (or what :meth:`posterior_context` gives), each a
        scalar per parameter set: a vector feature is one entry per element, named
        ``feature[label]``."""

    def posterior_observed(self, observed) -> dict:
        """The observed features by the names of :meth:`simulate_features` (default: the
        kind's ``observed`` mapping itself)."""
        return observed

    def posterior_context(self, observed, seed: int):
        """What :meth:`simulate_features` takes beside the values for the posterior of a target
        observed as ``observed`` with fit seed ``seed``: the fit's noise key by default."""
        del observed
        return keys(seed)[1]

    def posterior_scale(self, observed) -> dict | None:
        """The likelihood's scale per feature where the target gives one (None: the block's)."""
        del observed
        return None


class NPEKind(abc.ABC):
    """A :class:`PosteriorKind` whose posterior an NPE can amortize (the ``npe:`` block,
    :mod:`eegfit.experiments.npe`): by default on its constant drive's features."""

    npe_drive_noise: bool = False
    """Whether the kind's NPE trains on noisy simulations, each with noise of its own
    (:meth:`npe_features` then draws independent noise for each simulation of a batch)."""
    npe_max_batch: int = 2048
    """Simulations per call while an NPE trains or is calibrated (memory)."""

    def npe_features(self, values: dict, key) -> dict:
        """The features an NPE conditions on, at ``values`` (a batch) with the noise of ``key``:
        :meth:`simulate_features` by default (a constant drive's features)."""
        return self.simulate_features(values, key)

    def npe_observed(self, observed) -> dict:
        """A target's features by the names of :meth:`npe_features` (checked against what the
        estimator is trained for): :meth:`posterior_observed` by default."""
        return {k: float(np.asarray(v)) for k, v in self.posterior_observed(observed).items()}

    def npe_noise(self):
        """The likelihood's noise an NPE adds to its simulations
        (:class:`~eegfit.infer.npe.Noise`), or None: the posterior block's scale."""
        return None

    def npe_conditions(self) -> dict:
        """What else an NPE is trained for (flat; kept in its sidecar, checked on reload)."""
        return {}


class ScanKind(abc.ABC):
    """A kind that draws its objective or features over the box (``scan.nc``)."""

    has_scan: bool = True
    """Whether :meth:`scan` draws something for this config (the pipeline then writes
    ``scan.nc``)."""

    @abc.abstractmethod
    def scan(self, target_datasets: list[xr.Dataset]) -> xr.Dataset | None:
        """The objective or the features over the box (None: nothing for this config)."""

    def scan_targets(self) -> list[Target]:
        """The targets whose files :meth:`scan` reads: the scan job's inputs (all of them by
        default; none for a scan of the box alone, which new targets then do not rerun)."""
        return self.targets() if self.has_scan else []


class FigureKind(abc.ABC):
    """A kind with figures of its own, beside the common ones (a job of their own). The kind
    states what draws them, :attr:`draws`; the figures job imports it (a kind's module is read
    at planning, which imports no matplotlib)."""

    draws: str = ""
    """The function that draws the kind's figures, ``"package.module:function"``, called as
    ``function(kind, fits, targets, scan, summary)`` (the arguments of :meth:`figures`)."""
    figure_names: tuple[str, ...] = ()
    """The names of :meth:`figures` for this config (a property where the config decides)."""
    figures_read_summary: bool = False
    """Whether :meth:`figures` draws from the summary: its job then waits for the summary;
    otherwise it gets ``summary=None`` and runs beside the summary job."""

    def figures(self, fits, targets, scan, summary) -> dict:
        """The kind's own figures (name -> matplotlib Figure, one per :attr:`figure_names`),
        drawn by :attr:`draws`; ``fits`` and ``targets`` are the datasets of
        :meth:`figure_targets`, ``scan`` that of :meth:`ScanKind.scan` (None without),
        ``summary`` ``summary.nc`` where :attr:`figures_read_summary`, else None."""
        if not self.draws:
            raise TypeError(f"{type(self).__name__} is a FigureKind without a function that "
                            f"draws its figures: set draws = 'package.module:function'")
        return import_path(self.draws)(self, fits, targets, scan, summary)

    def figure_targets(self) -> list[Target]:
        """The targets whose target and fit files :meth:`figures` reads (all by default; a kind
        with many targets picks a few, so that the figures of a sweep read a handful of files:
        the common figures read the summary alone)."""
        return self.targets()


class InputKind(abc.ABC):
    """A kind whose pipeline makes files before the targets (e.g. a demo recording)."""

    @abc.abstractmethod
    def generated_inputs(self) -> dict[str, str]:
        """The files the pipeline makes before the targets: path -> what to make."""

    @abc.abstractmethod
    def make_input(self, what: str, path) -> None:
        """Write the input ``what`` (a value of :meth:`generated_inputs`) to ``path``."""

    def check_inputs(self) -> None:
        """Check the kind's input files against the config at planning, where they exist (a
        ``ValueError`` naming the key); :func:`eegfit.experiments.load` calls it, a job does
        not. None by default."""


OPTIONAL = (PosteriorKind, NPEKind, ScanKind, FigureKind, InputKind)
"""The optional protocols: a kind opts into one by deriving from it."""


def check_npe(kind: Kind) -> None:
    """An ``npe:`` block only on an :class:`NPEKind`, and its keys only where they apply."""
    spec = kind.spec
    if not isinstance(kind, NPEKind):
        raise ValueError(f"config experiments.{spec.name}.npe: kind {spec.kind!r} has no NPE "
                         f"(NPEKind); remove the block")
    if kind.noisy and not kind.npe_drive_noise:
        raise ValueError(f"config experiments.{spec.name}.npe: an NPE is trained with the "
                         f"likelihood's Gaussian noise on a constant drive's features; this "
                         f"drive is noisy (remove the block or use a constant drive)")
    for key, unset in (("recording_s", None), ("model_noise", None)):
        if getattr(spec.npe, key) != unset and not kind.npe_drive_noise:
            raise ValueError(f"config experiments.{spec.name}.npe.{key}: only a kind whose "
                             f"NPE trains on noisy simulations (recording) takes it")


def has_scan(kind: Kind) -> bool:
    """Whether the experiment writes ``scan.nc``."""
    return isinstance(kind, ScanKind) and kind.has_scan


def figure_names(kind: Kind) -> tuple[str, ...]:
    """The kind's own figures for this config (none without :class:`FigureKind`)."""
    return tuple(kind.figure_names) if isinstance(kind, FigureKind) else ()


def generated_inputs(kind: Kind) -> dict[str, str]:
    """The files the pipeline makes before the kind's targets (none without
    :class:`InputKind`)."""
    return kind.generated_inputs() if isinstance(kind, InputKind) else {}


KINDS = {
    "column": "eegfit.experiments.column:Column",
    "network": "eegfit.experiments.network:Network",
    "empirical_fc": "eegfit.experiments.empirical_fc:EmpiricalFC",
    "recording": "eegfit.experiments.recording:Recording",
    "sensor": "eegfit.experiments.sensor:Sensor",
}
"""The built-in kinds by config name."""


def import_path(path: str):
    """The object an import path ``package.module:name`` names (a kind's class, the function
    that draws a kind's figures)."""
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def kind_class(name: str, where: str = "kind") -> type[Kind]:
    """The Kind class of a built-in name or an import path ``package.module:Class``."""
    path = KINDS.get(name, name)
    if not path.partition(":")[2]:
        raise ValueError(f"config {where}: unknown kind {name!r}; built-in: {sorted(KINDS)}, or "
                         f"an import path package.module:Class")
    try:
        cls = import_path(path)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"config {where}: cannot import kind {name!r}: {err}") from None
    if not (isinstance(cls, type) and issubclass(cls, Kind)):
        raise ValueError(f"config {where}: {name!r} is not an eegfit.experiments.Kind")
    missing = sorted(cls.__abstractmethods__)
    if missing:
        old = (": loss_fn(observed, seed) was the protocol before loss(model, data)"
               if "loss" in missing and hasattr(cls, "loss_fn") else "")
        raise ValueError(f"config {where}: kind {name!r} does not write {missing} (a kind writes "
                         f"base_model, make_target, observed and loss(model, data){old})")
    return cls
