"""The config of an experiment, read into frozen specs: every default here, every error named.

An experiment is one block of the config's ``experiments:`` mapping::

    experiments:
      <name>:
        kind: column                  # a built-in kind, or package.module:Class
        parameters:                   # the fitted model fields, each with its box and start
          C: {bounds: [110, 170], start: 115, truths: [135, 150]}
        seeds: [0, 1, 2]
        model: {...}                  # the kind's model settings
        simulation: {dt_ms: 0.1, duration_ms: 600, transient_ms: 200, integrator: euler}
        backends: {grad: {...}, nevergrad: {...}}
        ...                           # the kind's own keys

The envelope (:data:`EXPERIMENT`: ``kind``, ``parameters``, ``seeds``, ``simulation``,
``backends``, ``uncertainty``, ``posterior``, ``npe``) is read here, once for every kind, each key
through its declaration (its type and range, which :mod:`eegfit.experiments.schema` writes into
the config schema); a kind's spec (a frozen dataclass deriving from :class:`Spec`) reads its own
keys with the same small readers (:class:`Reader`). Every error is a ``ValueError`` naming the
key by its full path (``experiments.<name>.<key>...``), so a bad config stops at planning.
"""

from __future__ import annotations

import dataclasses
import inspect

from eegfit.experiments.inference import NPE, POSTERIOR, NpeSpec, PosteriorSpec, Prior
from eegfit.experiments.reader import (Block, Bool, Choice, Int, Listed, Num, Or, Pair, Reader, Str,
                                       default, integer, interval, number)
from eegfit.simulate import INTEGRATORS


# ---- the envelope's keys, each with its type and range: read below, and the schema's source ------

def _optax():
    from eegfit.fit.grad import optax_optimizers  # noqa: PLC0415

    return optax_optimizers()


def _designs():
    from eegfit.fit.multistart import DESIGNS  # noqa: PLC0415

    return DESIGNS


def _nevergrad():
    from eegfit.fit.nevergrad_backend import optimizer_names  # noqa: PLC0415

    return optimizer_names()


PARAMETER = Block({"bounds": Pair(), "start": Or(Num(), "random"), "truths": Listed(Num())},
                  required=("bounds", "start"), name="parameter")
SIMULATION = Block({"dt_ms": Num(above=0.0), "duration_ms": Num(above=0.0),
                    "transient_ms": Num(low=0.0), "integrator": Choice(INTEGRATORS),
                    "grad_horizon_ms": Num(above=0.0, null=True), "checkpoint": Bool(),
                    "float64": Bool()}, required=("dt_ms", "duration_ms"), name="simulation")
TOL = Num(low=0.0, null=True)
GRAD = Block({"optimizer": Choice(_optax), "learning_rate": Num(above=0.0),
              "learning_rate_units": Choice(("parameter", "box")), "n_steps": Int(low=1),
              "gradient_check": Block({"enabled": Bool(), "rtol": Num(above=0.0),
                                       "rel_step": Num(above=0.0, high=0.5)}),
              "tol": TOL, "n_starts": Int(low=1), "start_design": Choice(_designs),
              "screen": Int(low=0), "retry": Int(low=0), "retry_screen": Int(low=0),
              "retry_above_others": Bool()},
             required=("optimizer", "learning_rate", "n_steps"), name="grad")
NEVERGRAD = Block({"optimizer": Choice(_nevergrad), "num_candidates": Int(low=1),
                   "n_steps": Int(low=1), "options": Block(open=True), "tol": TOL},
                  required=("optimizer", "num_candidates", "n_steps"), name="nevergrad")
HYBRID = Block({"search": NEVERGRAD, "polish": GRAD, "n_polish": Int(low=1)},
               required=("search", "polish"), name="hybrid")
