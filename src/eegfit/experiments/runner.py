"""What every experiment kind shares, written once: the Fitter of a backend from the config, the
fit, its noise floor and uncertainty, its NetCDF record with provenance, and the timing.

>>> kind = experiments.build("column_C", block)         # a Kind from one config block
>>> target = kind.targets()[0]
>>> target_ds = make_target(kind, target)
>>> fit_ds, timing = fit(kind, "grad", target, target_ds)
>>> records = fit_chunk(kind, "grad", targets, target_datasets)   # a batch: one program

A chunk of targets is fitted as one batch (:meth:`eegfit.Fitter.fit_many`): the kind's
``loss(model, data)`` takes each fit's data as an argument, so the whole chunk advances together
in one compiled program, compiled once.
"""

from __future__ import annotations

import json
import logging

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr

from eegfit import io
from eegfit.experiments.base import Kind, Target
from eegfit.fit import Fitter, FitResult, Hybrid, Param
from eegfit.fit.grad import optax_optimizer

log = logging.getLogger("eegfit")


STAGE_IGNORES = {  # keys of a block a stage's outputs do not depend on
    "target": ("backends", "scan", "uncertainty", "posterior", "npe", "seeds",
               "parameters.truths", "parameters.start", "parameters.bounds"),
    "fit": ("scan", "posterior", "npe", "seeds", "parameters.truths"),
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
    ignored = STAGE_IGNORES.get(stage, ())
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


def make_target(kind: Kind, target: Target) -> xr.Dataset:
    """The target's dataset (from the kind) with provenance."""
    ds = kind.make_target(target)
    ds.attrs.update(provenance(kind, "target", target))
    return ds


def scale_by_box(widths: dict, learning_rate: float) -> optax.GradientTransformation:
    """Multiply each parameter's update by ``learning_rate * (high - low)`` of its box."""
    def update(updates, state, params=None):
        del params
        return {k: u * (learning_rate * widths[k]) for k, u in updates.items()}, state
    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def fitter(kind: Kind, backend: str, observed=None, seed: int = 0) -> Fitter | Hybrid:
    """The Fitter of one backend: each fitted field a bounded Param at its start for ``seed``.

    With ``observed``, the Fitter of one target: ``loss_fn`` is the kind's objective closed over
    that fit's data (``kind.loss_fn(observed, seed)``). Without, the Fitter of every target:
    ``loss_fn`` is ``kind.loss(model, data)``, fitted with ``fit_many(data=...)``.

    grad: the optax optimizer at the configured learning rate in the parameters' own units, or
    (``learning_rate_units: box``) at a unit rate with each step scaled by the learning rate
    times its box width, so one rate serves parameters of different scales. hybrid: a
    :class:`~eegfit.fit.Hybrid` of its ``search`` (nevergrad) and ``polish`` (grad) blocks.
    """
    spec, settings = kind.spec, kind.spec.backend(backend)
    model = kind.model_at({p.name: Param(p.start_value(seed), bounds=p.bounds)
                           for p in spec.parameters})
    loss_fn = kind.loss if observed is None else kind.loss_fn(observed, seed)
    if settings.name == "hybrid":
        return Hybrid(_fitter(spec, settings.search, model, loss_fn),
                      _fitter(spec, settings.polish, model, loss_fn),
                      search_steps=settings.search.n_steps, n_polish=settings.n_polish)
    return _fitter(spec, settings, model, loss_fn)


def _fitter(spec, settings, model, loss_fn) -> Fitter:
    """The Fitter of a grad or nevergrad backend block."""
    if settings.name == "grad":
        make, lr = optax_optimizer(settings.optimizer), settings.learning_rate
        if settings.learning_rate_units == "box":
            widths = {p.name: p.bounds[1] - p.bounds[0] for p in spec.parameters}
            return Fitter(model, optax.chain(make(1.0), scale_by_box(widths, lr)),
                          loss_fn=loss_fn, gradient_check=settings.gradient_check,
                          optimizer_label=f"{settings.optimizer}(lr={lr} x box width)")
        return Fitter(model, make(lr), loss_fn=loss_fn, gradient_check=settings.gradient_check,
                      optimizer_label=f"{settings.optimizer}(lr={lr})")
    return Fitter(model, settings.optimizer, loss_fn=loss_fn, backend="nevergrad",
                  num_candidates=settings.num_candidates, optimizer_options=settings.options)


def fit_options(settings) -> dict:
    """The keyword arguments of ``fit`` / ``fit_many`` a backend block adds (a grad block's
    starts, or its retry)."""
    if settings.name == "grad" and settings.n_starts > 1:
        return {"n_starts": settings.n_starts, "start_design": settings.start_design,
                "screen": settings.screen}
    if settings.name == "grad" and settings.retry:
        return {"retry": settings.retry, "retry_screen": settings.retry_screen,
                "start_design": settings.start_design}
    return {}


def hessians(fit: Fitter, results: list[FitResult], data) -> list:
    """The loss Hessian at each fit's best point, all in one compiled call (a Fitter of every
    target, its fits' ``data`` stacked); ``None`` where a fit has no best point."""
    from eegfit.fit.uncertainty import loss_hessians  # noqa: PLC0415

    names = results[0].names
    ok = [bool(np.isfinite(r.best_loss)) for r in results]
    # a failed fit is evaluated at its start (finite) to keep the batch whole, then dropped
    values = {k: np.asarray([r.best_params[k] if good else r.start_params[k]
                             for r, good in zip(results, ok)]) for k in names}
    h = loss_hessians(fit.loss_fn, fit.model_at, values, data)
    return [h[b] if good else None for b, good in enumerate(ok)]


def curvature_vars(kind: Kind, fit: Fitter | None, result: FitResult,
                   hessian: np.ndarray | None = None) -> dict:
    """The Laplace uncertainty at the best point (``uncertainty.rel_sd``): Hessian, covariance,
    correlation and 1-sigma per parameter (NaN where the fit failed or H is not positive
    definite). The Hessian is computed here (``fit``: the Fitter of this one target) unless
    given."""
    from eegfit.fit.uncertainty import Curvature, curvature, laplace  # noqa: PLC0415

    names, n, rel_sd = result.names, len(result.names), kind.spec.uncertainty_rel_sd
    if not np.isfinite(result.best_loss):
        nan = np.full((n, n), np.nan)
        curv = Curvature(names, nan, np.full(n, np.nan), nan, np.full(n, np.nan), nan, False)
    elif hessian is not None:
        curv = laplace(names, hessian, rel_sd)
    else:
        curv = curvature(fit.loss_fn, fit.model_at, {k: result.best_params[k] for k in names},
                         rel_sd)
    units = kind.units()
    unit_list = ", ".join(f"{k}: {u}" for k, u in units.items())
    dims = ("parameter", "parameter_2")
    out = {
        "hessian": (dims, curv.hessian, {"units": f"1/(unit_i*unit_j), unit_k = {unit_list}",
                                         "long_name": "Hessian of the loss at the best point"}),
        "hessian_eigenvalues": (("eigen",), curv.eigenvalues, {
            "units": "mixed", "long_name": "eigenvalues of the Hessian, ascending"}),
        "covariance": (dims, curv.covariance, {"units": f"unit_i*unit_j, unit_k = {unit_list}",
                                               "long_name": "Laplace covariance 2 rel_sd^2 inv(H)"}),
        "correlation": (dims, curv.correlation, {"units": "1", "long_name": "Laplace correlation"}),
        "hessian_positive_definite": ((), int(curv.positive_definite), {
            "units": "1", "long_name": "1 where the Hessian is positive definite"}),
        "coords": {"parameter": ("parameter", list(names), {"long_name": "parameter"}),
                   "parameter_2": ("parameter_2", list(names), {"long_name": "parameter"})}}
    for i, name in enumerate(names):
        out[f"std_{name}"] = ((), curv.std[i], {"units": units[name], "long_name":
                                                 f"1-sigma Laplace uncertainty of {name}"})
    return out


def fit(kind: Kind, backend: str, target: Target, target_ds: xr.Dataset,
        progress: bool | None = False) -> tuple[xr.Dataset, dict]:
    """Fit one target with one backend: ``(the fit's record, its timing)`` (a chunk of one)."""
    return fit_chunk(kind, backend, [target], [target_ds], progress)[0]


def fit_chunk(kind: Kind, backend: str, targets: list[Target], target_datasets: list,
              progress: bool | None = False) -> list[tuple[xr.Dataset, dict]]:
    """Fit the targets of a chunk with one backend, together: one ``(record, timing)`` each.

    The fits whose data have the same shapes run as one batch (:meth:`eegfit.Fitter.fit_many`:
    one compiled program, the targets' data its inputs); a kind without ``loss(model, data)``
    fits one target at a time. Each record (:func:`eegfit.io.fit_dataset`) gains the kind's
    extras, the noise floor (``noise_floor_loss``, NaN where the kind has none) and, with
    ``uncertainty.rel_sd``, the Laplace uncertainty (the chunk's Hessians in one call). The
    timing (the fit's share of its batch's wall time, evaluations, batch size) stays out of
    the record: it differs run to run.
    """
    settings = kind.spec.backend(backend)
    observed = [kind.observed(ds) for ds in target_datasets]
    results, hessian = [None] * len(targets), [None] * len(targets)
    batch_size = [1] * len(targets)
    if kind.takes_data:
        fitter_ = fitter(kind, backend)
        data = [kind.fit_data(obs, t.seed) for obs, t in zip(observed, targets)]
        for group in _same_shapes(data):
            stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[data[b] for b in group])
            starts = {p.name: np.asarray([p.start_value(targets[b].seed) for b in group])
                      for p in kind.spec.parameters}
            out = fitter_.fit_many(settings.n_steps, data=stacked, starts=starts,
                                   seeds=[int(targets[b].seed) for b in group],
                                   tol=settings.tol, progress=progress,
                                   **fit_options(settings))
            curv = (hessians(fitter_, out, stacked) if kind.spec.uncertainty_rel_sd
                    is not None else [None] * len(group))
            for b, result, h in zip(group, out, curv):
                results[b], hessian[b], batch_size[b] = result, h, len(group)
    else:
        for b, (obs, target) in enumerate(zip(observed, targets)):
            one = fitter(kind, backend, obs, target.seed)
            results[b] = one.fit(settings.n_steps, seed=int(target.seed), tol=settings.tol,
                                 progress=progress, **fit_options(settings))
            if kind.spec.uncertainty_rel_sd is not None and np.isfinite(results[b].best_loss):
                hessian[b] = curvature_vars(kind, one, results[b])["hessian"][1]
    extras = kind.fit_extras_many(targets, observed, results)
    return [(_record(kind, backend, target, result, h, more),
             {"wall_time_s": result.wall_time_s, "n_evaluations": result.n_evaluations,
              "batch_size": size})
            for target, result, h, size, more in zip(targets, results, hessian, batch_size,
                                                     extras)]


