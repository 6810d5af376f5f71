"""Measured EEG as targets (the ``recording`` kind): reading EDF/FIF, Welch features, bad inputs,
and an end-to-end fit of a generated recording (the model at known a, b, decimated to 250 Hz, in
µV, plus noise)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

mne = pytest.importorskip("mne")
pytest.importorskip("edfio")

from eegfit import experiments  # noqa: E402
from eegfit.data import recordings as rec  # noqa: E402
from eegfit.experiments import runner  # noqa: E402
from eegfit.experiments.recording import Recording  # noqa: E402
from eegfit.signal import features as sf  # noqa: E402
from eegfit.signal import spectral  # noqa: E402

SFREQ = 250.0
TRUTH = {"a": 100.0, "b": 50.0}
NAME = "recording_test"
DEMO = f"results/{NAME}/inputs/demo.edf"  # relative to the working directory, as in a pipeline

BLOCK = {
    "kind": "recording",
    "files": {"demo": DEMO},
    "channels": ["O1", "O2"],
    "reference": "none",
    "filter": {"low_hz": 1.0, "high_hz": 45.0},
    "windows_s": None,
    "segment_s": 2.0,
    "overlap": 0.5,
    "features": {
        "peak_frequency": {"band_hz": [6.0, 14.0], "sharpness": 10.0},
        "relative_power": {"bands": {"delta": [2, 4], "theta": [4, 8], "alpha": [8, 13],
                                     "beta": [13, 30]}, "total_hz": [2, 40]},
        "normalised_psd": {"band_hz": [2.0, 40.0]}},
    "model": {"params": {}, "drive": {"kind": "uniform_noise", "low_hz": 120.0,
                                      "high_hz": 320.0, "interval_ms": None}},
    "simulation": {"dt_ms": 0.5, "duration_ms": 31000.0, "transient_ms": 1000.0,
                   "integrator": "euler", "grad_horizon_ms": 250.0},
    "parameters": {"a": {"bounds": [80.0, 120.0], "start": 90.0},
                   "b": {"bounds": [40.0, 60.0], "start": 55.0}},
    "seeds": [0],
    "backends": {
        "grad": {"optimizer": "adam", "learning_rate": 0.02, "learning_rate_units": "box",
                 "n_steps": 150, "tol": None},
        "nevergrad": {"optimizer": "DE", "num_candidates": 8, "n_steps": 20,
                      "options": {"popsize": 8, "initialization": "LHS"}, "tol": None}},
    "demo": {"path": DEMO, "truth": TRUTH, "sfreq_hz": SFREQ, "duration_s": 60.0,
             "gain_uv_per_mv": 10.0, "noise_uv": 2.0, "seed": 1,
             "channels": {"O1": 1.0, "O2": 0.9, "Cz": 0.4}}}


def signals(n_s=20.0, seed=0):
    """Three channels in mV (tens of µV): a 10 Hz rhythm with noise, a noisy one, a reference."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(n_s * SFREQ)) / SFREQ
    return {"O1": 0.03 * np.sin(2 * np.pi * 10 * t) + 0.005 * rng.standard_normal(t.size),
            "O2": 0.02 * np.sin(2 * np.pi * 10 * t + 1) + 0.005 * rng.standard_normal(t.size),
            "Cz": 0.01 * rng.standard_normal(t.size)}


@pytest.mark.parametrize("suffix", [".edf", ".bdf", ".fif"])
def test_reader_round_trip_gives_the_samples_in_mv(tmp_path, suffix):
    written = signals()
    path = rec.write(tmp_path / f"rec_raw{suffix}", written, SFREQ)
    data_mv, names, sfreq = rec.read(path)
    assert names == list(written) and sfreq == SFREQ
    expected = np.stack(list(written.values()))
    assert data_mv.shape == expected.shape
    # EDF stores 16-bit integers over each channel's range (resolution range / 65535), BDF 24-bit
    # ones (range / 2**24); FIF float32
    levels = {".edf": 65535, ".bdf": 2 ** 24 - 1}
    atol = (2 * np.ptp(expected, axis=1, keepdims=True) / levels[suffix] if suffix in levels
            else 1e-6 * np.max(np.abs(expected)))
    assert np.all(np.abs(data_mv - expected) <= atol + 1e-12)


def test_edf_header_says_microvolts(tmp_path):
    import edfio

    path = rec.write(tmp_path / "rec.edf", signals(4.0), SFREQ)
    assert {s.physical_dimension for s in edfio.read_edf(path).signals} == {"uV"}


def test_welch_matches_scipy():
    from scipy.signal import welch

    x = np.random.default_rng(3).standard_normal(2000)
    freqs, psd, per_segment = spectral.welch(x, fs_hz=SFREQ, segment_s=2.0)
    f_ref, p_ref = welch(x, fs=SFREQ, nperseg=500, noverlap=250, window="hann",
                         detrend="constant")
    np.testing.assert_allclose(freqs, f_ref)
    np.testing.assert_allclose(np.asarray(psd), p_ref, rtol=1e-4)
    assert per_segment.shape == (7, 251)


