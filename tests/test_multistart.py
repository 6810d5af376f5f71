"""Multi-start grad fits and the hybrid backend on a loss with two basins (no simulation: the
loss is a closed form of C, so every test here runs in seconds with real optax and nevergrad).

From the start C = 115 a gradient fit falls into the shallow basin at 120 (loss 0.5); the deep
basin (loss 0) lies at ``data["deep"]`` (160 or 150). The loss adds a term with a wrong
derivative but no value (``h - stop_gradient(h)``) above ``data["bad_above"]``: there the first
gradient disagrees with the finite difference, so a start there fails the gradient check.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from eegfit import JansenRit, Param
from eegfit.fit import Fitter
from eegfit.fit.hybrid import Hybrid, polish_starts
from eegfit.fit.multistart import MIN_SEPARATION, design

BOUNDS = (110.0, 170.0)
CHECK = {"rtol": 0.5, "rel_step": 0.005}


def two_basins(c, deep):
    return 1.0 - jnp.exp(-((c - deep) / 6.0) ** 2) - 0.5 * jnp.exp(-((c - 120.0) / 6.0) ** 2)


def loss_fn(model, data):
    c = model.C
    wrong = 40.0 * (c - 140.0) * (c > data["bad_above"])  # a slope the value does not have
    loss = two_basins(c, data["deep"]) + wrong - jax.lax.stop_gradient(wrong)
    return loss, {"c": c}


def data(deep=(160.0,), bad_above=(1e9,)):
    dtype = jnp.result_type(float)
    return {"deep": jnp.asarray(deep, dtype), "bad_above": jnp.asarray(bad_above, dtype)}


def grad_fitter(check=None):
    return Fitter(JansenRit(C=Param(115.0, bounds=BOUNDS)), optax.adam(1.0), loss_fn=loss_fn,
                  gradient_check=check)


def search_fitter():
    return Fitter(JansenRit(C=Param(115.0, bounds=BOUNDS)), "DE", loss_fn=loss_fn,
                  backend="nevergrad", num_candidates=8, optimizer_options={"popsize": 8})


def test_design_keeps_the_start_first_and_spreads_the_rest_over_the_box():
    bounds = {"a": (80.0, 120.0), "b": (40.0, 60.0)}
    start = {"a": np.float32(90.0), "b": np.float32(55.0)}
    for kind in ("sobol", "lhs"):
        d = design(bounds, start, 8, seed=3, kind=kind)
        assert d["a"].shape == (8,) and d["a"][0] == 90.0 and d["b"][0] == 55.0
        for n, (low, high) in bounds.items():
            assert np.all((d[n] >= low) & (d[n] <= high))
            # spread: every quarter of the box holds a start (a design, not a cluster)
            quarters = np.floor(4 * (d[n][1:] - low) / (high - low)).clip(0, 3)
            assert set(quarters.tolist()) == {0, 1, 2, 3}, (kind, n, d[n])
        again = design(bounds, start, 8, seed=3, kind=kind)
        other = design(bounds, start, 8, seed=4, kind=kind)
        np.testing.assert_array_equal(d["a"], again["a"])
        assert not np.array_equal(d["a"][1:], other["a"][1:])
    assert design(bounds, start, 1, seed=0)["a"].tolist() == [90.0]
    with pytest.raises(ValueError, match="start design"):
        design(bounds, start, 4, seed=0, kind="grid")


def test_multistart_finds_the_deep_basin_a_single_start_misses():
    fitter = grad_fitter()
    one = fitter.fit(60, data=jax.tree.map(lambda x: x[0], data()))
    assert abs(float(one.best_params["C"]) - 120.0) < 2.0 and one.best_loss > 0.4
    # two fits (deep basins at 160 and 150), 8 starts each, one batch
    results = fitter.fit_many(60, data=data((160.0, 150.0), (1e9, 1e9)), seeds=[0, 1],
                              n_starts=8)
    for result, deep in zip(results, (160.0, 150.0)):
        assert abs(float(result.best_params["C"]) - deep) < 0.5 and result.best_loss < 1e-3
        starts = result.starts
        assert starts.n_starts == 8 and starts.start["C"][0] == 115.0
        assert float(result.start_params["C"]) == 115.0
        assert starts.chosen != 0 and result.best_loss == starts.best_loss[starts.chosen]
        assert starts.best_loss[starts.chosen] == np.min(starts.best_loss)
        assert starts.best_loss[0] > 0.4  # the configured start alone stays shallow
        assert result.history.loss.shape[1] == 8  # every start a candidate column
        assert result.n_evaluations == int(np.sum(np.isfinite(result.history.loss)))
    # each start in the batch is the fit that start gives alone
    r = results[0]
    for s in (0, r.starts.chosen):
        alone = fitter.fit(60, data={"deep": jnp.asarray(160.0), "bad_above": jnp.asarray(1e9)},
                           start={"C": r.starts.start["C"][s]})
        np.testing.assert_allclose(alone.best_loss, r.starts.best_loss[s], rtol=1e-5, atol=1e-7)


def test_a_screen_starts_from_the_design_points_of_lowest_loss():
    """16 design points screened, the 2 best apart polished beside the configured start: the
    deep basin (narrow, at 160) is among them, and the record says what was screened."""
    fitter = grad_fitter()
    one = jax.tree.map(lambda x: x[0], data())
    result = fitter.fit(30, data=one, seed=2, n_starts=3, screen=16)
    screened = design({"C": BOUNDS}, {"C": np.float32(115.0)}, 17, 2)["C"][1:]
    losses = np.asarray(two_basins(jnp.asarray(screened), 160.0))
    starts = result.starts
    assert starts.n_screened == 16 and starts.start["C"][0] == 115.0
    assert starts.start["C"][1] == screened[np.argmin(losses)]
    assert set(starts.start["C"][1:].tolist()) <= set(screened.tolist())
    assert np.mean(losses <= two_basins(starts.start["C"][2], 160.0) + 1e-6) <= 0.5
    assert abs(float(result.best_params["C"]) - 160.0) < 0.5
    assert result.history.loss.shape == (30, 3)  # the starts' steps; the screen apart
    np.testing.assert_allclose(starts.screen_loss, losses, rtol=1e-5)
    np.testing.assert_array_equal(starts.screen_values["C"], screened)
    assert result.n_evaluations == 16 + int(np.sum(np.isfinite(result.history.loss)))
    with pytest.raises(ValueError, match="screen must be 0 or"):
        fitter.fit(5, data=one, n_starts=4, screen=2)


def test_multistart_repeats_exactly_and_depends_on_the_seed():
    fitter = grad_fitter()
    a = fitter.fit(20, data=jax.tree.map(lambda x: x[0], data()), seed=5, n_starts=4)
    b = fitter.fit(20, data=jax.tree.map(lambda x: x[0], data()), seed=5, n_starts=4)
    c = fitter.fit(20, data=jax.tree.map(lambda x: x[0], data()), seed=6, n_starts=4)
    np.testing.assert_array_equal(a.history.loss, b.history.loss)
    np.testing.assert_array_equal(a.starts.start["C"], b.starts.start["C"])
    assert not np.array_equal(a.starts.start["C"][1:], c.starts.start["C"][1:])


def test_a_start_that_fails_the_gradient_check_is_dropped_not_the_fit():
    """Above C = 150 the gradient is wrong; the deep basin at 160 lies there, so a dropped start
    holds the lowest loss at its start: it must not be the fit."""
    fitter = grad_fitter(CHECK)
    result = fitter.fit(60, data={"deep": jnp.asarray(160.0), "bad_above": jnp.asarray(150.0)},
                        seed=0, n_starts=8)
    starts = result.starts
    dropped = ~starts.kept
    assert dropped.any() and starts.kept.any()
    assert all(s == "gradient_unreliable" for s, k in zip(starts.status, starts.kept) if not k)
    assert np.all(starts.start["C"][dropped] > 150.0)
    assert np.min(starts.best_loss[dropped]) < np.min(starts.best_loss[starts.kept])
    assert starts.kept[starts.chosen] and result.status != "gradient_unreliable"
    assert result.best_loss == np.min(starts.best_loss[starts.kept])
    assert "dropped by the gradient check" in result.message
    # every start fails: the fit reports it
    bad = fitter.fit(10, data={"deep": jnp.asarray(160.0), "bad_above": jnp.asarray(100.0)},
                     n_starts=3)
    assert bad.status == "gradient_unreliable" and not bad.starts.kept.any()
    assert "every one of the 3 starts" in bad.message


def test_multistart_is_for_the_grad_backend():
    with pytest.raises(ValueError, match="n_starts is for the grad backend"):
        search_fitter().fit(2, data=jax.tree.map(lambda x: x[0], data()), n_starts=4)
    with pytest.raises(ValueError, match="n_starts must be a positive integer"):
        grad_fitter().fit(2, data=jax.tree.map(lambda x: x[0], data()), n_starts=0)


def test_polish_starts_are_the_best_candidates_apart():
    result = search_fitter().fit(3, data=jax.tree.map(lambda x: x[0], data()), seed=0)
    picks = polish_starts(result, {"C": BOUNDS}, 4)["C"]
    assert picks.shape == (4,)
    assert picks[0] == result.best_params["C"]
    scaled = (picks - BOUNDS[0]) / (BOUNDS[1] - BOUNDS[0])
    gaps = np.abs(scaled[:, None] - scaled[None, :])[~np.eye(4, dtype=bool)]
    assert np.all(gaps >= MIN_SEPARATION)


def test_hybrid_polishes_the_search_to_the_deep_minimum():
    search = search_fitter()
    hybrid = Hybrid(search, grad_fitter(CHECK), search_steps=3, n_polish=3)
    d = data((160.0, 150.0), (1e9, 1e9))
    results = hybrid.fit_many(40, data=d, seeds=[0, 1])
    found = search.fit_many(3, data=d, seeds=[0, 1])
    for result, alone, deep in zip(results, found, (160.0, 150.0)):
        assert result.backend == "hybrid" and result.status == "max_steps", result.message
        assert abs(float(result.best_params["C"]) - deep) < 0.05
        assert result.best_loss < 1e-2 * alone.best_loss  # the polish improved on the search
        assert result.history.loss.shape == (3 + 40, 8)  # search steps, then polish steps
        np.testing.assert_array_equal(result.history.loss[:3], alone.history.loss)
        assert result.n_evaluations == 3 * 8 + int(np.sum(np.isfinite(result.history.loss[3:])))
        assert result.starts.n_starts == 3
        np.testing.assert_array_equal(result.starts.start["C"],
                                      polish_starts(alone, {"C": BOUNDS}, 3)["C"])
    # every polish start fails its gradient check: the search's best stands, with its status
    bad = {"deep": jnp.asarray([160.0]), "bad_above": jnp.asarray([100.0])}
    (dropped,) = hybrid.fit_many(5, data=bad, seeds=[0])
    (alone,) = search.fit_many(3, data=bad, seeds=[0])
    assert not dropped.starts.kept.any() and dropped.status == alone.status == "max_steps"
    assert "every polish start failed the gradient check" in dropped.message
    assert dropped.best_loss <= alone.best_loss
    again = hybrid.fit_many(40, data=d, seeds=[0, 1])
    np.testing.assert_array_equal(again[0].history.loss, results[0].history.loss)
    with pytest.raises(ValueError, match="nevergrad search"):
        Hybrid(grad_fitter(), grad_fitter(), search_steps=3)


# ---- from the config: the grad block's starts, the hybrid block, their record and summary ----

def column_block() -> dict:
    import copy  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / ".test" / "config.yaml")
                            .read_text())
    block = copy.deepcopy(config["experiments"]["small_C_rms"])
    block["simulation"].update(duration_ms=300.0, transient_ms=100.0)
    block["parameters"]["C"]["truths"] = [150.0]
    block["backends"] = {
        "grad": {"optimizer": "adam", "learning_rate": 2.0, "n_steps": 12, "n_starts": 3},
        "hybrid": {"search": {"optimizer": "DE", "num_candidates": 4, "n_steps": 2,
                              "options": {"popsize": 4, "initialization": "LHS"}},
                   "polish": {"optimizer": "adam", "learning_rate": 2.0, "n_steps": 8},
                   "n_polish": 2}}
    return block


@pytest.mark.parametrize("where, value, culprit", [
    (("grad", "n_starts"), 0, "backends.grad.n_starts must be >= 1"),
    (("grad", "n_starts"), 2.5, "backends.grad.n_starts must be an integer"),
    (("grad", "start_design"), "grid", "backends.grad.start_design must be one of"),
    (("grad", "screen"), 1, r"backends.grad.screen \(1\) picks the other starts"),
    (("hybrid", "search"), None, "backends.hybrid.search must be a nevergrad backend block"),
    (("hybrid", "n_polish"), 0, "backends.hybrid.n_polish must be >= 1"),
    (("hybrid", "polish", "n_starts"), 4, "backends.hybrid.polish.n_starts: the polish starts"),
    (("hybrid", "search", "optimizer"), "DEE", "backends.hybrid.search.optimizer"),
    (("hybrid", "polish", "typo"), 1, "backends.hybrid.polish"),
    (("hybrid", "search", "tol"), 0.1, "backends.hybrid.search.tol: the hybrid's tol"),
])
def test_bad_multistart_and_hybrid_settings_are_named(where, value, culprit):
    from eegfit import experiments  # noqa: PLC0415

    block = column_block()
    node = block["backends"]
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    with pytest.raises(ValueError, match=f"experiments.ms.{culprit}"):
        experiments.build("ms", block)


def test_records_keep_every_start_and_rewrite_byte_identical(tmp_path):
    from eegfit import experiments, io  # noqa: PLC0415
    from eegfit.experiments import runner, summary  # noqa: PLC0415

    kind = experiments.build("ms", column_block())
    assert kind.spec.backend("hybrid").polish.n_steps == 8
    (target,) = kind.targets()
    target_ds = runner.make_target(kind, target)
    paths = []
    for backend in ("grad", "hybrid"):
        ds, _ = runner.fit(kind, backend, target, target_ds)
        assert ds.attrs["n_starts"] == (3 if backend == "grad" else 2)
        assert ds.attrs["n_screened"] == 0 and "screen_loss" not in ds
        assert ds["starts_best_loss"].dims == ("start",)
        assert float(ds["starts_start_C"][0]) == (115.0 if backend == "grad" else
                                                  float(ds["starts_start_C"][0]))
        chosen = ds.attrs["chosen_start"]
        assert float(ds["starts_best_loss"][chosen]) == pytest.approx(float(ds["best_loss"]))
        assert set(ds["starts_status"].values.astype(str)) <= {"max_steps", "at_bound",
                                                               "converged"}
        assert ds.attrs["backend"] == backend and abs(float(ds["best_C"]) - 150.0) < 1.0
        first, again = tmp_path / f"{backend}.nc", tmp_path / f"{backend}2.nc"
        io.write_netcdf(ds, first)
        io.write_netcdf(runner.fit(kind, backend, target, target_ds)[0], again)
        assert first.read_bytes() == again.read_bytes()
        paths.append(first)
    table = summary.collect(paths)
    assert list(table["backend"]) == ["grad", "hybrid"]
    assert set(table["loss_above_lowest"]) <= {"yes", "no"} and "no" in set(
        table["loss_above_lowest"])
    assert list(table["disagrees_90"]) == ["n/a", "n/a"]  # no uncertainty block
