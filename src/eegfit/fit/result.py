"""The outcome of a fit, the same for every backend."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

STATUSES = ("converged", "max_steps", "stalled", "diverged", "failed")
"""Fit statuses: ``converged`` (loss reached ``tol``), ``max_steps`` (budget used up),
``stalled`` (the parameters never left the start: a flat or zero gradient), ``diverged``
(a non-finite loss or gradient stopped the fit; best values are from the finite steps before it),
``failed`` (no evaluation had a finite loss: there is no best value, best params are NaN)."""


@dataclasses.dataclass(frozen=True)
class History:
    """Per-step record of a fit. ``n_candidates`` is 1 for the grad backend.

    Attributes:
        loss: loss of each evaluated candidate, shape ``(n_steps, n_candidates)`` (NaN where the
            loss was not finite).
        params: name -> evaluated parameter values, shape ``(n_steps, n_candidates, *shape)``.
        aux: the loss function's aux pytree, each leaf ``(n_steps, n_candidates, ...)``.
    """

    loss: np.ndarray
    params: dict[str, np.ndarray]
    aux: Any

    def best_so_far(self) -> np.ndarray:
        """Lowest finite loss up to each step, shape ``(n_steps,)`` (NaN before the first)."""
        per_step = np.min(np.where(np.isfinite(self.loss), self.loss, np.inf), axis=1)
        best = np.minimum.accumulate(per_step)
        return np.where(np.isfinite(best), best, np.nan)


@dataclasses.dataclass(frozen=True)
class FitResult:
    """Everything a fit produced.

    Attributes:
        backend: ``"grad"`` or ``"nevergrad"``; ``optimizer``: its description.
        names: fitted parameter names.
        start_params: the start value per name.
        best_params: the evaluated parameters with the lowest finite loss (NaN if none).
        best_loss: that loss (``inf`` if no evaluation was finite).
        best_aux: the aux returned with the best loss.
        final_params: the optimiser's last iterate (grad) or its recommendation (nevergrad).
        status: one of :data:`STATUSES`; ``message`` says why in words.
        history: the per-step :class:`History`.
        n_steps: steps run; n_evaluations: loss evaluations made; n_nonfinite: evaluations whose
            loss or gradient was not finite.
        seed: the seed of the run; wall_time_s: seconds spent in ``fit`` (compile included).
    """

    backend: str
    optimizer: str
    names: tuple[str, ...]
    start_params: dict[str, np.ndarray]
    best_params: dict[str, np.ndarray]
    best_loss: float
    best_aux: Any
    final_params: dict[str, np.ndarray]
    status: str
    message: str
    history: History
    n_steps: int
    n_evaluations: int
    n_nonfinite: int
    seed: int
    wall_time_s: float

    @property
    def ok(self) -> bool:
        """True when the fit ended with a usable best value (converged, max_steps)."""
        return self.status in ("converged", "max_steps")


def best_from_history(history: History, names) -> tuple[dict, float, Any]:
    """Best params, loss and aux: the evaluated candidate with the lowest finite loss."""
    finite = np.isfinite(history.loss)
    if not finite.any():
        nan = {n: np.full(history.params[n].shape[2:], np.nan, history.params[n].dtype)
               for n in names}
        return nan, float("inf"), None
    flat = np.where(finite, history.loss, np.inf).ravel()
    step, cand = np.unravel_index(int(np.argmin(flat)), history.loss.shape)
    pick = lambda a: np.asarray(a)[step, cand]  # noqa: E731
    return ({n: pick(history.params[n]) for n in names}, float(history.loss[step, cand]),
            jax.tree.map(pick, history.aux))
