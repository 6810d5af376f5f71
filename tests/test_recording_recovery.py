"""The default recording experiment recovers the parameters of a recording the model made.

The recording is ``recording_demo``'s own demo (config/config.yaml): the model at a = 100 /s,
b = 50 /s with white noise of JR95's intensity, simulated at 0.1 ms (finer than any fitting step),
decimated to 250 Hz, scaled to µV, with 2 µV of white measurement noise, written as an EDF and read
back. The fitting model runs at 0.25 and 0.5 ms (the tested range of steps); both backends must
recover a and b within 2 % with a loss the spectrum's own statistics allow (the loss is a negative
log likelihood: its chi-square p-value above 0.01), and the grad fit's first gradient must pass
its check.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("mne")
pytest.importorskip("edfio")

from eegfit import experiments  # noqa: E402
from eegfit.experiments import runner
from eegfit.experiments.recording import demo  # noqa: E402
from eegfit.experiments.base import as_float  # noqa: E402
from eegfit.signal import likelihood  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAME = "recording_demo"
BLOCK = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["experiments"][NAME]
TRUTH = {"a": 100.0, "b": 50.0}
FIT_STEPS_MS = (0.25, 0.5)
REL_TOL = 0.02


def build(dt_ms: float | None = None, **changes):
    block = copy.deepcopy(BLOCK)
    if dt_ms is not None:
        block["simulation"]["dt_ms"] = dt_ms
    block.update(changes)
    return experiments.build(NAME, block)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """``(target, target_ds)``: the demo recording written at 0.1 ms and read back as a target."""
    workdir = tmp_path_factory.mktemp("recovery")
    kind = build()
    assert kind.spec.demo["dt_ms"] == 0.1 and kind.spec.demo["truth"] == TRUTH
    assert type(kind.spec.model.drive).__name__ == "WhiteNoiseDrive"
    (target,) = kind.targets()
    steps, original = [], demo.simulate

    def simulate(model, **sim):
        steps.append(sim["dt_ms"])
        return original(model, **sim)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        (path,) = kind.generated_inputs()
        with pytest.MonkeyPatch.context() as spy:
            spy.setattr(demo, "simulate", simulate)
            kind.make_input("demo", workdir / path)
        assert steps == [0.1]  # the demo is written at its own, finer step
        return target, runner.make_target(kind, target)


@pytest.mark.parametrize("backend", ["grad", "nevergrad"])
@pytest.mark.parametrize("dt_ms", FIT_STEPS_MS)
def test_both_backends_recover_a_and_b_within_2_percent(recording, dt_ms, backend):
    target, target_ds = recording
    kind = build(dt_ms)
    ds, _ = runner.fit(kind, backend, target, target_ds)
    assert ds.attrs["status"] == "max_steps", ds.attrs["status_message"]
    best = {name: float(ds[f"best_{name}"]) for name in TRUTH}
    for name, truth in TRUTH.items():
        assert abs(best[name] - truth) / truth < REL_TOL, (dt_ms, backend, best)
    assert float(ds["fit_p_value"]) > 0.01, float(ds["chi2_per_dof"])  # the model makes it
    assert ds["model_psd"].dims == ("frequency",) and "model_peak_frequency" in ds
    if backend == "grad":
        assert "box width" in ds.attrs["optimizer"]  # learning_rate_units: box
        assert ds.attrs["gradient_check_sign_agree"] == 1
        assert ds.attrs["gradient_check_rel_error"] < ds.attrs["gradient_check_rtol"]


def test_the_measurement_floor_removes_the_bias_it_would_cause(recording):
    """Without ``noise_floor_hz`` the recording's white noise, absent from the model, lifts the
    bands above the alpha peak and the loss prefers a larger a (about 1.5 %) and shows a misfit
    even at the truth; with it the truth is the better point and fits."""
    target, target_ds = recording
    biased = {"a": 101.5, "b": 50.2}
    losses = {}
    for floor in ([40.0, 45.0], None):
        kind = build(noise_floor_hz=floor)
        loss_fn = experiments.fit_loss(kind, kind.observed(target_ds), target.seed)
        losses[str(floor)] = [float(loss_fn(kind.model_at(
            {k: as_float(v) for k, v in point.items()}))[0]) for point in (TRUTH, biased)]
    with_floor, without = losses["[40.0, 45.0]"], losses["None"]
    assert with_floor[0] < with_floor[1]
    assert without[0] > without[1]
    assert kind.observed(target_ds)["floor_fraction"] == 0.0
    assert 0 < build().observed(target_ds)["floor_fraction"] < 0.05
    n_bins = kind.n_bins
    assert likelihood.goodness_of_fit(with_floor[0], n_bins, 0)[1] > 0.01
    assert likelihood.goodness_of_fit(without[0], n_bins, 0)[1] < 0.01


def test_the_model_psd_is_the_mean_over_independent_realisations():
    import jax  # noqa: PLC0415

    kind, one = build(n_realisations=3), build(n_realisations=1)
    model, key = kind.model_at({"a": as_float(100.0), "b": as_float(50.0)}), jax.random.key(7)
    freqs, psd = kind.model_spectrum(model, key)
    singles = [one.model_spectrum(model, k)[1] for k in jax.random.split(key, 3)]
    psd, want = np.asarray(psd), np.mean(np.asarray(singles), axis=0)
    np.testing.assert_allclose(psd, want, rtol=1e-3, atol=1e-5 * want.max())
    assert not np.allclose(np.asarray(singles[0]), np.asarray(singles[1]), rtol=1e-2)
    assert freqs[1] == 0.5 and len(freqs) == len(psd)
