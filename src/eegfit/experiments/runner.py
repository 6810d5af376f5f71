"""The fit job of every experiment kind, written once: the Fitter of a backend from the config,
the fits of a chunk, each fit's NetCDF record (noise floor, uncertainty, provenance) and timing;
and a target's and a scan's dataset with provenance. What a file depends on is in
:mod:`~eegfit.experiments.provenance`, the uncertainty's variables in
:mod:`~eegfit.experiments.curvature`, the chunks of targets in :mod:`~eegfit.experiments.chunks`.

>>> kind = experiments.build("column_C", block)         # a Kind from one config block
>>> target = kind.targets()[0]
>>> target_ds = make_target(kind, target)
>>> fit_ds, timing = fit(kind, "grad", target, target_ds)
>>> records = fit_chunk(kind, "grad", targets, target_datasets)   # a batch: one program

A chunk of targets is fitted as one batch (:meth:`eegfit.Fitter.fit_many`): the kind's
``loss(model, data)`` takes each fit's data as an argument, so the whole chunk advances together
in one compiled program, compiled once; a fit of one target is a chunk of one.
"""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from eegfit import io
from eegfit.experiments.base import Kind, Target, fit_loss, has_scan
from eegfit.experiments.curvature import curvature_vars, hessians
from eegfit.experiments.provenance import provenance
from eegfit.fit import Fitter, FitResult, Hybrid, Param
from eegfit.fit.grad import optimizer as grad_optimizer

log = logging.getLogger("eegfit")


def make_target(kind: Kind, target: Target) -> xr.Dataset:
    """The target's dataset (from the kind) with provenance."""
    ds = kind.make_target(target)
    ds.attrs.update(provenance(kind, "target", target))
    return ds


def fitter(kind: Kind, backend: str, observed=None, seed: int = 0,
           settings=None) -> Fitter | Hybrid:
    """The Fitter of one backend: each fitted field a bounded Param at its start for ``seed``.

    Without ``observed``, the Fitter of every target: ``loss_fn`` is ``kind.loss(model, data)``,
    fitted with ``fit_many(data=...)``. With, the Fitter of one target: its ``loss_fn`` the
    kind's loss closed over that fit's data (:func:`~eegfit.experiments.base.fit_loss`).

    grad: the optax optimizer at the configured learning rate, in the parameters' own units or
    (``learning_rate_units: box``) a fraction of each box (:func:`eegfit.fit.grad.optimizer`,
    the one place a grad block becomes an optimizer). hybrid: a
    :class:`~eegfit.fit.Hybrid` of its ``search`` (nevergrad) and ``polish`` (grad) blocks.
    ``settings``: a backend block instead of the config's (a retry's).
    """
    spec, settings = kind.spec, settings or kind.spec.backend(backend)
    model = kind.model_at({p.name: Param(p.start_value(seed), bounds=p.bounds)
                           for p in spec.parameters})
    loss_fn = kind.loss if observed is None else fit_loss(kind, observed, seed)
    if settings.name == "hybrid":
        return Hybrid(_fitter(spec, settings.search, model, loss_fn),
                      _fitter(spec, settings.polish, model, loss_fn),
                      search_steps=settings.search.n_steps, n_polish=settings.n_polish)
    return _fitter(spec, settings, model, loss_fn)


def _fitter(spec, settings, model, loss_fn) -> Fitter:
    """The Fitter of a grad or nevergrad backend block (a grad block's optimizer:
    :func:`eegfit.fit.grad.optimizer`)."""
    if settings.name == "grad":
        widths = ({p.name: p.bounds[1] - p.bounds[0] for p in spec.parameters}
                  if settings.learning_rate_units == "box" else None)
        transform, label = grad_optimizer(settings.optimizer, settings.learning_rate, widths)
        return Fitter(model, transform, loss_fn=loss_fn, gradient_check=settings.gradient_check,
                      optimizer_label=label)
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


