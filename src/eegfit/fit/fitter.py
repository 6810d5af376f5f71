"""One Fitter, two backends: write ``loss_fn(model) -> (loss, aux)`` once, swap the backend.

>>> model = JansenRit(C=Param(115.0, bounds=(110.0, 170.0)))
>>> def loss_fn(m):
...     eeg = simulate(m, duration_ms=600.0, transient_ms=200.0).observable
...     amplitude = rms(eeg)
...     return ((amplitude - target) / target) ** 2, {"rms_mv": amplitude}
>>> Fitter(model, optax.adam(2.0), loss_fn=loss_fn).fit(40)
>>> Fitter(model, "DE", loss_fn=loss_fn, backend="nevergrad", num_candidates=6,
...        optimizer_options={"popsize": 6}).fit(8, seed=0)

``loss_fn`` receives the model with plain values (every :class:`Param` replaced by a value) and
must be a pure JAX function: it is traced, differentiated (grad) and vectorised (nevergrad).

Per-fit data (a target's features, a noise key) can be an argument instead of a constant closed
over: ``loss_fn(model, data)``, with ``fit(n, data=data)``. The compiled programs then take the
data as an input, so a new target reuses them instead of tracing and compiling again. And many
fits of one problem (targets x seeds x starts) run as one batch, all advancing together in one
compiled call per chunk of steps::

>>> def loss_fn(m, data):
...     amplitude = rms(simulate(m, duration_ms=600.0, transient_ms=200.0).observable)
...     return ((amplitude - data) / data) ** 2, {"rms_mv": amplitude}
>>> fitter = Fitter(model, optax.adam(2.0), loss_fn=loss_fn)
>>> results = fitter.fit_many(40, data=jnp.asarray(targets))      # one FitResult per target

A fit alone is a batch of one: ``fit`` and ``fit_many`` run the same code.
"""

from __future__ import annotations

import numbers
import time

import jax
import jax.numpy as jnp
import numpy as np

from eegfit.fit.batch import batch_size, start_values, takes_data
from eegfit.fit import gradient_check as gcheck
from eegfit.fit import multistart
from eegfit.fit import retry as retry_mod
from eegfit.fit.grad import (CONVERGED, DIVERGED, UNRELIABLE, make_chunk_runner,
                             resolve_derivatives, run_grad)
from eegfit.fit.nevergrad_backend import (make_evaluate, parametrization, resolve_optimizer,
                                          run_nevergrad)
from eegfit.fit.param import split as split_model
from eegfit.fit.progress import Progress
from eegfit.fit.result import FitResult, History, at_bound, best_from_history, status_of

BACKENDS = ("grad", "nevergrad")


