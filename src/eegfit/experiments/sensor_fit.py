"""The sensor kind's demo recording and what a fit records beyond the runner: the model's channel
spectra, alpha power and envelope FC at the best parameters, the goodness of fit and the
identifiability check (:mod:`eegfit.experiments.sensor`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from eegfit.experiments import sensor_data as sdata
from eegfit.experiments.base import as_float, keys
from eegfit.io import variable
from eegfit.observe.leadfield import project
from eegfit.signal import spectral
from eegfit.simulate import simulate

PROFILE_STREAM = 7
"""Folded into a fit key for the other noise keys of the loss's seed-to-seed spread."""
PEAK_BAND_HZ = (6.0, 14.0)


def demo_signals(kind) -> tuple[dict, float]:
    """Channels (electrode -> mV) of a synthetic recording at ``demo.truth``: the network
    simulated at ``demo.dt_ms`` (default: the simulation's step) for ``demo.duration_s`` after
    the transient, its regions projected through the lead field with no reference (a recording
    has its own; the target re-references), decimated to ``demo.sfreq_hz`` (MNE's anti-aliased
    resampling), scaled by ``demo.gain_uv_per_mv`` and given white noise of ``demo.noise_uv``
    (RMS, µV) per channel."""
    import mne  # noqa: PLC0415

    from eegfit.data import montage  # noqa: PLC0415

    demo, sim = kind.spec.demo, kind.spec.simulation.kwargs()
    sim["duration_ms"] = sim["transient_ms"] + 1e3 * float(demo["duration_s"])
    sim.pop("grad_horizon_ms", None)
    sim.pop("checkpoint", None)
    sim["dt_ms"] = float(demo.get("dt_ms") or sim["dt_ms"])
    ratio = (1e3 / sim["dt_ms"]) / float(demo["sfreq_hz"])
    if abs(ratio - round(ratio)) > 1e-9:
        raise ValueError(f"config experiments.{kind.spec.name}.demo.sfreq_hz "
                         f"({demo['sfreq_hz']:g}) must divide the model's rate 1000 / dt_ms "
                         f"({1e3 / sim['dt_ms']:g} Hz)")
    lf = kind.lf if demo["channels"] is None else kind.lf.take(montage.match(
        demo["channels"], kind.lf.electrodes, kind.lf.aliases))
    model = kind.model_at({n: as_float(v) for n, v in demo["truth"].items()})
    eeg = simulate(model, key=keys(int(demo["seed"]))[0], **sim).observable
    channels = np.asarray(project(eeg, lf.gain, reference="none"), float).T
    if not np.all(np.isfinite(channels)):
        raise FloatingPointError(f"experiment {kind.spec.name}: the demo network diverged at "
                                 f"{demo['truth']}; lower simulation.dt_ms")
    decimated = mne.filter.resample(channels, down=float(round(ratio)), axis=1, verbose="error")
    rng = np.random.default_rng(int(demo["seed"]))
    gain_mv, noise_mv = float(demo["gain_uv_per_mv"]) * 1e-3, float(demo["noise_uv"]) * 1e-3
    noisy = gain_mv * decimated + noise_mv * rng.standard_normal(decimated.shape)
    return dict(zip(lf.electrodes, noisy)), float(demo["sfreq_hz"])


def peak_hz(freqs_hz, psd) -> float:
    """The soft peak frequency (6-14 Hz) of the channels' mean PSD ``(frequency, channels)``."""
    return float(spectral.peak_frequency(np.asarray(freqs_hz), jnp.mean(jnp.asarray(psd), axis=1),
                                         band_hz=PEAK_BAND_HZ))


def goodness(kind, loss: float, n_channels: int) -> tuple[float, float]:
    """``(chi2 / dof, p)`` of a best loss: ``2 loss`` against a chi-square on the entries
    (bins x channels) less the gains and the background (an offset per channel, one exponent)
    profiled and the parameters fitted, the channels counted as independent (they are not:
    volume conduction; README)."""
    if not np.isfinite(loss):
        return np.nan, np.nan
    gains = 1 if kind.spec.gain == "common" else n_channels
    background = 0 if kind.spec.aperiodic is None else n_channels + 1
    dof = max(kind.n_bins * n_channels - gains - background - len(kind.spec.parameters), 1)
    return 2.0 * loss / dof, float(stats.chi2.sf(2.0 * loss, dof))


