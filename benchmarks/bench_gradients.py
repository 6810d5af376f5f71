"""How far a fit's gradient can be trusted: the gradient of the recording loss and of the BOLD-FC
loss (empirical_fc) against a central finite difference of the same loss under common random
numbers (the same fit key, so the difference sees the same noise), per truncation horizon.

Run::

    python benchmarks/bench_gradients.py [--quick | --smoke] [--kinds recording empirical_fc]
                                         [--out benchmarks/results/gradients.json]

For each kind and evaluation point it prints one row per gradient setting: the truncation horizon
``grad_horizon_ms`` (``full``: none), forward mode as the grad backend computes it for a few
fitted scalars, or reverse mode with ``checkpoint=True`` (rematerialised in chunks: the same
derivative as the plain one, bounded memory), each component of the gradient in loss units per box
width, the finite differences at two steps (1 % and 0.1 % of the box width: where they disagree
the loss is rough on that scale and no gradient can be trusted), the relative error
``|g - fd| / |fd|`` (vector norms, in box units) against the 1 % difference, and whether every
component agrees in sign. The chosen defaults and the measured table are in the README
("Gradients through noisy simulations").

The recording's target is the kind's own demo (the model at a = 100 /s, b = 50 /s, white noise of
JR95's intensity, simulated at 0.1 ms, written as an EDF and read back), fitted as the default
config does (``recording``: the model PSD the mean of 16 independent realisations of 5 s) and as
it did before (``rec_1x41s``: one realisation of 40 s); the network is the default config's
(EEG FC of 10 HCP regions, 8 s, 4 realisations); the empirical FC is the HCP subject mean on 10
regions (``--quick``: 120 s of BOLD instead of 864 s).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from eegfit import experiments
from eegfit.experiments import InputKind, runner
from eegfit.fit.grad import batched_value_and_grad
from eegfit.fit.gradient_check import SIGN_FLOOR


def config_block(name: str) -> dict:
    """An experiment block of the default config (config/config.yaml)."""
    import yaml  # noqa: PLC0415

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" /
                             "config.yaml").read_text())
    return copy.deepcopy(config["experiments"][name])


RECORDING = config_block("recording_demo")  # the model PSD: 16 realisations of 5 s
RECORDING_ONE_RUN = {**RECORDING, "n_realisations": 1,  # one realisation of 40 s (the old one)
                     "simulation": {**RECORDING["simulation"], "duration_ms": 41000.0,
                                    "transient_ms": 1000.0}}
RECORDING_POINTS = ({"a": 90.0, "b": 55.0}, {"a": 97.0, "b": 52.0}, {"a": 101.0, "b": 50.5},
                    {"a": 108.0, "b": 46.0})
RECORDING_HORIZONS = (100.0, 250.0, 1000.0, None)

EMPIRICAL_FC = {
    "kind": "empirical_fc", "connectome": {"n_nodes": 10, "subject": None},
    "model": {"params": {}, "drive": {"low_hz": 50.0, "high_hz": 150.0, "interval_ms": 5.0}},
    "parameters": {"k": {"bounds": [0.0, 60.0], "start": 40.0}}, "seeds": [0],
    "floor_seeds": [1, 2],
    "simulation": {"dt_ms": 1.0, "duration_ms": 864000.0, "transient_ms": 1000.0,
                   "integrator": "heun"},
    "bold": {"dt_ms": 10.0, "tr_s": 0.72, "discard_s": 10.0, "input_sd": 0.1},
    "n_realisations": 2, "objective": "fc_correlation_loss", "scan": {"n_points": 3},
    "backends": {"grad": {"optimizer": "adam", "learning_rate": 4.0, "n_steps": 12}}}
FC_POINTS = ({"k": 40.0}, {"k": 20.0}, {"k": 10.0})
NETWORK_POINTS = ({"k": 30.0}, {"k": 45.0}, {"k": 70.0})
NETWORK_HORIZONS = (25.0, 100.0, 500.0, None)
FC_HORIZONS = (100.0, 1000.0, 10000.0, None)
FD_STEPS = (2e-2, 5e-3, 1e-3)  # of each parameter's box width (the checks' steps: 5e-3, 2e-2)
SHOWN = FD_STEPS  # the steps in the printed table (all are in the JSON)


def build(name: str, block: dict, horizon_ms, checkpoint: bool = False):
    block = copy.deepcopy(block)
    sim = block["simulation"]
    sim.pop("grad_horizon_ms", None)
    sim.pop("checkpoint", None)
    if horizon_ms is not None:
        sim["grad_horizon_ms"] = horizon_ms
    if checkpoint:
        sim["checkpoint"] = True
    return experiments.build(name, block)


def fit_data(kind, workdir: Path):
    """The batch-of-one fit data of the kind's first target (its demo made in ``workdir``)."""
    (target, *_) = kind.targets()
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        inputs = kind.generated_inputs() if isinstance(kind, InputKind) else {}
        for path, what in inputs.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            kind.make_input(what, Path(path))
        target_ds = runner.make_target(kind, target)
    finally:
        os.chdir(cwd)
    data = kind.fit_data(kind.observed(target_ds), target.seed)
    return jax.tree.map(lambda x: jnp.asarray(x)[None], data)


