"""Bad input fails early, with the promised exception and a message naming the culprit."""

import jax.numpy as jnp
import optax
import pytest

from eegfit import ConstantDrive, Fitter, JansenRit, Param, rms, simulate

SHORT = {"duration_ms": 50.0, "transient_ms": 10.0}  # errors come before any real work


def good_loss(model):
    return rms(simulate(model, **SHORT).observable), {}


def bounded(value=115.0, bounds=(110.0, 170.0), **fields):
    return JansenRit(C=Param(value, bounds=bounds), **fields)


def grad_fitter(model=None, loss_fn=good_loss, **kwargs):
    return Fitter(bounded() if model is None else model, optax.adam(2.0), loss_fn=loss_fn,
                  **kwargs)


def ng_fitter(model=None, optimizer="DE", **kwargs):
    return Fitter(bounded() if model is None else model, optimizer, loss_fn=good_loss,
                  backend="nevergrad", **kwargs)


# --- loss_fn ----------------------------------------------------------------------------------

def test_loss_fn_returning_a_non_scalar():
    with pytest.raises(TypeError, match=r"scalar.*shape \(400,\)"):
        grad_fitter(loss_fn=lambda m: (simulate(m, **SHORT).observable, {}))


def test_loss_fn_returning_no_aux():
    with pytest.raises(TypeError, match=r"pair \(scalar_loss, aux\)"):
        grad_fitter(loss_fn=lambda m: rms(simulate(m, **SHORT).observable))


def test_loss_fn_returning_an_integer():
    with pytest.raises(TypeError, match="scalar float"):
        grad_fitter(loss_fn=lambda m: (jnp.int32(1), {}))


def test_loss_fn_not_callable():
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        grad_fitter(loss_fn=3.0)


# --- model and parameters ---------------------------------------------------------------------

@pytest.mark.parametrize("model", [JansenRit(), JansenRit(C=Param(115.0, fit=False))],
                         ids=["no-param", "fit-false"])
def test_model_without_trainable_param(model):
    with pytest.raises(ValueError, match="no trainable parameter"):
        grad_fitter(model)


@pytest.mark.parametrize("model, culprit", [
    (bounded(float("nan")), "'C'"),
    (bounded(jnp.nan), "'C'"),
    (bounded(A=float("nan")), "'A'"),  # a fixed field, not a fitted one
    (bounded(drive=ConstantDrive(float("inf"))), "'drive.rate_hz'"),
], ids=["C-nan", "C-jnp-nan", "A-nan", "drive-inf"])
def test_non_finite_parameter_value(model, culprit):
    with pytest.raises(ValueError, match=f"{culprit} has a non-finite value"):
        grad_fitter(model)


@pytest.mark.parametrize("bounds", [(170.0, 110.0), (115.0, 115.0), (110.0, float("inf"))])
def test_bounds_must_be_finite_and_increasing(bounds):
    with pytest.raises(ValueError, match="bounds of 'C'"):
        grad_fitter(JansenRit(C=Param(115.0, bounds=bounds)))


@pytest.mark.parametrize("start", [100.0, 180.0])
def test_start_outside_bounds(start):
    with pytest.raises(ValueError, match="start value of 'C'.*outside its bounds"):
        grad_fitter(bounded(start))


def test_search_space_overrides_bounds_and_checks_names():
    fitter = ng_fitter(JansenRit(C=Param(115.0)), search_space={"C": (110.0, 170.0)})
    assert fitter.split.bounds == {"C": (110.0, 170.0)}
    with pytest.raises(ValueError, match="start value of 'C'"):
        grad_fitter(bounded(115.0), search_space={"C": (120.0, 170.0)})
    with pytest.raises(ValueError, match="'B'"):
        grad_fitter(search_space={"B": (10.0, 30.0)})


# --- backends and optimizers ------------------------------------------------------------------

def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'bfgs'"):
        grad_fitter(backend="bfgs")


def test_grad_backend_needs_an_optax_optimizer():
    with pytest.raises(TypeError, match="optax"):
        Fitter(bounded(), "DE", loss_fn=good_loss)


def test_grad_backend_rejects_nevergrad_options():
    with pytest.raises(ValueError, match="num_candidates"):
        grad_fitter(num_candidates=6)


@pytest.mark.parametrize("name", ["NoSuchOptimizer", "DEE"])
def test_unknown_nevergrad_optimizer(name):
    with pytest.raises(ValueError, match=f"unknown nevergrad optimizer '{name}'"):
        ng_fitter(optimizer=name)


def test_nevergrad_suggests_close_names():
    with pytest.raises(ValueError, match="did you mean.*'DE'"):
        ng_fitter(optimizer="DEE")


def test_nevergrad_needs_bounds():
    with pytest.raises(ValueError, match=r"bounds for \['C'\]"):
        ng_fitter(JansenRit(C=Param(115.0)))


def test_unknown_option_for_de():
    with pytest.raises(ValueError, match="'pop_size'.*DE"):
        ng_fitter(optimizer_options={"pop_size": 6})


@pytest.mark.parametrize("n_steps", [0, -3, 2.5])
def test_fit_needs_a_positive_step_count(n_steps):
    with pytest.raises(ValueError, match="n_steps"):
        grad_fitter().fit(n_steps)


@pytest.mark.parametrize("kwargs", [{"num_candidates": 0}, {"num_candidates": 2.0}])
def test_num_candidates_must_be_a_positive_integer(kwargs):
    with pytest.raises(ValueError, match="num_candidates"):
        ng_fitter(**kwargs)


# --- simulate ---------------------------------------------------------------------------------

@pytest.mark.parametrize("settings, culprit", [
    ({"duration_ms": 100.0, "dt_ms": 0.0}, "dt_ms"),
    ({"duration_ms": 100.0, "dt_ms": -0.1}, "dt_ms"),
    ({"duration_ms": 0.0}, "duration_ms"),
    ({"duration_ms": 100.0, "transient_ms": 100.0}, "transient_ms"),
    ({"duration_ms": 100.0, "transient_ms": 150.0}, "transient_ms"),
    ({"duration_ms": 100.0, "transient_ms": -1.0}, "transient_ms"),
    ({"duration_ms": 100.0, "integrator": "rk45"}, "integrator"),
    ({"duration_ms": 100.0, "grad_horizon_ms": 0.01}, "grad_horizon_ms"),
])
def test_simulate_rejects_bad_settings(settings, culprit):
    with pytest.raises(ValueError, match=culprit):
        simulate(JansenRit(), **settings)
