"""Fitter: recovery of C* with both backends, reproducibility, statuses, and the records."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from eegfit import ConstantDrive, Fitter, JansenRit, Param, rms, simulate
from eegfit.fit import STATUSES, History

NEVERGRAD_NAN = pytest.mark.filterwarnings("ignore:Clipping very high value")  # inf told


def assert_same_result(a, b):
    """Every field of two FitResults equal (arrays exactly, NaN == NaN), except wall time."""
    fields_a, fields_b = dataclasses.asdict(a), dataclasses.asdict(b)
    for name in fields_a:
        if name == "wall_time_s":
            continue
        leaves_a, tree_a = jax.tree.flatten(fields_a[name])
        leaves_b, tree_b = jax.tree.flatten(fields_b[name])
        assert tree_a == tree_b, name
        for x, y in zip(leaves_a, leaves_b):
            np.testing.assert_array_equal(x, y, err_msg=name)


# --- recovery ---------------------------------------------------------------------------------

def test_grad_recovers_slow_target(case, grad_fit_slow):
    _, result = grad_fit_slow
    assert result.ok
    assert case.rel_error(result, case.c_slow) < 0.01


@pytest.mark.parametrize("seed", [0, 1, 2])  # the case study's seeds
def test_nevergrad_recovers_slow_target(case, ng_fitter_slow, seed):
    # From C = 115 with 6 x 8 evaluations DE does not reach C* on every seed (its first
    # population can cluster near the start: seeds 3, 4 and 7 of 0-9 end about 4-16 % off).
    # That is the case study's documented choice, shown by its spread over seeds, not a
    # property to assert for every seed.
    result = ng_fitter_slow.fit(case.ng_steps, seed=seed)
    assert result.ok
    assert case.rel_error(result, case.c_slow) < 0.01


def test_nevergrad_from_box_centre_with_larger_population_is_reliable(case, loss_slow):
    fitter = case.ng_fitter(loss_slow, c_start=140.0, num_candidates=12)
    errors = [case.rel_error(fitter.fit(case.ng_steps, seed=seed), case.c_slow)
              for seed in range(5)]
    assert max(errors) < 0.01, errors


def test_grad_recovers_alpha_target(case, target_alpha):
    result = case.grad_fitter(case.rms_loss(target_alpha)).fit(case.grad_steps)
    assert result.ok
    assert case.rel_error(result, case.c_alpha) < 0.01


def test_nevergrad_recovers_alpha_target_across_seeds(case, target_alpha):
    # Start at the box centre (DE samples its first population around the start) and 12 steps.
    fitter = case.ng_fitter(case.rms_loss(target_alpha), c_start=140.0)
    errors = [case.rel_error(fitter.fit(12, seed=seed), case.c_alpha) for seed in range(4)]
    assert max(errors) < 0.01, errors


def test_grad_fits_a_drive_parameter_by_its_path(case):
    target = rms(case.eeg(JansenRit()))  # p = 220 Hz

    def loss_fn(model):
        amplitude = rms(case.eeg(model))
        return ((amplitude - target) / target) ** 2, {}
    model = JansenRit(drive=ConstantDrive(Param(200.0, bounds=(100.0, 320.0))))
    fitter = Fitter(model, optax.adam(2.0), loss_fn=loss_fn)
    result = fitter.fit(40)
    assert result.names == ("drive.rate_hz",)
    assert float(result.best_params["drive.rate_hz"]) == pytest.approx(220.0, rel=0.01)


# --- records ----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["grad", "nevergrad"])
def test_evaluation_counts_and_history_shapes(case, grad_fit_slow, ng_fit_slow, backend):
    fitter, result = grad_fit_slow if backend == "grad" else ng_fit_slow
    steps, candidates = ((case.grad_steps, 1) if backend == "grad"
                         else (case.ng_steps, case.ng_candidates))
    assert result.backend == backend and result.names == ("C",)
    assert result.n_steps == steps
    assert result.n_evaluations == steps * candidates
    assert result.n_nonfinite == 0
    assert result.history.loss.shape == (steps, candidates)
    assert result.history.params["C"].shape == (steps, candidates)
    assert result.history.aux["rms_mv"].shape == (steps, candidates)
    assert result.history.best_so_far().shape == (steps,)
    assert float(result.start_params["C"]) == case.c_start
    assert result.status in STATUSES


@pytest.mark.parametrize("backend", ["grad", "nevergrad"])
def test_best_params_are_the_lowest_evaluated_loss(grad_fit_slow, ng_fit_slow, backend):
    _, result = grad_fit_slow if backend == "grad" else ng_fit_slow
    loss = result.history.loss
    step, candidate = np.unravel_index(np.nanargmin(loss), loss.shape)
    assert result.best_loss == pytest.approx(float(loss[step, candidate]), rel=1e-12)
    assert result.best_params["C"] == result.history.params["C"][step, candidate]
    best_so_far = result.history.best_so_far()
    assert np.all(np.diff(best_so_far) <= 0) and best_so_far[-1] == pytest.approx(result.best_loss)
    assert result.best_aux["rms_mv"] == result.history.aux["rms_mv"][step, candidate]


@pytest.mark.parametrize("backend", ["grad", "nevergrad"])
def test_best_params_re_evaluate_to_the_best_loss(grad_fit_slow, ng_fit_slow, backend):
    fitter, result = grad_fit_slow if backend == "grad" else ng_fit_slow
    loss, aux = fitter.loss_fn(fitter.model_at(result.best_params))
    assert float(aux["rms_mv"]) == pytest.approx(float(result.best_aux["rms_mv"]), rel=1e-5)
    assert float(loss) == pytest.approx(result.best_loss, rel=1e-3, abs=1e-7)


def test_grad_projection_keeps_parameters_in_bounds(case, loss_slow):
    # C* = 150 lies outside the box: the fit must press against the upper bound, never cross it.
    model = JansenRit(C=Param(case.c_start, bounds=(110.0, 130.0)))
    result = Fitter(model, optax.adam(2.0), loss_fn=loss_slow).fit(20)
    history = result.history.params["C"]
    assert np.all((history >= 110.0) & (history <= 130.0))
    assert float(result.best_params["C"]) == pytest.approx(130.0, abs=1e-3)


def test_chunked_grad_loop_matches_one_chunk(case, loss_slow, grad_fit_slow):
    _, whole = grad_fit_slow  # one chunk of 40 steps
    chunked = case.grad_fitter(loss_slow, chunk_size=16).fit(case.grad_steps)  # 16 + 16 + 8
    assert_same_result(whole, chunked)


# --- reproducibility --------------------------------------------------------------------------

def test_grad_fit_repeats_exactly(case, loss_slow, grad_fit_slow):
    fitter, first = grad_fit_slow
    assert_same_result(first, fitter.fit(case.grad_steps))


def test_nevergrad_same_seed_repeats_exactly(case, loss_slow, ng_fit_slow):
    fitter, first = ng_fit_slow
    assert_same_result(first, fitter.fit(case.ng_steps, seed=0))  # same fitter
    assert_same_result(first, case.ng_fitter(loss_slow).fit(case.ng_steps, seed=0))  # a new one


def test_nevergrad_different_seeds_differ(case, ng_fitter_slow, ng_fit_slow):
    _, first = ng_fit_slow
    other = ng_fitter_slow.fit(case.ng_steps, seed=1)
    assert other.seed == 1
    assert not np.array_equal(first.history.params["C"], other.history.params["C"])


# --- statuses ---------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["grad", "nevergrad"])
def test_tol_stops_early_as_converged(case, loss_slow, backend):
    tol = 1e-3
    if backend == "grad":
        fitter, budget = case.grad_fitter(loss_slow), case.grad_steps
    else:
        fitter, budget = case.ng_fitter(loss_slow), case.ng_steps
    result = fitter.fit(budget, seed=0, tol=tol)
    assert result.status == "converged"
    assert result.n_steps < budget
    assert result.best_loss <= tol
    # it stops at the first step that reaches tol
    assert np.all(result.history.loss[:-1] > tol) and np.any(result.history.loss[-1] <= tol)
    assert result.n_evaluations == result.history.loss.size


def test_grad_nan_loss_diverges_and_keeps_finite_best(case, loss_slow):
    limit = 140.0  # the loss is NaN above it; the fit from 115 towards 150 must cross it

    def loss_fn(model):
        loss, aux = loss_slow(model)
        return jnp.where(model.C > limit, jnp.nan, loss), aux
    fitter = case.grad_fitter(loss_fn)
    result = fitter.fit(case.grad_steps)
    assert result.status == "diverged" and not result.ok
    assert result.n_steps < case.grad_steps  # the NaN stopped the fit
    assert result.n_nonfinite >= 1 and np.isnan(result.history.loss[-1, 0])
    assert float(result.history.params["C"][-1, 0]) > limit  # the step that went NaN is recorded
    assert np.isfinite(result.best_loss)
    assert float(result.best_params["C"]) <= limit
    assert np.isfinite(float(loss_fn(fitter.model_at(result.best_params))[0]))


def test_grad_log_of_negative_diverges(case, loss_slow):
    def loss_fn(model):
        loss, aux = loss_slow(model)
        return loss + 1e-3 * jnp.log(140.0 - model.C), aux  # NaN once C > 140
    result = case.grad_fitter(loss_fn).fit(case.grad_steps)
    assert result.status == "diverged"
    assert np.isfinite(result.best_loss) and float(result.best_params["C"]) < 140.0


@NEVERGRAD_NAN
def test_nevergrad_nan_candidates_are_never_best(case, loss_slow):
    limit = 150.0

    def loss_fn(model):
        loss, aux = loss_slow(model)
        return jnp.where(model.C > limit, jnp.nan, loss), aux
    result = case.ng_fitter(loss_fn).fit(case.ng_steps, seed=0)
    nan = np.isnan(result.history.loss)
    assert nan.any(), "no candidate above the limit: the test does not test anything"
    np.testing.assert_array_equal(nan, result.history.params["C"] > limit)
    assert result.n_nonfinite == int(nan.sum())
    assert np.isfinite(result.best_loss) and float(result.best_params["C"]) <= limit
    assert result.status in STATUSES


@NEVERGRAD_NAN
@pytest.mark.parametrize("backend", ["grad", "nevergrad"])
def test_all_nan_loss_fails(case, backend):
    def loss_fn(model):
        return jnp.nan * model.C, {}
    fitter = (case.grad_fitter(loss_fn) if backend == "grad" else case.ng_fitter(loss_fn))
    result = fitter.fit(3, seed=0)
    assert result.status == "failed" and not result.ok
    assert result.best_loss == float("inf")
    assert np.isnan(result.best_params["C"])
    assert result.n_nonfinite == result.n_evaluations


def test_flat_start_stalls(case):
    # C = 60 is quiescent: over a settled window the EEG is flat, RMS 0, gradient exactly 0.
    settled = {"duration_ms": 1500.0, "transient_ms": 1000.0}

    def loss_fn(model):
        amplitude = rms(simulate(model, **settled).eeg_mv)
        return ((amplitude - 4.3) / 4.3) ** 2, {"rms_mv": amplitude}
    model = JansenRit(C=Param(60.0, bounds=(50.0, 170.0)))
    result = Fitter(model, optax.adam(2.0), loss_fn=loss_fn).fit(3)
    assert result.status == "stalled" and not result.ok
    assert np.all(result.history.params["C"] == 60.0)
    assert result.message


# --- History ----------------------------------------------------------------------------------

NAN_STEPS = np.array([[np.nan, np.nan], [2.0, np.nan], [np.nan, np.nan], [3.0, 0.5]])


@pytest.mark.filterwarnings("error::RuntimeWarning")  # all-NaN steps must not warn
def test_best_so_far_skips_nan_steps_quietly():
    history = History(loss=NAN_STEPS, params={}, aux={})
    np.testing.assert_array_equal(history.best_so_far(), [np.nan, 2.0, 2.0, 0.5])
