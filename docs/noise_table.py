"""Print the tables of docs/noise.md: EEG sd and relative band powers of a noisy Jansen-Rit column
at three steps and two integrators, for the per-step uniform drive (JR95's convention) and the
white drive of the same intensity at 0.1 ms. About 1 minute on 2 CPU cores.

    PYTHONPATH=src python docs/noise_table.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.signal import welch

from eegfit import JansenRit, UniformNoiseDrive, simulate
from eegfit.models import WhiteNoiseDrive

POINTS = {"issue (108, 46, 135)": (108.0, 46.0, 135.0),  # a (1/s), b (1/s), C
          "alpha focus (100, 50, 120)": (100.0, 50.0, 120.0),
          "theta focus (100, 32, 90)": (100.0, 32.0, 90.0),
          "JR95 cycle (100, 50, 135)": (100.0, 50.0, 135.0)}
DRIVES = {"per-step U(120, 320)": UniformNoiseDrive(),
          "white, sigma 0.577 Hz s^0.5": WhiteNoiseDrive()}
N_SEEDS, WINDOW = 8, {"duration_ms": 41_000.0, "transient_ms": 1_000.0}


def features(eeg, dt_ms):
    fs = 1000.0 / dt_ms
    f, p = welch(eeg, fs=fs, nperseg=int(2 * fs), axis=0)
    total = p[(f >= 2) & (f <= 40)].sum(0)
    return {"sd": eeg.std(0), "alpha": p[(f >= 8) & (f < 13)].sum(0) / total,
            "theta": p[(f >= 4) & (f < 8)].sum(0) / total}


def run(drive, integrator, dt_ms):
    a, b, c = (jnp.repeat(jnp.array(x), N_SEEDS) for x in zip(*POINTS.values()))
    keys = jnp.tile(jax.random.split(jax.random.key(0), N_SEEDS), len(POINTS))
    eeg = jax.vmap(lambda k, a, b, c: simulate(
        JansenRit(a=a, b=b, C=c, drive=drive), key=k, dt_ms=dt_ms, integrator=integrator,
        **WINDOW).observable)(keys, a, b, c)
    ft = features(np.asarray(eeg).T, dt_ms)
    return {k: v.reshape(len(POINTS), N_SEEDS) for k, v in ft.items()}


rows = {(name, integrator, dt_ms): run(drive, integrator, dt_ms)
        for name, drive in DRIVES.items() for integrator in ("euler", "heun")
        for dt_ms in (0.1, 0.25, 0.5)}
old, new = DRIVES
for i, point in enumerate(POINTS):
    print(f"\n{point}: mean +- sd over {N_SEEDS} seeds, 40 s after 1 s\n")
    print("| dt, integrator | " + " | ".join(f"{q} ({d})" for d in ("per step", "white")
                                          for q in ("EEG sd (mV)", "rel. alpha", "rel. theta"))
          + " |")
    print("| --- " * 7 + "|")
    for integrator in ("euler", "heun"):
        for dt_ms in (0.1, 0.25, 0.5):
            cells = [f"{ft[k][i].mean():.3g} +- {ft[k][i].std():.1g}"
                     for ft in (rows[old, integrator, dt_ms], rows[new, integrator, dt_ms])
                     for k in ("sd", "alpha", "theta")]
            print(f"| {dt_ms} ms {integrator} | " + " | ".join(cells) + " |")