class Fitter:
    """Fit the trainable :class:`Param` leaves of ``model`` by minimising ``loss_fn``.

    Args:
        model: a model pytree with at least one ``Param(value, fit=True)`` inside.
        optimizer: for ``backend="grad"`` an ``optax.GradientTransformation`` (e.g.
            ``optax.adam(2.0)``; the learning rate is in the parameter's units); for
            ``backend="nevergrad"`` an optimizer name from nevergrad's registry (``"DE"``,
            ``"CMA"``, ``"TwoPointsDE"``, ``"NGOpt"``, ...) or a nevergrad optimizer object.
        loss_fn: ``loss_fn(model) -> (scalar_loss, aux)``, or ``loss_fn(model, data)`` with the
            fit's data given to :meth:`fit` / :meth:`fit_many`; aux is any pytree of arrays
            (``{}`` if there is nothing to report).
        backend: ``"grad"`` or ``"nevergrad"``.
        search_space: name -> ``(low, high)``, overriding the Params' own bounds.
        num_candidates: nevergrad only: candidates asked and evaluated together per step.
        optimizer_options: nevergrad only: the optimizer's own options (e.g. ``{"popsize": 6}``).
        chunk_size: grad only: steps per compiled call (progress and early stop are checked
            between chunks; the step loop inside a chunk is one compiled ``lax.scan``).
        optimizer_label: how the optimizer is named in results (default: the nevergrad name,
            or ``"optax"`` for an optax transformation, which does not know its own name).
        derivatives: grad only: ``"forward"`` (one forward-mode pass per fitted scalar, batched),
            ``"reverse"`` (backpropagation) or ``"auto"`` (forward up to
            :data:`eegfit.fit.grad.FORWARD_MAX_SCALARS` fitted scalars). Both give the same
            gradient up to float rounding, except where the loss hides a non-finite value behind
            a ``where`` (reverse mode then gives NaN, forward mode the kept branch's derivative);
            a fit and the same fit in a batch use the same mode.
        gradient_check: grad only: ``None`` (default: no check), ``True``, a dict of settings
            or a :class:`eegfit.fit.gradient_check.GradientCheck` (``rtol``, ``rel_step``): each
            fit compares its first gradient with a central finite difference of its own loss
            (two evaluations per fitted scalar, once, the batch's in one call) and, where they
            disagree, stops at its start with status ``gradient_unreliable``; the numbers are in
            ``FitResult.gradient_check``.
    """

    def __init__(self, model, optimizer, *, loss_fn, backend: str = "grad",
                 search_space: dict | None = None, num_candidates: int = 1,
                 optimizer_options: dict | None = None, chunk_size: int = 50,
                 optimizer_label: str | None = None, derivatives: str = "auto",
                 gradient_check=None):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {loss_fn!r}")
        for name, value in (("num_candidates", num_candidates), ("chunk_size", chunk_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.split = split_model(model, search_space)
        self.backend, self.optimizer, self.loss_fn = backend, optimizer, loss_fn
        self.num_candidates, self.chunk_size = num_candidates, chunk_size
        self.optimizer_options = dict(optimizer_options or {})
        self.optimizer_label = optimizer_label
        self.takes_data = takes_data(loss_fn)
        self._checked = set()
        if not self.takes_data:
            self._check_loss_fn(None)
        if backend == "grad":
            if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
                raise TypeError(f"the grad backend needs an optax GradientTransformation "
                                f"(e.g. optax.adam(2.0)), got {optimizer!r}")
            if optimizer_options or num_candidates != 1:
                raise ValueError("num_candidates and optimizer_options are for the nevergrad "
                                 "backend; configure an optax optimizer by its arguments")
            self.derivatives = resolve_derivatives(derivatives, self.split)
            self.gradient_check = gcheck.resolve(gradient_check)
            self._runners, self._fd, self._evaluate = {}, None, None
        else:
            if gradient_check:
                raise ValueError("gradient_check is for the grad backend")
            self.gradient_check = None
            parametrization(self.split, seed=0)  # fail now, not at fit(): bounds missing
            resolve_optimizer(optimizer, self.optimizer_options)  # unknown name or option
            self.derivatives = None
            self._evaluate = make_evaluate(self._objective)

    def _objective(self, values, data):
        """One fit's ``(loss, aux)`` at ``values`` (name -> value) with its ``data``."""
        model = self.split.rebuild(values)
        return self.loss_fn(model, data) if self.takes_data else self.loss_fn(model)

    def _check_loss_fn(self, data) -> None:
        """Check ``loss_fn``'s output once per data structure (shapes only, nothing runs)."""
        spec = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), data)
        key = (jax.tree.structure(spec), tuple((s.shape, str(s.dtype))
                                               for s in jax.tree.leaves(spec)))
        if key in self._checked:
            return
        try:
            out = jax.eval_shape(self._objective, self.split.start, spec)
        except TypeError as err:
            raise TypeError(f"loss_fn failed on the model: {err}") from err
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"loss_fn must return a pair (scalar_loss, aux), got {out!r}")
        loss = out[0]
        if getattr(loss, "shape", None) != () or not jnp.issubdtype(loss.dtype, jnp.floating):
            raise TypeError(f"loss_fn's loss must be a scalar float, got shape "
                            f"{getattr(loss, 'shape', None)} dtype {getattr(loss, 'dtype', None)}")
        self._checked.add(key)

    @property
    def optimizer_name(self) -> str:
        if self.optimizer_label is not None:
            return self.optimizer_label
        if isinstance(self.optimizer, str):
            return self.optimizer
        return "optax" if self.backend == "grad" else repr(self.optimizer)

    def fit(self, n_steps: int, *, data=None, seed: int = 0, tol: float | None = None,
            progress: bool | None = None, start: dict | None = None, n_starts: int = 1,
            start_design: str = "sobol", screen: int = 0, retry: int = 0,
            retry_screen: int = 0) -> FitResult:
        """Run the fit for at most ``n_steps`` steps.

        Args:
            n_steps: grad: optimizer steps (one value-and-grad each); nevergrad: ask/tell rounds
                of ``num_candidates`` evaluations each (budget ``n_steps * num_candidates``).
            data: the second argument of ``loss_fn(model, data)`` (a pytree of arrays), passed
                to the compiled program as an input; ``None`` for ``loss_fn(model)``.
            seed: nevergrad's random state (the grad backend is deterministic without one).
            tol: stop once a loss at or below ``tol`` is reached (status ``converged``).
            progress: show a progress bar; ``None`` shows it when stderr is a terminal.
            start: name -> start value, instead of the Params' own values.
            n_starts, start_design, screen: grad only: several starts, the best kept (see
                :meth:`fit_many`).
            retry, retry_screen: grad only: a one-start fit that did not fit tries again (see
                :meth:`fit_many`).
        """
        batch = None if data is None else jax.tree.map(lambda x: jnp.asarray(x)[None], data)
        starts = None if start is None else {k: np.asarray(v)[None] for k, v in start.items()}
        return self.fit_many(n_steps, data=batch, seeds=[seed], starts=starts, tol=tol,
                             progress=progress, n_starts=n_starts,
                             start_design=start_design, screen=screen, retry=retry,
                             retry_screen=retry_screen)[0]

    def fit_many(self, n_steps: int, *, data=None, seeds=None, starts: dict | None = None,
                 tol: float | None = None, progress: bool | None = None, n_starts: int = 1,
                 start_design: str = "sobol", screen: int = 0, retry: int = 0,
                 retry_screen: int = 0) -> list[FitResult]:
        """Run a batch of independent fits together: one result per fit, each the result
        :meth:`fit` gives for that fit alone (up to float rounding: see below).

        Args:
            n_steps, tol, progress: as in :meth:`fit`, shared by every fit.
            data: ``loss_fn``'s data of every fit, each leaf with a leading axis of one row per
                fit (``None`` for ``loss_fn(model)``).
            seeds: one seed per fit (nevergrad's random state; recorded by both backends).
            starts: name -> start values of every fit, shape ``(n_fits, *shape)`` (default: the
                Params' own values for every fit).
            n_starts: grad only: starts per fit, its own (``starts``) and ``n_starts - 1`` more
                spread over the box by ``start_design`` (``"sobol"`` or ``"lhs"``, seeded with
                the fit's seed; :func:`eegfit.fit.multistart.design`). Every start of every fit
                advances in the same batch; each fit's result is its best kept start (a start
                that fails the gradient check is dropped), with every start in
                ``FitResult.starts`` (:func:`eegfit.fit.multistart.merge`).
            screen: with ``n_starts > 1``, evaluate ``screen`` design points per fit first (the
                loss only, all in one call) and start from the ``n_starts - 1`` best of them
                that lie apart (:func:`eegfit.fit.multistart.best_apart`), beside the fit's own
                start; 0: start from the first ``n_starts - 1`` design points.
            retry: grad, one start: a fit that ends at its start (``gradient_unreliable``,
                ``stalled``) or without a finite loss runs again from ``retry`` starts, as with
                ``n_starts=retry`` and a screen (:mod:`eegfit.fit.retry`); 0: never.
            retry_screen: with ``retry``, compare every fit after it ends with this many design
                points (the loss only, in one call) and retry a fit whose best loss lies above
                the lowest of them by more than :func:`eegfit.fit.retry.margin`; 0: no check.

        The batch size is the leading axis of ``data``, ``seeds`` or ``starts`` (they must
        agree). grad: every fit keeps its own optimizer state, best values, status and early
        stop; a fit that diverges stops while the others go on. nevergrad: one optimizer per
        fit, seeded with its seed; all candidates of all fits of a step are evaluated in one
        call. A batch runs in simulate's batch-last layout from
        :data:`eegfit.simulate.BROADCAST_MIN_BATCH` fits (candidates) on, where float rounding
        can differ from a fit run alone in the last bits. Each result's ``wall_time_s`` is the
        batch's wall time divided by the number of fits.
        """
        data, seeds, starts = self._checked_batch(n_steps, data, seeds, starts, n_starts, screen,
                                                  retry, retry_screen)
        n = len(seeds)
        t0 = time.perf_counter()  # the screen's evaluations count in the fits' wall time
        starts, data, seeds, screened = self._start_rows(starts, data, seeds, n_starts, screen,
                                                         start_design)
        results = self._fit_rows(int(n_steps), starts, data, seeds, tol, progress, n, n_starts,
                                 t0)
        if n_starts > 1:
            return [multistart.merge(results[b * n_starts:(b + 1) * n_starts],
                                     screen=screened[b]) for b in range(n)]
        if not retry:
            return results
        return retry_mod.retry_failed(
            self, results, n_steps=int(n_steps), data=data, seeds=seeds, starts=starts, tol=tol,
            progress=progress, retry=retry, retry_screen=retry_screen, start_design=start_design)

    def _checked_batch(self, n_steps, data, seeds, starts, n_starts, screen, retry,
                       retry_screen):
        """:meth:`fit_many`'s options checked, each error naming its argument, and the batch:
        its data (arrays), one seed per fit and every fit's start values."""
        if not isinstance(n_steps, numbers.Integral) or isinstance(n_steps, bool) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
        if data is not None and not self.takes_data:
            raise TypeError("data given, but loss_fn takes only the model: write "
                            "loss_fn(model, data)")
        if data is None and self.takes_data:
            raise TypeError("loss_fn takes (model, data): pass data= to fit / fit_many")
        if not isinstance(n_starts, int) or isinstance(n_starts, bool) or n_starts < 1:
            raise ValueError(f"n_starts must be a positive integer, got {n_starts!r}")
        if n_starts > 1 and self.backend != "grad":
            raise ValueError("n_starts is for the grad backend (nevergrad spreads its own "
                             "candidates over the box)")
        data = None if data is None else jax.tree.map(jnp.asarray, data)
        n = batch_size(data, seeds, starts)
        seeds = [0] * n if seeds is None else [int(s) for s in seeds]
        starts = start_values(self.split, starts, n)
        if data is not None:
            self._check_loss_fn(jax.tree.map(lambda x: x[0], data))
        retry_mod.check_options(retry, retry_screen, self.backend, n_starts)
        if not isinstance(screen, int) or isinstance(screen, bool) or screen < 0 or (
                0 < screen < n_starts - 1) or (screen and n_starts == 1):
            raise ValueError(f"screen must be 0 or, with n_starts > 1, an integer >= n_starts "
                             f"- 1 ({n_starts - 1}), got {screen!r}")
        return data, seeds, starts

    def _start_rows(self, starts, data, seeds, n_starts, screen, start_design):
        """Every start a row of the batch (fit b's starts are rows ``b*S .. b*S+S-1``, its own
        first, then its design's, screened or not): the rows' starts, data and seeds, and each
        fit's screen (``None`` without one)."""
        n = len(seeds)
        if n_starts == 1:
            return starts, data, seeds, [None] * n
        designs = [multistart.design(self.split.bounds, {k: v[b] for k, v in starts.items()},
                                     (screen or n_starts - 1) + 1, seeds[b], start_design)
                   for b in range(n)]
        screened = [None] * n
        if screen:
            designs, screened = self._screen(designs, data, n_starts)
        starts = {k: np.concatenate([d[k] for d in designs]) for k in starts}
        data = None if data is None else jax.tree.map(
            lambda x: jnp.repeat(x, n_starts, axis=0), data)
        return starts, data, [s for s in seeds for _ in range(n_starts)], screened

    def _fit_rows(self, n_steps, starts, data, seeds, tol, progress, n, n_starts, t0) -> list:
        """One :class:`FitResult` per row of the batch, fitted together behind one progress
        bar; each row's wall time is the batch's since ``t0`` over the rows."""
        label = f"{self.backend}:{self.optimizer_name}" + (f" x {n} fits" if n > 1 else "") + (
            f" x {n_starts} starts" if n_starts > 1 else "")
        bar = Progress(n_steps, label, progress)
        try:
            outs = self._run(n_steps, starts, data, seeds, tol, bar)
        finally:
            bar.close()
        wall = (time.perf_counter() - t0) / len(seeds)
        return [self._result(*out, seed, wall, {k: v[b] for k, v in starts.items()})
                for b, (out, seed) in enumerate(zip(outs, seeds))]

    def _screen(self, designs: list, data, n_starts: int):
        """Each fit's start and the ``n_starts - 1`` best of its other design points (the loss
        of all of them, of every fit, in one call), and each fit's screen ``(loss, values)``."""
        values = {k: np.stack([d[k][1:] for d in designs]) for k in designs[0]}
        loss = self._design_loss(values, data)
        chosen, screens = [], []
        for b, d in enumerate(designs):
            mine = {k: v[b] for k, v in values.items()}
            picks = multistart.best_apart(mine, loss[b], self.split.bounds, n_starts - 1)
            if picks is None:  # no finite loss: the design's first points
                picks = {k: v[:n_starts - 1] for k, v in mine.items()}
            chosen.append({k: np.concatenate([d[k][:1], picks[k]]) for k in d})
            screens.append((loss[b], mine))
        return chosen, screens

    def _design_loss(self, values: dict, data) -> np.ndarray:
        """The loss (NaN where not finite) of every fit's design points, ``values``: name ->
        ``(n_fits, n_points, *shape)``, all in one call."""
        if self._evaluate is None:
            self._evaluate = make_evaluate(self._objective)
        loss, _ = jax.device_get(self._evaluate({k: jnp.asarray(v) for k, v in values.items()},
                                                data))
        return np.where(np.isfinite(loss), np.asarray(loss, float), np.nan)

    def screen_minimum(self, starts: dict, data, seeds: list, n_points: int,
                       start_design: str = "sobol") -> np.ndarray:
        """Per fit, the lowest finite loss of ``n_points`` design points over the box (the
        design of :func:`eegfit.fit.multistart.design` from the fit's start and seed; NaN where
        none is finite)."""
        designs = [multistart.design(self.split.bounds, {k: v[b] for k, v in starts.items()},
                                     n_points + 1, seeds[b], start_design)
                   for b in range(len(seeds))]
        values = {k: np.stack([d[k][1:] for d in designs]) for k in designs[0]}
        loss = self._design_loss(values, data)
        return np.array([np.nanmin(row) if np.isfinite(row).any() else np.nan for row in loss])

    def _run(self, n_steps, starts, data, seeds, tol, bar) -> list:
        """Per fit ``(records, final, converged, diverged, checked)`` of the backend (``checked``:
        whether the gradient check stopped it and its numbers; ``None`` without a check)."""
        if self.backend == "grad":
            return [(jax.tree.map(lambda a: a[:, None], records), final, code == CONVERGED,
                     code == DIVERGED, None if checked is None else (code == UNRELIABLE, checked))
                    for records, final, code, checked in self._fit_grad(n_steps, starts, data,
                                                                        tol, bar)]
        return [(records, final, converged, False, None) for records, final, converged in
                run_nevergrad(self._evaluate, self.split, self.optimizer, n_steps,
                              num_candidates=self.num_candidates,
                              options=self.optimizer_options, seeds=seeds, starts=starts,
                              data=data, tol=tol, progress=bar)]

    def _fit_grad(self, n_steps, starts, data, tol, bar):
        chunk = min(n_steps, self.chunk_size)
        if chunk not in self._runners:
            self._runners[chunk] = make_chunk_runner(self._objective, self.split, self.optimizer,
                                                     chunk, self.derivatives, self.gradient_check)
        starts = {k: jnp.asarray(v) for k, v in starts.items()}
        reference = None
        if self.gradient_check is not None:
            if self._fd is None:
                self._fd = gcheck.finite_differences(self._objective, self.split,
                                                     self.gradient_check)
            reference = self._fd(starts, data)
        return run_grad(self._runners[chunk], self.optimizer, starts, data, n_steps, tol=tol,
                        progress=bar, reference=reference)

    def _result(self, records, final, converged, diverged, checked, seed, wall,
                start) -> FitResult:
        loss, values, aux = records
        history = History(loss=np.asarray(loss, dtype=float), params=values, aux=aux)
        names = self.split.names
        best, best_loss, best_aux = best_from_history(history, names)
        start = {n: np.asarray(start[n]) for n in names}
        n_nonfinite = int(np.sum(~np.isfinite(history.loss)))
        status, message = status_of(history, start, final, best_loss, converged=converged,
                                    diverged=diverged)
        check = None
        if checked is not None:
            unreliable, (grad, fd, rel, sign) = checked
            check = {"gradient": grad, "finite_difference": fd, "rel_error": rel,
                     "sign_agree": sign, "rtol": self.gradient_check.rtol,
                     "rel_step": self.gradient_check.rel_step}
            if unreliable and status != "converged":
                status, message = "gradient_unreliable", gcheck.message(check)
        if status in ("converged", "max_steps"):
            edge = at_bound(best, self.split.bounds) or at_bound(
                {n: np.asarray(final[n]) for n in names}, self.split.bounds, "last iterate")
            if edge:
                status, message = "at_bound", f"{edge} ({message})"
        return FitResult(
            backend=self.backend, optimizer=self.optimizer_name, names=names,
            start_params=start, best_params=best, best_loss=best_loss, best_aux=best_aux,
            final_params={n: np.asarray(final[n]) for n in names}, status=status,
            message=message, history=history, n_steps=int(history.loss.shape[0]),
            n_evaluations=int(history.loss.size), n_nonfinite=n_nonfinite, seed=seed,
            wall_time_s=wall, gradient_check=check)

    def model_at(self, values: dict) -> object:
        """The model (plain values) with the fitted parameters set to ``values``."""
        return self.split.rebuild({n: jnp.asarray(values[n]) for n in self.split.names})
