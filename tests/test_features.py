"""Features: RMS, spectral peak and band power on known signals; batches; gradients; the registry
(units, names) and the check of a config's feature options."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit import band_power, rms, spectral_peak_hz
from eegfit.signal.features import (FEATURES, TRACE_FEATURES, check_options, check_spec,
                                    feature, feature_bands, units)

DT_MS = 1.0  # 1 kHz sampling
N = 2000     # 2 s: 20 whole periods of 10 Hz, 0.5 Hz frequency resolution


def sine(amplitude=1.0, freq_hz=10.0, phase=0.3, offset=0.0, n=N, dt_ms=DT_MS):
    t_s = np.arange(n) * dt_ms * 1e-3
    return jnp.asarray(offset + amplitude * np.sin(2 * np.pi * freq_hz * t_s + phase), jnp.float32)


@pytest.mark.parametrize("amplitude", [0.5, 2.0, 7.0])
def test_rms_of_sinusoid(amplitude):
    # the offset checks that the signal is de-meaned first
    assert float(rms(sine(amplitude, offset=3.0))) == pytest.approx(amplitude / np.sqrt(2),
                                                                     rel=1e-4)


@pytest.mark.parametrize("level", [0.0, 3.0, 3.7, -5.123])
def test_rms_of_constant_is_zero_with_zero_gradient(level):
    flat = jnp.full(500, level, jnp.float32)
    assert float(rms(flat)) == 0.0
    assert np.all(jax.grad(rms)(flat) == 0.0)


@pytest.mark.parametrize("level", [0.0, 3.0, 3.7, -5.123])
def test_rms_gradient_of_constant_is_finite_and_negligible(level):
    flat = jnp.full(500, level, jnp.float32)
    grad = jax.grad(rms)(flat)
    assert np.all(np.isfinite(grad)) and float(jnp.max(jnp.abs(grad))) < 1e-6
    # through a parameter that scales the flat signal, too
    assert abs(float(jax.grad(lambda scale: rms(scale * flat))(2.0))) < 1e-6


def test_rms_gradient_of_signal_is_nonzero():
    grad = jax.grad(lambda a: rms(a * sine()))(2.0)
    assert float(grad) == pytest.approx(1 / np.sqrt(2), rel=1e-4)  # d(a/sqrt2)/da


def test_spectral_peak_of_noisy_sine():
    rng = np.random.default_rng(0)
    noisy = sine(2.0) + jnp.asarray(rng.normal(0.0, 1.0, N), jnp.float32)
    assert float(spectral_peak_hz(noisy, dt_ms=DT_MS)) == pytest.approx(10.0, abs=0.3)


@pytest.mark.parametrize("freq_hz", [6.0, 17.0])
def test_spectral_peak_follows_the_frequency(freq_hz):
    assert float(spectral_peak_hz(sine(freq_hz=freq_hz), dt_ms=DT_MS)) == pytest.approx(
        freq_hz, abs=0.3)


def test_spectral_peak_has_a_finite_gradient():
    grad = jax.jit(jax.grad(lambda f: spectral_peak_hz(
        jnp.sin(2 * jnp.pi * f * jnp.arange(N) * DT_MS * 1e-3), dt_ms=DT_MS)))(10.2)
    assert np.isfinite(float(grad)) and float(grad) > 0.0


def test_band_power_of_sine_in_and_out_of_band():
    amplitude = 2.0
    x = sine(amplitude)
    assert float(band_power(x, dt_ms=DT_MS, band_hz=(8.0, 12.0))) == pytest.approx(
        amplitude ** 2 / 2, rel=0.05)
    assert float(band_power(x, dt_ms=DT_MS, band_hz=(20.0, 40.0))) < 1e-3 * amplitude ** 2


def test_features_keep_a_batch_axis():
    columns = [sine(1.0, 10.0), sine(2.0, 6.0), sine(0.5, 17.0)]
    batch = jnp.stack(columns, axis=1)  # (time, batch)
    for name in TRACE_FEATURES:
        fn = feature(name)
        batched = np.asarray(fn(batch, dt_ms=DT_MS))
        assert batched.shape == (3,), name
        single = [float(fn(column, dt_ms=DT_MS)) for column in columns]
        # atol: the mean of a sine is 0 up to float32 rounding
        np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6, err_msg=name)


def test_feature_lookup_by_name():
    assert feature("rms") is rms
    assert all(units(name) for name in FEATURES)


def test_unknown_feature_name_raises():
    with pytest.raises(ValueError, match="'kurtosis'.*'rms'"):
        feature("kurtosis")


@pytest.mark.parametrize("band_hz", [(12.0, 8.0), (-1.0, 5.0), (5.0, 5.0)])
def test_bad_band_raises(band_hz):
    with pytest.raises(ValueError, match="band_hz"):
        band_power(sine(), dt_ms=DT_MS, band_hz=band_hz)


def test_trace_features_take_any_time_axis():
    batch = jnp.stack([sine(1.0, 10.0), sine(2.0, 6.0)], axis=1)  # (time, batch)
    for name in TRACE_FEATURES:
        first = np.asarray(feature(name)(batch, dt_ms=DT_MS))
        last = np.asarray(feature(name)(batch.T, dt_ms=DT_MS, axis=-1))
        np.testing.assert_allclose(first, last, rtol=1e-5, atol=1e-6, err_msg=name)


def test_units_follow_the_observable():
    assert [units(n, "uV") for n in ("rms", "band_power", "psd", "spectral_peak_hz")] == [
        "uV", "uV^2", "uV^2/Hz", "Hz"]
    assert units("rms") == "mV"
    assert (units("relative_power"), units("normalised_psd")) == ("1", "1/Hz")
    assert {f.reads for f in FEATURES.values()} == {"trace", "spectrum"}
    assert all(f.long_name for f in FEATURES.values())


WHERE = "experiments.column.features.spectral_peak_hz"


@pytest.mark.parametrize("options, key", [
    ({"band_hz": []}, "band_hz"), ({"band_hz": "oops"}, "band_hz"),
    ({"band_hz": [20, 2]}, "band_hz"), ({"bandhz": [2, 20]}, "bandhz"),
    ({"sharpness": 0}, "sharpness"), ({"sharpness": "high"}, "sharpness"),
    ({"pad_factor": 2.5}, "pad_factor"), ({"pad_factor": 2.0}, "pad_factor"),
    ({"pad_factor": 0}, "pad_factor"), ({"dt_ms": 0.1}, "dt_ms")])
def test_bad_feature_options_are_refused_by_their_path(options, key):
    with pytest.raises(ValueError, match=f"^{WHERE}.{key} "):
        check_options("spectral_peak_hz", options, where=WHERE)


def test_good_feature_options_pass_as_a_copy():
    options = {"band_hz": [2, 20], "sharpness": 5, "pad_factor": 2}
    checked = check_options("spectral_peak_hz", options, where=WHERE)
    assert checked == options and checked is not options
    assert check_options("rms", None) == {}


def test_spectrum_feature_options_are_checked_too():
    with pytest.raises(ValueError, match=r"recording\.features\.relative_power\.bands "):
        check_spec({"relative_power": {}}, where="recording.features")  # bands is required
    with pytest.raises(ValueError, match=r"relative_power\.bands\.alpha "):
        check_spec({"relative_power": {"bands": {"alpha": [13, 8]}}})
    with pytest.raises(ValueError, match="'rms' is a feature of a trace"):
        check_spec({"rms": {}}, reads="spectrum")
    with pytest.raises(ValueError, match="at least one"):
        check_spec({})


def test_feature_bands_use_the_functions_defaults():
    assert feature_bands({"peak_frequency": {}, "spectral_peak_hz": {"band_hz": [2, 20]}}) == [
        ("peak_frequency.band_hz", (6.0, 14.0)), ("spectral_peak_hz.band_hz", (2.0, 20.0))]
