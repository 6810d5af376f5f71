"""Fitter: recovery of C* with both backends, reproducibility, statuses, and the records."""

import dataclasses
import math

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
#
# In a 1-D box a sampler that ignores the loss, plus the best-of-evaluated rule, finds C* to about
# 1 %: uniform random search over (110, 170) comes within 1 % of C* = 150 with p = 0.87 in 40
# evaluations, and a DE told random numbers instead of its losses passed the old 1 % checks on
# most seeds. So each recovery check here is one that a loss-ignoring optimizer with the same
# budget fails on most seeds, which the baseline tests show on seeds 0-9 (four ensembles of five
# seeds for the ensemble check), all reported. Measured: 0/10, 1/10, 1/10 pass for grad (slow,
# alpha, drive); 1/10, 1/10 and 0/4 for nevergrad (slow, alpha, centre):
# - grad: within 1 % of the truth, every step before it got there moving towards it; the
#   baseline is the same Adam fed random gradients (its recorded losses are the true ones).
#   Uniform random search would meet the 1 % (p = 0.87), not the path, and Adam(2.0) is still
#   ringing around C* = 150 after 40 steps (best 0.40 % off), so the bound is not tightened.
# - nevergrad: bounds that uniform random search at the same budget meets with p < 0.4; the
#   baseline is the same DE told uniform random numbers instead of its losses.

BASELINE_SEEDS = range(10)


@dataclasses.dataclass(frozen=True)
class NevergradCheck:
    """A nevergrad recovery check: the fitter's settings, and the bound on |C - C*| / C*."""

    truth: str  # "c_slow" or "c_alpha", the CaseStudy attribute
    c_start: float
    num_candidates: int
    steps: int
    bound: float  # per seed, or (ensemble) on the median over ENSEMBLE_SEEDS
    ensemble: bool = False

    def n_evaluations(self) -> int:
        return self.steps * self.num_candidates


NG_CHECKS = {
    # the case study's fit: 6 x 8 from C = 115 (measured on seeds 0-2: 0.15, 0.003, 0.018 %;
    # on seeds 0-19 it misses 0.2 % on 7, four of them stuck 3-16 % off, its documented spread)
    "slow": NevergradCheck("c_slow", 115.0, 6, 8, bound=0.002),
    # from the box centre, 6 x 16 (measured on seeds 0-3: 0.0004, 0.002, 0.014, 0.014 %; on
    # seeds 0-19 it misses 0.05 % on 5); 12 steps left seed 2 at 0.13 %, too close to any bound
    # random search misses
    "alpha": NevergradCheck("c_alpha", 140.0, 6, 16, bound=0.0005),
    # reliability from the centre with 12 candidates, 12 steps: median over seeds 0-4 within
    # 0.03 % (measured 0.01 %; per seed 0-0.08 %), and none of them off by 1 %
    "centre": NevergradCheck("c_slow", 140.0, 12, 12, bound=0.0003, ensemble=True),
}
ENSEMBLE_SEEDS = range(5)


def random_search_hit_probability(check: NevergradCheck, case) -> float:
    """Probability that uniform random search over the box, with the check's budget, has an
    evaluation within the check's bound of the truth (per seed)."""
    truth, (low, high) = getattr(case, check.truth), case.bounds
    window = min(truth * (1 + check.bound), high) - max(truth * (1 - check.bound), low)
    return 1.0 - (1.0 - window / (high - low)) ** check.n_evaluations()


def ng_passes(check: NevergradCheck, errors) -> bool:
    """The check on relative errors: one per seed, or those of ENSEMBLE_SEEDS."""
    errors = np.asarray(errors)
    if check.ensemble:
        return bool(np.median(errors) < check.bound and np.max(errors) < 0.01)
    return bool(np.all(errors < check.bound))


def grad_recovery(result, name: str, truth: float, rel: float = 0.01) -> tuple[bool, str]:
    """(passed, why): the best value within ``rel`` of ``truth``, and every step before the
    first that came within ``rel`` moved towards ``truth``."""
    path = np.asarray(result.history.params[name][:, 0], dtype=float)
    error = abs(float(result.best_params[name]) - truth) / truth
    near = np.abs(path - truth) <= rel * truth
    if not near.any():
        return False, f"never within {rel:.0%} (best {error:.2%} off)"
    first = int(np.argmax(near))
    towards = np.sign(truth - path[0])
    steps = np.diff(path[: first + 1])
    if not np.all(np.sign(steps) == towards):
        return False, f"within {rel:.0%} at step {first}, but not every step before moved there"
    return error < rel, f"within {rel:.0%} at step {first}, best {error:.3%} off"