def _same_shapes(data: list) -> list[list[int]]:
    """Indices of ``data`` grouped by tree structure, shapes and dtypes (what stacks)."""
    groups: dict = {}
    for b, tree in enumerate(data):
        leaves, treedef = jax.tree.flatten(tree)
        groups.setdefault((treedef, tuple((np.shape(x), str(x.dtype)) for x in leaves)),
                          []).append(b)
    return list(groups.values())


def _record(kind: Kind, backend: str, target: Target, result: FitResult, hessian,
            extras: dict) -> xr.Dataset:
    """The fit's NetCDF record: the result, the kind's ``extras`` (:meth:`Kind.fit_extras`),
    the noise floor, the uncertainty."""
    log.info("%s %s seed %d, %s: %s, best %s, loss %.6g", kind.spec.name, target.label,
             target.seed, backend, result.status,
             ", ".join(f"{k}={float(np.ravel(v)[0]):.6g}" for k, v in result.best_params.items()),
             result.best_loss)
    extras = {"noise_floor_loss": ((), np.nan, {"units": "1", "long_name": "noise floor (none "
                                                                     "for this kind)"}),
              **extras}
    attrs = provenance(kind, "fit", target, backend)
    if kind.spec.uncertainty_rel_sd is not None:
        curvature = curvature_vars(kind, None, result, hessian)
        extras["coords"] = {**extras.get("coords", {}), **curvature.pop("coords", {})}
        extras.update(curvature)
        attrs["uncertainty_rel_sd"] = kind.spec.uncertainty_rel_sd
    return io.fit_dataset(result, param_units=kind.units(), aux_units=kind.aux_units(),
                          truth=target.truth, attrs=attrs, extras=extras)


