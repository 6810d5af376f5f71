"""The case study with brainmass (PyPI ``brainmass`` 0.1.1): its ``Fitter`` and ``JansenRitStep``.

Runs in brainmass's OWN environment (``benchmarks/.venv-brainmass``, made by
``benchmarks/setup_brainmass.sh``); ``benchmarks/bench_brainmass.py`` starts it as a subprocess
and compares it with eegfit. It imports nothing from eegfit. Run by hand::

    benchmarks/.venv-brainmass/bin/python benchmarks/brainmass_case.py --calls 3 --out bm.json

The case, written as brainmass's documentation and tests suggest (``brainmass.Fitter`` with a
``loss_fn(model) -> (loss, aux)``, a ``brainmass.Simulator`` run inside it, trainable
``brainstate.nn.Param``, ``braintools.optim.Adam``, the nevergrad backend's options dict):

- ``JansenRitStep(1, C=Param(115, t=ClipT(110, 170)), method="euler")``: the JR95 constants are
  brainmass's defaults; ``method="euler"`` (brainmass's default is exponential Euler) so that both
  tools integrate the same equations with the same scheme: the RMS at C* = 150 agrees with
  eegfit's to about 1e-6 (checked by the caller). ``ClipT`` keeps C in the box the way eegfit's
  projection does, so Adam's learning rate acts in C's own units in both tools.
- drive: constant 220 Hz as ``E_inp`` (the excitatory interneurons' input, JR95's p);
- 600 ms at dt = 0.1 ms, the first 200 ms discarded (``transient=``), RMS of the de-meaned EEG
  (``m.eeg()`` = E - I = y1 - y2); loss ((rms - rms*) / rms*)^2 with rms* simulated at C* = 150;
- grad: ``Fitter(model, braintools.optim.Adam(lr=2.0), loss_fn=...).fit(n_steps=40)``;
- nevergrad: ``Fitter(model, {"method": "DE", "n_sample": 6, "budget": 48, "num_workers": 6,
  "seed": 0}, loss_fn=..., backend="nevergrad").fit(n_steps=8)``: brainmass sets DE's population
  to ``n_sample`` (6, as eegfit's ``popsize: 6``) and starts DE from the box (its ``ng.p.Scalar``
  has no initial value, so its first population is drawn around the box centre, not 115).

Each call builds a fresh model, optimizer and Fitter (so every fit starts at C = 115) and times
``fit()`` alone; call 1 is the process's first, calls 2.. are the "steady" ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

T_START = time.perf_counter()
import brainstate  # noqa: E402
import braintools  # noqa: E402
import brainunit as u  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import brainmass  # noqa: E402
from brainstate.nn import ClipT, Param  # noqa: E402

T_IMPORT = time.perf_counter() - T_START

DT = 0.1 * u.ms
DURATION, TRANSIENT = 600.0 * u.ms, 200.0 * u.ms
DRIVE = 220.0 * u.Hz
C_TRUE, C_START, BOUNDS = 150.0, 115.0, (110.0, 170.0)
GRAD_STEPS, LR = 40, 2.0
DE_CANDIDATES, DE_STEPS = 6, 8


def rms_of(model):
    """RMS amplitude (mV) of the settled EEG of a JansenRitStep."""
    sim = brainmass.Simulator(model, dt=DT)
    res = sim.run(DURATION, inputs=lambda i, t: (0.0 * u.mV, DRIVE), monitors=lambda m: m.eeg(),
                  transient=TRANSIENT)
    x = u.get_magnitude(u.Quantity(res["output"]).to(u.mV))[:, 0]
    x = x - jnp.mean(x)
    return jnp.sqrt(jnp.mean(x ** 2))


def column(C):
    return brainmass.JansenRitStep(1, C=C, method="euler")


TARGET = None


def loss_fn(model):
    amplitude = rms_of(model)
    return ((amplitude - TARGET) / TARGET) ** 2, amplitude


def start_model():
    return column(Param(C_START, t=ClipT(*BOUNDS)))


def grad_fit():
    t0 = time.perf_counter()
    fitter = brainmass.Fitter(start_model(), braintools.optim.Adam(lr=LR), loss_fn=loss_fn)
    t1 = time.perf_counter()
    result = fitter.fit(n_steps=GRAD_STEPS)
    t2 = time.perf_counter()
    return dict(construct_s=t1 - t0, fit_s=t2 - t1, best_C=float(np.ravel(result.best_params["C"])[0]),
                best_loss=float(result.best_loss), n_steps=int(result.n_steps))


def de_fit():
    t0 = time.perf_counter()
    options = {"method": "DE", "n_sample": DE_CANDIDATES, "budget": DE_CANDIDATES * DE_STEPS,
               "num_workers": DE_CANDIDATES, "seed": 0}
    fitter = brainmass.Fitter(start_model(), options, loss_fn=loss_fn, backend="nevergrad")
    t1 = time.perf_counter()
    result = fitter.fit(n_steps=DE_STEPS)
    t2 = time.perf_counter()
    return dict(construct_s=t1 - t0, fit_s=t2 - t1, best_C=float(np.ravel(result.best_params["C"])[0]),
                best_loss=float(result.best_loss), n_evaluations=len(result.history))


def main(argv=None) -> int:
    global TARGET
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3, help="fit() calls per backend (>= 2)")
    parser.add_argument("--out", default=None, help="JSON file (default: stdout)")
    args = parser.parse_args(argv)
    brainstate.environ.set(dt=DT)
    t0 = time.perf_counter()
    TARGET = float(rms_of(column(C_TRUE)))
    t_target = time.perf_counter() - t0
    t0 = time.perf_counter()
    rms_again = float(rms_of(column(C_TRUE)))
    t_target_again = time.perf_counter() - t0
    out = dict(
        versions={name: __import__(name).__version__ for name in
                  ("brainmass", "brainstate", "braintools", "brainunit", "jax", "numpy")},
        import_s=T_IMPORT, rms_target_mv=TARGET, rms_again_mv=rms_again,
        one_simulation_first_s=t_target, one_simulation_second_s=t_target_again,
        dtype=str(jnp.result_type(float)), grad=[], de=[])
    # Interleaved: grad, DE, grad, DE, ... (call 1 of each is the process's first).
    for _ in range(max(2, args.calls)):
        out["grad"].append(grad_fit())
        out["de"].append(de_fit())
    out["nevergrad_version"] = __import__("nevergrad").__version__
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
