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


def parametrization(split: Split, seed: int, start: dict | None = None):
    """The bounded search box of the fitted parameters, started at ``start`` (name -> value;
    default: the split's start values): an ``ng.p.Dict`` of them, or the one parameter itself
    when there is one (nevergrad then asks the same candidates, at less cost per ask and tell;
    :func:`values_of` reads either back as name -> value)."""
    ng = _nevergrad()
    missing = [n for n in split.names if split.bounds[n] is None]
    if missing:
        raise ValueError(f"the nevergrad backend searches a bounded box: give bounds for "
                         f"{missing} (Param(..., bounds=(low, high)) or search_space=)")
    start = split.start if start is None else start
    params = {}
    for name in split.names:
        init, (low, high) = np.asarray(start[name], dtype=float), split.bounds[name]
        params[name] = (ng.p.Scalar(init=float(init), lower=low, upper=high) if init.ndim == 0
                        else ng.p.Array(init=init, lower=low, upper=high))
    box = ng.p.Dict(**params) if len(params) > 1 else params[split.names[0]]
    box.random_state = np.random.RandomState(seed)
    return box


def values_of(split: Split, candidate) -> dict:
    """name -> value of a candidate of :func:`parametrization`'s box."""
    value = candidate.value
    return value if len(split.names) > 1 else {split.names[0]: value}


def make_evaluate(objective):
    """The batched evaluation of every candidate of every fit in one compiled call:
    ``evaluate(values, data) -> (loss, aux)`` with ``values`` name -> ``(n_fits, n_candidates,
    *shape)``, ``data`` leaves ``(n_fits, ...)`` (or ``None``), ``loss`` ``(n_fits,
    n_candidates)`` and ``aux`` leaves ``(n_fits, n_candidates, ...)``."""
    batched = jax.vmap(objective)

    @jax.jit
    def evaluate(values, data):
        n, c = next(iter(values.values())).shape[:2]
        flat = {k: v.reshape((n * c,) + v.shape[2:]) for k, v in values.items()}
        rows = None if data is None else jax.tree.map(
            lambda x: jnp.broadcast_to(x[:, None], (n, c) + x.shape[1:]).reshape(
                (n * c,) + x.shape[1:]), data)
        loss, aux = batched(flat, rows)
        return loss.reshape(n, c), jax.tree.map(lambda a: a.reshape((n, c) + a.shape[1:]), aux)
    return evaluate


def run_nevergrad(evaluate, split: Split, optimizer, n_steps: int, *, num_candidates: int,
                  options: dict | None, seeds, starts: dict, data, tol: float | None, progress):
    """Run ``n_steps`` ask/evaluate/tell steps of a batch of fits, one seeded optimizer per fit,
    all candidates of all fits evaluated in one ``evaluate`` call per step (see
    :func:`make_evaluate`). A fit that reaches ``tol`` stops asking; the others go on.

    Returns one ``(records, final_values, converged)`` per fit, with NumPy records ``(loss,
    values, aux)``, each with leading axes (steps, candidates)."""
    factory, kwargs = resolve_optimizer(optimizer, options)
    n, c = len(seeds), num_candidates
    dtype = {k: np.asarray(v).dtype for k, v in split.start.items()}
    starts = {k: np.asarray(v, dtype=dtype[k]) for k, v in starts.items()}
    opts = [factory(parametrization=parametrization(split, seed, {k: v[b] for k, v in
                                                                   starts.items()}),
                    budget=n_steps * c, num_workers=c, **kwargs)
            for b, seed in enumerate(seeds)]
    # a stopped fit's rows are evaluated at its start (finite, in the box) and ignored
    values = {k: np.repeat(v[:, None], c, axis=1) for k, v in starts.items()}
    records, running, converged = [[] for _ in range(n)], np.ones(n, bool), np.zeros(n, bool)
    for _ in range(n_steps):
        fits = np.flatnonzero(running)
        if not fits.size:
            break
        asked = {}
        for b in fits:
            asked[b] = [opts[b].ask() for _ in range(c)]
            told = [values_of(split, cand) for cand in asked[b]]
            for k in split.names:
                values[k][b] = [v[k] for v in told]
        loss, aux = jax.device_get(evaluate({k: jnp.asarray(v) for k, v in values.items()},
                                            data))
        loss = np.asarray(loss, dtype=float)
        finite = np.isfinite(loss)
        for b in fits:
            for cand, value, ok in zip(asked[b], loss[b], finite[b]):
                opts[b].tell(cand, float(value) if ok else float("inf"))
            records[b].append((np.where(finite[b], loss[b], np.nan),
                               {k: v[b].copy() for k, v in values.items()},
                               jax.tree.map(lambda a: np.asarray(a)[b], aux)))
            if tol is not None and np.any(finite[b] & (loss[b] <= tol)):
                running[b], converged[b] = False, True
        progress.update(1, loss[fits])
    out = []
    for b in range(n):
        final = {k: np.asarray(v, dtype=dtype[k])
                 for k, v in values_of(split, opts[b].recommend()).items()}
        stack = lambda i: jax.tree.map(  # noqa: E731
            lambda *xs: np.stack(xs), *[r[i] for r in records[b]])
        out.append(((stack(0), stack(1), stack(2)), final, bool(converged[b])))
    return out