def test_features_of_a_10_hz_sinusoid_with_noise():
    t = np.arange(int(60 * SFREQ)) / SFREQ
    x = np.sin(2 * np.pi * 10 * t) + 0.5 * np.random.default_rng(0).standard_normal(t.size)
    freqs, psd, per_segment = spectral.welch(x, fs_hz=SFREQ, segment_s=2.0)
    spec = sf.DEFAULT_SPECTRUM_FEATURES
    values = sf.spectral_features(freqs, psd, spec)
    assert float(values["peak_frequency"]) == pytest.approx(10.0, abs=0.05)
    alpha = list(spec["relative_power"]["bands"]).index("alpha")
    assert float(values["relative_power"][alpha]) > 0.85  # noise holds 0.25 * 38/125 of 0.58
    windows = sf.spectral_features(freqs, per_segment, spec, axis=1)  # segment, then frequency
    assert np.all(np.abs(np.asarray(windows["peak_frequency"]) - 10.0) < 0.25)
    shape = spectral.normalised_psd(freqs, psd, band_hz=(2, 40))
    assert float(np.sum(shape) * (freqs[1] - freqs[0])) == pytest.approx(1.0, rel=1e-5)


def test_features_ignore_the_gain():
    x = np.random.default_rng(1).standard_normal(5000)
    freqs, psd, _ = spectral.welch(x, fs_hz=SFREQ, segment_s=2.0)
    spec = {"relative_power": sf.DEFAULT_SPECTRUM_FEATURES["relative_power"],
            "normalised_psd": {"band_hz": [2, 40]}, "peak_frequency": {}}
    one, many = (sf.spectral_features(freqs, g * psd, spec) for g in (1.0, 1e4))
    for name in spec:
        np.testing.assert_allclose(np.asarray(one[name]), np.asarray(many[name]), rtol=1e-5)


def test_average_reference_channel_mean_and_windows(tmp_path):
    written = signals()
    path = rec.write(tmp_path / "rec.edf", written, SFREQ)
    out = rec.load(path, channels=["O1", "O2"], reference="average", band_pass=None,
                   windows_s=[[0, 4], [10, 12.5]])
    data = np.stack(list(written.values()))
    expected = (data[:2] - data.mean(axis=0)).mean(axis=0)
    assert out.channel == "mean(O1,O2)"
    assert [len(p) for p in out.pieces_mv] == [1000, 625]
    np.testing.assert_allclose(out.pieces_mv[1], expected[2500:3125], atol=1e-5)


