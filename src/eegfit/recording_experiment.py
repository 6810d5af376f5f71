"""Fit a model to a measured recording, from the ``recording:`` section of a config.

The pieces the workflow scripts call (documented, key by key, in ``config/README.md``):

- :func:`load_target`: read and preprocess one file of ``recording.files``;
- :func:`target_features`: the Welch PSD of its segments, the gain-free spectral features of the
  mean PSD (the target) and of each segment (window-level values), and their spread over
  segments (the noise floor);
- :func:`fitter` / :func:`run_fit`: fit any named subset of the model's parameters
  (``recording.parameters``: e.g. ``a``, ``b``, ``C``, ``drive.rate_hz``) with either backend;
  the loss is :func:`eegfit.spectra.misfit`, the model-target difference in units of the noise
  floor;
- :func:`make_demo`: a synthetic "recording" (the model at known parameters, decimated to a
  realistic sampling rate, scaled to µV, plus noise), written as EDF, so the path runs end to end
  without anyone's data.

Model spectra: the model is simulated at its own step (``recording.simulation.dt_ms``, e.g. 0.5 ms
= 2 kHz) and its Welch PSD computed at that rate with the same segment length (s) as the
recording's, so both spectra lie on the same grid (bins every ``1 / segment_s`` Hz) with no
resampling inside the loss (resampling would add a filter to differentiate through and alias
nothing: the model has no power near 1 kHz worth speaking of).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from eegfit import recording as rec
from eegfit import spectra
from eegfit.experiment import build_model, set_path
from eegfit.fit import Fitter, FitResult, Param
from eegfit.simulate import check_settings, simulate

DEFAULTS = {
    "units": None, "reference": "none", "filter": dict(rec.DEFAULT_FILTER), "windows_s": None,
    "segment_s": 2.0, "overlap": 0.5, "features": spectra.DEFAULT_FEATURES, "seed": 0,
}


def settings(config: dict) -> dict:
    """The ``recording`` section with every default filled in."""
    section = config["recording"]
    out = {**DEFAULTS, **section}
    out["features"] = spectra.check_spec(out["features"])
    return out


def max_feature_hz(config: dict) -> float:
    """The highest frequency any fitted feature reads."""
    return max(high for _, (_, high) in spectra.feature_bands(settings(config)["features"]))


def check(config: dict) -> None:
    """Cross-field checks of the section (no file is read); ``ValueError`` naming the key."""
    cfg = settings(config)
    filt = cfg["filter"]
    bands = spectra.feature_bands(cfg["features"])
    for key, (low, high) in bands:
        if not 0 <= low < high:
            raise ValueError(f"config recording.features.{key} must have 0 <= low < high, got "
                             f"{[low, high]}")
        if filt is not None and ((filt.get("low_hz") is not None and low < filt["low_hz"])
                                 or (filt.get("high_hz") is not None
                                     and high > filt["high_hz"])):
            raise ValueError(f"config recording.features.{key} {[low, high]} Hz reaches outside "
                             f"the band-pass filter recording.filter "
                             f"[{filt.get('low_hz')}, {filt.get('high_hz')}] Hz")
    if not cfg.get("parameters"):
        raise ValueError("config recording.parameters must name at least one parameter to fit")
    model = build_model(model_config(config))
    for name, par in cfg["parameters"].items():
        set_path(model, name, 0.0)  # unknown parameter -> ValueError naming it
        low, high = par["bounds"]
        if not low < high or not low <= par["start"] <= high:
            raise ValueError(f"config recording.parameters.{name}: need bounds low < high and "
                             f"start inside them, got bounds {par['bounds']}, start "
                             f"{par['start']}")
        if name.startswith("drive.") and name.split(".")[1] not in type(model.drive).units:
            raise ValueError(f"config recording.parameters.{name}: the drive "
                             f"{type(model.drive).__name__} has no field {name.split('.')[1]!r}")
    sim = sim_settings(config)
    fs_hz = 1e3 / sim["dt_ms"]
    spectra.segment_samples(cfg["segment_s"], fs_hz)
    kept = sim["duration_ms"] - sim["transient_ms"]
    if kept < 2e3 * cfg["segment_s"]:
        raise ValueError(f"config recording.simulation: the kept simulation ({kept:g} ms) must "
                         f"hold at least two segments of recording.segment_s "
                         f"({cfg['segment_s']} s)")
    if max_feature_hz(config) >= fs_hz / 2:
        raise ValueError(f"config recording.simulation.dt_ms ({sim['dt_ms']}) is too coarse "
                         f"for features up to {max_feature_hz(config):g} Hz")


def model_config(config: dict) -> dict:
    """The ``model`` part (params, drive) the recording fit uses, in ``build_model``'s shape."""
    return {"model": config["recording"].get("model", {})}


