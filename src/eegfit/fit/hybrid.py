"""The ``hybrid`` backend: a short derivative-free search over the box, then a gradient polish
from its best candidates, every polish start of every fit in one batch.

A search alone spends its budget finding the basin and then creeps to the minimum; a gradient fit
alone reaches the minimum of the basin it starts in, which may not be the right one. The hybrid
runs a nevergrad :class:`~eegfit.fit.Fitter` for ``search_steps`` steps, takes per fit the
``n_polish`` best evaluated candidates that lie at least
:data:`~eegfit.fit.multistart.MIN_SEPARATION` of the box apart
(so the polish does not start ``n_polish`` times in one basin), and polishes them with a grad
Fitter (the multi-start merge of :mod:`eegfit.fit.multistart`: a polish start that fails the
gradient check is dropped). The fit's best is the lowest loss of any evaluation, search or
polish; its history is the search's steps followed by the polish's (one candidate per polish
start).

>>> search = Fitter(model, "DE", loss_fn=loss_fn, backend="nevergrad", num_candidates=16)
>>> polish = Fitter(model, optax.adam(0.01), loss_fn=loss_fn, gradient_check=True)
>>> Hybrid(search, polish, search_steps=6, n_polish=4).fit_many(60, data=data, seeds=seeds)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from eegfit.fit import multistart
from eegfit.fit.result import FitResult, best_from_history

def polish_starts(result: FitResult, bounds: dict, n_polish: int) -> dict:
    """The ``n_polish`` best candidates of a search, name -> ``(n_polish, *shape)``, at least
    :data:`~eegfit.fit.multistart.MIN_SEPARATION` of the box apart where the search found
    enough such (:func:`eegfit.fit.multistart.best_apart`); the fit's start where it found no
    finite loss."""
    loss = np.asarray(result.history.loss).ravel()
    flat = {n: np.asarray(result.history.params[n]).reshape((loss.size,) + np.shape(
        result.start_params[n])) for n in result.names}
    picks = multistart.best_apart(flat, loss, bounds, n_polish)
    if picks is None:
        return {n: np.repeat(np.asarray(result.start_params[n])[None], n_polish, 0)
                for n in result.names}
    return picks


class Hybrid:
    """A nevergrad search, then a grad polish of its best candidates (see the module docstring).

    Args:
        search: a ``backend="nevergrad"`` :class:`~eegfit.fit.Fitter`.
        polish: a ``backend="grad"`` Fitter of the same model and loss.
        search_steps: the search's ask/tell steps (``num_candidates`` evaluations each).
        n_polish: candidates polished per fit.

    ``fit`` / ``fit_many`` take the Fitter's arguments; ``n_steps`` is the polish's step count.
    """

    backend = "hybrid"

    def __init__(self, search, polish, *, search_steps: int, n_polish: int = 4):
        if search.backend != "nevergrad" or polish.backend != "grad":
            raise ValueError("Hybrid needs a nevergrad search Fitter and a grad polish Fitter")
        if search.split.names != polish.split.names or search.split.bounds != polish.split.bounds:
            raise ValueError(f"the search and the polish must fit the same parameters in the "
                             f"same box: {search.split.bounds} vs {polish.split.bounds}")
        for name, value in (("search_steps", search_steps), ("n_polish", n_polish)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.search, self.polish = search, polish
        self.search_steps, self.n_polish = search_steps, n_polish
        self.split, self.loss_fn, self.takes_data = polish.split, polish.loss_fn, polish.takes_data

    @property
    def optimizer_name(self) -> str:
        return (f"{self.search.optimizer_name} x {self.search_steps} steps -> "
                f"{self.polish.optimizer_name} from {self.n_polish} candidates")

    def model_at(self, values: dict):
        return self.polish.model_at(values)

    def fit(self, n_steps: int, *, data=None, seed: int = 0, tol: float | None = None,
            progress: bool | None = None, start: dict | None = None) -> FitResult:
        batch = None if data is None else jax.tree.map(lambda x: jnp.asarray(x)[None], data)
        starts = None if start is None else {k: np.asarray(v)[None] for k, v in start.items()}
        return self.fit_many(n_steps, data=batch, seeds=[seed], starts=starts, tol=tol,
                             progress=progress)[0]

    def fit_many(self, n_steps: int, *, data=None, seeds=None, starts: dict | None = None,
                 tol: float | None = None, progress: bool | None = None) -> list[FitResult]:
        found = self.search.fit_many(self.search_steps, data=data, seeds=seeds, starts=starts,
                                     tol=tol, progress=progress)
        k, n = self.n_polish, len(found)
        picks = [polish_starts(r, self.split.bounds, k) for r in found]
        rows = {name: np.concatenate([p[name] for p in picks]) for name in self.split.names}
        polished = self.polish.fit_many(
            n_steps, data=None if data is None else jax.tree.map(
                lambda x: jnp.repeat(jnp.asarray(x), k, axis=0), data),
            seeds=[r.seed for r in found for _ in range(k)], starts=rows, tol=tol,
            progress=progress)
        return [self._combine(found[b], multistart.merge(polished[b * k:(b + 1) * k]))
                for b in range(n)]

    def _combine(self, found: FitResult, polished: FitResult) -> FitResult:
        history = multistart.stack_histories([found.history, polished.history], by="step")
        best, best_loss, best_aux = best_from_history(history, found.names)
        kept = polished.starts.kept.any()
        status, message = polished.status, f"polish: {polished.message}"
        if not kept:
            status = found.status
            message = (f"every polish start failed the gradient check; the search's best is "
                       f"reported ({found.message})")
        message = (f"search: {found.n_evaluations} evaluations, best loss {found.best_loss:.4g}; "
                   + message)
        return dataclasses.replace(
            polished, backend="hybrid", optimizer=self.optimizer_name,
            start_params=found.start_params, best_params=best, best_loss=best_loss,
            best_aux=best_aux, final_params=polished.final_params if kept else found.final_params,
            status=status, message=message, history=history,
            n_steps=found.n_steps + polished.n_steps,
            n_evaluations=found.n_evaluations + polished.n_evaluations,
            n_nonfinite=found.n_nonfinite + polished.n_nonfinite, seed=found.seed,
            wall_time_s=found.wall_time_s + polished.wall_time_s)
