"""The ``nevergrad`` backend: derivative-free search in a bounded box.

Each step asks the optimizer for ``num_candidates`` candidates (its ``num_workers``), evaluates them
together in one vectorised, compiled call, and tells the losses back. The parametrization's random
state is seeded, so a run repeats exactly. A non-finite loss is told to the optimizer as ``inf``
(the worst value), recorded as NaN, and counted.
"""

from __future__ import annotations

import difflib

import importlib

import jax
import jax.numpy as jnp
import numpy as np

from eegfit.fit.param import Split


def _nevergrad():
    """nevergrad, imported on first use: its import costs 1.5-3 s per process (scipy.stats
    mostly), which a process that never runs this backend (targets, grad fits) need not pay."""
    return importlib.import_module("nevergrad")


def optimizer_names() -> list[str]:
    """Names of nevergrad's registered optimizers (what ``optimizer=`` accepts as a string)."""
    return sorted(_nevergrad().optimizers.registry)


def resolve_optimizer(optimizer, options: dict | None):
    """An optimizer factory from a registry name, a ConfiguredOptimizer or an Optimizer class.

    ``options`` are the optimizer's own settings (e.g. ``{"popsize": 6}`` for DE): they configure
    a ConfiguredOptimizer family (such as DE's) or go to an optimizer class's constructor.
    """
    ng = _nevergrad()
    if isinstance(optimizer, str):
        if optimizer not in ng.optimizers.registry:
            close = difflib.get_close_matches(optimizer, ng.optimizers.registry, n=3)
            raise ValueError(f"unknown nevergrad optimizer {optimizer!r}"
                             + (f"; did you mean {close}?" if close else ""))
        optimizer = ng.optimizers.registry[optimizer]
    options = dict(options or {})
    if isinstance(optimizer, ng.optimizers.base.ConfiguredOptimizer):
        if options:
            config = dict(getattr(optimizer, "_config", {}))
            unknown = sorted(set(options) - set(config))
            if unknown:
                raise ValueError(f"unknown option(s) {unknown} for nevergrad optimizer "
                                 f"{optimizer!r}; known: {sorted(config)}")
            optimizer = type(optimizer)(**{**config, **options})
        return optimizer, {}
    if isinstance(optimizer, type) and issubclass(optimizer, ng.optimizers.base.Optimizer):
        return optimizer, options
    raise TypeError(f"optimizer must be a nevergrad optimizer name, ConfiguredOptimizer or "
                    f"Optimizer class for the nevergrad backend, got {optimizer!r}")


def check_options(optimizer: str, options: dict | None, where: str = "options",
                  num_candidates: int = 1) -> None:
    """Try ``optimizer`` with ``options`` on a small box before any fit: a bad option value
    (nevergrad answers some with a bare ``AssertionError`` only once it runs) becomes a
    ``ValueError`` naming ``where``."""
    try:
        factory, kwargs = resolve_optimizer(optimizer, options)
    except Exception as err:  # noqa: BLE001  (a ConfiguredOptimizer asserts on bad values)
        raise ValueError(f"config {where}: nevergrad optimizer {optimizer!r} does not accept "
                         f"options {dict(options or {})}: {type(err).__name__} {err}".rstrip()
                         ) from None
    ng = _nevergrad()
    try:
        instance = factory(ng.p.Scalar(lower=0.0, upper=1.0), budget=4 * num_candidates + 8,
                           num_workers=num_candidates, **kwargs)
        for _ in range(num_candidates):
            instance.ask()
    except Exception as err:  # noqa: BLE001  (nevergrad's own checks raise anything)
        raise ValueError(f"config {where}: nevergrad optimizer {optimizer!r} does not accept "
                         f"options {dict(options or {})}: {type(err).__name__} {err}".rstrip()
                         ) from None


def parametrization(split: Split, seed: int):
    """The bounded search box (an ``ng.p.Dict``) of the fitted parameters, started at their
    start values."""
    ng = _nevergrad()
    missing = [n for n in split.names if split.bounds[n] is None]
    if missing:
        raise ValueError(f"the nevergrad backend searches a bounded box: give bounds for "
                         f"{missing} (Param(..., bounds=(low, high)) or search_space=)")
    params = {}
    for name in split.names:
        start, (low, high) = np.asarray(split.start[name], dtype=float), split.bounds[name]
        params[name] = (ng.p.Scalar(init=float(start), lower=low, upper=high) if start.ndim == 0
                        else ng.p.Array(init=start, lower=low, upper=high))
    box = ng.p.Dict(**params)
    box.random_state = np.random.RandomState(seed)
    return box


def run_nevergrad(evaluate, split: Split, optimizer, n_steps: int, *, num_candidates: int,
                  options: dict | None, seed: int, tol: float | None, progress):
    """Run ``n_steps`` ask/evaluate/tell steps; ``evaluate`` maps a dict of stacked candidate
    values to ``(losses, aux)`` in one call (e.g. ``jax.jit(jax.vmap(objective))``).

    Returns ``(records, final_values, converged)`` with NumPy records ``(loss, values, aux)``,
    each with leading axes (steps, candidates)."""
    factory, kwargs = resolve_optimizer(optimizer, options)
    box = parametrization(split, seed)
    opt = factory(parametrization=box, budget=n_steps * num_candidates,
                  num_workers=num_candidates, **kwargs)
    dtype = {n: np.asarray(v).dtype for n, v in split.start.items()}
    records, converged = [], False
    for _ in range(n_steps):
        candidates = [opt.ask() for _ in range(num_candidates)]
        values = {n: np.stack([c.value[n] for c in candidates]).astype(dtype[n])
                  for n in split.names}
        loss, aux = jax.device_get(evaluate({n: jnp.asarray(v) for n, v in values.items()}))
        loss = np.asarray(loss, dtype=float)
        finite = np.isfinite(loss)
        for candidate, value, ok in zip(candidates, loss, finite):
            opt.tell(candidate, float(value) if ok else float("inf"))
        records.append((np.where(finite, loss, np.nan), values, aux))
        progress.update(1, loss)
        if tol is not None and np.any(finite & (loss <= tol)):
            converged = True
            break
    final = {n: np.asarray(v, dtype=dtype[n]) for n, v in opt.recommend().value.items()}
    stack = lambda i: jax.tree.map(lambda *xs: np.stack(xs), *[r[i] for r in records])  # noqa: E731
    return (stack(0), stack(1), stack(2)), final, converged