def fit_vars(kind, target, observed: dict, result) -> dict:
    """The model at the best parameters (PSD per channel, alpha power, envelope FC, peak), the
    goodness of fit, the target's peak and the identifiability check."""
    spec, tds = kind.spec, observed["target_ds"]
    freqs_t = np.asarray(observed["freqs_hz"], float)
    out = {"target_alpha_peak_hz": variable((), peak_hz(freqs_t, tds["psd"].values), "Hz",
                                        "peak frequency (6-14 Hz) of the recording's channel-"
                                        "mean PSD")}
    best = {k: float(v) for k, v in result.best_params.items()}
    loss = float(result.best_loss)
    chi2_dof, p_value = goodness(kind, loss, len(observed["channels"]))
    out["chi2_per_dof"] = variable((), chi2_dof, "1", "twice the best loss over the entries' degrees "
                               "of freedom (channels counted as independent)")
    out["fit_p_value"] = variable((), p_value, "1", "chi-square p-value of the best fit (channels "
                              "counted as independent: too small where they are correlated)")
    out["coords"] = {"frequency": ("frequency", freqs_t, {"units": "Hz", "long_name": "frequency"}),
                     "channel": ("channel", np.asarray(observed["channels"], dtype=str),
                                 {"long_name": "electrode"}),
                     "channel_b": ("channel_b", np.asarray(observed["channels"], dtype=str),
                                   {"long_name": "electrode"})}
    if not all(np.isfinite(v) for v in best.values()):
        out["model_alpha_peak_hz"] = variable((), np.nan, "Hz", "no finite fit")
        return out
    model = kind.model_at({k: as_float(v) for k, v in best.items()})
    gain = jnp.asarray(observed["gain"], jnp.result_type(float))
    fit_key = keys(target.seed)[1]
    psd = np.asarray(kind.model_psd(model, fit_key, gain), float)
    n = len(freqs_t)  # same bin spacing; the model's grid runs further up
    if kind.spec.aperiodic is not None:
        background, background_vars = aperiodic_vars(kind, observed, psd, n)
        out.update(background_vars)
        out["model_network_psd"] = variable(("frequency", "channel"), psd[:n], "mV2/Hz (a.u.)",
                                        "Welch PSD of the network's channels at the best "
                                        "parameters, without the background")
        out["network_alpha_peak_hz"] = variable((), peak_hz(kind.freqs_hz, psd), "Hz", "peak "
                                            "frequency (6-14 Hz) of the network's channel-mean "
                                            "PSD, without the background")
        psd = psd + background  # what the likelihood compares with the recording
    signal = np.asarray(kind.sensor_signal(model, fit_key, gain), float).T
    fs_hz = 1e3 / spec.simulation.dt_ms
    out.update({
        "model_psd": variable(("frequency", "channel"), psd[:n], "mV2/Hz (a.u.)", "Welch PSD of the "
                          "model's channels at the best parameters (lead field units), plus the "
                          "aperiodic background where the fit has one"),
        "model_alpha_power": variable(("channel",), sdata.relative_band_power(
            kind.freqs_hz, psd, spec.alpha_hz, spec.band_hz), "1",
            f"model's power in {list(spec.alpha_hz)} Hz over {list(spec.band_hz)} Hz"),
        "model_fc": variable(("channel", "channel_b"), sdata.envelope_fc(signal, fs_hz,
                                                                      spec.alpha_hz), "1",
                         f"model's amplitude-envelope correlation in {list(spec.alpha_hz)} Hz"),
        "model_alpha_peak_hz": variable((), peak_hz(kind.freqs_hz, psd), "Hz",
                                    "peak frequency (6-14 Hz) of the model's channel-mean PSD")})
    profile = profile_vars(kind, target, observed, best, loss)
    out["coords"].update(profile.pop("coords", {}))
    out.update(profile)
    return out