def random_gradients(seed: dict) -> optax.GradientTransformation:
    """Replace the gradient by standard normal numbers from ``jax.random.PRNGKey(seed["seed"])``,
    read at ``init``, so one compiled fitter serves every seed."""
    def init(params):
        del params
        return jax.random.PRNGKey(seed["seed"])

    def update(updates, key, params=None):
        del params
        key, sub = jax.random.split(key)
        leaves, tree = jax.tree.flatten(updates)
        noise = [jax.random.normal(k, jnp.shape(x), jnp.result_type(x))
                 for k, x in zip(jax.random.split(sub, len(leaves)), leaves)]
        return jax.tree.unflatten(tree, noise), key
    return optax.GradientTransformation(init, update)


@pytest.fixture(scope="module")
def grad_problems(case, loss_slow, target_alpha):
    """name -> (start model, loss_fn, fitted parameter, truth) of the grad recovery tests."""
    target_rms = rms(case.eeg(JansenRit()))  # p = 220 Hz

    def drive_loss(model):
        amplitude = rms(case.eeg(model))
        return ((amplitude - target_rms) / target_rms) ** 2, {}
    return {
        "slow": (case.start_model(), loss_slow, "C", case.c_slow),
        "alpha": (case.start_model(), case.rms_loss(target_alpha), "C", case.c_alpha),
        "drive": (JansenRit(drive=ConstantDrive(Param(200.0, bounds=(100.0, 320.0)))),
                  drive_loss, "drive.rate_hz", 220.0),
    }


@pytest.fixture(scope="module")
def ng_fitters(case, ng_fitter_slow, loss_slow, target_alpha):
    """name -> the nevergrad Fitter of each of NG_CHECKS."""
    fitters = {"slow": ng_fitter_slow}
    for name, loss_fn in (("alpha", case.rms_loss(target_alpha)), ("centre", loss_slow)):
        check = NG_CHECKS[name]
        fitters[name] = case.ng_fitter(loss_fn, c_start=check.c_start,
                                       num_candidates=check.num_candidates)
    return fitters


@pytest.fixture
def told_random_losses(monkeypatch):
    """Make nevergrad's optimizers get uniform random numbers in tell() instead of the losses
    (the Fitter still records the true losses). Returns ``reseed(seed) -> counters``."""
    from nevergrad.optimization import base

    real_tell = base.Optimizer.tell
    state = {}

    def tell(self, candidate, loss, *args, **kwargs):
        state["tells"] += 1
        return real_tell(self, candidate, float(state["rng"].uniform()), *args, **kwargs)
    monkeypatch.setattr(base.Optimizer, "tell", tell)

    def reseed(seed):
        state.update(rng=np.random.default_rng(seed), tells=0)
        return state
    return reseed


def test_grad_recovers_slow_target(grad_fit_slow, grad_problems):
    _, result = grad_fit_slow
    assert result.ok
    passed, why = grad_recovery(result, *grad_problems["slow"][2:])
    assert passed, why


def test_grad_recovers_alpha_target(case, grad_problems):
    model, loss_fn, name, truth = grad_problems["alpha"]
    result = Fitter(model, optax.adam(2.0), loss_fn=loss_fn).fit(case.grad_steps)
    assert result.ok
    passed, why = grad_recovery(result, name, truth)
    assert passed, why


def test_grad_fits_a_drive_parameter_by_its_path(case, grad_problems):
    model, loss_fn, name, truth = grad_problems["drive"]
    result = Fitter(model, optax.adam(2.0), loss_fn=loss_fn).fit(case.grad_steps)
    assert result.names == ("drive.rate_hz",)
    passed, why = grad_recovery(result, name, truth)
    assert passed, why


@pytest.mark.parametrize("problem", ["slow", "alpha", "drive"])
def test_grad_recovery_check_fails_for_adam_fed_random_gradients(case, grad_problems, problem):
    model, loss_fn, name, truth = grad_problems[problem]
    seed = {"seed": 0}
    fitter = Fitter(model, optax.chain(random_gradients(seed), optax.adam(2.0)), loss_fn=loss_fn)
    outcomes = {}
    for seed["seed"] in BASELINE_SEEDS:
        outcomes[seed["seed"]] = grad_recovery(fitter.fit(case.grad_steps), name, truth)
    n_passed = sum(passed for passed, _ in outcomes.values())
    assert n_passed < len(BASELINE_SEEDS) / 2, outcomes


