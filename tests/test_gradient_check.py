"""The grad backend's first-step gradient check and the ``at_bound`` status.

The losses here are cheap closed forms whose gradient is made wrong on purpose (a flipped sign, or
the exact derivative of a loss that is rough on the scale a fit moves), so the check's verdict is
known; the kinds' losses are measured in benchmarks/bench_gradients.py.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import yaml

from eegfit import Fitter, Param, experiments, io
from eegfit.experiments import runner, summary
from eegfit.fit import gradient_check
from eegfit.fit.param import split as split_model
from eegfit.models import JansenRit

ROOT = Path(__file__).resolve().parents[1]
BOUNDS = (110.0, 170.0)
TRUTH = 150.0


def slope_as(x, s):
    """``x`` in value, with derivative ``s`` (``s = -1``: a gradient pointing the wrong way)."""
    return s * x + jax.lax.stop_gradient(x - s * x)


def loss_fn(model, data):
    """A parabola in C about ``data[0]``, with the derivative scaled by ``data[1]`` and a ripple
    of amplitude ``data[2]`` (period 0.37 in C: rough on the scale of the check's stencil)."""
    c = slope_as(model.C, data[1])
    ripple = data[2] * jnp.sin(2 * jnp.pi * model.C / 0.37)
    return ((c - data[0]) / 10.0) ** 2 + ripple, {"c": model.C}


def fitter(check=True):
    return Fitter(JansenRit(C=Param(120.0, bounds=BOUNDS)), optax.adam(3.0), loss_fn=loss_fn,
                  gradient_check=check)


# fits: a sound gradient; a flipped one; the exact derivative of a rippled loss
DATA = jnp.asarray([[TRUTH, 1.0, 0.0], [TRUTH, -1.0, 0.0], [TRUTH, 1.0, 0.05]])


@pytest.fixture(scope="module")
def checked():
    return fitter().fit_many(60, data=DATA, progress=False)


def test_a_sound_gradient_passes_and_the_fit_runs(checked):
    result = checked[0]
    assert result.status == "max_steps", result.message
    assert abs(float(result.best_params["C"]) - TRUTH) < 1.0
    check = result.gradient_check
    assert check["sign_agree"] and check["rel_error"] < 1e-2
    want = 2 * (120.0 - TRUTH) / 100.0
    np.testing.assert_allclose(check["gradient"]["C"], want, rtol=1e-5)
    np.testing.assert_allclose(check["finite_difference"]["C"], want, rtol=1e-3)


def test_a_wrong_gradient_stops_at_the_start(checked):
    result = checked[1]
    assert result.status == "gradient_unreliable", result.message
    assert "finite difference" in result.message
    assert result.n_steps == 1 and float(result.best_params["C"]) == 120.0
    assert float(result.final_params["C"]) == 120.0
    check = result.gradient_check
    assert not check["sign_agree"] and check["rel_error"] > 1.0
    assert np.sign(check["gradient"]["C"]) != np.sign(check["finite_difference"]["C"])


def test_an_exact_gradient_of_a_rough_loss_is_unreliable(checked):
    result = checked[2]
    assert result.status == "gradient_unreliable", result.message
    assert result.gradient_check["rel_error"] > result.gradient_check["rtol"]


def test_each_fit_of_a_batch_is_the_fit_alone(checked):
    for row, batched in zip(DATA, checked):
        alone = fitter().fit(60, data=row, progress=False)
        assert alone.status == batched.status
        np.testing.assert_allclose(alone.gradient_check["rel_error"],
                                   batched.gradient_check["rel_error"], rtol=1e-3, atol=1e-5)


def test_without_the_check_a_wrong_gradient_runs_to_the_bound():
    result = fitter(None).fit(60, data=DATA[1], progress=False)
    assert result.gradient_check is None
    assert result.status == "at_bound", result.message
    assert float(result.final_params["C"]) == BOUNDS[0]  # it marched away from the minimum
    assert "last iterate on the box boundary" in result.message and "C = " in result.message


def test_finite_differences_cut_at_a_bound():
    split = split_model(JansenRit(C=Param(110.0, bounds=BOUNDS)))
    objective = lambda values, data: loss_fn(split.rebuild(values), data)  # noqa: E731
    fd = gradient_check.finite_differences(objective, split, gradient_check.GradientCheck())
    got = fd({"C": jnp.asarray([110.0])}, DATA[:1])["C"]
    # one-sided over [110, 110.3]: the parabola's secant there
    h = 0.005 * 60.0
    want = (((110.0 + h - TRUTH) / 10) ** 2 - ((110.0 - TRUTH) / 10) ** 2) / h
    np.testing.assert_allclose(np.asarray(got), [want], rtol=1e-4)


@pytest.mark.parametrize("bad", [{"rtol": 0.0}, {"rel_step": 0.9}, {"rtol": float("nan")},
                                 {"tolerance": 0.1}])
def test_bad_settings_are_named(bad):
    with pytest.raises(ValueError, match="gradient_check"):
        fitter(bad)


def column_block() -> dict:
    config = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
    return copy.deepcopy(config["experiments"]["small_C_rms"])


def test_the_config_key_is_validated_at_planning():
    block = column_block()
    spec = experiments.build("gc", block).spec
    assert spec.backend("grad").gradient_check == {"rtol": 0.5, "rel_step": 0.005}
    off = copy.deepcopy(block)
    off["backends"]["grad"]["gradient_check"] = {"enabled": False}
    assert experiments.build("gc", off).spec.backend("grad").gradient_check is None
    for key, value in (("rtol", -1.0), ("rel_step", 2.0), ("enabled", "yes"), ("typo", 1)):
        bad = copy.deepcopy(block)
        bad["backends"]["grad"]["gradient_check"] = {key: value}
        with pytest.raises(ValueError, match="experiments.gc.backends.grad.gradient_check"):
            experiments.build("gc", bad)


def test_record_and_summary_say_at_bound_and_keep_the_check(tmp_path):
    # the target is made at C = 150, outside the box [110, 140]: the fit ends on its bound
    block = column_block()
    block["parameters"]["C"] = {"bounds": [110, 140], "start": 115, "truths": [139.0]}
    kind = experiments.build("gc", block)
    target = kind.targets()[0]
    target_ds = runner.make_target(kind, dataclasses.replace(target, truth={"C": 150.0}))
    ds, _ = runner.fit(kind, "grad", target, target_ds)
    assert ds.attrs["status"] == "at_bound", ds.attrs["status_message"]
    assert ds.attrs["gradient_check_sign_agree"] == 1
    assert ds.attrs["gradient_check_rel_error"] < ds.attrs["gradient_check_rtol"]
    assert ds["gradient_check_gradient_C"].attrs["units"] == "1/(1)"
    assert np.isfinite(float(ds["gradient_check_fd_C"]))
    path = tmp_path / "fit.nc"
    io.write_netcdf(ds, path)
    table = summary.collect([path])
    assert list(table["status"]) == ["at_bound"]
