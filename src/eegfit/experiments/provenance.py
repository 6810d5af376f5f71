"""What a result file depends on, in one place: the part of an experiment's config block each
stage's outputs depend on (a rule's params: Snakemake reruns a job when they change) and the
provenance attrs of every result file, which record the same part."""

from __future__ import annotations

import json

from eegfit import io
from eegfit.experiments.base import Kind, Target


STAGE_IGNORES = {  # keys of a block a stage's outputs do not depend on
    "target": ("backends", "scan", "uncertainty", "posterior", "npe", "seeds",
               "parameters.truths", "parameters.start", "parameters.bounds"),
    # a fit's first attempt does not depend on whether it is retried above another backend (the
    # retry's record says so): with the switch on, a fit that fitted keeps the same record
    "fit": ("scan", "posterior", "npe", "seeds", "parameters.truths",
            "backends.retry_above_others"),
    "scan": ("backends", "uncertainty", "posterior", "npe", "seeds", "parameters.truths",
             "parameters.start"),  # the targets a scan reads are its inputs
    "posterior": ("backends", "scan", "uncertainty", "npe", "seeds", "parameters.truths",
                  "parameters.start"),
    "npe": ("backends", "scan", "uncertainty", "seeds", "parameters.truths", "parameters.start"),
    "npe_calibration": ("backends", "scan", "uncertainty", "seeds", "parameters.truths",
                        "parameters.start"),
    "figures": ("npe",),
    "summary": ("npe",),
}


def depends(kind: Kind, stage: str, backend: str | None = None) -> dict:
    """The part of the experiment's block a stage's outputs depend on: a rule's params (Snakemake
    reruns a job when they change, so changing the nevergrad budget reruns the nevergrad fits
    only, and a new truth or seed adds jobs without rerunning the others) and the provenance of
    its files. A job's own targets (their truths and seeds) are in its file names and attrs."""
    ignored = [k for k in STAGE_IGNORES.get(stage, ()) if k not in kind.depends_also(stage)]
    block = json.loads(json.dumps(kind.spec.block))
    for key in ignored:
        head, _, leaf = key.partition(".")
        if not leaf:
            block.pop(head, None)
        elif isinstance(block.get(head), dict):
            for value in block[head].values():
                if isinstance(value, dict):
                    value.pop(leaf, None)
    if backend is not None and "backends" in block:
        block["backends"] = {backend: block["backends"][backend]}
    return block


def provenance(kind: Kind, record: str, target: Target | None = None,
               backend: str | None = None, **extra) -> dict:
    """Flat attrs of a result file: the part of the experiment's config block it depends on,
    the experiment's name and kind, the record type, the target's label, seed and truths."""
    if target is not None:
        extra.update(target=target.label, seed=int(target.seed))
        truth = target.truth or {}
        extra.update({f"truth.{n}": float(v) for n, v in truth.items()})
        if len(truth) == 1:
            extra["truth"] = float(next(iter(truth.values())))
    return io.provenance(depends(kind, record, backend), experiment=kind.spec.name,
                         kind=kind.spec.kind, record=record, **extra)


__all__ = ["STAGE_IGNORES", "depends", "provenance"]
