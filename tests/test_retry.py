"""A one-start grad fit that did not fit tries again (``retry``), and one that ended in a
shallow basin is caught by a screen of the box (``retry_screen``): on the two-basin loss of
``test_multistart.py`` (a closed form of C, seconds), with real optax, and through the pipeline's
config (``backends.grad.retry``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import optax
import xarray as xr

from eegfit import JansenRit, Param, io
from eegfit.experiments.spec import Backend
from eegfit.fit import Fitter
from eegfit.fit.retry import margin
from test_multistart import BOUNDS, CHECK, data, grad_fitter, two_basins


def one(d):
    return jax.tree.map(lambda x: x[0], d)


def wrong_at_start(model, d):
    """The two basins, with a slope the value does not have within 3 of the start (115)."""
    c = model.C
    wrong = 40.0 * (c - 140.0) * (jnp.abs(c - 115.0) < 3.0)
    return two_basins(c, d["deep"]) + wrong - jax.lax.stop_gradient(wrong), {"c": c}


def test_a_start_that_fails_the_gradient_check_is_retried_and_fits():
    fitter = Fitter(JansenRit(C=Param(115.0, bounds=BOUNDS)), optax.adam(1.0),
                    loss_fn=wrong_at_start, gradient_check=CHECK)
    d = one(data((160.0,)))
    first = fitter.fit(60, data=d)
    assert first.status == "gradient_unreliable" and first.retry is None
    assert first.best_params["C"] == 115.0  # it never moved
    result = fitter.fit(60, data=d, retry=8)
    assert result.retry is not None and result.retry.first_status == "gradient_unreliable"
    assert result.retry.first_best_loss == pytest.approx(first.best_loss)
    assert result.starts.n_starts == 8 and result.message.startswith("retried from 8 starts")
    assert not result.starts.kept[0]  # its own start failed the check again, and was dropped
    assert result.status in ("converged", "max_steps")
    assert abs(float(result.best_params["C"]) - 160.0) < 0.5 and result.best_loss < 1e-3


def test_a_fit_that_fitted_is_not_retried_and_is_unchanged():
    d = one(data((160.0,)))
    plain = grad_fitter().fit(60, data=d)
    again = grad_fitter().fit(60, data=d, retry=8)
    assert plain.status in ("converged", "max_steps") and again.retry is None
    assert again.best_loss == plain.best_loss and again.n_evaluations == plain.n_evaluations
    np.testing.assert_array_equal(again.history.loss, plain.history.loss)


def test_the_screen_catches_a_fit_in_the_shallow_basin():
    d = data((160.0, 150.0), (1e9, 1e9))
    plain = grad_fitter().fit_many(60, data=d, seeds=[0, 1])
    assert all(r.best_loss > 0.4 for r in plain)  # both in the basin at 120
    results = grad_fitter().fit_many(60, data=d, seeds=[0, 1], retry=4, retry_screen=32)
    for result, deep, first in zip(results, (160.0, 150.0), plain):
        assert result.retry is not None and "screened design point" in result.retry.reason
        assert result.retry.screen_best_loss < first.best_loss - margin(
            result.retry.screen_best_loss)
        assert abs(float(result.best_params["C"]) - deep) < 0.5 and result.best_loss < 1e-3
        # the first attempt, the check's 32 points and the retry's screen all count
        assert result.n_evaluations > first.n_evaluations + 32 + result.starts.n_screened
    # without the screen the retry does not fire: the fits "fitted" (max_steps)
    no_check = grad_fitter().fit_many(60, data=d, seeds=[0, 1], retry=4)
    assert all(r.retry is None for r in no_check)


def test_bad_retry_options_are_refused():
    d = one(data())
    with pytest.raises(ValueError, match="retry must be 0"):
        grad_fitter().fit(5, data=d, retry=1)
    with pytest.raises(ValueError, match="already a multi-start fit"):
        grad_fitter().fit(5, data=d, retry=4, n_starts=4)
    with pytest.raises(ValueError, match="needs retry >= 2"):
        grad_fitter().fit(5, data=d, retry_screen=16)
    with pytest.raises(ValueError, match="retry must be an integer"):
        grad_fitter().fit(5, data=d, retry=-2)


GRAD = {"optimizer": "adam", "learning_rate": 2.0, "n_steps": 5}


def read(grad):
    return Backend.read("grad", grad, "experiments.x.backends.grad")


def test_config_defaults_and_refusals():
    assert read(GRAD).retry == 8 and read(GRAD).retry_screen == 0
    assert read({**GRAD, "n_starts": 4}).retry == 0
    assert read({**GRAD, "retry": 0}).retry == 0
    with pytest.raises(ValueError, match=r"experiments\.x\.backends\.grad\.retry"):
        read({**GRAD, "n_starts": 4, "retry": 8})
    with pytest.raises(ValueError, match=r"backends\.grad\.retry_screen.*needs retry"):
        read({**GRAD, "retry": 0, "retry_screen": 16})


def test_a_retried_fit_says_so_in_its_record(tmp_path):
    result = Fitter(JansenRit(C=Param(115.0, bounds=BOUNDS)), optax.adam(1.0),
                    loss_fn=wrong_at_start, gradient_check=CHECK).fit(
        60, data=one(data((160.0,))), retry=8)
    path = tmp_path / "fit.nc"
    io.write_netcdf(io.fit_dataset(result, param_units={"C": "1"}, attrs={}), path)
    ds = xr.load_dataset(path)
    assert ds.attrs["first_attempt_status"] == "gradient_unreliable"
    assert ds.attrs["retry_starts"] == 8 and "gradient_unreliable" in ds.attrs["retry_reason"]
    assert ds.sizes["start"] == 8