def aperiodic_vars(kind, observed: dict, psd, n: int) -> tuple[np.ndarray, dict]:
    """The profiled background at the best parameters (``psd`` the network's channel PSDs on
    the model's grid): ``A_c f^-chi`` on that grid (0 at 0 Hz, where it is not defined) and its
    exponent, its offset per channel in the recording's units (specparam's ``log10(g A_c)``) and
    its PSD on the first ``n`` bins."""
    dtype = jnp.result_type(float)
    _, (log_a, chi, log_gain) = kind.observed_band(
        jnp.asarray(psd, dtype), jnp.asarray(observed["decorrelate"], dtype),
        jnp.asarray(observed["log_psd"], dtype))
    log_a, chi = np.asarray(log_a, float), float(chi)
    f = np.asarray(kind.freqs_hz, float)[:, None]
    background = np.where(f > 0, np.exp(log_a) * np.where(f > 0, f, 1.0) ** -chi, 0.0)
    offset = (log_a + np.asarray(log_gain, float)) / np.log(10.0)
    return background, {
        "aperiodic_exponent": variable((), chi, "1", "exponent chi of the profiled aperiodic "
                                   "background A_c f^-chi (one for the montage)"),
        "aperiodic_offset": variable(("channel",), offset, "log10(mV2/Hz)", "offset log10(g A_c) "
                                 "of each channel's aperiodic background (specparam's), the "
                                 "recording's units"),
        "model_aperiodic_psd": variable(("frequency", "channel"), background[:n], "mV2/Hz (a.u.)",
                                    "the profiled aperiodic background of each channel, lead "
                                    "field units")}


def profile_vars(kind, target, observed: dict, best: dict, best_loss: float) -> dict:
    """The identifiability check (module doc of :mod:`eegfit.experiments.sensor`): the loss's
    spread over ``profile.n_keys`` noise keys at the fit, and each parameter's loss along its
    box with the others at the fit (the fit's own key), the values within two spreads of the
    lowest, and whether they span at most half the box."""
    n_points, n_keys = kind.spec.profile["n_points"], kind.spec.profile["n_keys"]
    if n_points == 0:
        return {}
    data = kind.fit_data(observed, target.seed)

    @jax.jit
    def losses(values, key):
        return jax.vmap(lambda v: kind.loss(kind.model_at(v), {**data, "key": key})[0])(values)

    at_best = {k: as_float(v) for k, v in best.items()}
    other = jax.random.split(jax.random.fold_in(data["key"], PROFILE_STREAM), n_keys)
    spread = jax.jit(jax.vmap(lambda k: kind.loss(kind.model_at(at_best), {**data, "key": k})[0]))
    seed_losses = np.asarray(spread(other), float)
    sd = float(np.std(seed_losses, ddof=1))
    out = {"loss_seed_sd": variable((), sd, "1", f"sd of the loss at the best parameters over "
                                f"{n_keys} other noise keys: its seed-to-seed spread")}
    for p in kind.spec.parameters:
        grid = np.linspace(*p.bounds, n_points)
        values = {k: jnp.full(n_points, v, jnp.result_type(float)) for k, v in best.items()}
        values[p.name] = jnp.asarray(grid, jnp.result_type(float))
        prof = np.asarray(losses(values, data["key"]), float)
        lowest = np.nanmin(np.append(prof, best_loss))
        inside = np.append(grid[prof <= lowest + 2.0 * sd], best[p.name])
        low, high = float(inside.min()), float(inside.max())
        width = p.bounds[1] - p.bounds[0]
        unit = kind.units()[p.name]
        out[f"profile_{p.name}"] = variable((f"profile_point_{p.name}",), prof, "1",
                                        f"loss along {p.name}'s box, the others at the fit")
        out["coords"] = {**out.get("coords", {}), f"profile_point_{p.name}": (
            f"profile_point_{p.name}", grid, {"units": unit, "long_name": f"{p.name} of the "
                                              f"profile's points"})}
        out[f"consistent_low_{p.name}"] = variable((), low, unit, f"lowest {p.name} whose loss is "
                                               f"within 2 loss_seed_sd of the best")
        out[f"consistent_high_{p.name}"] = variable((), high, unit, f"highest {p.name} whose loss "
                                                f"is within 2 loss_seed_sd of the best")
        out[f"identified_{p.name}"] = variable((), int(high - low <= 0.5 * width), "1",
                                           f"1: the values consistent with the data span at "
                                           f"most half of {p.name}'s box")
    return out


__all__ = ["aperiodic_vars", "demo_signals", "fit_vars", "goodness", "peak_hz", "profile_vars"]