EXPERIMENT = Block(
    {"kind": Str(doc="column | network | empirical_fc | recording | sensor | "
                     "package.module:Class (each kind's own keys: config/README.md)"),
     "parameters": Block(each=PARAMETER, least=1), "seeds": Listed(Int(low=0), unique=True),
     "simulation": SIMULATION,
     "backends": Block({"grad": GRAD, "nevergrad": NEVERGRAD, "hybrid": HYBRID}, least=1),
     "uncertainty": Block({"rel_sd": Num(above=0.0)}), "posterior": POSTERIOR, "npe": NPE},
    required=("kind", "parameters", "simulation", "backends"), open=True, name="experiment")
"""An experiment block: the envelope every kind shares (a kind's own keys: its spec's)."""

ENVELOPE = EXPERIMENT.keys
"""The keys every experiment block may have; a kind's spec adds its own (``extra_keys``)."""


# ---- the shared parts of every experiment --------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Parameter:
    """A fitted model field: its dotted ``name`` (``C``, ``drive.rate_hz``), search box, start
    (a number, or ``"random"``: uniform in the box, drawn per seed) and ground truths."""

    name: str
    bounds: tuple[float, float]
    start: float | str
    truths: tuple[float, ...] = ()

    @classmethod
    def read(cls, name: str, block, where: str, *, with_truths: bool) -> Parameter:
        r = Reader(block, where, PARAMETER.keys)
        bounds = PARAMETER.value(r, "bounds")
        start = PARAMETER.value(r, "start")
        if start != "random":
            if not bounds[0] <= start <= bounds[1]:
                raise ValueError(f"config {r.path('start')} ({start:g}) lies outside "
                                 f"{r.path('bounds')} {list(bounds)}")
        truths = ()
        if with_truths:
            truths = PARAMETER.value(r, "truths")
            outside = [t for t in truths if not bounds[0] <= t <= bounds[1]]
            if outside:
                raise ValueError(f"config {r.path('truths')} {outside} lie outside "
                                 f"{r.path('bounds')} {list(bounds)}")
        elif r.has("truths"):
            raise ValueError(f"config {r.path('truths')}: this kind fits data without a ground "
                             f"truth; remove the key")
        return cls(name, bounds, start, truths)

    def start_value(self, seed: int) -> float:
        """The start of a fit with ``seed``."""
        if self.start == "random":
            import numpy as np  # noqa: PLC0415

            return float(np.random.default_rng(int(seed)).uniform(*self.bounds))
        return float(self.start)


@dataclasses.dataclass(frozen=True)
class Simulation:
    """Keyword arguments of :func:`eegfit.simulate.simulate` (times in ms)."""

    dt_ms: float
    duration_ms: float
    transient_ms: float = 0.0
    integrator: str = "euler"
    grad_horizon_ms: float | None = None
    checkpoint: bool = False
    float64: bool = False

    @classmethod
    def read(cls, block, where: str) -> Simulation:
        r = Reader(block, where, SIMULATION.keys)
        sim = cls(**{k: SIMULATION.value(r, k, getattr(cls, k, None)) for k in SIMULATION.keys})
        if not sim.transient_ms < sim.duration_ms:
            raise ValueError(f"config {where}.transient_ms ({sim.transient_ms:g}) must be < "
                             f"{where}.duration_ms ({sim.duration_ms:g})")
        if sim.dt_ms > sim.duration_ms - sim.transient_ms:
            raise ValueError(f"config {where}.dt_ms ({sim.dt_ms:g}) is longer than the kept "
                             f"window (duration_ms - transient_ms)")
        return sim

    def kwargs(self) -> dict:
        """The settings :func:`~eegfit.simulate.simulate` takes."""
        out = {"dt_ms": self.dt_ms, "duration_ms": self.duration_ms,
               "transient_ms": self.transient_ms, "integrator": self.integrator}
        if self.grad_horizon_ms is not None:
            out["grad_horizon_ms"] = self.grad_horizon_ms
        if self.checkpoint:
            out["checkpoint"] = True
        return out