def sim_settings(config: dict) -> dict:
    """Keyword arguments of :func:`simulate` for the model side of a recording fit."""
    sim = config["recording"]["simulation"]
    out = {"dt_ms": float(sim["dt_ms"]), "duration_ms": float(sim["duration_ms"]),
           "transient_ms": float(sim["transient_ms"]),
           "integrator": sim.get("integrator", "euler"),
           "grad_horizon_ms": sim.get("grad_horizon_ms")}
    check_settings(**out)
    return out


def keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(demo recording key, fit key) of an integer seed: never the same noise."""
    base = jax.random.key(int(seed))
    return jax.random.fold_in(base, 0), jax.random.fold_in(base, 1)


# ---- the target --------------------------------------------------------------------------------

def load_target(config: dict, path) -> rec.Recording:
    """Read and preprocess one recording as the section says (every bad input named)."""
    cfg = settings(config)
    return rec.load(path, channels=cfg["channels"], units=cfg["units"],
                    reference=cfg["reference"], band_pass=cfg["filter"],
                    windows_s=cfg["windows_s"], max_feature_hz=max_feature_hz(config))


def target_features(config: dict, recording: rec.Recording) -> dict:
    """Welch spectra and features of a preprocessed recording.

    Returns a dict: ``freqs_hz``; ``psd`` (mean over segments, mV²/Hz); ``psd_segment``
    (segment, frequency); ``segment_start_s``; ``features`` (name -> value of the mean PSD: the
    target); ``window_values`` (name -> one value per segment); ``spread`` (name -> standard
    deviation over segments: the noise floor); ``axes`` (name -> labels of its trailing axis).
    """
    cfg = settings(config)
    n = spectra.segment_samples(cfg["segment_s"], recording.sfreq_hz)
    powers, starts = [], []
    for piece, start_s in zip(recording.pieces_mv, recording.starts_s):
        idx = spectra.segment_starts(len(piece), n, cfg["overlap"])
        if len(idx) == 0:
            continue  # a window shorter than one segment adds nothing
        freqs, power = spectra.periodogram(spectra.segments(np.asarray(piece), n,
                                                            cfg["overlap"]), recording.sfreq_hz)
        powers.append(np.asarray(power, dtype=float))
        starts.append(start_s + idx / recording.sfreq_hz)
    n_seg = sum(len(p) for p in powers)
    if n_seg < 2:
        raise rec.RecordingError(
            f"recording file {recording.path!r}: its windows hold {n_seg} Welch segment(s) of "
            f"{cfg['segment_s']} s; at least 2 are needed for a noise floor (use longer windows "
            f"or a shorter recording.segment_s)")
    psd_segment = np.concatenate(powers)
    psd = psd_segment.mean(axis=0)
    spec = cfg["features"]
    features = {k: np.asarray(v, dtype=float)
                for k, v in spectra.spectral_features(freqs, psd, spec).items()}
    window_values = {k: np.asarray(v, dtype=float)
                     for k, v in spectra.spectral_features(freqs, psd_segment, spec).items()}
    return {"freqs_hz": freqs, "psd": psd, "psd_segment": psd_segment,
            "segment_start_s": np.concatenate(starts), "features": features,
            "window_values": window_values,
            "spread": {k: spectra.spread(v) for k, v in window_values.items()},
            "axes": spectra.feature_axes(freqs, spec)}


# ---- the model side ----------------------------------------------------------------------------

def model_spectrum(config: dict, model, key) -> tuple[np.ndarray, jax.Array]:
    """``(freqs_hz, mean Welch PSD)`` of the model's EEG on the recording's frequency grid."""
    cfg, sim = settings(config), sim_settings(config)
    eeg = simulate(model, key=key, **sim).eeg_mv
    freqs, psd, _ = spectra.welch(jnp.moveaxis(eeg, 0, -1), fs_hz=1e3 / sim["dt_ms"],
                                  segment_s=cfg["segment_s"], overlap=cfg["overlap"])
    return freqs, psd


def model_features(config: dict, model, key) -> dict:
    """The spectral features of the model's PSD, by name."""
    freqs, psd = model_spectrum(config, model, key)
    return spectra.spectral_features(freqs, psd, settings(config)["features"])


