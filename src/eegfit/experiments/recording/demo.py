"""A synthetic recording made by the model (a block's ``demo`` key), so that a recording kind
runs without anyone's data: the block read and checked, the file it makes (a pipeline input),
the truth its file's targets carry, and its channels (the column simulated at ``demo.truth``,
decimated, seen through :mod:`eegfit.observe.electrodes`). The recording and sensor kinds share
the block; the sensor kind makes its channels through the lead field
(:func:`eegfit.experiments.sensor_fit.demo_signals`)."""

from __future__ import annotations

import numpy as np

from eegfit.experiments.base import Target, as_float, keys
from eegfit.experiments.reader import Reader, number
from eegfit.observe import electrodes
from eegfit.simulate import simulate

DEMO_KEYS = ("path", "truth", "sfreq_hz", "duration_s", "gain_uv_per_mv", "noise_uv", "seed",
             "channels", "dt_ms")


def read_demo(r: Reader) -> dict | None:
    """The ``demo`` block (a synthetic recording made from the model at ``truth``), checked."""
    if not r.has("demo"):
        return None
    d = r.sub("demo", DEMO_KEYS)
    truth = d.sub("truth")
    channels = d.sub("channels")
    if not channels.block:
        raise ValueError(f"config {channels.where} must map channel names to signal shares")
    return {"path": d.string("path"),
            "truth": {str(k): truth.number(k) for k in truth.block},
            "sfreq_hz": d.number("sfreq_hz", above=0.0),
            "duration_s": d.number("duration_s", above=0.0),
            "gain_uv_per_mv": d.number("gain_uv_per_mv", above=0.0),
            "noise_uv": d.number("noise_uv", low=0.0), "seed": d.integer("seed", 0, low=0),
            "channels": {str(k): channels.number(k) for k in channels.block},
            "dt_ms": d.number("dt_ms", optional=True, above=0.0)}


def check_demo(spec) -> None:
    """The ``demo`` block against the rest (a file in the experiment's inputs folder, a truth of
    fitted parameters); nothing without one."""
    if not spec.demo:
        return
    where = f"config experiments.{spec.name}"
    inputs = f"results/{spec.name}/inputs/"
    if not spec.demo["path"].startswith(inputs) or "/" in spec.demo["path"][len(inputs):]:
        raise ValueError(f"{where}.demo.path must be a file in {inputs} (where the pipeline "
                         f"makes an experiment's inputs), got {spec.demo['path']!r}")
    unknown = sorted(set(spec.demo["truth"]) - set(spec.names))
    if unknown:
        raise ValueError(f"{where}.demo.truth names {unknown}, which are not in "
                         f"{where}.parameters")
    for name, value in spec.demo["truth"].items():
        number(value, f"{where}.demo.truth.{name}")


def file_targets(spec) -> list:
    """One target per file of ``files`` and seed; the demo's file has the demo's truth."""
    demo = spec.demo
    return [Target(name, dict(demo["truth"]) if demo and demo["path"] == path else None, seed)
            for name, path in spec.files.items() for seed in spec.seeds]


def demo_inputs(spec) -> dict[str, str]:
    """The file the demo makes (path -> ``"demo"``), none without a demo."""
    return {spec.demo["path"]: "demo"} if spec.demo else {}


def demo_signals(kind, sources=None) -> tuple[dict, float]:
    """Channels (name -> mV) of a synthetic recording at ``demo.truth``: the model simulated at
    ``demo.dt_ms`` (default: the simulation's step) for ``demo.duration_s`` (after the
    transient), in one realisation, decimated to ``demo.sfreq_hz``
    (MNE's anti-aliased resampling), scaled by ``demo.gain_uv_per_mv``, each channel of
    ``demo.channels`` with its own white noise of ``demo.noise_uv`` (RMS, µV).

    ``sources(observable) -> (rows (n, time), {channel: (row, weight)})`` makes the signals to
    decimate from the simulated observable (a montage: the regions through a lead field, one row
    a channel); by default the observable itself, every channel a weighted copy of it."""
    import mne  # noqa: PLC0415

    demo, sim = kind.spec.demo, kind.spec.simulation.kwargs()
    sim["duration_ms"] = sim["transient_ms"] + 1e3 * float(demo["duration_s"])
    sim.pop("grad_horizon_ms", None)
    sim.pop("checkpoint", None)
    sim["dt_ms"] = float(demo.get("dt_ms") or sim["dt_ms"])
    sfreq = float(demo["sfreq_hz"])
    ratio = (1e3 / sim["dt_ms"]) / sfreq
    if abs(ratio - round(ratio)) > 1e-9:
        raise ValueError(f"config experiments.{kind.spec.name}.demo.sfreq_hz ({sfreq:g}) must "
                         f"divide the model's rate 1000 / demo.dt_ms (or simulation.dt_ms) "
                         f"({1e3 / sim['dt_ms']:g} Hz)")
    model = kind.model_at({n: as_float(v) for n, v in demo["truth"].items()})
    eeg = np.asarray(simulate(model, key=keys(int(demo["seed"]))[0], **sim).observable, float)
    rng = np.random.default_rng(int(demo["seed"]))
    if sources is None:
        decimated = mne.filter.resample(eeg, down=float(round(ratio)), verbose="error")
        return electrodes.channels(decimated, demo["channels"], demo["gain_uv_per_mv"],
                                   demo["noise_uv"], rng), sfreq
    eeg, rows = sources(eeg)
    if not np.all(np.isfinite(eeg)):
        raise FloatingPointError(f"experiment {kind.spec.name}: the demo model diverged at "
                                 f"{demo['truth']}; lower simulation.dt_ms")
    decimated = mne.filter.resample(eeg, down=float(round(ratio)), axis=1, verbose="error")
    return electrodes.channels({ch: decimated[row] for ch, (row, _) in rows.items()},
                               {ch: weight for ch, (_, weight) in rows.items()},
                               demo["gain_uv_per_mv"], demo["noise_uv"], rng), sfreq


__all__ = ["DEMO_KEYS", "check_demo", "demo_inputs", "demo_signals", "file_targets",
           "read_demo"]