def read_gradient_check(r: Reader, defaults: dict) -> dict | None:
    """``backends.grad.gradient_check: {enabled, rtol, rel_step}`` -> the Fitter's settings
    (``None`` when disabled); on by default, with the kind's ``defaults``
    (``Spec.gradient_check``)."""
    check = GRAD.fields["gradient_check"]
    Reader(r.block, r.where, check.keys)
    if not check.value(r, "enabled", True):
        return None
    return {k: check.value(r, k, defaults[k]) for k in ("rtol", "rel_step")}


def read_screen(r: Reader, default: int) -> int:
    """``backends.grad.screen``: 0, or at least ``n_starts - 1`` design points (with
    ``n_starts > 1``) whose loss picks the other starts."""
    screen, n_starts = GRAD.value(r, "screen", default), GRAD.value(r, "n_starts", 1)
    if screen and (n_starts == 1 or screen < n_starts - 1):
        raise ValueError(f"config {r.path('screen')} ({screen}) picks the other starts of "
                         f"{r.path('n_starts')} ({n_starts}): it needs n_starts > 1 and at least "
                         f"n_starts - 1 design points (0: no screen)")
    return screen


RETRY_STARTS = 8
"""A one-start grad fit that stops at its start tries again from this many starts (default)."""


def read_retry(r: Reader, n_starts: int) -> tuple[int, int]:
    """``backends.grad.retry`` (starts of a second attempt of a one-start fit that did not fit:
    default :data:`RETRY_STARTS`, 0 off; 0 with ``n_starts > 1``) and ``retry_screen``."""
    from eegfit.fit.retry import check_options  # noqa: PLC0415

    retry = GRAD.value(r, "retry", RETRY_STARTS if n_starts == 1 else 0)
    retry_screen = GRAD.value(r, "retry_screen", 0)
    try:
        check_options(retry, retry_screen, "grad", n_starts)
    except ValueError as err:
        raise ValueError(f"config {r.path('retry')} / {r.path('retry_screen')}: {err}") from None
    return retry, retry_screen