BAD = {
    "missing file": (dict(path="nowhere.edf"), FileNotFoundError, "nowhere.edf"),
    "unreadable file": (dict(path="garbage.edf"), rec.RecordingError, "garbage.edf"),
    "unknown channel": (dict(channels=["Oz"]), rec.RecordingError, "'Oz'"),
    "window beyond": (dict(windows_s=[[5, 25]]), rec.RecordingError, "[5, 25]"),
    "rate too low": (dict(max_feature_hz=140.0), rec.RecordingError, "250 Hz"),
    "flat channel": (dict(channels=["Flat"]), rec.RecordingError, "'Flat'"),
    "NaN channel": (dict(channels=["Bad"]), rec.RecordingError, "'Bad'"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_is_named(tmp_path, case):
    overrides, error, culprit = BAD[case]
    good = signals()
    good["Flat"] = np.full_like(good["O1"], 0.01)
    rec.write(tmp_path / "rec_raw.fif", {**good, "Bad": np.where(np.arange(good["O1"].size) == 7,
                                                                 np.nan, good["O1"])}, SFREQ)
    (tmp_path / "garbage.edf").write_text("not an EDF file at all")
    kwargs = {"channels": ["O1"], "windows_s": None, "max_feature_hz": 40.0,
              "path": "rec_raw.fif", **overrides}
    path = tmp_path / kwargs.pop("path")
    with pytest.raises(error, match=None) as info:
        rec.load(path, **kwargs)
    message = str(info.value)
    assert culprit in message, message
    assert path.name in message


def test_config_checks_name_the_key():
    at = f"experiments.{NAME}"
    bad = copy.deepcopy(BLOCK)
    bad["parameters"]["zeta"] = {"bounds": [0, 1], "start": 0.5}
    with pytest.raises(ValueError, match=f"{at}.parameters.zeta"):
        experiments.build(NAME, bad)
    bad = copy.deepcopy(BLOCK)
    bad["features"]["normalised_psd"]["band_hz"] = [2, 60]
    with pytest.raises(ValueError, match=f"{at}.features.normalised_psd.band_hz"):
        experiments.build(NAME, bad)
    bad = copy.deepcopy(BLOCK)
    bad["parameters"]["a"]["truths"] = [100.0]  # measured data: no ground truth
    with pytest.raises(ValueError, match=f"{at}.parameters.a.truths"):
        experiments.build(NAME, bad)
    bad = copy.deepcopy(BLOCK)
    bad["demo"]["truth"] = {"C": 135.0}
    with pytest.raises(ValueError, match=f"{at}.demo.truth"):
        experiments.build(NAME, bad)
    bad = copy.deepcopy(BLOCK)
    bad["features"]["rms"] = {}  # a feature of a trace, not of a spectrum
    with pytest.raises(ValueError, match=f"{at}.features.rms"):
        experiments.build(NAME, bad)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``(kind, target, target_ds)``: the demo recording made and read back as a target, in a
    working directory of its own."""
    workdir = tmp_path_factory.mktemp("recording")
    kind = experiments.build(NAME, BLOCK)
    (target,) = kind.targets()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        assert kind.generated_inputs() == {DEMO: "demo"}
        kind.make_input("demo", workdir / DEMO)
        return kind, target, runner.make_target(kind, target)


def test_target_merges_the_channel_and_its_welch_features(demo):
    kind, target, ds = demo
    assert isinstance(kind, Recording)
    assert (target.label, target.truth, target.seed) == ("demo", TRUTH, 0)
    assert ds.attrs["channel"] == "mean(O1,O2)" and ds.attrs["sfreq_hz"] == SFREQ
    assert ds.attrs["record"] == "target" and ds.attrs["truth.a"] == 100.0
    assert ds["eeg"].dims == ("time",) and ds["eeg"].attrs["units"] == "mV"
    assert ds["time"].attrs["units"] == "s" and ds.sizes["time"] == 60 * SFREQ
    assert ds.sizes["segment"] == 59  # 2 s segments, half overlapping, in 60 s
    assert ds["psd"].dims == ("frequency",) and ds["psd_segment"].dims == ("segment", "frequency")
    assert ds["frequency"].values[1] == pytest.approx(0.5)
    assert list(ds["band"].values) == ["delta", "theta", "alpha", "beta"]
    for name in BLOCK["features"]:
        assert ds[f"window_{name}"].dims[0] == "segment"
        assert np.all(ds[f"spread_{name}"].values > 0)
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs
    assert 8.0 < float(ds["peak_frequency"]) < 12.0  # the model's alpha at a=100, b=50
    observed = kind.observed(ds)
    assert set(observed["features"]) == set(BLOCK["features"])


def test_target_keeps_the_segment_count(demo):
    _, _, ds = demo
    assert ds.attrs["n_segments"] == ds.sizes["segment"]
    assert ds.attrs["source_file"].endswith("demo.edf")


@pytest.mark.parametrize("backend", ["grad", "nevergrad"])
def test_fit_of_a_generated_recording_recovers_its_parameters(demo, backend):
    """This block is the old recording setup: one 30 s realisation of the per-step drive,
    gradients truncated at 250 ms. nevergrad recovers a and b within 5 %; the grad fit's first
    gradient disagrees with the loss's finite difference there, so its first attempt stops at
    its start, and it tries again from 8 screened starts (``backends.grad.retry``), of which
    those that pass the gradient check fit, within 12 % (tests/test_recording_recovery.py fits
    the default setup within 2 % with both backends)."""
    kind, target, target_ds = demo
    ds, _ = runner.fit(kind, backend, target, target_ds)
    if backend == "grad":
        assert ds.attrs["first_attempt_status"] == "gradient_unreliable", ds.attrs
        assert ds.attrs["retry_starts"] == 8 and not bool(ds["starts_kept"][0])
        assert ds["starts_kept"].values.any()  # a start passed the check: it fitted
    assert ds.attrs["status"] in ("converged", "max_steps"), ds.attrs["status_message"]
    best_loss = float(ds["best_loss"])
    start = experiments.fit_loss(kind, kind.observed(target_ds), target.seed)(
        kind.model_at({"a": 90.0, "b": 55.0}))
    assert best_loss <= float(start[0])
    best = {name: float(ds[f"best_{name}"]) for name in TRUTH}
    # the goodness of fit is twice the loss over the bins' degrees of freedom (77 bins in
    # 2-40 Hz, less the profiled gain and a, b); this block models no measurement floor, so the
    # recording's 2 µV white noise above 30 Hz leaves a misfit the chi-square shows (p < 0.01)
    assert float(ds["chi2_per_dof"]) == pytest.approx(2 * best_loss / (kind.n_bins - 3))
    assert 0 <= float(ds["fit_p_value"]) < 0.01
    # ... and the known parameters come back (a and b trade off along a shallow valley, a/b ~ 2:
    # the retried grad fit stops some 8 % along it in a, on this rough truncated-gradient loss)
    for name, truth in TRUTH.items():
        tolerance = 0.05 if backend == "nevergrad" else 0.12
        assert abs(best[name] - truth) / truth < tolerance, (name, best[name])
        assert float(ds[f"true_{name}"]) == truth
    assert best_loss < 0.5 * float(start[0])
    assert ds["model_psd"].dims == ("frequency",) and "model_peak_frequency" in ds
