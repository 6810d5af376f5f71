"""The aperiodic background of a measured spectrum (eegfit.observe.spectrum), profiled out.

Recordings from the Jansen-Rit simulator written in tests/test_likelihood.py (the noise-driven
focus, b = 50 /s) with a known 1/f^1.5 background added to their spectra (as large as the
column's own PSD at 4 Hz), times a gain: with the background profiled, the truth lies inside the
loss's 99 % interval for b and the chi-square says the spectrum is made; without it, b is pulled
out of that interval (to the box's edge) or the chi-square shows the misfit. Real data: tests/test_real_recording.py checks the
fitted exponent against fooof's. A montage's background (an offset per channel, one exponent, the
gain) against SciPy's least squares; the sensor kind's demo with 1/f noise:
tests/test_sensor_kind.py.
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit import experiments
from eegfit.observe import spectrum
from eegfit.signal import likelihood as lk
from eegfit.signal import spectral
from test_likelihood import (N_REALISATIONS, REC_FS_HZ, model_log_psd, recordings,
                             scipy_welch)

EXPONENT = 1.5
GRID = np.linspace(44.0, 56.0, 13)


@pytest.fixture(scope="module")
def losses():
    """Per recording: the loss over GRID with and without the background profiled, and the
    profiled (A / true A, chi) at each b; the number of bins."""
    eeg = recordings({"b": 50.0}, 3, duration_s=60.0, seed=3)
    freqs, psd = scipy_welch(eeg, REC_FS_HZ)
    band = (freqs >= 2.0) & (freqs <= 40.0)
    f = freqs[band]
    amplitude = psd[0, band][np.argmin(np.abs(f - 4.0))] * 4.0 ** EXPONENT
    measured = (psd[:, band] + amplitude * f ** -EXPONENT) * 100.0  # a gain of 10 (µV)
    n_rec, n_model = int(2 * REC_FS_HZ), 4000  # 2 s segments: the recordings' and the model's
    target_dof = lk.welch_dof(len(spectral.segment_starts(eeg.shape[1], n_rec)), n_rec)
    model_dof = lk.welch_dof([3] * N_REALISATIONS, n_model)
    whiten = lk.whitening(lk.log_psd_sd(target_dof, model_dof) * np.ones(band.sum()), n_model)
    band_model = spectral.band_mask(spectral.frequencies(n_model, 2000.0), (2.0, 40.0))
    out = []
    for i, target in enumerate(np.log(measured)):
        log_model = model_log_psd(jax.random.key(300 + i), band_model, GRID)
        observed = whiten @ target
        total, log_a, chi = spectrum.profile_aperiodic(jnp.exp(log_model.T), f, whiten,
                                                       observed, (0.0, 4.0))
        with_bg = 0.5 * np.sum((whiten @ np.log(np.asarray(total)) - observed[:, None]) ** 2,
                               axis=0)
        without = 0.5 * np.sum((log_model @ whiten.T - observed) ** 2, axis=1)
        out.append((with_bg, without, np.exp(np.asarray(log_a)) * 100.0 / (amplitude * 100.0),
                    np.asarray(chi)))
    return out, int(band.sum())


def test_profiling_the_background_recovers_b_and_fits(losses):
    out, n_bins = losses
    truth = int(np.argmin(np.abs(GRID - 50.0)))
    for with_bg, _, amplitude_ratio, chi in out:
        i = int(np.argmin(with_bg))
        assert with_bg[truth] - with_bg[i] < 0.5 * 6.63, (GRID[i], with_bg)  # chi2_1 at 99 %
        assert lk.goodness_of_fit(with_bg[i], n_bins, 3)[1] > 0.01
        assert 0.67 < amplitude_ratio[i] < 1.5 and abs(chi[i] - EXPONENT) < 0.4, (
            amplitude_ratio[i], chi[i])


def test_without_the_background_b_is_biased_or_the_misfit_shows(losses):
    out, n_bins = losses
    truth = int(np.argmin(np.abs(GRID - 50.0)))
    for with_bg, without, _, _ in out:
        i = int(np.argmin(without))
        misfit = lk.goodness_of_fit(without[i], n_bins, 1)[1] < 0.01
        biased = without[truth] - without[i] > 0.5 * 6.63
        assert misfit or biased, without
        assert without.min() > with_bg.min() + 10.0  # the background is worth e^10 and more


def test_no_background_needed_leaves_the_loss_unchanged():
    """A spectrum without a background: the profile pushes A to its floor and the loss is
    within 0.1 % of the loss without a background."""
    rng = np.random.default_rng(0)
    f = np.arange(2.0, 40.5, 0.5)
    psd = np.exp(-0.5 * ((f - 10.0) / 2.0) ** 2) + 0.01
    target = psd * np.exp(0.1 * rng.standard_normal(f.size))
    whiten = lk.whitening(0.1 * np.ones(f.size), 4000)
    observed = whiten @ np.log(target)
    total, log_a, _ = spectrum.profile_aperiodic(jnp.asarray(psd), f, whiten, observed,
                                                 (0.0, 4.0))
    plain = float(lk.negative_log_likelihood(psd, np.ones(f.size, bool), whiten, observed))
    profiled = float(lk.negative_log_likelihood(np.asarray(total), np.ones(f.size, bool),
                                                whiten, observed))
    assert profiled <= plain * 1.001
    assert float(jnp.exp(log_a)) < 1e-2 * psd.mean()


def test_the_profile_is_differentiable():
    f = np.arange(2.0, 40.5, 0.5)
    whiten = lk.whitening(0.1 * np.ones(f.size), 4000)
    observed = whiten @ np.log(np.exp(-0.5 * ((f - 10.0) / 2.0) ** 2) + 2.0 / f)

    def loss(centre):
        psd = jnp.exp(-0.5 * ((jnp.asarray(f) - centre) / 2.0) ** 2) + 0.01
        total, _, _ = spectrum.profile_aperiodic(psd, f, whiten, observed, (0.0, 4.0))
        return lk.negative_log_likelihood(total, np.ones(f.size, bool), whiten, observed)
    with jax.enable_x64(True):
        grad = float(jax.grad(loss)(jnp.float64(10.5)))
        fd = float((loss(10.5 + 1e-4) - loss(10.5 - 1e-4)) / 2e-4)
    assert grad == pytest.approx(fd, rel=1e-3) and grad > 0


@pytest.mark.parametrize("box, message", [
    ([2.0, 1.0], "empty"), ([0.0, 9.0], "out of range"), ("steep", r"\[low, high\]")])
def test_a_bad_exponent_box_is_refused_naming_it(box, message):
    from test_recording import BLOCK

    block = copy.deepcopy(BLOCK)
    block["aperiodic"] = {"exponent": box}
    with pytest.raises(ValueError, match=r"experiments\.rec\.aperiodic\.exponent.*" + message):
        experiments.build("rec", block)
    block["aperiodic"] = {"exponent": [0, 4], "knee": 1.0}
    with pytest.raises(ValueError, match=r"experiments\.rec\.aperiodic.*knee"):
        experiments.build("rec", block)


def test_the_spectrum_figure_draws_the_background_and_keeps_its_legend_off_the_data():
    import matplotlib

    matplotlib.use("Agg")
    import xarray as xr

    from eegfit import plots

    f = np.arange(0.0, 50.5, 0.5)
    psd = np.exp(-0.5 * ((f - 10.0) / 2.0) ** 2) + 1.0 / np.maximum(f, 0.5)
    target = xr.Dataset({"psd": ("frequency", psd),
                         "psd_segment": (("segment", "frequency"), np.stack([psd * 0.9,
                                                                             psd * 1.1]))},
                        coords={"frequency": f}, attrs={"channel": "O1"})
    background = np.where(f > 0, 1.0 / np.maximum(f, 1e-12), np.nan)
    fit = xr.Dataset({"model_psd": ("frequency", psd - np.nan_to_num(background)),
                      "model_aperiodic_psd": ("frequency", background),
                      "aperiodic_exponent": ((), 1.0)}, coords={"frequency": f},
                     attrs={"backend": "grad"})
    fig = plots.recording_psd(target, [fit], band_hz=(2.0, 40.0))
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "aperiodic background, grad (chi 1.00)" in labels
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # beside the axes, not over the data


@pytest.mark.parametrize("gain", ["common", "per_channel"])
def test_the_montage_background_matches_scipy_least_squares(gain):
    """profile_aperiodic_channels (an offset per channel, one exponent, the gain) against SciPy's
    trust-region least squares on the same residual: six channels of an alpha bump at their own
    levels with a 1/f^1.7 background of their own offset, times a gain of 40, and log noise."""
    from scipy.optimize import least_squares

    from eegfit.signal import sensor

    rng = np.random.default_rng(0)
    f = np.arange(2.0, 41.0)
    n_ch = 6
    s = (np.exp(-0.5 * ((f[:, None] - 10.0) / 1.5) ** 2) * rng.uniform(0.5, 2.0, n_ch)
         + 0.05 * rng.uniform(0.5, 2.0, n_ch))
    amplitude, chi_true = rng.uniform(0.5, 3.0, n_ch), 1.7
    decorrelate = lk.decorrelation(np.full(f.size, 0.1), 250)
    target = (np.log(s + amplitude * f[:, None] ** -chi_true) + np.log(40.0)
              + 0.03 * rng.standard_normal(s.shape))
    total, log_a, chi, log_gain = spectrum.profile_aperiodic_channels(
        jnp.asarray(s), f, decorrelate, target, (0.0, 4.0), gain)
    nll = float(sensor.negative_log_likelihood(total, np.ones(f.size, bool), decorrelate,
                                               target, gain))
    v = decorrelate @ np.ones(f.size)

    def residual(p):
        r = decorrelate @ (np.log(s + np.exp(p[:n_ch]) * f[:, None] ** -p[n_ch]) - target)
        offset = (v @ r).sum() / (n_ch * (v @ v)) if gain == "common" else (v @ r) / (v @ v)
        return (r - v[:, None] * offset).ravel()

    ref = least_squares(residual, np.r_[np.zeros(n_ch), 1.0],
                        bounds=([-20.0] * n_ch + [0.0], [20.0] * n_ch + [4.0]))
    assert 0.5 * np.sum(residual(np.r_[np.asarray(log_a, float), float(chi)]) ** 2) == (
        pytest.approx(0.5 * np.sum(ref.fun ** 2), rel=1e-4))  # float64, the same residual
    assert nll == pytest.approx(0.5 * np.sum(ref.fun ** 2), rel=5e-3)  # the likelihood's, float32
    assert float(chi) == pytest.approx(ref.x[n_ch], abs=1e-3)
    assert abs(float(chi) - chi_true) < 0.05
    np.testing.assert_allclose(np.exp(np.asarray(log_a)), amplitude, rtol=0.1)
    np.testing.assert_allclose(np.asarray(log_gain), np.log(40.0), atol=0.05)