def aux_of(features: dict, axes: dict) -> dict:
    """Scalar aux values for a fit's history: the peak and each relative band power."""
    aux = {}
    for name, value in features.items():
        if axes[name] is None:
            aux[name] = value
        elif name == "relative_power":
            aux.update({f"relative_power_{b}": value[..., i] for i, b in enumerate(axes[name])})
    return aux


def loss_function(config: dict, target: dict):
    """``loss_fn(model) -> (loss, aux)``: :func:`eegfit.spectra.misfit` of the model's features
    against the target's, in units of the target's window-to-window spread. The model's drive
    noise is the same for every evaluation (common random numbers: the fit key of the seed)."""
    fit_key = keys(settings(config)["seed"])[1]
    wanted = {k: np.asarray(v) for k, v in target["features"].items()}
    noise = {k: np.asarray(v) for k, v in target["spread"].items()}
    axes = target["axes"]

    def loss_fn(model):
        values = model_features(config, model, fit_key)
        return spectra.misfit(values, wanted, noise), aux_of(values, axes)
    return loss_fn


def start_model(config: dict):
    """The section's model with each fitted parameter a bounded :class:`Param` at its start."""
    cfg = settings(config)
    model = build_model(model_config(config))
    for name, par in cfg["parameters"].items():
        model = set_path(model, name, Param(float(par["start"]),
                                            bounds=tuple(float(b) for b in par["bounds"])))
    return model


def scale_by_box(widths: dict, learning_rate: float) -> optax.GradientTransformation:
    """Multiply each parameter's update by ``learning_rate * (high - low)`` of its box."""
    def update(updates, state, params=None):
        del params
        return {k: u * (learning_rate * widths[k]) for k, u in updates.items()}, state
    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def fitter(config: dict, backend: str, target: dict) -> Fitter:
    """The Fitter of one backend on one recording's features.

    grad: the optax optimizer built with a unit learning rate and each parameter's step scaled by
    ``learning_rate`` times its box width, so one learning rate serves parameters of different
    scales (a in 1/s, C dimensionless): Adam at 0.02 moves each by about 2 % of its box per step.
    """
    cfg = settings(config)
    settings_b = cfg["backends"][backend]
    loss_fn = loss_function(config, target)
    model = start_model(config)
    if backend == "grad":
        widths = {n: float(p["bounds"][1] - p["bounds"][0]) for n, p in
                  cfg["parameters"].items()}
        base = getattr(optax, settings_b["optimizer"])(1.0)
        lr = float(settings_b["learning_rate"])
        return Fitter(model, optax.chain(base, scale_by_box(widths, lr)), loss_fn=loss_fn,
                      optimizer_label=f"{settings_b['optimizer']}(lr={lr} x box width)")
    return Fitter(model, settings_b["optimizer"], loss_fn=loss_fn, backend="nevergrad",
                  num_candidates=int(settings_b["num_candidates"]),
                  optimizer_options=settings_b.get("options") or {})


def run_fit(config: dict, backend: str, target: dict, progress: bool | None = None) -> FitResult:
    """Fit the section's parameters to one recording's features with one backend."""
    cfg = settings(config)
    settings_b = cfg["backends"][backend]
    return fitter(config, backend, target).fit(int(settings_b["n_steps"]), seed=int(cfg["seed"]),
                                               tol=settings_b.get("tol"), progress=progress)


def param_units(config: dict) -> dict:
    """Unit of each fitted parameter."""
    model = build_model(model_config(config))
    out = {}
    for name in settings(config)["parameters"]:
        *parents, leaf = name.split(".")
        owner = model
        for part in parents:
            owner = getattr(owner, part)
        out[name] = owner.units.get(leaf, "1")
    return out


def fitted_model(config: dict, values: dict):
    """The section's model with the fitted parameters at ``values`` (plain numbers)."""
    model = build_model(model_config(config))
    for name, value in values.items():
        model = set_path(model, name, jnp.asarray(value))
    return model


# ---- a demo recording --------------------------------------------------------------------------