@dataclasses.dataclass(frozen=True)
class Backend:
    """One backend block: ``grad`` (an optax optimizer and its learning rate, in the parameters'
    units, or a fraction of each box with ``learning_rate_units: box``; ``n_starts`` starts per
    fit, spread over the box by ``start_design``, the best kept), ``nevergrad`` (an optimizer of
    its registry, candidates per step, its own options) or ``hybrid`` (a nevergrad ``search``,
    then a grad ``polish`` of its ``n_polish`` best candidates; ``n_steps`` is the polish's)."""

    name: str
    optimizer: str
    n_steps: int
    tol: float | None = None
    learning_rate: float | None = None
    learning_rate_units: str = "parameter"
    num_candidates: int = 1
    options: dict = dataclasses.field(default_factory=dict)
    gradient_check: dict | None = None
    n_starts: int = 1
    start_design: str = "sobol"
    screen: int = 0
    retry: int = 0
    retry_screen: int = 0
    retry_above_others: bool = False
    search: Backend | None = None
    polish: Backend | None = None
    n_polish: int = 4

    @classmethod
    def read(cls, name: str, block, where: str, check_defaults: dict | None = None,
             check_optimizer: bool = True) -> Backend:
        """The backend block ``name`` at ``where``; ``check_optimizer=False`` leaves the
        nevergrad optimizer and its options unchecked against nevergrad (see :meth:`Spec.read`).
        """
        if name == "grad":
            r, get = Reader(block, where, GRAD.keys), GRAD.value
            n_starts = get(r, "n_starts", cls.n_starts)
            return cls(name, get(r, "optimizer"), get(r, "n_steps"), get(r, "tol"),
                       gradient_check=read_gradient_check(
                           r.sub("gradient_check"), check_defaults or Spec.gradient_check),
                       screen=read_screen(r, cls.screen),
                       **dict(zip(("retry", "retry_screen"), read_retry(r, n_starts))),
                       **{k: get(r, k, getattr(cls, k)) for k in (
                           "learning_rate", "learning_rate_units", "n_starts", "start_design",
                           "retry_above_others")})
        if name == "hybrid":
            r = Reader(block, where, HYBRID.keys)
            for part in ("search", "polish"):
                if not isinstance(r.raw(part), dict):
                    raise ValueError(f"config {r.path(part)} must be a "
                                     f"{'nevergrad' if part == 'search' else 'grad'} backend "
                                     f"block, got {r.raw(part)!r}")
            search = cls.read("nevergrad", r.raw("search"), r.path("search"))
            polish = cls.read("grad", r.raw("polish"), r.path("polish"), check_defaults)
            if search.tol is not None:
                raise ValueError(f"config {r.path('search')}.tol: the hybrid's tol is its "
                                 f"polish's ({r.path('polish')}.tol), for both phases")
            if polish.n_starts != 1:
                raise ValueError(f"config {r.path('polish')}.n_starts: the polish starts from "
                                 f"the search's candidates; set {r.path('n_polish')} instead")
            for key in ("retry", "retry_screen", "retry_above_others"):
                if key in r.raw("polish"):
                    raise ValueError(f"config {r.path('polish')}.{key}: the polish has no "
                                     f"retry (its starts are the search's best candidates)")
            return cls(name, f"{search.optimizer} then {polish.optimizer}", polish.n_steps,
                       polish.tol, search=search, polish=polish,
                       n_polish=HYBRID.value(r, "n_polish", cls.n_polish))
        if name == "nevergrad":
            r, get = Reader(block, where, NEVERGRAD.keys), NEVERGRAD.value
            from eegfit.fit.nevergrad_backend import check_options, resolve_optimizer  # noqa: PLC0415

            options = dict(r.sub("options").block)
            if check_optimizer:
                try:
                    resolve_optimizer(r.string("optimizer"), None)
                except ValueError as err:
                    raise ValueError(f"config {r.path('optimizer')}: {err}") from None
                check_options(r.string("optimizer"), options, r.path("options"),
                              get(r, "num_candidates"))
            return cls(name, r.raw("optimizer"), get(r, "n_steps"), get(r, "tol"),
                       num_candidates=get(r, "num_candidates"), options=options)
        raise ValueError(f"config {where}: unknown backend {name!r}; known: grad, nevergrad, "
                         f"hybrid")