def measure(kind, data, point: dict, derivatives: str) -> dict:
    """Gradient (``derivatives`` mode, as the grad backend computes it) and central finite
    differences at ``point``, per parameter, in loss units per box width."""
    fitter = runner.fitter(kind, "grad")
    widths = {p.name: p.bounds[1] - p.bounds[0] for p in kind.spec.parameters}
    values = {n: jnp.asarray([v], jnp.result_type(float)) for n, v in point.items()}
    vg = jax.jit(batched_value_and_grad(fitter._objective, fitter.split, derivatives))
    t0 = time.perf_counter()
    loss, _, grads = jax.block_until_ready(vg(values, data))
    seconds = time.perf_counter() - t0
    objective = jax.jit(jax.vmap(fitter._objective))
    one = jax.tree.map(lambda x: x[0], data)
    fds = {}
    for rel in FD_STEPS:
        rows = []
        for name in point:
            for sign in (1.0, -1.0):
                rows.append({n: point[n] + (sign * rel * widths[n] if n == name else 0.0)
                             for n in point})
        batch = {n: jnp.asarray([r[n] for r in rows], jnp.result_type(float)) for n in point}
        many = jax.tree.map(lambda x: jnp.broadcast_to(x, (len(rows),) + x.shape), one)
        out = np.asarray(objective(batch, many)[0], float).reshape(len(point), 2)
        fds[rel] = {n: float((out[i, 0] - out[i, 1]) / (2 * rel)) for i, n in enumerate(point)}
    grad = {n: float(np.asarray(grads[n])[0]) * widths[n] for n in point}
    return {"loss": float(loss[0]), "grad": grad, "fd": fds, "seconds": seconds}


def compare(grad: dict, fd: dict) -> tuple[float, bool]:
    """``(|g - fd| / |fd|, signs agree)`` as the grad fit's check judges them: components of
    ``fd`` below ``SIGN_FLOOR`` of its norm need not agree in sign."""
    g, f = np.array(list(grad.values())), np.array([fd[n] for n in grad])
    norm = np.linalg.norm(f)
    rel = float(np.linalg.norm(g - f) / norm) if norm > 0 else float("inf")
    counts = np.abs(f) >= SIGN_FLOOR * norm
    return rel, bool(np.all(~counts | (np.sign(g) == np.sign(f))))


def run_kind(label: str, block: dict, points, horizons, workdir: Path,
             name: str | None = None) -> list[dict]:
    name = name or f"bench_{label}"
    data = fit_data(build(name, block, None), workdir)
    rows = []
    settings = [(h, False, "forward") for h in horizons] + [(None, True, "reverse")]
    for point in points:
        for horizon, checkpoint, mode in settings:
            kind = build(name, block, horizon, checkpoint)
            m = measure(kind, data, point, mode)
            versus = {rel: compare(m["grad"], m["fd"][rel]) for rel in FD_STEPS}
            row = {"kind": label, "point": point, "horizon_ms": horizon,
                   "checkpoint": checkpoint, "mode": mode, **m,
                   "rel_error": {rel: v[0] for rel, v in versus.items()},
                   "sign_agree": {rel: v[1] for rel, v in versus.items()}}
            rows.append(row)
            print_row(row)
    return rows