def fit(kind: Kind, backend: str, target: Target, target_ds: xr.Dataset,
        progress: bool | None = False) -> tuple[xr.Dataset, dict]:
    """Fit one target with one backend: ``(the fit's record, its timing)`` (a chunk of one)."""
    return fit_chunk(kind, backend, [target], [target_ds], progress)[0]


def fit_chunk(kind: Kind, backend: str, targets: list[Target], target_datasets: list,
              progress: bool | None = False) -> list[tuple[xr.Dataset, dict]]:
    """Fit the targets of a chunk with one backend, together: one ``(record, timing)`` each.

    The fits whose data have the same shapes run as one batch (:meth:`eegfit.Fitter.fit_many`:
    one compiled program, the targets' data its inputs). Each record
    (:func:`eegfit.io.fit_dataset`) gains the kind's extras, the noise floor
    (``noise_floor_loss``, NaN where the kind has none) and, with ``uncertainty.rel_sd``, the
    Laplace uncertainty (the chunk's Hessians in one call). The timing (the fit's share of its
    batch's wall time, evaluations, batch size) stays out of the record: it differs run to
    run.
    """
    observed = [kind.observed(ds) for ds in target_datasets]
    return records(kind, backend, targets, observed,
                   *fit_results(kind, backend, targets, observed, progress))


def fit_results(kind: Kind, backend: str, targets: list[Target], observed: list,
                progress: bool | None = False, *, starts: list[dict] | None = None,
                settings=None, options: dict | None = None) -> tuple[list, list, list]:
    """``(results, hessians, batch sizes)`` of the fits of :func:`fit_chunk`, one each.

    ``starts`` (name -> value, one per target), ``settings`` (a backend block) and
    ``options`` (the keyword arguments of ``fit_many`` beyond the block's) replace the
    configured ones: a retry's (:mod:`eegfit.experiments.retry_above`)."""
    settings = settings or kind.spec.backend(backend)
    options = fit_options(settings) if options is None else options
    results, hessian = [None] * len(targets), [None] * len(targets)
    batch_size = [1] * len(targets)

    def start_of(b):
        return starts[b] if starts is not None else {
            p.name: p.start_value(targets[b].seed) for p in kind.spec.parameters}
    fitter_ = fitter(kind, backend, settings=settings)
    data = [kind.fit_data(obs, t.seed) for obs, t in zip(observed, targets)]
    for group in _same_shapes(data):
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[data[b] for b in group])
        first = {p.name: np.asarray([start_of(b)[p.name] for b in group])
                 for p in kind.spec.parameters}
        out = fitter_.fit_many(settings.n_steps, data=stacked, starts=first,
                               seeds=[int(targets[b].seed) for b in group],
                               tol=settings.tol, progress=progress, **options)
        curv = (hessians(fitter_, out, stacked) if kind.spec.uncertainty_rel_sd
                is not None else [None] * len(group))
        for b, result, h in zip(group, out, curv):
            results[b], hessian[b], batch_size[b] = result, h, len(group)
    return results, hessian, batch_size


def records(kind: Kind, backend: str, targets: list[Target], observed: list, results: list,
            hessian: list, batch_size: list) -> list[tuple[xr.Dataset, dict]]:
    """Each fit's ``(record, timing)`` from :func:`fit_results`: the kind's extras, the noise
    floor, the uncertainty (see :func:`fit_chunk`)."""
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
        curvature = curvature_vars(kind, result, hessian)
        extras["coords"] = {**extras.get("coords", {}), **curvature.pop("coords", {})}
        extras.update(curvature)
        attrs["uncertainty_rel_sd"] = kind.spec.uncertainty_rel_sd
    return io.fit_dataset(result, param_units=kind.units(), aux_units=kind.aux_units(),
                          truth=target.truth, attrs=attrs, extras=extras)


def scan(kind: Kind, target_datasets) -> xr.Dataset | None:
    """The kind's scan with provenance (None if the kind has none)."""
    ds = kind.scan(target_datasets) if has_scan(kind) else None
    if ds is not None:
        ds.attrs.update(provenance(kind, "scan"))
    return ds