@pytest.mark.parametrize("seed", [0, 1, 2])  # the case study's seeds
def test_nevergrad_recovers_slow_target(case, ng_fitters, seed):
    check = NG_CHECKS["slow"]
    result = ng_fitters["slow"].fit(check.steps, seed=seed)
    assert result.ok
    error = case.rel_error(result, case.c_slow)
    assert ng_passes(check, [error]), f"{error:.3%} off, bound {check.bound:.2%}"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_nevergrad_recovers_alpha_target(case, ng_fitters, seed):
    # Start at the box centre (DE samples its first population around the start)
    check = NG_CHECKS["alpha"]
    result = ng_fitters["alpha"].fit(check.steps, seed=seed)
    assert result.ok
    error = case.rel_error(result, case.c_alpha)
    assert ng_passes(check, [error]), f"{error:.3%} off, bound {check.bound:.2%}"


def test_nevergrad_from_box_centre_with_larger_population_is_reliable(case, ng_fitters):
    check = NG_CHECKS["centre"]
    errors = [case.rel_error(ng_fitters["centre"].fit(check.steps, seed=seed), case.c_slow)
              for seed in ENSEMBLE_SEEDS]
    assert ng_passes(check, errors), errors


@pytest.mark.parametrize("name", sorted(NG_CHECKS))
def test_nevergrad_bounds_are_met_by_random_search_on_few_seeds(case, name):
    check = NG_CHECKS[name]
    p = random_search_hit_probability(check, case)
    if check.ensemble:  # the median of the ensemble within the bound: most of its seeds hit
        n = len(ENSEMBLE_SEEDS)
        p = sum(math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n // 2 + 1, n + 1))
        assert p < 0.1, p  # 0.05
    else:
        assert p < 0.4, p  # slow 0.38, alpha 0.20


@pytest.mark.parametrize("name", sorted(NG_CHECKS))
def test_nevergrad_check_fails_for_de_told_random_losses(case, ng_fitters, told_random_losses,
                                                         name):
    check, fitter = NG_CHECKS[name], ng_fitters[name]
    truth = getattr(case, check.truth)

    def error(seed):
        counters = told_random_losses(seed)
        result = fitter.fit(check.steps, seed=seed)
        assert counters["tells"] == result.n_evaluations, "random losses were not told"
        return case.rel_error(result, truth)
    if check.ensemble:  # four disjoint ensembles: seeds 0-4, 5-9, 10-14, 15-19
        size = len(ENSEMBLE_SEEDS)
        runs = {seeds: [error(s) for s in seeds]
                for seeds in (tuple(range(i * size, (i + 1) * size)) for i in range(4))}
    else:
        runs = {seed: [error(seed)] for seed in BASELINE_SEEDS}
    n_passed = sum(ng_passes(check, errors) for errors in runs.values())
    assert n_passed < len(runs) / 2, {k: np.round(np.multiply(v, 100), 3) for k, v in runs.items()}


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
        amplitude = rms(simulate(model, **settled).observable)
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


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_grad_optimizer_is_optax_in_parameter_or_box_units(name):
    """A grad block's optimizer (eegfit.fit.grad.optimizer, the one place it is made) steps as
    optax's own at the rate in the parameters' units, and as optax's at rate 1 scaled by rate x
    box width per parameter in box units; its label names both."""
    from eegfit.fit.grad import optimizer

    params = {"C": jnp.asarray(140.0), "p": jnp.asarray(220.0)}
    grads = {"C": jnp.asarray(0.3), "p": jnp.asarray(-2.0)}

    def step(transform):
        return transform.update(grads, transform.init(params), params)[0]

    plain, label = optimizer(name, 0.5)
    want = step(getattr(optax, name)(0.5))
    for k in params:
        np.testing.assert_allclose(step(plain)[k], want[k], rtol=1e-6)
    assert label == f"{name}(lr=0.5)"
    widths = {"C": 60.0, "p": 4.0}
    boxed, label = optimizer(name, 0.5, widths)
    unit = step(getattr(optax, name)(1.0))
    for k in params:
        np.testing.assert_allclose(step(boxed)[k], unit[k] * 0.5 * widths[k], rtol=1e-6)
    assert label == f"{name}(lr=0.5 x box width)"
