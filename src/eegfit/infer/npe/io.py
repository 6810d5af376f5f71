"""A trained NPE on disk: its weights (equinox's leaf serialisation, ``<name>.eqx``) and a JSON
sidecar (``<name>.json``) saying what it was trained for: parameter names, boxes and priors,
feature names, the noise model, the settings (flow size, budget, seed), units and the
conditions the kind names (a recording's band, segment, length).

:func:`load` rebuilds the flow's structure from the sidecar and reads the weights into it; given
the problem it is meant to serve (``expect``), it refuses an estimator trained for other
parameters, boxes, priors, features, noise or conditions with a ``ValueError`` naming the
difference, so a
stale estimator is never applied to a changed prior. Both files are written atomically and carry
no timestamps (a rerun writes the same bytes).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp

from eegfit.infer.npe.estimator import Estimator, Scaling, build_flow
from eegfit.infer.npe.settings import Noise, Settings

FORMAT = "eegfit-npe-1"


def sidecar_path(path) -> Path:
    return Path(path).with_suffix(".json")


def describe(estimator: Estimator) -> dict:
    """The sidecar's content: everything but the weights."""
    return {"format": FORMAT, "parameters": list(estimator.names),
            "boxes": {n: list(map(float, b)) for n, b in estimator.boxes.items()},
            "priors": estimator.priors, "features": list(estimator.feature_names),
            "noise": estimator.noise.describe(), "settings": dataclasses.asdict(estimator.settings),
            "units": dict(estimator.units), "conditions": dict(estimator.conditions),
            "training": {k: v for k, v in estimator.report.items() if not k.endswith("_time_s")}}


def save(estimator: Estimator, path) -> Path:
    """Write ``path`` (the weights) and its sidecar (:func:`sidecar_path`), atomically."""
    from eegfit.io import atomic_path  # noqa: PLC0415

    path = Path(path)
    with atomic_path(path) as tmp:
        eqx.tree_serialise_leaves(tmp, (estimator.flow, estimator.scaling))
    with atomic_path(sidecar_path(path)) as tmp:
        Path(tmp).write_text(json.dumps(describe(estimator), indent=1, sort_keys=True) + "\n")
    return path


def expected(problem, noise: Noise, conditions: dict | None = None) -> dict:
    """What an estimator serving ``problem`` with ``noise`` (and ``conditions``) must have been
    trained for."""
    from eegfit.infer.npe.train import describe_priors  # noqa: PLC0415

    return {"parameters": list(problem.names),
            "boxes": {n: list(map(float, problem.boxes[n])) for n in problem.names},
            "priors": describe_priors(problem), "features": list(problem.feature_names),
            "noise": noise.describe(), "conditions": dict(conditions or {})}


def check(meta: dict, want: dict, path) -> None:
    """A ``ValueError`` naming the first difference between a sidecar and what is wanted."""
    what = {"parameters": "parameters", "boxes": "prior bounds", "priors": "priors",
            "features": "features", "noise": "likelihood noise"}
    for key, label in what.items():
        have = json.loads(json.dumps(meta.get(key)))
        need = json.loads(json.dumps(want[key]))
        if have != need:
            raise ValueError(f"NPE estimator {path} was trained for other {label}: trained "
                             f"{key} {have}, this problem's {need}; retrain it")
    have = json.loads(json.dumps(meta.get("conditions") or {}))
    need = json.loads(json.dumps(want.get("conditions") or {}))
    for key in sorted(set(have) | set(need)):
        if have.get(key) != need.get(key):
            raise ValueError(f"NPE estimator {path} was trained for another {key}: trained "
                             f"{have.get(key)}, this problem's {need.get(key)}; retrain it")


def load(path, expect: dict | None = None) -> Estimator:
    """The estimator saved at ``path``; with ``expect`` (:func:`expected`), checked against it."""
    path = Path(path)
    meta = json.loads(sidecar_path(path).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{sidecar_path(path)} is not an eegfit NPE sidecar ({FORMAT})")
    if expect is not None:
        check(meta, expect, path)
    settings = Settings(**meta["settings"])
    n_params, n_features = len(meta["parameters"]), len(meta["features"])
    dtype = jnp.result_type(float)
    zeros = lambda n: jnp.zeros(n, dtype)  # noqa: E731
    skeleton = (build_flow(jax.random.key(0), n_params, n_features, settings),
                Scaling(zeros(n_params), zeros(n_params), zeros(n_features), zeros(n_features),
                        zeros(n_features)))
    flow, scaling = eqx.tree_deserialise_leaves(path, skeleton)
    noise = Noise(rel_sd=meta["noise"].get("rel_sd"), sd=meta["noise"].get("sd"),
                  drive_noise=bool(meta["noise"].get("drive_noise", False)))
    return Estimator(flow, scaling, tuple(meta["parameters"]),
                     {n: tuple(b) for n, b in meta["boxes"].items()}, meta["priors"],
                     tuple(meta["features"]), noise, settings, units=meta.get("units", {}),
                     report=meta.get("training", {}), conditions=meta.get("conditions", {}))


__all__ = ["FORMAT", "check", "describe", "expected", "load", "save", "sidecar_path"]