def demo_signals(config: dict) -> tuple[dict, float]:
    """Channels (name -> mV) of a synthetic recording at ``recording.demo``'s true parameters.

    The model is simulated at ``recording.simulation.dt_ms`` for ``demo.duration_s`` (after the
    transient), decimated to ``demo.sfreq_hz`` with MNE's anti-aliased resampling, scaled by
    ``demo.gain_uv_per_mv`` (the unknown gain between the model's mV and scalp µV), and each
    channel of ``demo.channels`` gets its own white noise of ``demo.noise_uv`` (RMS, µV).
    Returns ``(signals in mV, sfreq_hz)``: the file stores µV, as EEG files do.
    """
    import mne  # noqa: PLC0415

    demo = config["recording"]["demo"]
    sim = sim_settings(config)
    sim["duration_ms"] = sim["transient_ms"] + 1e3 * float(demo["duration_s"])
    sim.pop("grad_horizon_ms")
    model = fitted_model(config, demo["truth"])
    eeg = np.asarray(simulate(model, key=keys(int(demo["seed"]))[0], **sim).eeg_mv, float)
    sfreq = float(demo["sfreq_hz"])
    ratio = (1e3 / sim["dt_ms"]) / sfreq
    if abs(ratio - round(ratio)) > 1e-9:
        raise ValueError(f"config recording.demo.sfreq_hz ({sfreq:g}) must divide the model's "
                         f"rate 1000 / recording.simulation.dt_ms ({1e3 / sim['dt_ms']:g} Hz)")
    decimated = mne.filter.resample(eeg, down=float(round(ratio)), verbose="error")
    rng = np.random.default_rng(int(demo["seed"]))
    gain_mv = float(demo["gain_uv_per_mv"]) * 1e-3  # mV of scalp signal per mV of model EEG
    noise_mv = float(demo["noise_uv"]) * 1e-3
    signals = {ch: gain_mv * weight * decimated + noise_mv * rng.standard_normal(len(decimated))
               for ch, weight in demo["channels"].items()}
    return signals, sfreq


def make_demo(config: dict, path) -> None:
    """Write the demo recording of :func:`demo_signals` to ``path`` (EDF, or FIF)."""
    signals, sfreq = demo_signals(config)
    rec.write(path, signals, sfreq)


__all__ = ["aux_of", "check", "demo_signals", "fitted_model", "fitter", "keys", "load_target",
           "loss_function", "make_demo", "max_feature_hz", "model_features", "model_spectrum",
           "param_units", "run_fit", "settings", "sim_settings", "start_model",
           "target_features"]


# ---- result datasets ---------------------------------------------------------------------------

FEATURE_DIMS = {"relative_power": "band", "normalised_psd": "shape_frequency"}
"""The dimension of each vector feature's trailing axis in the NetCDF files."""


def _var(dims, data, units, long_name):
    return (dims, np.asarray(data), {"units": units, "long_name": long_name})


def preprocessed_dataset(recording: rec.Recording, *, attrs: dict):
    """The preprocessed channel on a ``time`` axis (s since the recording's start)."""
    import xarray as xr  # noqa: PLC0415

    time_s, eeg_mv, window = recording.concatenated()
    windows = np.asarray(recording.windows_s, dtype=float).reshape(-1, 2)
    return xr.Dataset(
        {"eeg": _var(("time",), eeg_mv, "mV", f"preprocessed EEG of {recording.channel}"),
         "window_index": _var(("time",), window, "1", "index of the kept window of the sample"),
         "window_start": _var(("window",), windows[:, 0], "s", "start of each kept window"),
         "window_end": _var(("window",), windows[:, 1], "s", "end of each kept window")},
        coords={"time": ("time", time_s, {"units": "s", "long_name": "time since the "
                                          "recording's first sample"})},
        attrs={**attrs, "channel": recording.channel, "sfreq_hz": recording.sfreq_hz,
               "source_file": recording.path})


def recording_from_dataset(ds) -> rec.Recording:
    """A :class:`~eegfit.recording.Recording` back from :func:`preprocessed_dataset`."""
    index = ds["window_index"].values
    pieces = tuple(ds["eeg"].values[index == i] for i in range(ds.sizes["window"]))
    starts = tuple(float(ds["time"].values[index == i][0]) for i in range(ds.sizes["window"]))
    windows = tuple(zip(ds["window_start"].values.tolist(), ds["window_end"].values.tolist()))
    return rec.Recording(path=ds.attrs["source_file"], channel=ds.attrs["channel"],
                         sfreq_hz=float(ds.attrs["sfreq_hz"]), windows_s=windows,
                         pieces_mv=pieces, starts_s=starts)


