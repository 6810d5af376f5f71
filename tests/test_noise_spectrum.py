"""The spectrum of a noisy column does not depend on the numerical step (issue 15, part 2).

Two noise-driven regimes (a stable focus at the mean drive of 220 Hz, made to ring by the noise):
alpha (a = 100 /s, b = 50 /s, C = 120: 9.9 Hz, damping 6.3 /s) and theta (a = 100, b = 32,
C = 90: 5.4 Hz, damping 5.1 /s). Eight noise seeds per regime, 20 s analysed after 1 s, one
vmapped call per (drive, integrator, step); Welch PSD in 2 s segments (0.5 Hz bins).

Tolerances, on the mean over seeds at 0.25 and 0.5 ms against 0.1 ms: EEG sd within 10 %,
relative theta and alpha power within 0.05, peak frequency within 0.5 Hz (one bin). Measured with
the white drive (docs/noise.md): the seed-to-seed sd of one seed's EEG sd is about 4 % (1.5 % for
the mean of 8, so 2 % for a difference of two means) and Euler's first-order error adds about
+6 % at 0.5 ms (Heun: under 2 %); relative powers scatter by 0.01-0.02 per seed and drift by at
most 0.03 (Euler, 0.5 ms). The per-step uniform drive (JR95's convention) has an intensity
proportional to the step, so its EEG sd grows as sqrt(dt): 2.2 times larger at 0.5 ms than at
0.1 ms, far outside the tolerance; that test shows this one has the power to see the old error.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import welch

from eegfit import JansenRit, UniformNoiseDrive, simulate
from eegfit.models import WhiteNoiseDrive

REGIMES = {"alpha": (100.0, 50.0, 120.0), "theta": (100.0, 32.0, 90.0)}  # a (1/s), b (1/s), C
N_SEEDS = 8
WINDOW = {"duration_ms": 21_000.0, "transient_ms": 1_000.0}
STEPS_MS = (0.1, 0.25, 0.5)
DRIVES = {"white": WhiteNoiseDrive(),  # JR95's intensity at 0.1 ms, at every step
          "per_step_uniform": UniformNoiseDrive()}  # JR95's U(120, 320), drawn every step
TOLERANCE = {"sd_mv": 0.10, "theta": 0.05, "alpha": 0.05, "peak_hz": 0.5}  # sd relative


def spectral_features(eeg_mv: np.ndarray, dt_ms: float) -> dict[str, np.ndarray]:
    """Welch features of traces ``(n_samples, *batch)``: EEG sd (mV), relative power in theta
    (4-8 Hz) and alpha (8-13 Hz) of the 2-40 Hz power, and the peak frequency in 2-20 Hz (Hz)."""
    fs = 1000.0 / dt_ms
    freqs, power = welch(eeg_mv, fs=fs, nperseg=int(2 * fs), axis=0)
    total = power[(freqs >= 2) & (freqs <= 40)].sum(axis=0)
    in_band = (freqs >= 2) & (freqs <= 20)
    return {"sd_mv": eeg_mv.std(axis=0),
            "theta": power[(freqs >= 4) & (freqs < 8)].sum(axis=0) / total,
            "alpha": power[(freqs >= 8) & (freqs < 13)].sum(axis=0) / total,
            "peak_hz": freqs[in_band][np.argmax(power[in_band], axis=0)]}


@functools.cache
def mean_features(drive: str, integrator: str, dt_ms: float) -> dict[str, dict[str, float]]:
    """Feature -> regime -> mean over the seeds, from one vmapped call over regimes x seeds."""
    a, b, c = (jnp.repeat(jnp.array(x), N_SEEDS) for x in zip(*REGIMES.values()))
    keys = jnp.tile(jax.random.split(jax.random.key(0), N_SEEDS), len(REGIMES))

    def eeg(key, a, b, c):
        model = JansenRit(a=a, b=b, C=c, drive=DRIVES[drive])
        return simulate(model, key=key, dt_ms=dt_ms, integrator=integrator, **WINDOW).observable
    traces = np.asarray(jax.vmap(eeg)(keys, a, b, c)).T  # (n_samples, regimes x seeds)
    features = spectral_features(traces, dt_ms)
    return {name: dict(zip(REGIMES, values.reshape(len(REGIMES), N_SEEDS).mean(axis=1)))
            for name, values in features.items()}


def deviations(drive: str, integrator: str) -> dict[tuple[str, str, float], float]:
    """(feature, regime, step) -> deviation from the 0.1 ms value (relative for the sd)."""
    ref = mean_features(drive, integrator, STEPS_MS[0])
    out = {}
    for dt_ms in STEPS_MS[1:]:
        got = mean_features(drive, integrator, dt_ms)
        for name in TOLERANCE:
            for regime in REGIMES:
                diff = got[name][regime] - ref[name][regime]
                out[name, regime, dt_ms] = diff / ref[name][regime] if name == "sd_mv" else diff
    return out


@pytest.mark.parametrize("integrator", ["euler", "heun"])
def test_regimes_are_alpha_and_theta(integrator):
    ref = mean_features("white", integrator, STEPS_MS[0])
    assert ref["alpha"]["alpha"] > 0.6 and 8.0 <= ref["peak_hz"]["alpha"] <= 13.0
    assert ref["theta"]["theta"] > 0.6 and 4.0 <= ref["peak_hz"]["theta"] < 8.0


@pytest.mark.parametrize("integrator", ["euler", "heun"])
def test_spectrum_does_not_depend_on_the_step(integrator):
    bad = {k: round(v, 3) for k, v in deviations("white", integrator).items()
           if abs(v) > TOLERANCE[k[0]]}
    assert not bad, bad


@pytest.mark.parametrize("integrator", ["euler", "heun"])
def test_per_step_uniform_drive_fails_it(integrator):
    sd_growth = {regime: deviations("per_step_uniform", integrator)["sd_mv", regime, 0.5]
                 for regime in REGIMES}
    # sqrt(5) - 1 = 1.24 expected: about twelve times the tolerance
    assert all(growth > 0.8 for growth in sd_growth.values()), sd_growth