@dataclasses.dataclass(frozen=True)
class Spec:
    """The envelope every experiment shares; a kind derives from it and adds its own fields.

    A derived spec lists its own keys in ``extra_keys`` and reads them in ``read_extra``
    (returning field values); defaults live in its dataclass fields and nowhere else.
    ``has_truths``: whether targets are simulated at ground truths (False for measured data).
    """

    name: str
    kind: str
    parameters: tuple[Parameter, ...]
    seeds: tuple[int, ...]
    simulation: Simulation
    backends: tuple[Backend, ...]
    block: dict
    uncertainty_rel_sd: float | None = None
    posterior: PosteriorSpec | None = None
    npe: NpeSpec | None = None

    extra_keys = ()
    has_truths = True
    gradient_check = {"rtol": 0.5, "rel_step": 0.005}
    """The grad fits' first-step check unless ``backends.grad.gradient_check`` says otherwise:
    ``rel_step`` is the scale (fraction of the box) on which the kind's loss is smooth enough
    for its gradient to be compared (benchmarks/bench_gradients.py, README "Gradients through
    noisy simulations")."""

    @classmethod
    def read(cls, name: str, block: dict, where: str, check_optimizers: bool = True) -> Spec:
        """The spec of the experiment ``name`` from its block at ``where``, every key checked.

        ``check_optimizers=False`` skips trying the nevergrad optimizer and its options, which
        imports nevergrad (1.4 s or more): for a job that runs no nevergrad fit, reading a
        block the planning has checked in full."""
        r = Reader(block, where, ENVELOPE + tuple(cls.extra_keys))
        params = r.sub("parameters")
        if not params.block:
            raise ValueError(f"config {params.where} must name at least one parameter to fit")
        parameters = tuple(Parameter.read(str(n), b, params.path(str(n)),
                                          with_truths=cls.has_truths)
                           for n, b in params.block.items())
        if cls.has_truths and len({len(p.truths) for p in parameters}) > 1:
            raise ValueError(f"config {params.where}: every parameter needs as many truths "
                             f"(one per target): {[len(p.truths) for p in parameters]}")
        seeds = EXPERIMENT.value(r, "seeds", [0])
        backends = r.sub("backends")
        if not backends.block:
            raise ValueError(f"config {backends.where} must configure at least one backend "
                             f"(grad, nevergrad)")
        simulation = Simulation.read(r.raw("simulation"), r.path("simulation"))
        read_backends = tuple(Backend.read(b, v, backends.path(b), cls.gradient_check,
                                           check_optimizers) for b, v in backends.block.items())
        if len(read_backends) == 1 and read_backends[0].retry_above_others:
            raise ValueError(f"config {backends.path('grad')}.retry_above_others: a grad fit is "
                             f"retried where it ends above another backend's loss on the same "
                             f"target, and {backends.where} configures no other backend "
                             f"(add nevergrad or hybrid, or remove the key)")
        unc_decl = EXPERIMENT.fields["uncertainty"]
        unc = r.sub("uncertainty", unc_decl.keys)
        posterior = PosteriorSpec.read(r.raw("posterior"), r.path("posterior"), parameters)
        return cls(name=name, kind=EXPERIMENT.value(r, "kind"), parameters=parameters, seeds=seeds,
                   simulation=simulation, backends=read_backends,
                   block=block,
                   uncertainty_rel_sd=unc_decl.value(unc, "rel_sd") if unc.has("rel_sd")
                   else None,
                   posterior=posterior,
                   npe=NpeSpec.read(r.raw("npe"), r.path("npe"), posterior),
                   **cls._extra(r, simulation))

    @classmethod
    def read_extra(cls, r: Reader, simulation: Simulation) -> dict:
        """The kind's own fields from its keys (override); ``simulation``: the block's
        ``simulation:``, read and checked already (its ``dt_ms``, ...)."""
        return {}

    @classmethod
    def _extra(cls, r: Reader, simulation: Simulation) -> dict:
        """:meth:`read_extra`, or its one-argument form ``read_extra(r)`` of a kind written
        before it got the checked simulation (a kind of another package keeps working)."""
        if len(inspect.signature(cls.read_extra).parameters) == 1:
            return cls.read_extra(r)
        return cls.read_extra(r, simulation)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def backend(self, name: str) -> Backend:
        for b in self.backends:
            if b.name == name:
                return b
        raise ValueError(f"experiment {self.name!r} has no backend {name!r}; configured: "
                         f"{[b.name for b in self.backends]}")


@dataclasses.dataclass(frozen=True)
class Job:
    """What a workflow job gets from the planning in place of the config: its experiment's spec,
    read and checked once at planning, and the workflow's runtime settings.

    A rule passes it as a param (``params.job``): Snakemake pickles it into the job's script and
    leaves it out of the rerun trigger, which counts only params of builtin types (the rule's
    ``params.config``, the part of the block its outputs depend on)."""

    spec: Spec
    jax_cache_dir: str | None = None
    """The folder of JAX's persistent compilation cache (config ``runtime.jax_cache_dir``)."""


__all__ = ["Backend", "ENVELOPE", "EXPERIMENT", "GRAD", "HYBRID", "Job", "NEVERGRAD", "NpeSpec",
           "PARAMETER", "Parameter", "PosteriorSpec", "Prior", "Reader", "SIMULATION", "Simulation",
           "Spec", "default", "integer", "interval", "number"]
