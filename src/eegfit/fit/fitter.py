"""One Fitter, two backends: write ``loss_fn(model) -> (loss, aux)`` once, swap the backend.

>>> model = JansenRit(C=Param(115.0, bounds=(110.0, 170.0)))
>>> def loss_fn(m):
...     eeg = simulate(m, duration_ms=600.0, transient_ms=200.0).eeg_mv
...     amplitude = rms(eeg)
...     return ((amplitude - target) / target) ** 2, {"rms_mv": amplitude}
>>> Fitter(model, optax.adam(2.0), loss_fn=loss_fn).fit(40)
>>> Fitter(model, "DE", loss_fn=loss_fn, backend="nevergrad", num_candidates=6,
...        optimizer_options={"popsize": 6}).fit(8, seed=0)

``loss_fn`` receives the model with plain values (every :class:`Param` replaced by a value) and
must be a pure JAX function: it is traced, differentiated (grad) and vectorised (nevergrad).
"""

from __future__ import annotations

import numbers
import time

import jax
import jax.numpy as jnp
import numpy as np

from eegfit.fit.grad import CONVERGED, DIVERGED, make_chunk_runner, run_grad
from eegfit.fit.nevergrad_backend import parametrization, resolve_optimizer, run_nevergrad
from eegfit.fit.param import split as split_model
from eegfit.fit.progress import Progress
from eegfit.fit.result import FitResult, History, best_from_history

BACKENDS = ("grad", "nevergrad")