def scan(kind: Kind, target_datasets) -> xr.Dataset | None:
    """The kind's scan with provenance (None if the kind has none)."""
    ds = kind.scan(target_datasets)
    if ds is not None:
        ds.attrs.update(provenance(kind, "scan"))
    return ds


MAX_AUTO_CHUNK = 256
"""The largest chunk ``chunk_size: auto`` makes (the memory of a batch grows with it)."""


def chunk_targets(targets: list, chunk_size="auto", cores: int | None = None) -> list[list]:
    """``targets`` in chunks, one job's targets each (a job makes or fits its chunk in one
    process, its fits as one batch).

    ``chunk_size``: an integer, or ``"auto"``: as many chunks as ``cores`` (default: this
    machine's CPU count, ``os.cpu_count()``), nearly equal, none above :data:`MAX_AUTO_CHUNK`
    targets. The machine's count, not Snakemake's ``--cores``: chunks set the jobs' inputs and
    params, so a chunking that followed ``--cores`` would rerun every fit when it changed.
    """
    if chunk_size == "auto":
        import os  # noqa: PLC0415

        n_chunks = max(1, cores or os.cpu_count() or 1, -(-len(targets) // MAX_AUTO_CHUNK))
        n_chunks = min(n_chunks, max(1, len(targets)))
        bounds = [i * len(targets) // n_chunks for i in range(n_chunks + 1)]
        return [targets[a:b] for a, b in zip(bounds, bounds[1:])]
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"config batching.chunk_size must be an integer >= 1 or auto, got "
                         f"{chunk_size!r}")
    return [targets[i:i + chunk_size] for i in range(0, len(targets), chunk_size)]
