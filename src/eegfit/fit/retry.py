"""A one-start grad fit that did not fit tries again, from several starts.

A fit that stops at its start has not fitted: its start failed the gradient check
(``gradient_unreliable``), the gradient was flat there (``stalled``), or the loss was not
finite (``diverged``, ``failed``). With ``retry=n`` such a fit runs again as the multi-start fit
it would have been with ``n_starts=n`` and a screen of ``SCREEN_PER_START * n`` design points
(:mod:`eegfit.fit.multistart`: its own start is row 0 again, the others the best screened points
apart, all in one batch, the best kept start is the fit).

A fit can also end in a local minimum far above the loss elsewhere in the box. With
``retry_screen=m`` every one-start fit is compared after it ends with ``m`` design points over
the box (their loss only, every fit's in one call); a fit whose best loss lies above the lowest
screened loss by more than :func:`margin` is retried the same way.

Or far above another backend's loss on the same target (:func:`above_other`, the test of the
summary's ``loss_above_lowest``): the pipeline then fits again from that backend's best point
(:mod:`eegfit.experiments.retry_above`; its starts: :func:`above_other_options`), and
:func:`as_retry` records it with the reason :data:`ABOVE_OTHER`.

A retried fit's record says why (:class:`Retry`); its evaluations count the first attempt and
the check's screen too.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

RETRY_STATUSES = ("gradient_unreliable", "stalled", "diverged", "failed")
"""The statuses of a fit that did not fit: it never left its start or found no finite loss."""

SCREEN_PER_START = 8
"""A retry of ``n`` starts picks its starts from ``8 n`` screened design points (or the
check's ``retry_screen``, where larger)."""

LOSS_RTOL = 0.1
"""A gap in loss below this fraction of the lower loss is not a different optimum: two fits at
one optimum differ by their last steps (the summary's ``loss_above_lowest`` uses it too)."""
LOSS_ATOL = 1e-6
"""Nor a gap below this (a loss of squared relative errors: 0.1 % of a feature): float noise."""


def screen_size(n_starts: int, screen: int) -> int:
    """The design points a retry of ``n_starts`` starts screens: ``screen``, and at least
    :data:`SCREEN_PER_START` per start."""
    return max(screen, SCREEN_PER_START * n_starts)


def margin(lowest, floor=0.0):
    """The gap in loss above ``lowest`` that counts as a different optimum: the noise floor
    ``floor`` (a loss's seed-to-seed spread at the truth, where known), at least
    :data:`LOSS_RTOL` of ``lowest`` plus :data:`LOSS_ATOL`."""
    floor = np.where(np.isfinite(floor), floor, 0.0)
    return np.maximum(floor, LOSS_RTOL * np.abs(lowest) + LOSS_ATOL)


@dataclasses.dataclass(frozen=True)
class Retry:
    """Why and how a fit was retried.

    Attributes:
        reason: in words: the first attempt's status, or its loss against the screen's.
        first_status: the first attempt's status.
        first_best_loss: the first attempt's best loss.
        screen_best_loss: the lowest loss of the check's screen (NaN without a check).
        n_starts: starts of the retry.
        other_backend: the backend whose lower loss on the same target called the retry
            (reason :data:`ABOVE_OTHER`; "" otherwise).
        other_best_loss: that backend's best loss (NaN otherwise).
    """

    reason: str
    first_status: str
    first_best_loss: float
    screen_best_loss: float
    n_starts: int
    other_backend: str = ""
    other_best_loss: float = np.nan

    def attrs(self) -> dict:
        """The flat attrs of a retried fit's record (the other backend's name and loss only
        where one called the retry)."""
        out = {"retry_reason": self.reason, "retry_starts": int(self.n_starts),
               "first_attempt_status": self.first_status,
               "first_attempt_best_loss": float(self.first_best_loss),
               "retry_screen_best_loss": float(self.screen_best_loss)}
        if self.other_backend:
            out.update(retry_other_backend=self.other_backend,
                       retry_other_best_loss=float(self.other_best_loss))
        return out


ABOVE_OTHER = "above_other_backend"
"""The reason of a retry called by another backend's lower loss on the same target."""


def above_other(best_loss: float, other_losses: dict, floor: float = np.nan):
    """``(backend, loss)`` of the lowest finite loss in ``other_losses`` (backend -> best loss
    on the same target and seed) where ``best_loss`` lies above it by more than
    :func:`margin` (``floor``: the fit's noise floor) or is not finite; ``None`` otherwise (also
    where no other loss is finite). The summary's ``loss_above_lowest`` is the same test."""
    finite = {b: float(v) for b, v in other_losses.items() if np.isfinite(v)}
    if not finite:
        return None
    backend = min(finite, key=lambda b: (finite[b], b))
    lowest = finite[backend]
    if np.isfinite(best_loss) and best_loss - lowest <= margin(lowest, floor):
        return None
    return backend, lowest


def above_other_options(retry: int, n_starts: int, retry_screen: int, screen: int,
                        start_design: str) -> tuple[int, dict]:
    """The starts and ``fit_many`` options of a retry above another backend, for a grad fit of
    these settings: ``retry`` starts (a one-start fit's) or ``n_starts`` (a multi-start
    fit's) from a screen of :data:`SCREEN_PER_START` per start (``retry_screen`` for a
    one-start fit's retry, ``screen`` for a multi-start fit's, where larger); one start, the
    polish alone, where both are 1."""
    n = retry or n_starts
    if n == 1:
        return 1, {}
    screen = retry_screen if retry else screen
    return n, {"n_starts": n, "screen": screen_size(n, screen), "start_design": start_design}


def reason(result, screen_best: float = np.nan) -> str:
    """Why ``result`` must be retried ("" if it need not): its status, or its best loss above
    the screen's lowest by more than :func:`margin`."""
    if result.status in RETRY_STATUSES:
        return f"the first attempt ended {result.status}"
    if np.isfinite(screen_best) and result.best_loss > screen_best + margin(screen_best):
        return (f"the first attempt's best loss {result.best_loss:.4g} lies above a screened "
                f"design point's {screen_best:.4g}")
    return ""


def check_options(retry, retry_screen, backend: str, n_starts: int) -> None:
    """Refuse retry options that cannot apply (``ValueError`` naming them)."""
    for name, value in (("retry", retry), ("retry_screen", retry_screen)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    if retry == 1:
        raise ValueError("retry must be 0 (off) or at least 2 starts (its own and others), "
                         "got 1")
    if (retry or retry_screen) and backend != "grad":
        raise ValueError("retry and retry_screen are for the grad backend")
    if retry and n_starts > 1:
        raise ValueError(f"retry is the second attempt of a one-start fit; a fit of n_starts "
                         f"= {n_starts} is already a multi-start fit (set retry: 0)")
    if retry_screen and not retry:
        raise ValueError(f"retry_screen = {retry_screen} checks fits for a retry: it needs "
                         f"retry >= 2 starts")


def retry_failed(fitter, results: list, *, n_steps: int, data, seeds: list, starts: dict,
                 tol, progress, retry: int, retry_screen: int, start_design: str) -> list:
    """``results`` (one-start fits of ``fitter.fit_many``), with each fit that needs it
    (:func:`reason`) replaced by its retry: a multi-start fit of ``retry`` starts from a screen
    (in one batch for all retried fits)."""
    screen_best = np.full(len(results), np.nan)
    if retry_screen:
        screen_best = fitter.screen_minimum(starts, data, seeds, retry_screen, start_design)
    reasons = [reason(r, s) for r, s in zip(results, screen_best)]
    again = [b for b, why in enumerate(reasons) if why]
    if not again:
        return results
    take = np.asarray(again)
    redone = fitter.fit_many(
        n_steps, data=None if data is None else jax.tree.map(lambda x: x[take], data),
        seeds=[seeds[b] for b in again], starts={k: v[take] for k, v in starts.items()},
        tol=tol, progress=progress, n_starts=retry,
        screen=screen_size(retry, retry_screen), start_design=start_design)
    out = list(results)
    for b, new in zip(again, redone):
        first = results[b]
        out[b] = as_retry(new, first, Retry(
            reason=reasons[b], first_status=first.status, first_best_loss=float(first.best_loss),
            screen_best_loss=float(screen_best[b]), n_starts=retry),
            f"retried from {retry} starts ({reasons[b]})", extra_evaluations=retry_screen)
    return out


def as_retry(new, first, retry: Retry, why: str, extra_evaluations: int = 0):
    """``new`` (a FitResult) as the retry of ``first`` (anything with ``n_evaluations``,
    ``n_nonfinite`` and ``wall_time_s``: a FitResult, or the counts of a first attempt's
    record): ``retry`` attached, ``why`` before its message, the first attempt's counts (and
    ``extra_evaluations``) added to its own."""
    return dataclasses.replace(
        new, message=f"{why}: {new.message}",
        n_evaluations=new.n_evaluations + int(first.n_evaluations) + extra_evaluations,
        n_nonfinite=new.n_nonfinite + int(first.n_nonfinite),
        wall_time_s=new.wall_time_s + float(first.wall_time_s), retry=retry)


__all__ = ["ABOVE_OTHER", "LOSS_ATOL", "LOSS_RTOL", "RETRY_STATUSES", "Retry",
           "SCREEN_PER_START", "above_other", "above_other_options", "as_retry", "check_options",
           "margin", "reason", "retry_failed"]
