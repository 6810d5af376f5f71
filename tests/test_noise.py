"""Noise defined per unit time: the white and Ornstein-Uhlenbeck drives, their intensity whatever
the step, their equivalence to JR95's per-step uniform drive, the stochastic schemes' strong
convergence, and the errors on bad input. (The step-independent spectrum: test_noise_spectrum.)"""

import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit import JansenRit, UniformNoiseDrive, simulate
from eegfit.models import OUNoiseDrive, WhiteNoiseDrive, uniform_intensity
from eegfit.models.network import coupled
from eegfit.simulate import _rollout

SIMULATE_MODULE = importlib.import_module("eegfit.simulate")  # eegfit.simulate is the function

JR95_VAR_HZ2 = 200.0 ** 2 / 12.0  # variance of U(120, 320)


def low_frequency_intensity(values, dt_ms: float, window_ms: float = 20.0) -> float:
    """Two-sided spectral density (Hz^2 s) of a per-step drive well below 1 / window: the variance
    of its means over windows, times the window."""
    x = np.asarray(values, dtype=float)
    m = int(round(window_ms / dt_ms))
    means = x[: x.shape[0] // m * m].reshape(-1, m, *x.shape[1:]).mean(axis=1)
    return float(means.var() * window_ms * 1e-3)


def test_jr95_equivalent_intensity():
    assert uniform_intensity(120.0, 320.0, 0.1) == pytest.approx(math.sqrt(JR95_VAR_HZ2 * 1e-4))
    assert WhiteNoiseDrive().sigma_hz_sqrt_s == pytest.approx(0.5774, abs=1e-4)
    drive = WhiteNoiseDrive.from_uniform(hold_ms=0.5)
    assert drive.mean_hz == 220.0 and drive.sigma_hz_sqrt_s == pytest.approx(1.2910, abs=1e-4)


@pytest.mark.parametrize("dt_ms", [0.1, 0.5])
def test_white_drive_has_its_intensity_at_any_step(dt_ms):
    drive = WhiteNoiseDrive()
    values = drive.per_step(jax.random.key(0), 400_000, dt_ms)
    # per step: mean + sigma z / sqrt(dt), so variance * dt = sigma^2 (Euler-Maruyama scaling)
    assert float(values.mean()) == pytest.approx(220.0, abs=1.0)
    assert float(values.var()) * dt_ms * 1e-3 == pytest.approx(drive.sigma_hz_sqrt_s ** 2,
                                                               rel=0.02)
    assert low_frequency_intensity(values, dt_ms) == pytest.approx(drive.sigma_hz_sqrt_s ** 2,
                                                                   rel=0.1)


def test_per_step_uniform_drive_matches_the_white_drive_at_its_step_only():
    key = jax.random.key(1)
    per_step = {dt: low_frequency_intensity(UniformNoiseDrive().per_step(key, 400_000, dt), dt)
                for dt in (0.1, 0.5)}
    # its intensity is var * dt: that of WhiteNoiseDrive.from_uniform(hold_ms=dt) ...
    for dt, intensity in per_step.items():
        sigma = WhiteNoiseDrive.from_uniform(hold_ms=dt).sigma_hz_sqrt_s
        assert intensity == pytest.approx(sigma ** 2, rel=0.1)
    # ... so it grows with the step
    assert per_step[0.5] / per_step[0.1] == pytest.approx(5.0, rel=0.15)


@pytest.mark.parametrize("dt_ms", [0.1, 0.5, 2.0])
def test_ou_drive_has_its_law_at_any_step_up_to_tau(dt_ms):
    drive = OUNoiseDrive.from_uniform(tau_ms=2.0)
    keys = jax.random.split(jax.random.key(2), 8)
    values = jax.vmap(lambda k: drive.per_step(k, int(round(40_000 / dt_ms)), dt_ms))(keys).T
    assert float(values.mean()) == pytest.approx(220.0, abs=2.0)
    # each value is the drive's mean over its step: variance 2 sd^2 (h - 1 + e^-h) / h^2
    h = dt_ms / drive.tau_ms
    expected_var = 2.0 * drive.sd_hz ** 2 * (h - 1.0 + math.exp(-h)) / h ** 2
    assert float(values.var()) == pytest.approx(expected_var, rel=0.05)
    # low-frequency intensity 2 sd^2 tau (over 20 ms windows: 0.9 of it, from the OU's memory)
    window = 20.0 / drive.tau_ms
    expected = 2.0 * drive.sd_hz ** 2 * 2e-3 * (1.0 - (1.0 - math.exp(-window)) / window)
    assert low_frequency_intensity(values, dt_ms) == pytest.approx(expected, rel=0.1)


def test_drives_batch_per_node_and_per_parameter_set():
    key = jax.random.key(3)
    assert WhiteNoiseDrive(n_nodes=3).per_step(key, 7, 0.1).shape == (7, 3)
    assert OUNoiseDrive(tau_ms=1.0, n_nodes=3).per_step(key, 7, 0.1).shape == (7, 3)
    means = jnp.array([200.0, 220.0])
    assert WhiteNoiseDrive(mean_hz=means).per_step(key, 7, 0.1).shape == (7, 2)
    assert WhiteNoiseDrive(mean_hz=means, n_nodes=3).per_step(key, 7, 0.1).shape == (7, 2, 3)
    net = coupled(JansenRit(), ((0.0, 1.0), (1.0, 0.0)), k=10.0,
                  drive=WhiteNoiseDrive(n_nodes=2))
    eeg = simulate(net, duration_ms=50.0, dt_ms=0.5, integrator="heun", key=key).observable
    assert eeg.shape == (100, 2) and np.all(np.isfinite(np.asarray(eeg)))


def test_vmap_over_keys_equals_a_loop_in_the_broadcast_layout():
    keys = jax.random.split(jax.random.key(4), 10)  # >= BROADCAST_MIN_BATCH
    model = JansenRit(C=120.0, drive=OUNoiseDrive(tau_ms=1.0))
    window = {"duration_ms": 100.0, "dt_ms": 0.5}
    batched = jax.vmap(lambda k: simulate(model, key=k, **window).observable)(keys)
    looped = np.stack([np.asarray(simulate(model, key=k, **window).observable) for k in keys])
    np.testing.assert_allclose(np.asarray(batched), looped, rtol=1e-5, atol=1e-5)


def test_gradient_through_the_intensity():
    def eeg_sd(sigma):
        model = JansenRit(C=120.0, drive=WhiteNoiseDrive(sigma_hz_sqrt_s=sigma))
        eeg = simulate(model, duration_ms=500.0, transient_ms=100.0, dt_ms=0.5,
                       key=jax.random.key(5)).observable
        return jnp.std(eeg)
    grad = float(jax.grad(eeg_sd)(1.0))
    assert np.isfinite(grad) and grad > 0.0  # near a fixed point the response is ~ linear


@pytest.mark.parametrize("integrator", ["euler", "heun"])
def test_stochastic_schemes_converge_strongly_at_order_one(integrator):
    """Common random numbers across steps: a coarse step's drive is the mean of the fine steps'
    (the same Wiener path); the RMS path error against RK4 at 0.025 ms falls by about 2 with
    each halving of the step (measured: Euler 0.095, 0.048, 0.023 mV at 0.5, 0.25, 0.125 ms,
    Heun 0.014, 0.007, 0.003). Predictor and corrector see the same increment; redrawing it would
    not converge."""
    fine_dt, n_fine = 0.025, 4000
    model = JansenRit(C=120.0, drive=WhiteNoiseDrive(sigma_hz_sqrt_s=5.0))
    fine_drive = model.drive.per_step(jax.random.key(6), n_fine, fine_dt)
    y0 = jnp.zeros(6)
    reference = _rollout(n_fine, 0, fine_dt, "rk4", None, False)(model, fine_drive, y0)
    errors = []
    for m in (20, 10, 5):  # dt = 0.5, 0.25, 0.125 ms
        coarse = fine_drive.reshape(-1, m).mean(axis=1)
        eeg = _rollout(n_fine // m, 0, fine_dt * m, integrator, None, False)(model, coarse, y0)
        errors.append(float(jnp.sqrt(jnp.mean((eeg - reference[m - 1::m]) ** 2))))
    assert errors[0] / errors[1] > 1.6 and errors[1] / errors[2] > 1.6, errors
    assert errors[0] < (0.2 if integrator == "euler" else 0.03), errors


BAD_DRIVES = {
    "negative intensity": (WhiteNoiseDrive(sigma_hz_sqrt_s=-1.0), 0.1, "sigma_hz_sqrt_s"),
    "NaN intensity": (WhiteNoiseDrive(sigma_hz_sqrt_s=float("nan")), 0.1, "sigma_hz_sqrt_s"),
    "NaN mean": (WhiteNoiseDrive(mean_hz=float("nan")), 0.1, "mean_hz"),
    "negative sd": (OUNoiseDrive(tau_ms=1.0, sd_hz=-5.0), 0.1, "sd_hz"),
    "NaN sd in a batch": (OUNoiseDrive(tau_ms=1.0, sd_hz=jnp.array([1.0, jnp.nan])), 0.1, "sd_hz"),
    "tau shorter than the step": (OUNoiseDrive(tau_ms=0.2), 0.5, "tau_ms"),
}


@pytest.mark.parametrize("name", BAD_DRIVES)
def test_bad_noise_is_an_error_naming_it_before_any_simulation(name, monkeypatch):
    drive, dt_ms, field = BAD_DRIVES[name]

    def no_rollout(*args, **kwargs):
        raise AssertionError("simulated despite a bad drive")
    monkeypatch.setattr(SIMULATE_MODULE, "_rollout", no_rollout)
    with pytest.raises(ValueError, match=field):
        simulate(JansenRit(drive=drive), duration_ms=10.0, dt_ms=dt_ms, key=jax.random.key(0))
    with pytest.raises(ValueError, match=field):
        drive.check(dt_ms)


@pytest.mark.parametrize("tau_ms", [0.0, -1.0, float("nan"), float("inf"), None])
def test_bad_correlation_time_is_an_error_at_construction(tau_ms):
    with pytest.raises(ValueError, match="tau_ms"):
        OUNoiseDrive(tau_ms=tau_ms)


def test_noisy_drives_need_a_key():
    for drive in (WhiteNoiseDrive(), OUNoiseDrive(tau_ms=1.0)):
        with pytest.raises(ValueError, match="key"):
            simulate(JansenRit(drive=drive), duration_ms=10.0)


BAD_CONFIG_DRIVES = {
    "negative intensity": ({"kind": "white_noise", "sigma_hz_sqrt_s": -0.5}, 0.5,
                           "sigma_hz_sqrt_s"),
    "NaN intensity": ({"kind": "white_noise", "sigma_hz_sqrt_s": float("nan")}, 0.5,
                      "sigma_hz_sqrt_s"),
    "negative sd": ({"kind": "ou_noise", "tau_ms": 5.0, "sd_hz": -1.0}, 0.5, "sd_hz"),
    "tau shorter than the step": ({"kind": "ou_noise", "tau_ms": 0.2}, 0.5, "tau_ms"),
}


@pytest.mark.parametrize("name", BAD_CONFIG_DRIVES)
def test_bad_noise_in_a_config_is_an_error_naming_its_key(name, monkeypatch):
    """The recording experiment's drive (the default config's block) with bad noise: the error
    names the key path and the field when the config is read, before any simulation."""
    import copy  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    from eegfit import experiments  # noqa: PLC0415

    drive, dt_ms, field = BAD_CONFIG_DRIVES[name]
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" /
                             "config.yaml").read_text())
    block = copy.deepcopy(config["experiments"]["recording_demo"])
    block["model"]["drive"] = drive
    block["simulation"]["dt_ms"] = dt_ms

    def no_rollout(*args, **kwargs):
        raise AssertionError("simulated despite a bad drive")
    monkeypatch.setattr(SIMULATE_MODULE, "_rollout", no_rollout)
    with pytest.raises(ValueError, match=rf"experiments\.recording_demo\.model\.drive.*{field}"):
        experiments.build("recording_demo", block)
