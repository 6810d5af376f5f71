"""The outcome of a fit, the same for every backend."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

STATUSES = ("converged", "max_steps", "at_bound", "stalled", "diverged", "gradient_unreliable",
            "failed")
"""Fit statuses: ``converged`` (loss reached ``tol``), ``max_steps`` (budget used up),
``at_bound`` (converged or budget used up with the best value or the last iterate on the box
boundary, within :data:`AT_BOUND_FRACTION` of the box width: the optimum may lie outside the box,
or the fit ran into it), ``gradient_unreliable`` (grad with a gradient check: the first gradient disagreed with a
finite difference of the loss, so the fit stopped at its start),
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
        gradient_check: grad with a check: ``gradient`` and ``finite_difference`` at the start
            (name -> per parameter unit), ``rel_error``, ``sign_agree``, ``rtol``, ``rel_step``
            (:mod:`eegfit.fit.gradient_check`); ``None`` without.
        starts: a fit of several starts (multi-start grad, the hybrid's polish): every start's
            start, best values, best loss, status and which was kept
            (:class:`eegfit.fit.multistart.Starts`); ``None`` for a fit of one start.
        retry: a one-start fit that tried again: why, and its first attempt's status and loss
            (:class:`eegfit.fit.retry.Retry`); ``None`` otherwise.
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
    gradient_check: dict | None = None
    starts: Any = None
    retry: Any = None

    @property
    def ok(self) -> bool:
        """True when the fit ended with a usable best value (converged, max_steps)."""
        return self.status in ("converged", "max_steps")


AT_BOUND_FRACTION = 0.005
"""A best value within this fraction of its box width from a bound lies on the boundary."""


def at_bound(best: dict, bounds: dict, what: str = "best value") -> str:
    """A sentence naming the values (``what``) on their box boundary ("" if none)."""
    edges = []
    for name, value in best.items():
        if bounds.get(name) is None:
            continue
        low, high = bounds[name]
        tol = AT_BOUND_FRACTION * (high - low)
        v = np.asarray(value, dtype=float)
        if np.any(v <= low + tol) or np.any(v >= high - tol):
            edges.append(f"{name} = {np.array2string(v, precision=6)} on the box [{low:g}, "
                         f"{high:g}]")
    return (f"{what} on the box boundary: " + "; ".join(edges)) if edges else ""


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


def status_of(history: History, start: dict, final: dict, best_loss: float, *, converged: bool,
              diverged: bool) -> tuple[str, str]:
    """``(status, message)`` of a fit from its history and how it stopped (before the gradient
    check and the boundary are looked at)."""
    names = list(start)
    moved = any(np.any(history.params[n] != start[n]) for n in names) or any(
        np.any(np.asarray(final[n]) != start[n]) for n in names)
    if not np.isfinite(best_loss):
        return "failed", "no evaluation gave a finite loss"
    if diverged:
        return "diverged", (f"non-finite loss or gradient at step {len(history.loss)}; best "
                            f"values are from the finite steps before it")
    if converged:
        return "converged", "loss reached tol"
    if not moved:
        return "stalled", ("the parameters never left the start: the loss is flat there (zero "
                           "gradient, e.g. a quiescent column whose feature does not change)")
    return "max_steps", "step budget used up"
