"""A grad fit that ends far above another backend's loss on the same target tries again
(``backends.grad.retry_above_others``): the test of the summary's ``loss_above_lowest``, the
config's refusals, and the pipeline run for real by Snakemake on .test/retry_above.yaml, where 3
steps of adam reach one target within its noise floor and end far above nevergrad's loss on the
other."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from eegfit import experiments, io
from eegfit.experiments import summary
from eegfit.experiments.provenance import depends
from eegfit.fit.retry import ABOVE_OTHER, above_other, margin

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / ".test" / "retry_above.yaml").read_text())
EXP = "tiny_retry_above"
BLOCK = CONFIG["experiments"][EXP]


def test_the_trigger_is_the_summarys_loss_above_lowest():
    """On the rows of test_agreement.py's kind: a fit far above the lowest other loss is called,
    within the floor or the 10 % + 1e-6 margin it is not, a non-finite fit always is, and the
    lowest finite other backend is named; the summary flags the same fits."""
    cases = [  # (grad loss, others, floor, expected)
        (0.50, {"nevergrad": 0.010, "hybrid": 0.015}, 0.01, ("nevergrad", 0.010)),
        (0.019, {"nevergrad": 0.010}, 0.01, None),             # within the noise floor
        (2e-7, {"nevergrad": 9e-7}, np.nan, None),             # grad is the lowest
        (1.9e-6, {"nevergrad": 9e-7}, np.nan, None),           # within 10 % + 1e-6
        (5e-6, {"nevergrad": 9e-7}, np.nan, ("nevergrad", 9e-7)),
        (np.inf, {"nevergrad": 3.0}, np.nan, ("nevergrad", 3.0)),
        (0.5, {"nevergrad": np.nan, "hybrid": 0.1}, np.nan, ("hybrid", 0.1)),
        (0.5, {"nevergrad": np.inf}, np.nan, None),            # nothing finite to compare
    ]
    for loss, others, floor, expected in cases:
        assert above_other(loss, others, floor) == expected, (loss, others, floor)
        rows = [{"backend": "grad", "best_loss": loss, "noise_floor_loss": floor}] + [
            {"backend": b, "best_loss": v, "noise_floor_loss": floor} for b, v in others.items()]
        if not any(np.isfinite(v) for v in others.values()):
            continue
        table = pd.DataFrame([{**r, "target": "t", "seed": 0, "parameter": "C", "std": np.nan,
                               "fitted": 1.0} for r in rows])
        flagged = summary.agreement(table)["loss_above_lowest"].iloc[0] == "yes"
        assert flagged == (expected is not None), (loss, others, floor)


def read(block):
    return experiments.build(EXP, block, check_optimizers=False)


def test_config_defaults_and_refusals():
    assert read(BLOCK).spec.backend("grad").retry_above_others is True
    off = copy.deepcopy(BLOCK)
    del off["backends"]["grad"]["retry_above_others"]
    assert read(off).spec.backend("grad").retry_above_others is False
    # the switch is not part of what a first attempt depends on: its record stays the same
    assert depends(read(off), "fit", "grad") == depends(read(BLOCK), "fit", "grad")
    bad = copy.deepcopy(BLOCK)
    bad["backends"]["grad"]["retry_above_others"] = "yes"
    with pytest.raises(ValueError, match=rf"experiments\.{EXP}\.backends\.grad\."
                                         r"retry_above_others must be true or false"):
        read(bad)
    alone = copy.deepcopy(BLOCK)
    del alone["backends"]["nevergrad"]
    with pytest.raises(ValueError, match=r"backends\.grad\.retry_above_others: .* no other "
                                         r"backend"):
        read(alone)
    hybrid = copy.deepcopy(BLOCK)
    hybrid["backends"]["hybrid"] = {"search": BLOCK["backends"]["nevergrad"],
                                    "polish": {**BLOCK["backends"]["grad"]}}
    with pytest.raises(ValueError, match=r"hybrid\.polish\.retry_above_others: the polish has "
                                         r"no retry"):
        read(hybrid)


# ---- the pipeline -----------------------------------------------------------------------------

def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fits(work: Path) -> dict:
    res = work / "results" / EXP
    return {str(p.relative_to(res)): sha(p) for p in sorted(res.rglob("*.nc"))
            if "fits" in p.parts}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from test_pipeline import copy_workflow, snakemake  # noqa: PLC0415

    work = copy_workflow(tmp_path_factory.mktemp("retry_above"))
    out = snakemake(work, f"results/{EXP}/summary.csv", "--configfile", ".test/retry_above.yaml")
    return work, out.stdout + out.stderr


@pytest.mark.slow
def test_a_grad_fit_far_above_nevergrad_is_retried_and_lands_at_its_loss(run):
    work, log = run
    assert f"retry_above_{EXP}_grad_0" in log
    res = work / "results" / EXP
    table = pd.read_csv(res / "summary.csv").set_index(["target", "backend"])
    # the far target: the first attempt ended far above nevergrad's loss ...
    first = xr.load_dataset(res / "first_attempts/fits/grad/C=150/seed=0.nc")
    ng = table.loc[("C=150", "nevergrad")]
    floor = float(first["noise_floor_loss"])
    assert float(first["best_loss"]) > ng["best_loss"] + 100 * margin(ng["best_loss"], floor)
    # ... was retried, says why, and landed within the margin of nevergrad's loss
    with xr.open_dataset(res / "fits/grad/C=150/seed=0.nc") as fit:
        attrs = fit.attrs
        assert attrs["retry_reason"] == ABOVE_OTHER and attrs["retry_other_backend"] == "nevergrad"
        assert attrs["retry_other_best_loss"] == pytest.approx(ng["best_loss"], rel=1e-6)
        assert attrs["first_attempt_best_loss"] == pytest.approx(float(first["best_loss"]))
        assert attrs["first_attempt_status"] == first.attrs["status"]
        with xr.open_dataset(res / "fits/nevergrad/C=150/seed=0.nc") as ng_fit:  # start 0
            assert float(fit["starts_start_C"][0]) == float(ng_fit["best_C"])
        assert attrs["n_evaluations"] > int(first.attrs["n_evaluations"]) + 64
    grad = table.loc[("C=150", "grad")]
    assert grad["best_loss"] <= ng["best_loss"] + margin(ng["best_loss"], floor)
    assert grad["retried"] == first.attrs["status"] and grad["loss_above_lowest"] == "no"
    assert abs(grad["fitted"] - 150.0) / 150.0 < 0.02
    timing = json.loads((res / "timings/grad/C=150/seed=0.json").read_text())
    first_timing = json.loads((res / "first_attempts/timings/grad/C=150/seed=0.json")
                              .read_text())
    assert timing["wall_time_s"] > first_timing["wall_time_s"]
    # the near target fitted within its noise floor: its record is the first attempt, as it was
    near = "fits/grad/C=118/seed=0.nc"
    assert sha(res / near) == sha(res / "first_attempts" / near)
    assert (res / "timings/grad/C=118/seed=0.json").read_bytes() == (
        res / "first_attempts/timings/grad/C=118/seed=0.json").read_bytes()
    assert pd.isna(table.loc[("C=118", "grad"), "retried"])
    assert (table["loss_above_lowest"] == "no").all()


@pytest.mark.slow
def test_the_retry_reruns_byte_identical(run):
    from test_pipeline import snakemake  # noqa: PLC0415

    work, _ = run
    before = fits(work)
    snakemake(work, f"results/{EXP}/summary.csv", "--forcerun", f"retry_above_{EXP}_grad_0",
              "--configfile", ".test/retry_above.yaml")
    assert fits(work) == before


def test_a_retry_that_finds_no_lower_loss_keeps_the_first_attempt(tmp_path):
    """The safety net: a retry is kept only where its best loss is lower. The other backend's
    record here claims a loss at a point where the model does not make it (its best C moved to
    the box's edge: a backend whose loss does not reproduce), and the polish from there (``retry:
    0``: one start, 3 steps) ends above the first attempt: the first attempt is kept, with the
    retry's reason, loss and counts in its attrs."""
    from eegfit.experiments import retry_above, runner  # noqa: PLC0415

    block = copy.deepcopy(BLOCK)
    block["backends"]["grad"]["retry"] = 0
    block["model"]["drive"] = {"kind": "constant", "rate_hz": 220.0}  # no floor: a 10 % margin
    kind = read(block)
    (target,) = [t for t in kind.targets() if t.label == "C=118"]
    target_ds = runner.make_target(kind, target)
    paths = {n: tmp_path / f"{n}.nc" for n in ("target", "first", "other")}
    io.write_netcdf(target_ds, paths["target"])
    ((first, timing),) = runner.fit_chunk(kind, "grad", [target], [target_ds])
    io.write_netcdf(first, paths["first"])
    (tmp_path / "first.json").write_text(json.dumps(timing))
    other = first.copy()
    other["best_loss"] = other["best_loss"].copy(data=1e-9)
    other["best_C"] = other["best_C"].copy(data=170.0)
    io.write_netcdf(other.assign_attrs(backend="nevergrad"), paths["other"])
    ((kept, kept_timing),) = retry_above.retry_chunk(
        kind, "grad", [target], [paths["target"]], [paths["first"]], [tmp_path / "first.json"],
        {"nevergrad": [paths["other"]]})
    assert kept.attrs["retry_reason"] == ABOVE_OTHER and kept.attrs["retry_kept"] == "first attempt"
    assert kept.attrs["retry_best_loss"] > float(first["best_loss"])
    assert float(kept["best_loss"]) == float(first["best_loss"])
    assert float(kept["best_C"]) == float(first["best_C"]) and kept.attrs["status"] == first.attrs[
        "status"]
    assert kept.attrs["n_evaluations"] == first.attrs["n_evaluations"] + 3
    assert kept_timing["wall_time_s"] > timing["wall_time_s"]
