"""The one spectral stack and the safe numerics: scipy's conventions on any time axis, bands,
the spectrum features along an axis, and roots and logs that stay finite at 0."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal as sps

from eegfit.signal import numerics, spectral

FS_HZ = 250.0
RNG = np.random.default_rng(7)
X = RNG.standard_normal((3, 1000)).astype(np.float32)  # (batch, time)


def close(actual, expected, rtol=1e-4):
    expected = np.asarray(expected)
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol,
                               atol=rtol * float(np.max(np.abs(expected))))


@pytest.mark.parametrize("n", [1000, 999])  # even and odd: the Nyquist bin is folded or absent
@pytest.mark.parametrize("pad_factor", [1, 4])
def test_periodogram_matches_scipy_on_either_axis(n, pad_factor):
    x = X[:, :n]
    n_fft = spectral.padded_length(n, pad_factor)
    f_ref, p_ref = sps.periodogram(x.astype(float), fs=FS_HZ, window="hann", nfft=n_fft,
                                   axis=-1)
    for axis, data in ((-1, x), (0, x.T)):
        freqs, power = spectral.periodogram(jnp.asarray(data), fs_hz=FS_HZ, axis=axis,
                                            pad_factor=pad_factor)
        np.testing.assert_allclose(freqs, f_ref)
        assert power.shape[axis] == len(f_ref)
        close(np.moveaxis(np.asarray(power), axis, -1), p_ref)


def test_padding_rounds_up_to_a_power_of_two():
    assert spectral.padded_length(4000, 1) == 4000
    assert spectral.padded_length(4000, 4) == 16384
    with pytest.raises(ValueError, match="pad_factor"):
        spectral.padded_length(100, 0)


def test_welch_on_the_time_axis_of_a_batch_matches_scipy():
    x = RNG.standard_normal((2000, 3)).astype(np.float32)  # (time, batch), as a Trace
    f_ref, p_ref = sps.welch(x.astype(float), fs=FS_HZ, window="hann", nperseg=500,
                             noverlap=250, axis=0)
    freqs, psd, per_segment = spectral.welch(x, fs_hz=FS_HZ, segment_s=2.0)
    np.testing.assert_allclose(freqs, f_ref)
    close(psd, p_ref)
    assert per_segment.shape == (7, 251, 3)  # (segment, frequency, batch)
    _, psd_last, per_segment_last = spectral.welch(x.T, fs_hz=FS_HZ, segment_s=2.0, axis=-1)
    close(psd_last.T, p_ref)
    assert per_segment_last.shape == (3, 7, 251)


def test_segments_cut_the_time_axis_in_two():
    x = np.arange(20.0).reshape(10, 2)
    segs = spectral.segments(x, 4, overlap=0.5)
    assert segs.shape == (4, 4, 2)
    np.testing.assert_array_equal(segs[1, :, 0], [4.0, 6.0, 8.0, 10.0])
    with pytest.raises(ValueError, match="shorter than one segment"):
        spectral.segments(x, 20)


@pytest.mark.parametrize("band", [[], "oops", [5.0], [5.0, 5.0], [12.0, 8.0], [-1.0, 5.0],
                                  [1.0, float("nan")], None, ["a", "b"]])
def test_a_bad_band_is_refused_by_name(band):
    freqs = spectral.frequencies(500, FS_HZ)
    with pytest.raises(ValueError, match="where.band_hz"):
        spectral.band_mask(freqs, band, "where.band_hz")


def test_a_band_between_bins_is_refused():
    freqs = spectral.frequencies(500, FS_HZ)  # bins every 0.5 Hz
    with pytest.raises(ValueError, match="holds no frequency bin"):
        spectral.band_mask(freqs, (10.1, 10.2))


def test_half_open_bands_share_no_bin():
    freqs = spectral.frequencies(500, FS_HZ)
    low = spectral.band_mask(freqs, (4.0, 8.0), half_open=True)
    high = spectral.band_mask(freqs, (8.0, 13.0), half_open=True)
    assert not np.any(low & high) and high[freqs == 8.0].all()


def test_spectrum_features_follow_the_frequency_axis():
    freqs, power = spectral.periodogram(jnp.asarray(X.T), fs_hz=FS_HZ)  # (freq, batch)
    for name, fn, options in (("peak", spectral.peak_frequency, {"band_hz": (6.0, 14.0)}),
                              ("relative", spectral.relative_power,
                               {"bands": {"a": (2.0, 8.0), "b": (8.0, 30.0)}}),
                              ("shape", spectral.normalised_psd, {"band_hz": (2.0, 40.0)})):
        first = np.asarray(fn(freqs, power, axis=0, **options))
        last = np.asarray(fn(freqs, power.T, axis=-1, **options))
        np.testing.assert_allclose(first.T, last, rtol=1e-6, err_msg=name)
    relative = spectral.relative_power(freqs, power, bands={"a": (2, 8), "b": (8, 30)})
    assert relative.shape == (2, 3)  # bands replace the frequency on axis 0


def test_band_integral_of_a_sine_is_its_mean_square():
    t_s = np.arange(2500) / FS_HZ
    x = 3.0 * np.sin(2 * np.pi * 10.0 * t_s)
    freqs, power = spectral.periodogram(x, fs_hz=FS_HZ)
    assert float(spectral.band_integral(freqs, power, (8.0, 12.0))) == pytest.approx(4.5,
                                                                                    rel=1e-3)


def test_safe_sqrt_and_rsqrt_are_finite_with_finite_gradients_at_zero():
    for fn in (numerics.safe_sqrt, numerics.safe_rsqrt):
        values = fn(jnp.asarray([-1.0, 0.0]))
        assert np.all(np.asarray(values) == 0.0)
        grads = jax.vmap(jax.grad(fn))(jnp.asarray([-1.0, 0.0]))
        assert np.all(np.asarray(grads) == 0.0)
    assert float(numerics.safe_sqrt(4.0)) == 2.0
    assert float(jax.grad(numerics.safe_sqrt)(4.0)) == pytest.approx(0.25)
    assert float(numerics.safe_rsqrt(4.0)) == pytest.approx(0.5)


def test_safe_roots_keep_a_nan_a_nan():
    """A diverged simulation (NaN variance) must not pass for a flat one (root 0): its loss is
    then NaN in value, and in forward and reverse mode alike, so a fit reports it."""
    for fn in (numerics.safe_sqrt, numerics.safe_rsqrt):
        assert np.isnan(float(fn(jnp.nan)))
        assert float(fn(0.0)) == 0.0 and float(jax.grad(fn)(0.0)) == 0.0


def test_safe_log_of_zero_power_is_finite():
    assert np.isfinite(float(numerics.safe_log(0.0)))
    assert np.isfinite(float(jax.grad(numerics.safe_log)(0.0)))
