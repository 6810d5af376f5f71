"""The case study's lesson: fit a phase-invariant feature, not the raw waveform.

From C = 115 towards C* = 150, the pointwise waveform error has false minima (near C = 126 and
C = 140) where the model oscillates out of phase with the target: gradient descent on it stops
there, while the same descent on the RMS amplitude reaches C*.
"""

import jax.numpy as jnp
import numpy as np

from eegfit import JansenRit


def raw_waveform_loss(case, target_eeg):
    def loss_fn(model):
        return jnp.mean((case.eeg(model) - target_eeg) ** 2), {}
    return loss_fn


def test_raw_waveform_landscape_has_false_minima(case, target_slow):
    c_grid = jnp.arange(110.0, 171.0, 1.0)
    error = np.asarray(jnp.mean((case.eeg(JansenRit(C=c_grid)) - target_slow[:, None]) ** 2,
                                axis=0))
    inner = np.flatnonzero((error[1:-1] < error[:-2]) & (error[1:-1] < error[2:])) + 1
    minima = np.asarray(c_grid)[inner]
    assert np.any(np.abs(minima - case.c_slow) <= 1.0)  # the true one
    false = minima[np.abs(minima - case.c_slow) > 1.0]
    assert np.any(np.abs(false - 126.0) <= 2.0) and np.any(np.abs(false - 140.0) <= 2.0), minima


def test_raw_waveform_fit_stalls_where_rms_fit_succeeds(case, target_slow, grad_fit_slow):
    raw = case.grad_fitter(raw_waveform_loss(case, target_slow)).fit(case.grad_steps)
    assert np.isfinite(raw.best_loss)
    assert case.rel_error(raw, case.c_slow) > 0.05
    # it is stuck: its last iterate is as far from C* as its best one
    assert abs(float(raw.final_params["C"]) - case.c_slow) / case.c_slow > 0.05
    _, rms_fit = grad_fit_slow  # same start, optimizer and budget; the RMS loss
    assert case.rel_error(rms_fit, case.c_slow) < 0.01
