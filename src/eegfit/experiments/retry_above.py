"""A grad fit that ends far above another backend's loss on the same target tries again.

Each backend's fits of a chunk run in a job of their own, side by side; with
``backends.grad.retry_above_others`` the grad job writes its records as first attempts, and one
more job per chunk, after every backend's, compares each first attempt with the other backends'
fits of its target and seed (:func:`eegfit.fit.retry.above_other`: the summary's
``loss_above_lowest`` test, the fit's noise floor included). A fit within the margin keeps its
record as it is, byte for byte (:func:`retry_chunk` returns ``None`` for it and the job copies
the file). A fit above it is fitted again, all such fits of the chunk in one batch:

- start 0 is the other backend's best point (a polish of the optimum it found), the others the
  best of a screen over the box as in a one-start fit's retry (``retry`` starts, or
  ``n_starts`` for a multi-start fit; one start where both are 1: the polish alone);
- without the gradient check: start 0 lies at or near a minimum, where the gradient and its
  finite difference are both near zero and the check would drop the very point the retry is
  for; every start's best is still the lowest loss it evaluated, so an unreliable gradient
  can only waste its steps;
- the better of the first attempt and the retry is kept (the lower best loss), and the record
  says why (``retry_reason = "above_other_backend"``, ``retry_other_backend``,
  ``retry_other_best_loss``, ``first_attempt_status``, ``first_attempt_best_loss``); its
  evaluations and wall time count both attempts.

>>> decisions = compare(first_paths, {"nevergrad": ng_paths})   # (backend, loss) or None each
>>> out = retry_chunk(kind, "grad", targets, target_paths, first_paths, first_timings,
...                   {"nevergrad": ng_paths})                 # (record, timing) or None each
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import xarray as xr

from eegfit import io
from eegfit.experiments import runner
from eegfit.experiments.base import Kind, Target
from eegfit.fit.retry import ABOVE_OTHER, Retry, above_other, above_other_options, as_retry


@dataclasses.dataclass(frozen=True)
class Attempt:
    """What the comparison and a retry read of a fit record."""

    status: str
    best_loss: float
    noise_floor_loss: float
    best: dict
    n_evaluations: int
    n_nonfinite: int
    wall_time_s: float = 0.0


def read_attempt(path, timing_path=None) -> Attempt:
    """The :class:`Attempt` of the fit record at ``path`` (its wall time from ``timing_path``,
    a fit job's timing JSON, where given)."""
    attrs, variables = io.load_variables(path)

    def scalar(name):
        return float(variables[name].values) if name in variables else float("nan")
    wall = 0.0
    if timing_path is not None:
        with open(timing_path) as fh:
            wall = float(json.load(fh)["wall_time_s"])
    names = str(attrs["fitted_parameters"]).split(",")
    return Attempt(status=str(attrs["status"]), best_loss=scalar("best_loss"),
                   noise_floor_loss=scalar("noise_floor_loss"),
                   best={n: float(variables[f"best_{n}"].values) for n in names},
                   n_evaluations=int(attrs["n_evaluations"]),
                   n_nonfinite=int(attrs["n_nonfinite"]), wall_time_s=wall)


def compare(first_paths: list, others: dict) -> list:
    """Per first attempt (``first_paths``), ``(backend, loss)`` of the other backend whose
    lower loss on the same target calls a retry, or ``None`` (``others``: backend -> the paths
    of its records of the same targets, in the same order)."""
    firsts = [read_attempt(p) for p in first_paths]
    losses = {b: [read_attempt(p).best_loss for p in paths] for b, paths in others.items()}
    return [above_other(f.best_loss, {b: v[i] for b, v in losses.items()}, f.noise_floor_loss)
            for i, f in enumerate(firsts)]


def retry_chunk(kind: Kind, backend: str, targets: list[Target], target_paths: list,
                first_paths: list, first_timings: list, others: dict) -> list:
    """Per target of a chunk, ``None`` where its first attempt (``first_paths``, its timing
    JSON ``first_timings``) stays the fit, else the ``(record, timing)`` that replaces it (see
    the module docstring; ``others`` as in :func:`compare`). The retried fits run as one
    batch; a target's file (``target_paths``) is read only where it is retried."""
    settings = kind.spec.backend(backend)
    if settings.name != "grad":
        raise ValueError(f"a retry above another backend is for a grad fit, not {backend!r}")
    if backend in others:
        raise ValueError(f"{backend!r} cannot be its own other backend")
    calls = compare(first_paths, others)
    again = [b for b, call in enumerate(calls) if call is not None]
    out = [None] * len(targets)
    if not again:
        return out
    n, options = above_other_options(settings.retry, settings.n_starts, settings.retry_screen,
                                     settings.screen, settings.start_design)
    firsts = [read_attempt(first_paths[b], first_timings[b]) for b in again]
    starts = []
    for b in again:
        other = read_attempt(others[calls[b][0]][b])
        starts.append({p.name: other.best[p.name] for p in kind.spec.parameters})
    chosen = [targets[b] for b in again]
    observed = [kind.observed(xr.load_dataset(target_paths[b])) for b in again]
    results, hessian, sizes = runner.fit_results(
        kind, backend, chosen, observed, starts=starts, options=options,
        settings=dataclasses.replace(settings, gradient_check=None))
    kept, kept_at = [], []
    for i, (b, first, result) in enumerate(zip(again, firsts, results)):
        other_backend, other_loss = calls[b]
        retry = Retry(reason=ABOVE_OTHER, first_status=first.status,
                      first_best_loss=first.best_loss, screen_best_loss=float("nan"),
                      n_starts=n, other_backend=other_backend,
                      other_best_loss=float(other_loss))
        why = (f"retried from {n} start(s), the first at {other_backend}'s best point (the "
               f"first attempt's best loss {first.best_loss:.4g} lay above {other_backend}'s "
               f"{other_loss:.4g})")
        result = as_retry(result, first, retry, why)
        if not (np.isfinite(result.best_loss) and (not np.isfinite(first.best_loss)
                                                   or result.best_loss < first.best_loss)):
            out[b] = _first_kept(first_paths[b], result, why, sizes[i])
            continue
        results[i] = result
        kept.append(i)
        kept_at.append(b)
    if kept:
        made = runner.records(kind, backend, [chosen[i] for i in kept],
                              [observed[i] for i in kept], [results[i] for i in kept],
                              [hessian[i] for i in kept], [sizes[i] for i in kept])
        for b, record in zip(kept_at, made):
            out[b] = record
    return out


def _first_kept(path, retried, why: str, batch_size: int) -> tuple[xr.Dataset, dict]:
    """The first attempt's record where its retry found no lower loss: as it was, with the
    retry's reason, its best loss and both attempts' counts in the attrs."""
    ds = io.load_netcdf(path)
    ds.attrs.update(retried.retry.attrs(), retry_best_loss=float(retried.best_loss),
                    retry_kept="first attempt",
                    n_evaluations=int(retried.n_evaluations),
                    n_nonfinite=int(retried.n_nonfinite),
                    status_message=f"{why}; the retry's best loss {retried.best_loss:.4g} "
                                   f"was no lower, the first attempt is kept: "
                                   f"{ds.attrs['status_message']}")
    return ds, {"wall_time_s": float(retried.wall_time_s),
                "n_evaluations": int(retried.n_evaluations), "batch_size": batch_size}


__all__ = ["Attempt", "compare", "read_attempt", "retry_chunk"]
