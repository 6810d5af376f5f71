"""Case study: recover the connectivity C of a Jansen-Rit column from the RMS of its EEG.

A target EEG is simulated at a known C*, and C is fitted back from C = 115 by matching the RMS
amplitude of the settled signal: once by gradient descent (optax Adam through the simulation)
and once derivative-free (nevergrad's differential evolution), over three seeds each. The grad
backend is deterministic (the seed only matters to nevergrad), and the first fit of each backend
and target includes JAX's compilation in its wall time.

    python examples/case_study.py
"""

import numpy as np
import optax

from eegfit import Fitter, JansenRit, Param, rms, simulate

SIM = {"duration_ms": 600.0, "transient_ms": 200.0, "dt_ms": 0.1}  # first 200 ms discarded
TRUTHS = (150.0, 137.0)  # a slow (~5.5 Hz) and an alpha-band (~10 Hz) column
START, BOUNDS = 115.0, (110.0, 170.0)
SEEDS = (0, 1, 2)


def rms_loss(target_rms):
    """Relative squared error of the RMS amplitude; aux reports the model's RMS."""
    def loss_fn(model):
        amplitude = rms(simulate(model, **SIM).observable)
        return ((amplitude - target_rms) / target_rms) ** 2, {"rms_mv": amplitude}
    return loss_fn


def fitters(loss_fn):
    """Both backends on the same model and loss, with their step budgets."""
    model = JansenRit(C=Param(START, bounds=BOUNDS))
    return {
        "grad": (Fitter(model, optax.adam(2.0), loss_fn=loss_fn), 40),
        "nevergrad": (Fitter(model, "DE", loss_fn=loss_fn, backend="nevergrad",
                             num_candidates=6, optimizer_options={"popsize": 6}), 8),
    }


def main(truths=TRUTHS, seeds=SEEDS):
    print(f"{'C*':>6} {'backend':>9} {'seed':>4} {'fitted C':>9} {'error %':>8} {'status':>9} "
          f"{'evals':>5} {'wall s':>6}")
    spreads = []
    for c_true in truths:
        target_rms = rms(simulate(JansenRit(C=c_true), **SIM).observable)
        for backend, (fitter, n_steps) in fitters(rms_loss(target_rms)).items():
            fitted = []
            for seed in seeds:
                result = fitter.fit(n_steps, seed=seed)
                c_fit = float(result.best_params["C"])
                fitted.append(c_fit)
                print(f"{c_true:6.1f} {backend:>9} {seed:4d} {c_fit:9.3f} "
                      f"{100 * (c_fit - c_true) / c_true:+8.3f} {result.status:>9} "
                      f"{result.n_evaluations:5d} {result.wall_time_s:6.2f}")
            spreads.append((c_true, backend, np.mean(fitted), np.std(fitted),
                            100 * np.max(np.abs(np.array(fitted) - c_true)) / c_true))
    print(f"\nSpread over seeds {list(seeds)}:")
    for c_true, backend, mean, std, worst in spreads:
        print(f"  C* = {c_true:5.1f}  {backend:>9}: mean {mean:8.3f}, sd {std:6.3f}, "
              f"worst error {worst:5.2f} %")


if __name__ == "__main__":
    main()
