"""The likelihood over channels (:mod:`eegfit.signal.sensor`): one gain for the montage against
a dense generalised-least-squares solution in NumPy, one gain per channel against the
single-channel likelihood summed, what each profiles out, its gradient and its bad inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit.signal import likelihood, sensor

N_BINS, N_CHANNELS, N_PER_SEGMENT = 12, 5, 400


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    sd = np.linspace(0.2, 0.4, N_BINS)
    mask = np.zeros(N_BINS + 6, bool)
    mask[3:3 + N_BINS] = True                            # the band inside a longer spectrum
    psd = np.exp(rng.standard_normal((N_BINS + 6, N_CHANNELS)))
    target = np.log(psd[mask]) + 0.8 + 0.3 * rng.standard_normal((N_BINS, N_CHANNELS))
    return sd, mask, psd, target, likelihood.decorrelation(sd, N_PER_SEGMENT)


def test_common_gain_is_the_dense_gls_minimum(setup):
    sd, mask, psd, target, lmat = setup
    got = float(sensor.negative_log_likelihood(jnp.asarray(psd), mask, lmat, target))
    # dense: d = vec(log S - log P), covariance I (x) Sigma, one offset g for every entry
    sigma = np.linalg.inv(lmat) @ np.linalg.inv(lmat).T
    big = np.kron(np.eye(N_CHANNELS), np.linalg.inv(sigma))
    d = (np.log(psd[mask]) - target).T.ravel()           # channel-major, like the kron
    ones = np.ones_like(d)
    g = (ones @ big @ d) / (ones @ big @ ones)
    np.testing.assert_allclose(got, 0.5 * (d - g) @ big @ (d - g), rtol=1e-4)
    # Sigma is the likelihood's own covariance of one channel (correlated neighbouring bins)
    assert not np.allclose(sigma, np.diag(np.diag(sigma)))


def test_per_channel_gain_is_the_single_channel_likelihood_summed(setup):
    sd, mask, psd, target, lmat = setup
    got = float(sensor.negative_log_likelihood(jnp.asarray(psd), mask, lmat, target,
                                               gain="per_channel"))
    w = likelihood.whitening(sd, N_PER_SEGMENT)
    single = [float(likelihood.negative_log_likelihood(psd[:, c], mask, w, w @ target[:, c]))
              for c in range(N_CHANNELS)]
    np.testing.assert_allclose(got, sum(single), rtol=1e-4)


def test_what_each_gain_profiles_out(setup):
    sd, mask, psd, target, lmat = setup
    model = np.exp(target + 1.7)                         # one gain for all: both are 0
    full = np.zeros_like(psd)
    full[mask] = model
    full[~mask] = 1.0
    for gain in sensor.GAINS:  # 0 up to float32 round-off
        assert float(sensor.negative_log_likelihood(full, mask, lmat, target, gain)) < 1e-3
    full[mask] = np.exp(target + np.arange(N_CHANNELS))  # a gain per channel: common sees it
    assert float(sensor.negative_log_likelihood(full, mask, lmat, target, "per_channel")) < 1e-3
    assert float(sensor.negative_log_likelihood(full, mask, lmat, target, "common")) > 10.0


def test_gradient_matches_a_finite_difference(setup, x64):
    sd, mask, psd, target, lmat = setup

    def loss(scale):
        model = jnp.asarray(psd) * jnp.exp(scale * jnp.arange(N_CHANNELS))
        return sensor.negative_log_likelihood(model, mask, lmat, target)

    grad = float(jax.grad(loss)(0.1))
    h = 1e-6
    np.testing.assert_allclose(grad, float(loss(0.1 + h) - loss(0.1 - h)) / (2 * h), rtol=1e-5)


@pytest.mark.parametrize(("change", "culprit"), [
    ({"gain": "each"}, "gain must be one of"),
    ({"target": np.zeros((N_BINS, N_CHANNELS + 1))}, "must both be"),
    ({"lmat": np.eye(N_BINS + 1)}, "decorrelate must be"),
])
def test_bad_input_names_the_culprit(setup, change, culprit):
    sd, mask, psd, target, lmat = setup
    args = {"target": target, "lmat": lmat, "gain": "common", **change}
    with pytest.raises(ValueError, match=culprit):
        sensor.negative_log_likelihood(psd, mask, args["lmat"], args["target"], args["gain"])
