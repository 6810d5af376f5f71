"""A recording's likelihood with the covariance its model's own realisations show
(``likelihood: {covariance: estimated}``, :mod:`eegfit.experiments.recording.pilot`): in a noisy
limit cycle the pilot finds an excess and the posterior widens by at most its square root; at a
fixed point it finds none and the likelihood keeps its bytes.

Sized for the suite: a 20 s demo, 2 s segments, the likelihood over 6-16 Hz (21 bins), realisations
of 4 s, a pilot of 96 of them on a 5-point grid of b, one fitted parameter."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mne")
pytest.importorskip("edfio")

from eegfit import experiments as ex  # noqa: E402
from eegfit.experiments import posterior, provenance, runner
from eegfit.experiments.recording import pilot as covariance_pilot  # noqa: E402

NAME = "recording_pilot"
DEMO = f"results/{NAME}/inputs/demo.edf"
BLOCK = {
    "kind": "recording", "files": {"demo": DEMO}, "channels": ["O1"], "segment_s": 2.0,
    "band_hz": [6.0, 16.0],
    "features": {"peak_frequency": {"band_hz": [6.0, 14.0], "sharpness": 10.0}},
    "model": {"params": {}, "drive": {"kind": "white_noise", "mean_hz": 220.0,
                                      "sigma_hz_sqrt_s": 0.577}},
    "n_realisations": 4,
    "simulation": {"dt_ms": 0.5, "duration_ms": 4500.0, "transient_ms": 500.0,
                   "integrator": "heun"},
    "parameters": {"b": {"bounds": [40.0, 60.0], "start": 50.0}}, "seeds": [0],
    "backends": {"nevergrad": {"optimizer": "DE", "num_candidates": 4, "n_steps": 2}},
    "likelihood": {"covariance": "estimated", "pilot_realisations": 96, "pilot_grid_points": 5},
    "posterior": {"method": "grid", "grid_points": 41, "refine": 2},
    "demo": {"path": DEMO, "truth": {"b": 50.0}, "sfreq_hz": 250, "duration_s": 20.0,
             "gain_uv_per_mv": 10.0, "noise_uv": 0.5, "seed": 1, "channels": {"O1": 1.0}}}


def block(c_value: float, covariance: str = "estimated") -> dict:
    out = copy.deepcopy(BLOCK)
    out["model"]["params"] = {"C": c_value}
    out["likelihood"]["covariance"] = covariance
    return out


def regime(tmp_path, c_value: float):
    """``(estimated kind, analytic kind, target, target_ds)`` of a demo at ``C``."""
    kind = ex.build(NAME, block(c_value))
    analytic = ex.build(NAME, block(c_value, "analytic"))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        Path(DEMO).parent.mkdir(parents=True)
        kind.make_input("demo", Path(DEMO))
        (target,) = kind.targets()
        return kind, analytic, target, runner.make_target(kind, target)


def grid_sd(kind, target, target_ds) -> tuple[float, np.ndarray]:
    grid = posterior.run(kind, target, target_ds)["grid"]
    b, mass = grid["b"].values, grid["mass"].values / grid["mass"].values.sum()
    mean = float(np.sum(b * mass))
    return float(np.sqrt(np.sum((b - mean) ** 2 * mass))), grid["log_density"].values


def test_the_limit_cycles_posterior_widens_by_the_pilots_excess(tmp_path):
    kind, analytic, target, ds = regime(tmp_path, 135.0)
    excess = ds["likelihood_excess"].values
    largest = float(np.linalg.eigvalsh(excess)[-1])
    assert ds["likelihood_excess"].attrs["largest_excess"] == pytest.approx(largest)
    assert largest > 2.0  # 2.9 measured: the peak wanders
    assert 40.0 <= float(ds["pilot_b"]) <= 60.0 and ds["pilot_b"].attrs["units"] == "1/s"
    assert ds["likelihood_frequency"].attrs["units"] == "Hz"
    # the pilot's target depends on the box (its grid); the analytic one's does not
    assert "bounds" in provenance.depends(kind, "target")["parameters"]["b"]
    assert "bounds" not in provenance.depends(analytic, "target")["parameters"]["b"]
    sd_estimated, _ = grid_sd(kind, target, ds)
    sd_analytic, _ = grid_sd(analytic, target, ds)
    # E >= I with largest eigenvalue l: the information along any direction shrinks by a
    # factor in [1, l], so the sd grows by at most sqrt(l) (1.38x measured, sqrt(l) = 1.71)
    assert 1.15 * sd_analytic < sd_estimated <= np.sqrt(largest) * sd_analytic * 1.05
    # the fits see it too: their data hold the estimated whitening
    assert not np.allclose(kind.fit_data(kind.observed(ds), 0)["whiten"],
                           analytic.fit_data(analytic.observed(ds), 0)["whiten"])


def test_a_fixed_point_finds_no_excess_and_keeps_its_bytes(tmp_path):
    kind, analytic, target, ds = regime(tmp_path, 120.0)
    np.testing.assert_array_equal(ds["likelihood_excess"].values, np.eye(kind.n_bins))
    assert np.array_equal(kind.observed(ds)["whiten"], analytic.observed(ds)["whiten"])
    assert np.array_equal(grid_sd(kind, target, ds)[1], grid_sd(analytic, target, ds)[1])


def test_the_default_is_analytic_and_makes_no_pilot():
    plain = copy.deepcopy(BLOCK)
    del plain["likelihood"]
    kind = ex.build(NAME, plain)
    assert kind.spec.likelihood["covariance"] == "analytic"
    assert kind.depends_also("target") == ()


@pytest.mark.parametrize("value, key", [
    ({"covariance": "empirical"}, "likelihood.covariance"),
    ({"pilot_realisations": 4}, "likelihood.pilot_realisations"),
    ({"covariance": "estimated", "pilot_realisations": 80},  # under 4x the 21 bins
     "likelihood.pilot_realisations"),
    ({"pilot_grid_points": 1}, "likelihood.pilot_grid_points"),
    ({"pilot": 320}, "likelihood"),
    ("estimated", "likelihood")])
def test_bad_likelihood_blocks_are_refused_naming_the_key(value, key):
    bad = copy.deepcopy(BLOCK)
    bad["likelihood"] = value
    with pytest.raises(ValueError, match=f"experiments.{NAME}.{key}"):
        ex.build(NAME, bad)


def test_the_next_targets_pilot_compiles_nothing(tmp_path):
    """One program per kind, the target's data and the model's values its arguments: a job
    making many targets compiles the pilot once (programs closing over a target's data and
    values compiled three for each)."""
    import logging  # noqa: PLC0415

    import jax  # noqa: PLC0415

    small = block(120.0)
    small["seeds"] = [0, 1]
    small["simulation"]["dt_ms"] = 1.0
    small["demo"]["duration_s"] = 8.0
    small["likelihood"].update(pilot_realisations=84, pilot_grid_points=2)
    kind = ex.build(NAME, small)
    analytic = ex.build(NAME, block(120.0, "analytic") | {"simulation": small["simulation"]})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        Path(DEMO).parent.mkdir(parents=True)
        kind.make_input("demo", Path(DEMO))
        first, second = kind.targets()
        observed = kind._observed(runner.make_target(analytic, first), None)
    covariance_pilot.excess_dataset(kind, first, observed)  # compiles the pilot's programs
    compiled = []

    class Count(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("Finished XLA compilation"):
                compiled.append(record.getMessage())
    handler, logger = Count(), logging.getLogger("jax._src.dispatch")
    logger.addHandler(handler)
    try:
        with jax.log_compiles():
            pilot = covariance_pilot.excess_dataset(kind, second, observed)
    finally:
        logger.removeHandler(handler)
    assert compiled == []
    assert pilot["likelihood_excess"].shape == (kind.n_bins, kind.n_bins)
