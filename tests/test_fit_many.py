"""Fits as one program: per-fit data as an argument (a new target compiles nothing), and a batch
of fits advancing together that agrees with each fit done alone.

A short window (100 ms, 20 ms discarded) keeps the compiles quick; batches of 10 fits run in
simulate's batch-last layout (from ``BROADCAST_MIN_BATCH`` on), fits alone in vmap's.
"""

from __future__ import annotations

import importlib
import logging

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from eegfit import ConstantDrive, Fitter, JansenRit, Param, rms, simulate

sim_module = importlib.import_module("eegfit.simulate")
WINDOW = {"duration_ms": 100.0, "transient_ms": 20.0, "dt_ms": 0.1}
BOUNDS = (110.0, 170.0)
N_FITS = 10
assert N_FITS >= sim_module.BROADCAST_MIN_BATCH


def amplitude(c) -> float:
    return float(rms(simulate(JansenRit(C=c, drive=ConstantDrive(220.0)), **WINDOW).observable))


def loss_fn(model, data):
    """The case study's loss against ``data["target"]``; ``data["ceiling"]`` makes the loss NaN
    once C passes it (a fit that diverges mid-way)."""
    value = rms(simulate(model, **WINDOW).observable)
    loss = ((value - data["target"]) / data["target"]) ** 2
    return loss + 0.0 * jnp.sqrt(data["ceiling"] - model.C), {"rms_mv": value}


def model():
    return JansenRit(C=Param(115.0, bounds=BOUNDS), drive=ConstantDrive(220.0))


@pytest.fixture(scope="module")
def problems():
    """N_FITS targets, starts and seeds; fit 3 diverges (its ceiling lies on its path)."""
    truths = np.linspace(125.0, 165.0, N_FITS)
    dtype = jnp.result_type(float)
    data = {"target": jnp.asarray([amplitude(c) for c in truths], dtype),
            "ceiling": jnp.asarray([1e9] * N_FITS, dtype).at[3].set(121.0)}
    starts = {"C": np.linspace(112.0, 168.0, N_FITS).astype(dtype)}
    starts["C"][3] = 115.0
    return data, starts, list(range(N_FITS))


def row(tree, b):
    return jax.tree.map(lambda x: x[b], tree)