class Fitter:
    """Fit the trainable :class:`Param` leaves of ``model`` by minimising ``loss_fn``.

    Args:
        model: a model pytree with at least one ``Param(value, fit=True)`` inside.
        optimizer: for ``backend="grad"`` an ``optax.GradientTransformation`` (e.g.
            ``optax.adam(2.0)``; the learning rate is in the parameter's units); for
            ``backend="nevergrad"`` an optimizer name from nevergrad's registry (``"DE"``,
            ``"CMA"``, ``"TwoPointsDE"``, ``"NGOpt"``, ...) or a nevergrad optimizer object.
        loss_fn: ``loss_fn(model) -> (scalar_loss, aux)``; aux is any pytree of arrays (``{}``
            if there is nothing to report).
        backend: ``"grad"`` or ``"nevergrad"``.
        search_space: name -> ``(low, high)``, overriding the Params' own bounds.
        num_candidates: nevergrad only: candidates asked and evaluated together per step.
        optimizer_options: nevergrad only: the optimizer's own options (e.g. ``{"popsize": 6}``).
        chunk_size: grad only: steps per compiled call (progress and early stop are checked
            between chunks; the step loop inside a chunk is one compiled ``lax.scan``).
        optimizer_label: how the optimizer is named in results (default: the nevergrad name,
            or ``"optax"`` for an optax transformation, which does not know its own name).
    """

    def __init__(self, model, optimizer, *, loss_fn, backend: str = "grad",
                 search_space: dict | None = None, num_candidates: int = 1,
                 optimizer_options: dict | None = None, chunk_size: int = 50,
                 optimizer_label: str | None = None):
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
        self._objective = lambda values: loss_fn(self.split.rebuild(values))
        self._check_loss_fn()
        if backend == "grad":
            if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
                raise TypeError(f"the grad backend needs an optax GradientTransformation "
                                f"(e.g. optax.adam(2.0)), got {optimizer!r}")
            if optimizer_options or num_candidates != 1:
                raise ValueError("num_candidates and optimizer_options are for the nevergrad "
                                 "backend; configure an optax optimizer by its arguments")
            self._runners = {}
        else:
            parametrization(self.split, seed=0)  # fail now, not at fit(): bounds missing
            resolve_optimizer(optimizer, self.optimizer_options)  # unknown name or option
            self._evaluate = jax.jit(jax.vmap(self._objective))

    def _check_loss_fn(self) -> None:
        try:
            out = jax.eval_shape(self._objective, self.split.start)
        except TypeError as err:
            raise TypeError(f"loss_fn failed on the model: {err}") from err
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"loss_fn must return a pair (scalar_loss, aux), got {out!r}")
        loss = out[0]
        if getattr(loss, "shape", None) != () or not jnp.issubdtype(loss.dtype, jnp.floating):
            raise TypeError(f"loss_fn's loss must be a scalar float, got shape "
                            f"{getattr(loss, 'shape', None)} dtype {getattr(loss, 'dtype', None)}")

    @property
    def optimizer_name(self) -> str:
        if self.optimizer_label is not None:
            return self.optimizer_label
        if isinstance(self.optimizer, str):
            return self.optimizer
        return "optax" if self.backend == "grad" else repr(self.optimizer)

    def fit(self, n_steps: int, *, seed: int = 0, tol: float | None = None,
            progress: bool | None = None) -> FitResult:
        """Run the fit for at most ``n_steps`` steps.

        Args:
            n_steps: grad: optimizer steps (one value-and-grad each); nevergrad: ask/tell rounds
                of ``num_candidates`` evaluations each (budget ``n_steps * num_candidates``).
            seed: nevergrad's random state (the grad backend is deterministic without one).
            tol: stop once a loss at or below ``tol`` is reached (status ``converged``).
            progress: show a progress bar; ``None`` shows it when stderr is a terminal.
        """
        if not isinstance(n_steps, numbers.Integral) or isinstance(n_steps, bool) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
        n_steps = int(n_steps)
        label = f"{self.backend}:{self.optimizer_name}"
        bar = Progress(n_steps, label, progress)
        t0 = time.perf_counter()
        try:
            if self.backend == "grad":
                records, final, code = self._fit_grad(n_steps, tol, bar)
                converged, diverged = code == CONVERGED, code == DIVERGED
                records = tuple(jax.tree.map(lambda a: a[:, None], r) for r in records)
            else:
                records, final, converged = run_nevergrad(
                    self._evaluate, self.split, self.optimizer, n_steps,
                    num_candidates=self.num_candidates, options=self.optimizer_options,
                    seed=seed, tol=tol, progress=bar)
                diverged = False
        finally:
            bar.close()
        wall = time.perf_counter() - t0
        return self._result(records, final, converged, diverged, seed, wall)

    def _fit_grad(self, n_steps, tol, bar):
        chunk = min(n_steps, self.chunk_size)
        if chunk not in self._runners:
            self._runners[chunk] = make_chunk_runner(self._objective, self.split, self.optimizer,
                                                     chunk)
        return run_grad(self._objective, self.split, self.optimizer, n_steps, tol=tol,
                        chunk_size=chunk, progress=bar, runner=self._runners[chunk])

    def _result(self, records, final, converged, diverged, seed, wall) -> FitResult:
        loss, values, aux = records
        history = History(loss=np.asarray(loss, dtype=float), params=values, aux=aux)
        names = self.split.names
        best, best_loss, best_aux = best_from_history(history, names)
        start = {n: np.asarray(self.split.start[n]) for n in names}
        n_nonfinite = int(np.sum(~np.isfinite(history.loss)))
        moved = any(np.any(history.params[n] != start[n]) for n in names) or any(
            np.any(np.asarray(final[n]) != start[n]) for n in names)
        if not np.isfinite(best_loss):
            status, message = "failed", "no evaluation gave a finite loss"
        elif diverged:
            status = "diverged"
            message = (f"non-finite loss or gradient at step {len(history.loss)}; best values "
                       f"are from the finite steps before it")
        elif converged:
            status, message = "converged", "loss reached tol"
        elif not moved:
            status = "stalled"
            message = ("the parameters never left the start: the loss is flat there (zero "
                       "gradient, e.g. a quiescent column whose feature does not change)")
        else:
            status, message = "max_steps", "step budget used up"
        return FitResult(
            backend=self.backend, optimizer=self.optimizer_name, names=names,
            start_params=start, best_params=best, best_loss=best_loss, best_aux=best_aux,
            final_params={n: np.asarray(final[n]) for n in names}, status=status,
            message=message, history=history, n_steps=int(history.loss.shape[0]),
            n_evaluations=int(history.loss.size), n_nonfinite=n_nonfinite, seed=seed,
            wall_time_s=wall)

    def model_at(self, values: dict) -> object:
        """The model (plain values) with the fitted parameters set to ``values``."""
        return self.split.rebuild({n: jnp.asarray(values[n]) for n in self.split.names})
