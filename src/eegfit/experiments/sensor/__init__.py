"""Sensor-space EEG: a network of Jansen-Rit columns on tvb-data's 76-region connectome, projected
through its region lead field, fitted to every channel of a recording at once.

Its own kind (not a block of ``recording``): the model is a network, not a column; a target is a
montage of channels, not one; the loss is the channel likelihood (:mod:`eegfit.signal.sensor`,
one gain for the montage), not the single-channel one with its aperiodic background and NPE.
Keys of its block (read and checked by :mod:`eegfit.experiments.sensor.spec`, documented in
``config/README.md``)::

    files: {S001R01: data/S001R01.edf}  # name -> EDF/BDF/FIF; one target each
    channels: null              # null: every channel the file shares with the lead field
    groups: {}                  # name -> channels, for the figures ({}: by name prefix)
    units: null                 # V | mV | uV for a file without units in its header
    filter: {low_hz: 1, high_hz: 45}
    segment_s: 1.0              # Welch segment, s (the recording's and the model's)
    overlap: 0.5
    band_hz: [2, 40]            # the likelihood's band
    alpha_hz: [8, 13]           # the band of the topographic maps and the sensor FC
    gain: common                # common (one gain for the montage) | per_channel
    aperiodic: null             # {exponent: [0, 4]}: a background A_c f^-chi, profiled
    lead_field: {model: surface, how: sum, drop: [IO1, IO2], head_radius_mm: null}
    connectome: {symmetrise: false, delays: true, speed_m_s: 10, delay_mode: interpolate}
    model: {params: {}, drive: {low_hz: 50, high_hz: 150, interval_ms: 5}}
    n_realisations: 1           # the model PSD: mean over this many simulations
    profile: {n_points: 7, n_keys: 4}   # each fit's identifiability check (n_points: 0, off)
    demo: {path, truth, sfreq_hz, duration_s, gain_uv_per_mv, noise_uv, seed, dt_ms, channels}
    fc: null                    # {measure: envelope, band_hz: [8, 13], groups: all,
                                #  weight: 1000}: the sensor FC in the loss
    likelihood: {pilot_realisations: 16, pilot_grid_points: 9}  # the posterior's pilot

With ``fc``, the loss adds ``weight`` times the RMSE of the Fisher z of the channels' FC in
``band_hz`` (``measure``: amplitude-envelope correlation, magnitude-squared or imaginary
coherence: :func:`eegfit.signal.fc.band_fc`) over the pairs within and between the channel
``groups`` named (``all``: every pair), the model's (the same simulation as its spectra) against
the recording's: a weighted misfit, not a likelihood (the channel pairs are far from independent,
and their envelope correlations' spread depends on the envelopes' correlation time).

With ``aperiodic`` (the recording kind's key), channel ``c`` measures ``g (S_c + A_c f^-chi)``:
the network's PSD through the lead field plus an aperiodic background with **one offset per
channel** and **one exponent for the montage**, profiled out with the gain at every evaluation
(:func:`eegfit.observe.spectrum.profile_aperiodic_channels`); each fit records them.

Fitted fields: ``k`` (coupling), ``speed_m_s`` (with ``connectome.delays``), ``drive.low_hz``,
``drive.high_hz`` and ``node.<field>``. The network's regions' observable (y1 - y2, mV) is
projected through the lead field rows of the target's channels with an average reference over
exactly those channels (:func:`eegfit.observe.leadfield.project`), the recording's reference
(:func:`eegfit.data.recordings.sensor.load`). The model is simulated at its own step and both
Welch PSDs use ``segment_s``, so they share the bin spacing.

With a ``posterior:`` block (grid or NUTS), each target's job makes a pilot of the model's
realisations over the box and the posterior is a Gaussian synthetic likelihood of a few summaries
of the channel likelihood's entries, its covariance measured
(:mod:`eegfit.experiments.sensor.score`): the channel likelihood itself is far too sharp along
the parameters and ripples from one value to the next. The fits' loss is unchanged.

Each fit records, beyond the runner's: the model PSD per channel, alpha power and envelope FC
at the best parameters; goodness of fit (``chi2_per_dof``, ``fit_p_value``, the channels
counted as independent); and an **identifiability check** (:func:`eegfit.experiments.sensor.identifiability.profile_vars`):
the loss along each parameter's box (the others at the fit), the loss's seed-to-seed spread at
the fit (``loss_seed_sd``, over ``n_keys`` other noise keys), and the values whose loss lies
within 2 ``loss_seed_sd`` of the best (``consistent_low_<p>``, ``consistent_high_<p>``). A
parameter is ``identified_<p>`` when that set spans at most half the box: a fit that missed
the truth within it is not a failure of the fit but a parameter the data do not pin down.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from eegfit.data import recordings as rec
from eegfit.experiments import recording
from eegfit.experiments.recording import demo
from eegfit.experiments.recording.demo import demo_inputs, file_targets
from eegfit.experiments.sensor import records, score
from eegfit.experiments.sensor import spec as sensor_spec
from eegfit.experiments.base import FigureKind, InputKind, Kind, PosteriorKind, Target, keys
from eegfit.experiments.network import delay_args
from eegfit.experiments.sensor.spec import SensorSpec
from eegfit.experiments.recording.records import band_psd
from eegfit.models.network import NodeNoiseDrive, coupled
from eegfit.observe import spectrum as observed_spectrum
from eegfit.observe.leadfield import project
from eegfit.signal import likelihood, sensor, spectral
from eegfit.signal.fc import band_fc, fisher_z_rmse
from eegfit.simulate import simulate


class Sensor(Kind, PosteriorKind, InputKind, FigureKind):
    """Network parameters fitted to the channel spectra of an EEG recording."""

    Spec = SensorSpec
    noisy = True
    summary_columns = ("chi2_per_dof", "fit_p_value", "loss_seed_sd", "target_alpha_peak_hz",
                       "model_alpha_peak_hz", "network_alpha_peak_hz", "aperiodic_exponent")
    loss_label = ("negative log likelihood of the channel spectra", "1")
    draws = "eegfit.plots.sensor:sensor_kind_figures"

    def __init__(self, spec: SensorSpec):
        where = f"config experiments.{spec.name}"
        self._base = None
        self.lf, self.conn = sensor_spec.check_forward_model(spec)
        for name in spec.names:
            if name == "speed_m_s" and not spec.connectome["delays"]:
                raise ValueError(f"{where}.parameters.speed_m_s needs {where}.connectome.delays:"
                                 f" true")
        super().__init__(spec)
        recording.check(spec)  # band_hz in the filter, overlap, dt_ms, segments, demo
        sim = spec.simulation
        fs_hz = 1e3 / sim.dt_ms
        f = spec.filter or {}
        bands = [("alpha_hz", spec.alpha_hz)] + ([("fc.band_hz", spec.fc["band_hz"])]
                                                 if spec.fc else [])
        for key, (low, high) in bands:
            if (f.get("low_hz") is not None and low < f["low_hz"]) or (
                    f.get("high_hz") is not None and high > f["high_hz"]) or low <= 0 or (
                    high >= fs_hz / 2):
                raise ValueError(f"{where}.{key} {[low, high]} Hz must lie above 0 Hz, inside "
                                 f"the band-pass filter {where}.filter "
                                 f"{[f.get('low_hz'), f.get('high_hz')]} and below the model's "
                                 f"Nyquist frequency ({fs_hz / 2:g} Hz)")
        if spec.fc:
            self.summary_columns = (*self.summary_columns, "fc_misfit")
        self._n_per_segment = spectral.segment_samples(spec.segment_s, fs_hz)
        self.freqs_hz = spectral.frequencies(self._n_per_segment, fs_hz)
        self._mask = spectral.band_mask(self.freqs_hz, spec.band_hz, f"{where}.band_hz")
        if spec.fc and spec.fc["measure"] != "envelope":  # coherence: a Welch bin in the band
            spectral.band_mask(self.freqs_hz, spec.fc["band_hz"], f"{where}.fc.band_hz")
        self._band_freqs = self.freqs_hz[self._mask]
        if spec.aperiodic is not None and self._band_freqs[0] <= 0:
            raise ValueError(f"{where}.band_hz must start above 0 Hz with an aperiodic "
                             f"background (f^-chi at 0 Hz), got {list(spec.band_hz)}")
        kept = int(round((sim.duration_ms - sim.transient_ms) / 1e3 * fs_hz))
        per = len(spectral.segment_starts(kept, self._n_per_segment, spec.overlap))
        self.model_dof = likelihood.welch_dof([per] * spec.n_realisations, self._n_per_segment,
                                              spec.overlap)
        self.realisation_dof = likelihood.welch_dof(per, self._n_per_segment, spec.overlap)
        if spec.posterior is not None and len(spec.names) == 1 and (
                spec.posterior.verdict_points > 0):
            raise ValueError(f"{where}.posterior.verdict_points must be 0 for the sensor kind "
                             f"(a verdict over the box needs targets simulated without a "
                             f"recording; the posterior of each recording is made)")
        if spec.demo and spec.demo["channels"] is not None:
            from eegfit.data import montage  # noqa: PLC0415

            montage.match(spec.demo["channels"], self.lf.electrodes, self.lf.aliases,
                          key=f"{where}.demo.channels")

    @property
    def n_bins(self) -> int:
        return int(self._mask.sum())

    @property
    def figure_names(self) -> tuple[str, ...]:
        return tuple(f"{fig}_{name}" for name in self.spec.files
                     for fig in ("sensor_spectra", "sensor_topomap", "sensor_fc"))

    # ---- the model ---------------------------------------------------------------------------
    def base_model(self):
        if self._base is None:
            s, c = self.spec, self.spec.connectome
            n = len(self.conn.weights)
            drive = NodeNoiseDrive(n_nodes=n, **s.drive)
            delays = delay_args(s.name, c, s.parameters, self.conn.lengths_mm)
            self._base = coupled(s.column, self.conn.weights, drive=drive, **delays)
        return self._base

    def targets(self) -> list[Target]:
        return file_targets(self.spec)

    def generated_inputs(self) -> dict[str, str]:
        return demo_inputs(self.spec)

    def check_inputs(self) -> None:
        for label, path in self.spec.files.items():
            sensor_spec.check_file(self.spec, self.lf, label, path)

    def make_input(self, what: str, path) -> None:
        signals, sfreq = demo.demo_signals(self, sources=self.demo_sources)
        rec.write(path, signals, sfreq)

    def demo_sources(self, observable) -> tuple[np.ndarray, dict]:
        """The demo's channels before decimation: the regions' ``observable`` ``(time,
        regions)`` through the lead field rows of ``demo.channels`` (null: every electrode),
        with no reference (a recording has its own; the target re-references), ``(channels,
        time)``; each channel its own row, weight 1
        (:func:`eegfit.experiments.recording.demo.demo_signals`)."""
        from eegfit.data import montage  # noqa: PLC0415

        channels = self.spec.demo["channels"]
        lf = self.lf if channels is None else self.lf.take(montage.match(
            channels, self.lf.electrodes, self.lf.aliases))
        rows = np.asarray(project(observable, lf.gain, reference="none"), float).T
        return rows, {e: (i, 1.0) for i, e in enumerate(lf.electrodes)}

    def sensor_signal(self, model, key, gain) -> jax.Array:
        """The model's channels ``(time, channels)``: its regions through ``gain``, average
        reference over those channels."""
        eeg = simulate(model, key=key, **self.spec.simulation.kwargs()).observable
        return project(eeg, gain)

    def signal_psd(self, signal) -> jax.Array:
        """The Welch PSD ``(frequency, channels)`` of the model's channels ``(time, channels)``."""
        return spectral.welch(signal, fs_hz=1e3 / self.spec.simulation.dt_ms,
                              segment_s=self.spec.segment_s, overlap=self.spec.overlap, axis=0)[1]

    def model_psd(self, model, key, gain) -> jax.Array:
        """The model's Welch PSD ``(frequency, channels)``: one simulation with the noise of
        ``key``, or the mean over ``n_realisations`` (keys split from ``key``)."""
        def psd_of(k):
            return self.signal_psd(self.sensor_signal(model, k, gain))
        if self.spec.n_realisations == 1:
            return psd_of(key)
        return jnp.mean(jax.vmap(psd_of)(jax.random.split(key, self.spec.n_realisations)),
                        axis=0)

    # ---- the target --------------------------------------------------------------------------
    def make_target(self, target: Target) -> xr.Dataset:
        from eegfit.data.recordings import sensor as sensor_recording  # noqa: PLC0415

        s = self.spec
        recording = sensor_recording.load(s.files[target.label], self.lf, channels=s.channels,
                                          units=s.units, band_pass=s.filter)
        ds = records.target_dataset(s, recording, sensor_spec.groups_of(recording.channels,
                                                                          s.groups))
        if score.on(s):  # the posterior's pilot (:mod:`score`)
            ds = xr.merge([ds, score.dataset(self, target, self._observed(ds))],
                          combine_attrs="override")
        return ds

    def depends_also(self, stage: str) -> tuple[str, ...]:
        """A pilot's target depends on the box (its coarse grid)."""
        return ("parameters.bounds",) if stage == "target" and score.on(self.spec) else ()

    def observed(self, target_ds: xr.Dataset) -> dict:
        out = self._observed(target_ds)
        return out | score.observed_score(self, target_ds, out)

    def _observed(self, target_ds: xr.Dataset) -> dict:
        from eegfit.data import montage  # noqa: PLC0415

        channels = [str(c) for c in target_ds["channel"].values]
        lf = self.lf.take(montage.match(channels, self.lf.electrodes, self.lf.aliases))
        freqs = target_ds["frequency"].values
        band = band_psd(target_ds, self.spec.band_hz, self.n_bins)
        sd = likelihood.log_psd_sd(float(target_ds["psd_dof"]), self.model_dof)
        out = {"gain": lf.gain, "channels": channels, "freqs_hz": freqs,
               "log_psd": np.log(band), "decorrelate": likelihood.decorrelation(
                   np.full(self.n_bins, sd), self._n_per_segment), "target_ds": target_ds,
               "sd": float(sd)}
        if self.spec.fc:  # the target records the configured FC and its pairs
            out["target_fc"] = target_ds["fc"].values
            out["fc_pairs"] = target_ds["fc_pairs"].values
        return out

    def fit_data(self, observed: dict, seed: int) -> dict:
        dtype = jnp.result_type(float)
        names = ("gain", "log_psd", "decorrelate") + (("target_fc", "fc_pairs") if self.spec.fc
                                                       else ())
        return {k: jnp.asarray(observed[k], dtype) for k in names} | {"key": keys(seed)[1]}

    def aux_units(self) -> dict:
        return {"peak_frequency": "Hz"} | ({"fc_misfit": "1"} if self.spec.fc else {})

    def observed_band(self, psd, decorrelate, log_psd):
        """The measured spectra the model predicts on the likelihood's bins ``(bins,
        channels)``: its channel PSDs, plus the profiled background where the block has one; and
        that background's ``(log A_c, chi, log gain)`` (None without)."""
        band = jnp.asarray(psd)[self._mask]
        if self.spec.aperiodic is None:
            return band, None
        total, *background = observed_spectrum.profile_aperiodic_channels(
            band, self._band_freqs, decorrelate, log_psd, self.spec.aperiodic, self.spec.gain)
        return total, tuple(background)

    def loss(self, model, data):
        """The channel likelihood of the target's log-PSDs given the model's (plus the profiled
        background with ``aperiodic``); aux: the peak frequency (6-14 Hz) of the model's mean
        channel PSD, and the background's exponent."""
        if self.spec.fc:  # one simulation: its PSD and its FC
            signal = self.sensor_signal(model, data["key"], data["gain"])
            psd = self.signal_psd(signal) if self.spec.n_realisations == 1 else self.model_psd(
                model, data["key"], data["gain"])
        else:
            psd = self.model_psd(model, data["key"], data["gain"])
        band, background = self.observed_band(psd, data["decorrelate"], data["log_psd"])
        nll = sensor.negative_log_likelihood(band, np.ones(self.n_bins, bool),
                                             data["decorrelate"], data["log_psd"],
                                             self.spec.gain)
        peak = spectral.peak_frequency(self.freqs_hz, jnp.mean(psd, axis=1), band_hz=(6.0, 14.0))
        aux = {"peak_frequency": peak}
        if background is not None:
            aux["aperiodic_exponent"] = background[1]
        if self.spec.fc:
            misfit = self.fc_misfit(signal, data["target_fc"], data["fc_pairs"])
            aux["fc_misfit"] = misfit
            nll = nll + self.spec.fc["weight"] * misfit
        return nll, aux

    # ---- posteriors: summaries of the channel likelihood's entries, a pilot's (:mod:`score`) ---
    def entries(self, model, key, gain, decorrelate, log_psd) -> jax.Array:
        """The model's whitened gain-free entries (:func:`eegfit.signal.sensor.whitened_entries`)
        with the noise of ``key``, its background profiled against the target where the block
        has one."""
        band, _ = self.observed_band(self.model_psd(model, key, gain), decorrelate, log_psd)
        return sensor.whitened_entries(sensor.band_log_psd(band, np.ones(self.n_bins, bool)),
                                       decorrelate, self.spec.gain)

    def entries_context(self, observed) -> tuple:
        """``(gain, decorrelate, log_psd)`` of a target, as :meth:`entries` takes them."""
        dtype = jnp.result_type(float)
        return tuple(jnp.asarray(observed[k], dtype) for k in ("gain", "decorrelate", "log_psd"))

    def target_entries(self, observed) -> np.ndarray:
        return np.asarray(sensor.whitened_entries(observed["log_psd"], observed["decorrelate"],
                                                  self.spec.gain), float)

    def simulate_features(self, values: dict, context) -> dict:
        """The whitened score the pilot's table predicts at ``values`` (name -> array; a batch
        broadcasts), named ``score_w[j]``; ``context`` is ``(table, low, step, L^-1)``
        (:func:`~eegfit.experiments.sensor.score.predicted`: no simulation)."""
        table, low, step, whiten = context
        nodes = jnp.stack([(jnp.asarray(values[n], low.dtype) - low[i]) / step[i]
                           for i, n in enumerate(self.spec.names)])
        u = score.predicted((table, whiten), nodes)
        return {f"score_w[{j}]": u[j] for j in range(u.shape[0])}

    def posterior_context(self, observed, seed: int):
        del seed  # the pilot's keys are the target's seed's
        dtype = jnp.result_type(float)
        return tuple(jnp.asarray(observed[k], dtype) for k in ("score_table", "score_low",
                                                                "score_step", "score_whiten"))

    def posterior_observed(self, observed) -> dict:
        return {f"score_w[{j}]": float(v) for j, v in enumerate(observed["score_w"])}

    def posterior_scale(self, observed) -> dict:
        """1 for every entry: the whitening holds the score's measured covariance."""
        return {k: 1.0 for k in self.posterior_observed(observed)}

    def model_fc(self, signal) -> jax.Array:
        """The sensor FC ``fc.measure`` in ``fc.band_hz`` of the model's channels ``(time,
        channels)``, Welch segments as its spectra's."""
        fc, s = self.spec.fc, self.spec
        return band_fc(signal, 1e3 / s.simulation.dt_ms, fc["band_hz"], fc["measure"],
                       segment_s=s.segment_s, overlap=s.overlap)

    def fc_misfit(self, signal, target_fc, pairs) -> jax.Array:
        """The RMSE of the Fisher z of the model's sensor FC (:meth:`model_fc`) against the
        target's over ``pairs`` (the mask of ``fc.groups``): the loss adds it times
        ``fc.weight`` (a weighted misfit, not a likelihood: the module doc)."""
        return fisher_z_rmse(self.model_fc(signal), target_fc, pairs)

    def fit_extras(self, target: Target, observed, result) -> dict:
        out = super().fit_extras(target, observed, result)
        out.update(records.fit_vars(self, target, observed, result))
        return out

    def figure_targets(self) -> list[Target]:
        """One seed's target per file: the figures show each file against its fits."""
        first = {}
        for t in self.targets():
            first.setdefault(t.label, t)
        return list(first.values())