class CompileLog(logging.Handler):
    """Counts XLA compilations (jax.log_compiles)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record):
        self.count += "Finished XLA compilation" in record.getMessage()


@pytest.mark.parametrize("backend", ["grad", "nevergrad"])
def test_a_new_target_compiles_nothing(problems, backend):
    """With loss_fn(model, data) the compile count of 1 target is that of many."""
    data, _, _ = problems
    fitter = (Fitter(model(), optax.adam(2.0), loss_fn=loss_fn) if backend == "grad" else
              Fitter(model(), "DE", loss_fn=loss_fn, backend="nevergrad", num_candidates=6,
                     optimizer_options={"popsize": 6}))
    log, logger = CompileLog(), logging.getLogger("jax")
    level = logger.level
    logger.addHandler(log)
    logger.setLevel(logging.DEBUG)
    try:
        with jax.log_compiles():
            first = fitter.fit(6, data=row(data, 0), seed=0, progress=False)
            after_one = log.count
            others = [fitter.fit(6, data=row(data, b), seed=b, progress=False)
                      for b in range(1, 4)]
    finally:
        logger.removeHandler(log)
        logger.setLevel(level)
    assert after_one > 0 and log.count == after_one
    assert len({float(r.best_loss) for r in [first, *others]}) == 4  # they did fit other targets


def test_data_argument_equals_a_closed_over_target(problems):
    data, _, _ = problems
    target = row(data, 5)
    closed = Fitter(model(), optax.adam(2.0), loss_fn=lambda m: loss_fn(m, target)).fit(
        8, progress=False)
    passed = Fitter(model(), optax.adam(2.0), loss_fn=loss_fn).fit(8, data=target,
                                                                   progress=False)
    np.testing.assert_allclose(passed.history.loss, closed.history.loss, rtol=1e-5)
    assert passed.status == closed.status


def test_data_and_loss_fn_must_match():
    with pytest.raises(TypeError, match="pass data="):
        Fitter(model(), optax.adam(2.0), loss_fn=loss_fn).fit(2, progress=False)
    with pytest.raises(TypeError, match="loss_fn takes only the model"):
        Fitter(model(), optax.adam(2.0), loss_fn=lambda m: loss_fn(m, {
            "target": 1.0, "ceiling": 1e9})).fit(2, data=1.0, progress=False)
    with pytest.raises(ValueError, match="batch sizes disagree"):
        Fitter(model(), optax.adam(2.0), loss_fn=loss_fn).fit_many(
            2, data={"target": jnp.ones(3), "ceiling": jnp.ones(3)}, seeds=[0, 1])


@pytest.fixture(scope="module")
def grad_fits(problems):
    data, starts, seeds = problems
    fitter = Fitter(model(), optax.adam(2.0), loss_fn=loss_fn, chunk_size=7)
    batch = fitter.fit_many(20, data=data, seeds=seeds, starts=starts, progress=False)
    alone = [fitter.fit(20, data=row(data, b), seed=b, start={"C": starts["C"][b]},
                        progress=False) for b in range(N_FITS)]
    return batch, alone


def test_grad_batch_agrees_with_each_fit_alone(grad_fits):
    batch, alone = grad_fits
    worst = 0.0
    for b, (together, single) in enumerate(zip(batch, alone)):
        assert together.status == single.status, b
        assert together.n_steps == single.n_steps, b
        rel = abs(float(together.best_params["C"]) / float(single.best_params["C"]) - 1.0)
        worst = max(worst, rel)
        np.testing.assert_allclose(together.history.params["C"], single.history.params["C"],
                                   rtol=1e-4)
    assert worst <= 1e-4, worst


def test_a_diverging_fit_stops_alone(grad_fits):
    batch, _ = grad_fits
    assert batch[3].status == "diverged" and batch[3].n_steps < 20
    assert np.isfinite(batch[3].best_loss) and float(batch[3].best_params["C"]) <= 121.0
    others = [r for b, r in enumerate(batch) if b != 3]
    assert all(r.status == "max_steps" and r.n_steps == 20 for r in others)


def test_grad_batch_with_tol_stops_each_fit_on_its_own(problems):
    data, starts, seeds = problems
    fitter = Fitter(model(), optax.adam(2.0), loss_fn=loss_fn, chunk_size=5)
    results = fitter.fit_many(20, data=data, seeds=seeds, starts=starts, tol=1e-3,
                              progress=False)
    steps = {r.n_steps for r in results if r.status == "converged"}
    assert len(steps) > 1  # fits converged at different steps, each kept its own history
    for r in results:
        if r.status == "converged":
            assert r.history.loss[-1, 0] <= 1e-3 and np.all(r.history.loss[:-1, 0] > 1e-3)


def test_forward_and_reverse_derivatives_agree(problems):
    data, starts, seeds = problems
    fits = {mode: Fitter(model(), optax.adam(2.0), loss_fn=loss_fn, derivatives=mode)
            .fit_many(6, data=data, seeds=seeds, starts=starts, progress=False)
            for mode in ("forward", "reverse")}
    for forward, reverse in zip(fits["forward"], fits["reverse"]):
        np.testing.assert_allclose(forward.history.params["C"], reverse.history.params["C"],
                                   rtol=1e-4)


def test_nevergrad_batch_asks_the_candidates_of_each_fit_alone(problems):
    """One seeded optimizer per fit: its candidates are those of the fit alone for as long as
    the losses told are the same bits."""
    data, starts, seeds = problems
    fitter = Fitter(model(), "DE", loss_fn=loss_fn, backend="nevergrad", num_candidates=6,
                    optimizer_options={"popsize": 6})
    batch = fitter.fit_many(5, data=data, seeds=seeds, starts=starts, progress=False)
    worst = 0.0
    for b in range(N_FITS):
        alone = fitter.fit(5, data=row(data, b), seed=b, start={"C": starts["C"][b]},
                           progress=False)
        together = batch[b]
        assert together.history.loss.shape == alone.history.loss.shape
        for step in range(alone.history.loss.shape[0]):
            np.testing.assert_array_equal(together.history.params["C"][step],
                                          alone.history.params["C"][step])
            same = np.array_equal(together.history.loss[step], alone.history.loss[step],
                                  equal_nan=True)
            if not same:
                break
        both = np.isfinite(alone.history.loss) & np.isfinite(together.history.loss)
        worst = max(worst, float(np.max(np.abs(together.history.loss[both] -
                                               alone.history.loss[both]) /
                                        np.maximum(alone.history.loss[both], 1e-12))))
    assert worst < 1e-4, worst