def _feature_vars(prefix: str, values: dict, axes: dict, long: str, extra_dims=()) -> dict:
    out = {}
    for name, value in values.items():
        dims = tuple(extra_dims) + ((FEATURE_DIMS[name],) if axes[name] is not None else ())
        out[f"{prefix}{name}"] = _var(dims, value, spectra.FEATURE_UNITS[name],
                                      f"{spectra.FEATURE_LONG_NAMES[name]}, {long}")
    return out


def _axis_coords(axes: dict) -> dict:
    coords = {}
    for name, labels in axes.items():
        if name == "relative_power":
            coords["band"] = ("band", np.asarray(labels, dtype=str), {"long_name": "band"})
        elif name == "normalised_psd":
            coords["shape_frequency"] = ("shape_frequency", np.asarray(labels, dtype=float),
                                         {"units": "Hz", "long_name": "frequency of the "
                                          "normalised PSD's bins"})
    return coords


def features_dataset(target: dict, *, attrs: dict):
    """The Welch spectra, the target features, their window-level values and spreads."""
    import xarray as xr  # noqa: PLC0415

    axes = target["axes"]
    data = {"psd": _var(("frequency",), target["psd"], "mV^2/Hz",
                        "Welch PSD: mean of the segments' periodograms"),
            "psd_segment": _var(("segment", "frequency"), target["psd_segment"], "mV^2/Hz",
                                "periodogram of each Welch segment"),
            "segment_start": _var(("segment",), target["segment_start_s"], "s",
                                  "recording time of each segment's first sample")}
    data.update(_feature_vars("", target["features"], axes, "of the Welch PSD (the target)"))
    data.update(_feature_vars("window_", target["window_values"], axes, "of each segment",
                              ("segment",)))
    data.update(_feature_vars("spread_", target["spread"], axes,
                              "standard deviation over segments (the noise floor)"))
    coords = {"frequency": ("frequency", target["freqs_hz"], {"units": "Hz",
                                                              "long_name": "frequency"}),
              "segment": ("segment", np.arange(len(target["segment_start_s"])),
                          {"long_name": "Welch segment (window-level values)"}),
              **_axis_coords(axes)}
    return xr.Dataset(data, coords=coords, attrs={**attrs, "n_segments": len(
        target["segment_start_s"])})


def target_from_dataset(config: dict, ds) -> dict:
    """The target dict of :func:`target_features` (what a fit needs) from its NetCDF file."""
    spec = settings(config)["features"]
    freqs = ds["frequency"].values
    return {"freqs_hz": freqs, "features": {k: ds[k].values for k in spec},
            "spread": {k: ds[f"spread_{k}"].values for k in spec},
            "axes": spectra.feature_axes(freqs, spec)}


def fit_extras(config: dict, result: FitResult, target: dict) -> dict:
    """Variables added to a fit's NetCDF: the model PSD and features at the best parameters,
    beside the target's features and noise floor (empty model values if the fit failed)."""
    axes = target["axes"]
    best = {k: float(v) for k, v in result.best_params.items()}
    data = {}
    if all(np.isfinite(v) for v in best.values()):
        model = fitted_model(config, best)
        key = keys(settings(config)["seed"])[1]
        freqs, psd = model_spectrum(config, model, key)
        values = spectra.spectral_features(freqs, psd, settings(config)["features"])
        n = len(target["freqs_hz"])  # same bin spacing; the model's grid runs further up
        data["model_psd"] = _var(("frequency",), np.asarray(psd, float)[:n], "mV^2/Hz",
                                 "Welch PSD of the model at the best parameters")
        data.update(_feature_vars("model_", {k: np.asarray(v, float) for k, v in
                                             values.items()}, axes, "of the fitted model"))
    data.update(_feature_vars("target_", target["features"], axes, "of the recording"))
    data.update(_feature_vars("spread_", target["spread"], axes,
                              "standard deviation over the recording's segments"))
    coords = {"frequency": ("frequency", target["freqs_hz"], {"units": "Hz",
                                                              "long_name": "frequency"}),
              **_axis_coords(axes)}
    return {"data": data, "coords": coords}