def fmt(d: dict) -> str:
    return " ".join(f"{v:+.2g}" for v in d.values())


def print_row(r: dict) -> None:
    h = "full" if r["horizon_ms"] is None else f"{r['horizon_ms']:g}"
    h += " ckpt" if r["checkpoint"] else ""
    point = ",".join(f"{k}={v:g}" for k, v in r["point"].items())
    fds = " ".join(f"{fmt(r['fd'][rel]):>15s}" for rel in SHOWN)
    errs = " ".join(f"{r['rel_error'][rel]:6.2f} {'yes' if r['sign_agree'][rel] else 'NO':>3s}"
                    for rel in SHOWN)
    print(f"{r['kind'][:9]:9s} {point:11s} {h:9s} {r['loss']:7.4g} {fmt(r['grad']):>15s} {fds} "
          f"{errs} {r['seconds']:6.2f}", flush=True)


def header() -> None:
    fds = " ".join(f"{f'FD {100 * rel:g} %':>15s}" for rel in SHOWN)
    errs = " ".join(f"{f'err/sign {100 * rel:g} %':>10s}" for rel in SHOWN)
    print(f"{'kind':9s} {'point':11s} {'horizon':9s} {'loss':>7s} {'grad (box)':>15s} {fds} "
          f"{errs} {'grad s':>6s}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one point per kind, 21 s for the one-run recording, 120 s of BOLD")
    parser.add_argument("--smoke", action="store_true",
                        help="the test suite's run: one point, the full and one truncated "
                             "horizon per kind, short simulations (numbers not meaningful)")
    parser.add_argument("--kinds", nargs="+", default=["recording", "recording_1x41s",
                                                       "network", "empirical_fc"])
    parser.add_argument("--dt-ms", type=float, default=None, help="the recording model's step")
    parser.add_argument("--integrator", default=None, help="the recording model's integrator")
    parser.add_argument("--out", default="benchmarks/results/gradients.json")
    args = parser.parse_args(argv)
    if args.quick and args.smoke:
        parser.error("--quick and --smoke are two sizes of run: give one")
    rec, fc = copy.deepcopy(RECORDING), copy.deepcopy(EMPIRICAL_FC)
    rec_one = copy.deepcopy(RECORDING_ONE_RUN)
    rec_points, fc_points = RECORDING_POINTS, FC_POINTS
    for block in (rec, rec_one):
        if args.dt_ms:
            block["simulation"]["dt_ms"] = args.dt_ms
        if args.integrator:
            block["simulation"]["integrator"] = args.integrator
    if args.quick:
        rec_one["simulation"]["duration_ms"] = 21000.0
        fc["simulation"]["duration_ms"] = 120000.0
        rec_points, fc_points = rec_points[:1], fc_points[:1]
    horizons = {"recording": RECORDING_HORIZONS, "network": NETWORK_HORIZONS,
                "empirical_fc": FC_HORIZONS}
    net_ms = 4000.0 if args.quick else None
    if args.smoke:  # every kind and mode runs; too short for its numbers to mean anything
        rec["n_realisations"] = 2
        rec_one["simulation"]["duration_ms"] = 5000.0
        fc["simulation"]["duration_ms"] = 60000.0
        net_ms = 1000.0
        rec_points, fc_points = rec_points[:1], fc_points[:1]
        horizons = {k: (h[0], None) for k, h in horizons.items()}
    header()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if "recording" in args.kinds:
            rows += run_kind("recording", rec, rec_points, horizons["recording"], Path(tmp),
                             "recording_demo")
        if "recording_1x41s" in args.kinds:
            rows += run_kind("rec_1x41s", rec_one, rec_points, horizons["recording"],
                             Path(tmp), "recording_demo")
        if "network" in args.kinds:
            net = config_block("jr_network_hcp10_k")
            if net_ms:
                net["simulation"]["duration_ms"] = net_ms
            rows += run_kind("network", net, NETWORK_POINTS[:1] if net_ms else
                             NETWORK_POINTS, horizons["network"], Path(tmp))
        if "empirical_fc" in args.kinds:
            rows += run_kind("empirical_fc", fc, fc_points, horizons["empirical_fc"], Path(tmp))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"argv": sys.argv[1:], "rows": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
