"""Several starts per fit, the best kept: a start design over the box and the merge of the starts'
results into the fit's one :class:`~eegfit.fit.result.FitResult`.

A fit with ``n_starts`` starts runs as ``n_starts`` rows of one batch (every start of every fit
advances together in one compiled program, :meth:`eegfit.Fitter.fit_many`): the first start is
the fit's own (the configured start), the others a seeded, scrambled quasi-random design over the
box (Sobol', or a Latin hypercube), or, with a screen, the best of a larger design by their
loss (one batched evaluation, no gradient: a start then begins in a basin the loss already shows
rather than wherever the design put it). The fit is the start with the lowest best loss among
those kept; a start whose first gradient fails the gradient check is dropped, not the fit. Every
start's start value, best value, best loss and status stay in the result (``FitResult.starts``).

>>> fitter.fit_many(200, data=data, seeds=seeds, n_starts=8)   # one result per fit, 8 starts each
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from eegfit.fit.result import FitResult, History

DESIGNS = ("sobol", "lhs")


def design(bounds: dict, start: dict, n_starts: int, seed: int, kind: str = "sobol") -> dict:
    """``n_starts`` start values of one fit, name -> ``(n_starts, *shape)``: row 0 is ``start``,
    rows 1.. a scrambled Sobol' sequence (``kind="sobol"``) or a Latin hypercube (``"lhs"``) over
    the box ``bounds`` (name -> ``(low, high)``), drawn with ``seed`` (the same seed, the same
    starts). Every fitted scalar is one dimension of the design."""
    from scipy.stats import qmc  # noqa: PLC0415  (scipy comes with nevergrad)

    if kind not in DESIGNS:
        raise ValueError(f"start design must be one of {DESIGNS}, got {kind!r}")
    if not isinstance(n_starts, int) or isinstance(n_starts, bool) or n_starts < 1:
        raise ValueError(f"n_starts must be a positive integer, got {n_starts!r}")
    unbounded = [n for n in start if bounds.get(n) is None]
    if unbounded and n_starts > 1:
        raise ValueError(f"starts spread over the box need bounds for {unbounded}")
    shapes = {n: np.shape(start[n]) for n in start}
    sizes = [math.prod(shapes[n]) for n in start]
    out = {n: np.empty((n_starts,) + shapes[n], np.asarray(start[n]).dtype) for n in start}
    for n in start:
        out[n][0] = start[n]
    if n_starts > 1:
        dim = sum(sizes)
        if kind == "sobol":
            # whole powers of two keep Sobol's balance; the first n - 1 points of one are used
            m = max(0, math.ceil(math.log2(n_starts - 1)))
            unit = qmc.Sobol(dim, scramble=True, seed=int(seed)).random_base2(m)[:n_starts - 1]
        else:
            unit = qmc.LatinHypercube(dim, seed=int(seed)).random(n_starts - 1)
        col = 0
        for n, size in zip(start, sizes):
            low, high = bounds[n]
            block = low + (high - low) * unit[:, col:col + size]
            out[n][1:] = np.clip(block, low, high).reshape((n_starts - 1,) + shapes[n])
            col += size
    return out


MIN_SEPARATION = 0.05
"""Starts picked by loss lie at least this fraction of the box apart (max over parameters),
where enough candidates are; else the next best fill the rest."""


def best_apart(values: dict, loss, bounds: dict, k: int) -> dict:
    """The ``k`` candidates of lowest finite ``loss`` (``values``: name -> ``(m, *shape)``), in
    order of loss, each at least :data:`MIN_SEPARATION` of the box from those taken (so that
    ``k`` starts do not all begin in one basin); then the next best, then the best again, where
    too few are apart. ``None`` where no loss is finite."""
    loss = np.where(np.isfinite(loss), loss, np.inf)
    order = [int(i) for i in np.argsort(loss, kind="stable") if np.isfinite(loss[i])]
    if not order:
        return None
    names = list(values)

    def scaled(i):
        return np.concatenate([np.ravel((values[n][i] - bounds[n][0]) /
                                        (bounds[n][1] - bounds[n][0])) for n in names])
    picked = []
    for i in order:
        if all(np.max(np.abs(scaled(i) - scaled(j))) >= MIN_SEPARATION for j in picked):
            picked.append(i)
        if len(picked) == k:
            break
    picked += [i for i in order if i not in picked][:k - len(picked)]
    picked += [order[0]] * (k - len(picked))
    return {n: np.stack([values[n][i] for i in picked]) for n in names}


@dataclasses.dataclass(frozen=True)
class Starts:
    """Every start of a multi-start fit (one row per start).

    Attributes:
        start: name -> ``(n_starts, *shape)`` start values (row 0: the fit's own start).
        best: name -> ``(n_starts, *shape)`` each start's best values.
        best_loss: ``(n_starts,)`` each start's lowest finite loss (``inf`` if none).
        status: each start's status (:data:`~eegfit.fit.result.STATUSES`).
        kept: ``(n_starts,)`` False where the start was dropped (its gradient check failed).
        chosen: the row whose result is the fit's.
        screen_loss: ``(n_screened,)`` the loss of each screened design point (``None``
            without a screen: the design is the starts).
        screen_values: name -> ``(n_screened, *shape)`` those design points.
    """

    start: dict
    best: dict
    best_loss: np.ndarray
    status: tuple[str, ...]
    kept: np.ndarray
    chosen: int
    screen_loss: np.ndarray | None = None
    screen_values: dict | None = None

    @property
    def n_screened(self) -> int:
        return 0 if self.screen_loss is None else len(self.screen_loss)

    @property
    def n_starts(self) -> int:
        return len(self.best_loss)


def _pad(a: np.ndarray, width: int) -> np.ndarray:
    """``a`` (steps, candidates, ...) padded on both axes to ``width`` candidates: NaN (or 0)."""
    a = np.asarray(a)
    fill = np.nan if np.issubdtype(a.dtype, np.floating) else 0
    out = np.full((a.shape[0], width) + a.shape[2:], fill, a.dtype)
    out[:, :a.shape[1]] = a
    return out


def stack_histories(histories: list[History], by: str) -> History:
    """Histories side by side: ``by="candidate"``: candidate columns one after another, steps
    padded with NaN (the starts of a multi-start fit, each a column); ``by="step"``: one after
    another in time, candidates padded (a search and then its polish)."""
    if by == "candidate":
        steps = max(h.loss.shape[0] for h in histories)

        def cat(*xs):
            xs = [np.asarray(x) for x in xs]
            fill = np.nan if np.issubdtype(xs[0].dtype, np.floating) else 0
            padded = [np.concatenate([x, np.full((steps - x.shape[0],) + x.shape[1:], fill,
                                                 x.dtype)]) for x in xs]
            return np.concatenate(padded, axis=1)
    else:
        width = max(h.loss.shape[1] for h in histories)

        def cat(*xs):
            return np.concatenate([_pad(x, width) for x in xs], axis=0)
    import jax  # noqa: PLC0415

    return History(loss=cat(*[h.loss for h in histories]),
                   params={n: cat(*[h.params[n] for h in histories]) for n in histories[0].params},
                   aux=jax.tree.map(cat, *[h.aux for h in histories]))


def merge(results: list[FitResult], *, screen: tuple | None = None,
          dropped_status: str = "gradient_unreliable") -> FitResult:
    """One fit's result from the results of its starts (``results[0]`` the fit's own start).

    The fit is the kept start (status not ``dropped_status``) with the lowest best loss, ties to
    the earlier start; where every start was dropped, the start with the lowest loss at its
    start, with its status (the fit could not move). The history holds every start as a
    candidate column (a stopped start's later steps NaN); ``screen`` (``(loss, values)`` of
    the design points that chose the starts) is kept in :class:`Starts`; counts are the sum
    over starts and screen."""
    kept = np.array([r.status != dropped_status for r in results])
    losses = np.array([r.best_loss for r in results], float)
    pool = np.flatnonzero(kept) if kept.any() else np.arange(len(results))
    chosen = int(pool[np.argmin(np.where(np.isfinite(losses[pool]), losses[pool], np.inf))])
    best = results[chosen]
    names = best.names
    starts = Starts(start={n: np.stack([r.start_params[n] for r in results]) for n in names},
                    best={n: np.stack([r.best_params[n] for r in results]) for n in names},
                    best_loss=losses, status=tuple(r.status for r in results), kept=kept,
                    chosen=chosen, screen_loss=None if screen is None else screen[0],
                    screen_values=None if screen is None else screen[1])
    n_dropped = int(np.sum(~kept))
    message = (f"best of {len(results)} starts: start {chosen} ({best.message})"
               + (f"; {n_dropped} start(s) dropped by the gradient check" if n_dropped else ""))
    if not kept.any():
        message = (f"every one of the {len(results)} starts failed the gradient check; the "
                   f"start with the lowest loss is reported ({best.message})")
    history = stack_histories([r.history for r in results], by="candidate")
    if screen is not None:
        message = f"{starts.n_screened} design points screened; " + message
    return dataclasses.replace(
        best, start_params=results[0].start_params, message=message, history=history,
        n_steps=int(history.loss.shape[0]),
        n_evaluations=sum(r.n_evaluations for r in results) + starts.n_screened,
        n_nonfinite=sum(r.n_nonfinite for r in results),
        wall_time_s=sum(r.wall_time_s for r in results), starts=starts)
