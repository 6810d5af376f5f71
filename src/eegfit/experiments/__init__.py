"""Experiments: a config block of ``experiments:`` read into a :class:`Kind` with its spec, and the
one runner every kind goes through (fit, noise floor, record, summary).

>>> kinds = experiments.load(config)                    # every experiment, checked
>>> kind = kinds["jansen_rit_C_rms"]
>>> target = kind.targets()[0]
>>> fit_ds, timing = runner.fit(kind, "grad", target, runner.make_target(kind, target))
"""

from __future__ import annotations

from eegfit.experiments import runner, summary
from eegfit.experiments.provenance import depends
from eegfit.experiments.base import (KINDS, FigureKind, InputKind, Kind, NPEKind, PosteriorKind,
                                     ScanKind, Target, fit_loss, kind_class, keys, set_path)
from eegfit.experiments.spec import Job, Reader, Spec

OLD_KEYS = ("experiment", "parameter", "feature", "multi", "network", "recording",
            "empirical_fc", "landscape", "backends", "seeds", "model", "simulation")

NEW_SHAPE = """experiments:
  jansen_rit_C_rms:              # any name: results/<name>/
    kind: column             # column | network | empirical_fc | recording | sensor | pkg.mod:Class
    parameters:
      C: {bounds: [110, 170], start: 115, truths: [135, 150]}
    seeds: [0, 1, 2]
    model: {params: {}, drive: {kind: constant, rate_hz: 220.0}}
    simulation: {dt_ms: 0.1, duration_ms: 600.0, transient_ms: 200.0, integrator: euler}
    features: {rms: {}}
    backends:
      grad: {optimizer: adam, learning_rate: 2.0, n_steps: 40}
      nevergrad: {optimizer: DE, num_candidates: 6, n_steps: 8, options: {popsize: 6}}
(see config/config.yaml and config/README.md)"""


def build(name: str, block: dict, check_optimizers: bool = True) -> Kind:
    """The Kind of the experiment ``name`` from its config block (every key checked; with
    ``check_optimizers=False`` all but the nevergrad optimizer's name and options, whose check
    imports nevergrad: for a job that fits nothing with it, see :meth:`Spec.read`)."""
    where = f"experiments.{name}"
    if not isinstance(block, dict):
        raise ValueError(f"config {where} must be a mapping, got {block!r}")
    cls = kind_class(block.get("kind", ""), f"{where}.kind")
    return cls(cls.Spec.read(name, block, where, check_optimizers))


def from_spec(spec: Spec) -> Kind:
    """The Kind of an experiment from its spec, read and checked already (a workflow job's
    :class:`Job`): the config is not read again."""
    return kind_class(spec.kind, f"experiments.{spec.name}.kind")(spec)


def load(config: dict) -> dict[str, Kind]:
    """Every experiment of a config, checked (a ``ValueError`` naming the key otherwise), with
    the input files that exist checked against it (:meth:`InputKind.check_inputs`); an
    old-shape config (``parameter:``, ``multi:``, ...) is refused with the new shape shown."""
    old = sorted(set(config) & set(OLD_KEYS))
    if old:
        raise ValueError(f"config keys {old} are the old shape; an experiment is now a block of "
                         f"`experiments:`, e.g.\n{NEW_SHAPE}")
    blocks = config.get("experiments")
    if not isinstance(blocks, dict) or not blocks:
        raise ValueError(f"config experiments must map experiment names to blocks, e.g.\n"
                         f"{NEW_SHAPE}")
    kinds = {str(name): build(str(name), block) for name, block in blocks.items()}
    for kind in kinds.values():  # the files that exist now, against their config (e.g. channels)
        if isinstance(kind, InputKind):
            kind.check_inputs()
    return kinds


__all__ = ["KINDS", "FigureKind", "InputKind", "Job", "Kind", "NPEKind", "PosteriorKind",
           "Reader", "ScanKind", "Spec", "Target", "build", "depends", "fit_loss", "from_spec",
           "keys", "kind_class", "load", "runner", "set_path", "summary"]
