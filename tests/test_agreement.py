"""The summary's comparison of backends on one target: a fit above another backend's lowest loss
by more than the noise floor, backends outside each other's 90 % sets, a fit outside the
posterior's set. The table is built here (no fit runs): the columns are arithmetic on it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from eegfit.experiments import summary


def table(rows):
    base = {"experiment": "e", "kind": "column", "units": "1", "optimizer": "x", "truth": np.nan,
            "start": 0.0, "rel_error": np.nan, "status": "max_steps", "n_evaluations": 1,
            "n_nonfinite": 0}
    return pd.DataFrame([{**base, **r} for r in rows])


def row(backend, fitted, std, loss, floor=np.nan, target="t", seed=0, parameter="C"):
    return {"backend": backend, "fitted": fitted, "std": std, "best_loss": loss,
            "noise_floor_loss": floor, "target": target, "seed": seed, "parameter": parameter}


def test_a_fit_above_the_lowest_loss_by_more_than_the_noise_floor_is_flagged():
    t = summary.agreement(table([
        row("grad", 100.0, np.nan, 0.50, floor=0.01),       # far above: flagged
        row("nevergrad", 120.0, np.nan, 0.010, floor=0.01),  # the lowest
        row("hybrid", 120.1, np.nan, 0.015, floor=0.01),     # above by less than the floor
        row("grad", 100.0, np.nan, 0.50, floor=0.01, seed=1),  # alone on its seed: the lowest
        row("grad", 1.0, np.nan, 2e-7, target="u"),           # no floor: 10 % + 1e-6 margin
        row("nevergrad", 1.0, np.nan, 9e-7, target="u"),
        row("hybrid", 1.0, np.nan, 5e-6, target="u"),
        row("nevergrad", np.nan, np.nan, np.inf, target="u"),  # failed: flagged
    ]))
    assert list(t["loss_above_lowest"]) == ["yes", "no", "no", "no", "no", "no", "yes", "yes"]
    np.testing.assert_allclose(t["lowest_loss"][:4], [0.01, 0.01, 0.01, 0.5])
    np.testing.assert_allclose(t["loss_gap"][:3], [0.49, 0.0, 0.005])
    np.testing.assert_allclose(t["loss_margin"][4], 0.1 * 2e-7 + 1e-6)


def test_backends_outside_each_others_90_percent_sets():
    z = summary.Z90
    t = summary.agreement(table([
        row("grad", 100.0, 1.0, 0.1),
        row("nevergrad", 100.0 + 0.9 * z, 1.0, 0.1),  # inside grad's set and grad in its
        row("hybrid", 100.0 + 1.1 * z, 1.0, 0.1),     # outside grad's, inside nevergrad's
        row("grad", 5.0, 1.0, 0.1, parameter="B"),
        row("nevergrad", 5.0, np.nan, 0.1, parameter="B"),  # no set: cannot say
    ]))
    assert list(t["disagrees_90"]) == ["hybrid", "none", "grad", "n/a", "n/a"]
    # a narrow set excludes a fit that a wide one holds: still a disagreement, both ways
    t = summary.agreement(table([row("grad", 100.0, 0.1, 0.1), row("hybrid", 101.0, 10.0, 0.1)]))
    assert list(t["disagrees_90"]) == ["hybrid", "grad"]


def test_fit_in_the_posteriors_set():
    hds = {("t", 0, "C"): [(90.0, 95.0), (99.0, 101.0)]}
    t = summary.agreement(table([row("grad", 100.0, np.nan, 0.1),
                                 row("nevergrad", 97.0, np.nan, 0.1),
                                 row("grad", 97.0, np.nan, 0.1, seed=1)]), hds)
    assert list(t["fitted_in_hds"]) == ["yes", "no", "n/a"]


def test_collect_reads_the_posteriors_set_for_each_fit(tmp_path):
    """A real grid posterior file and a real fit: the fit inside the set says yes, the same
    record moved outside it says no."""
    import copy  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    from eegfit import experiments, io  # noqa: PLC0415
    from eegfit.experiments import posterior, runner  # noqa: PLC0415
    from eegfit.infer import idata  # noqa: PLC0415

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / ".test" / "config.yaml")
                            .read_text())
    block = copy.deepcopy(config["experiments"]["small_C_rms"])
    block["simulation"].update(duration_ms=300.0, transient_ms=100.0)
    block["parameters"]["C"]["truths"] = [135.0]
    block["backends"] = {"nevergrad": block["backends"]["nevergrad"]}
    block["posterior"] = {"method": "grid", "grid_points": 61, "refine": 1}
    kind = experiments.build("agree", block)
    (target,) = kind.targets()
    target_ds = runner.make_target(kind, target)
    fit_ds, _ = runner.fit(kind, "nevergrad", target, target_ds)
    post = idata.write(posterior.run(kind, target, target_ds), tmp_path / "post.nc")
    inside = io.write_netcdf(fit_ds, tmp_path / "inside.nc")
    moved = fit_ds.copy()
    moved["best_C"] = moved["best_C"] * 0 + 169.0
    moved.attrs["backend"] = "grad"
    outside = io.write_netcdf(moved, tmp_path / "outside.nc")
    table = summary.collect([inside, outside], posterior_paths=[post])
    assert list(table["backend"]) == ["grad", "nevergrad"]
    assert list(table["fitted_in_hds"]) == ["no", "yes"], table["hds_intervals"].tolist()
    assert (table["posterior_method"] == "grid").all()
