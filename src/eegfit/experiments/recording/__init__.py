"""A column fitted to measured EEG: each file of ``files`` is a target, fitted by the likelihood
of its Welch spectrum (the model's mV and the scalp's µV differ by an unknown gain, profiled out).

Keys of its block (documented in ``config/README.md``)::

    files: {demo: results/recording_demo/demo.edf}   # name -> EDF/BDF/FIF path; one target each
    channels: [O1, O2]          # one name, or several averaged
    units: null                 # V | mV | uV for an EDF/BDF without units in its header
    reference: none             # none | average | [channel, ...]
    filter: {low_hz: 1, high_hz: 45}    # zero-phase FIR band-pass (null: none)
    windows_s: null             # [[start, end], ...] s to keep (null: all)
    accept_truncated: false     # fit an EDF/BDF shorter than its header states (refused otherwise)
    segment_s: 2.0              # Welch segment, s (bins every 1 / segment_s Hz)
    overlap: 0.5
    features: {peak_frequency: {...}, relative_power: {...}, normalised_psd: {...}}
    band_hz: null               # the likelihood's band (null: from the lowest to the highest
                                # frequency the features read)
    aperiodic: null             # {exponent: [0, 4]}: an aperiodic 1/f^chi background, profiled
    model: {params: {}, drive: {kind: white_noise, ...}}
    n_realisations: 16          # the model PSD: the mean over this many independent simulations
    likelihood: {covariance: analytic, pilot_realisations: 320, pilot_grid_points: 9}
                                # estimated: the covariance's excess from a pilot of the model's
                                # realisations (:mod:`covariance_pilot`)
    noise_floor_hz: [40, 45]    # the recording's white floor, read here, added to the model PSD
    demo: {path, truth, sfreq_hz, duration_s, gain_uv_per_mv, noise_uv, seed, channels, dt_ms}

The model is simulated at its own step and its Welch PSD computed with the same segment length
(s), so both spectra lie on the same frequency grid without resampling. The loss is the negative
log likelihood of the recording's log-PSD over ``band_hz`` given the model's
(:mod:`eegfit.signal.likelihood`): a Gaussian whose variance is the recording's Welch sampling
variance plus the model PSD's own Monte Carlo variance (its mean over ``n_realisations``), with
the bins' correlation and the gain profiled out. Twice the best loss is then a chi-square with
about one degree of freedom per bin where the model makes the spectrum: each fit records its
``chi2_per_dof`` and ``fit_p_value``, so a spectrum the model cannot reach shows as a misfit,
not as a wide posterior. With ``aperiodic``, the measured spectrum is the model's plus an
aperiodic background ``A f^-chi`` whose ``A`` and ``chi`` are profiled out at every evaluation
(:mod:`eegfit.observe.spectrum`); the fit records them. With ``likelihood.covariance:
estimated`` the covariance also holds the excess a pilot of the model's own realisations shows
(a noisy limit cycle's wandering peak; :mod:`~eegfit.experiments.recording.pilot`), measured
once in the target's job and kept in the target's file. The ``features`` are what a fit reports
(its history's aux, the figures), not what it fits.
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from eegfit.data import recordings as rec
from eegfit.experiments.recording import demo, npe as recording_npe, pilot as covariance_pilot
from eegfit.experiments.recording import records
from eegfit.experiments.recording.spec import RecordingSpec, check, check_file
from eegfit.experiments.base import (FigureKind, InputKind, Kind, NPEKind, PosteriorKind, Target,
                                     keys, model_trace)
from eegfit.observe import spectrum as observed_spectrum
from eegfit.signal import features as sf
from eegfit.signal import likelihood, spectral


class Recording(Kind, PosteriorKind, NPEKind, InputKind, FigureKind):
    """Parameters of a column fitted to the spectrum of a measured recording."""

    Spec = RecordingSpec
    summary_columns = ("chi2_per_dof", "fit_p_value")
    loss_label = ("negative log likelihood of the spectrum", "1")
    draws = "eegfit.plots.recording:recording_kind_figures"

    def __init__(self, spec: RecordingSpec):
        super().__init__(spec)
        check(spec)
        # the model's frequency grid (that of its Welch PSD) labels the axes the aux reads
        fs_hz = 1e3 / spec.simulation.dt_ms
        n_per_segment = spectral.segment_samples(spec.segment_s, fs_hz)
        freqs = spectral.frequencies(n_per_segment, fs_hz)
        self._aux_axes = sf.feature_axes(freqs, spec.features)
        self.band_hz = spec.band_hz or records.fit_band(spec)
        self._mask = spectral.band_mask(freqs, self.band_hz, f"experiments.{spec.name}.band_hz")
        self._band_freqs = freqs[self._mask]
        if spec.aperiodic is not None and self._band_freqs[0] <= 0:
            raise ValueError(f"config experiments.{spec.name}.band_hz must start above 0 Hz "
                             f"with an aperiodic background (f^-chi at 0 Hz)")
        self._n_per_segment = n_per_segment
        kept = int(round((spec.simulation.duration_ms - spec.simulation.transient_ms) / 1e3
                         * fs_hz))
        per_realisation = len(spectral.segment_starts(kept, n_per_segment, spec.overlap))
        self.model_dof = likelihood.welch_dof([per_realisation] * spec.n_realisations,
                                              n_per_segment, spec.overlap)
        self.realisation_dof = likelihood.welch_dof(per_realisation, n_per_segment, spec.overlap)
        covariance_pilot.check(spec, self.n_bins)
        if spec.npe is not None:
            recording_npe.check(self)

    @property
    def n_bins(self) -> int:
        """Frequency bins the likelihood reads."""
        return int(self._mask.sum())

    @property
    def figure_names(self) -> tuple[str, ...]:
        return tuple(f"{fig}_{name}" for name in self.spec.files for fig in ("psd", "windows"))

    def base_model(self):
        return self.spec.model

    def targets(self) -> list[Target]:
        return demo.file_targets(self.spec)

    def generated_inputs(self) -> dict[str, str]:
        return demo.demo_inputs(self.spec)

    def check_inputs(self) -> None:
        """At planning: each file that exists (its header only) or that the demo makes (its
        channel names) against the channels, windows, segments and rate; a named error."""
        for label, path in self.spec.files.items():
            check_file(self.spec, label, path)

    def make_input(self, what: str, path) -> None:
        signals, sfreq = demo.demo_signals(self)
        rec.write(path, signals, sfreq)

    def aux_units(self) -> dict:
        return {"peak_frequency": "Hz"}

    # ---- the target --------------------------------------------------------------------------
    def make_target(self, target: Target) -> xr.Dataset:
        """The preprocessed channel, its Welch spectra and features (every bad input named)."""
        s = self.spec
        recording = rec.load(s.files[target.label], channels=list(s.channels), units=s.units,
                             reference=s.reference, band_pass=s.filter,
                             windows_s=s.windows_s and [list(w) for w in s.windows_s],
                             max_feature_hz=records.max_feature_hz(s),
                             accept_truncated=s.accept_truncated)
        ds = xr.merge([records.preprocessed_dataset(recording),
                       records.features_dataset(records.target_features(s, recording))],
                      combine_attrs="drop_conflicts")
        if covariance_pilot.estimated(s):  # the pilot, at the analytic likelihood's coarse minimum
            pilot = covariance_pilot.excess_dataset(self, target, self._observed(ds, None))
            ds = xr.merge([ds, pilot], combine_attrs="override")
        return ds

    def depends_also(self, stage: str) -> tuple[str, ...]:
        """A pilot's target depends on the box (its coarse grid)."""
        return ("parameters.bounds",) if stage == "target" and covariance_pilot.estimated(
            self.spec) else ()

    def observed(self, target_ds: xr.Dataset) -> dict:
        return self._observed(target_ds, covariance_pilot.excess_of(self.spec, target_ds))

    def _observed(self, target_ds: xr.Dataset, excess) -> dict:
        freqs = target_ds["frequency"].values
        band = records.band_psd(target_ds, self.band_hz, self.n_bins)
        floor = records.floor_level(self.spec, freqs, target_ds["psd"].values)
        sd = likelihood.log_psd_sd(float(target_ds["psd_dof"]), self.model_dof, 1.0 - floor / band)
        whiten = likelihood.whitening(sd, self._n_per_segment, excess)
        return {"freqs_hz": freqs, "whiten": whiten, "log_psd": whiten @ np.log(band),
                "band_psd": band, "psd_dof": float(target_ds["psd_dof"]),
                "floor_fraction": records.floor_fraction(self.spec, freqs, target_ds["psd"].values),
                "features": {k: target_ds[k].values for k in self.spec.features},
                "spread": {k: target_ds[f"spread_{k}"].values for k in self.spec.features},
                "axes": sf.feature_axes(freqs, self.spec.features)}

    # ---- the model side ------------------------------------------------------------------------
    def model_spectrum(self, model, key, floor_fraction=0.0):
        """``(freqs_hz, mean Welch PSD)`` of the model's EEG on the recording's frequency grid:
        of one simulation with the noise of ``key``, or the mean over ``n_realisations``
        independent ones (keys split from ``key``). Short independent realisations keep the
        loss smooth where one long one does not: the rhythm's phase drifts against a fixed
        noise history over the simulated time, so the loss of one simulation of T seconds
        ripples on a parameter scale of about 1 / (T df/dparam) (README, "Gradients through
        noisy simulations"). With ``noise_floor_hz``, a white floor added so that it is
        ``floor_fraction`` of the mean PSD over the features' band, as in the recording
        (:func:`spectrum_records.floor_fraction`): the recording's measurement noise, which the
        model lacks, would otherwise bias the fit through the bands it lifts."""
        s = self.spec
        fs_hz = 1e3 / s.simulation.dt_ms

        def psd_of(k):
            return self.realisation_psd(model, k)
        freqs = spectral.frequencies(spectral.segment_samples(s.segment_s, fs_hz), fs_hz)
        psd = (psd_of(key) if s.n_realisations == 1 else
               jnp.mean(jax.vmap(psd_of)(jax.random.split(key, s.n_realisations)), axis=0))
        return freqs, records.with_floor(s, freqs, psd, floor_fraction)

    def realisation_psd(self, model, key):
        """The Welch PSD (frequency first, no floor) of one simulation with the noise of
        ``key``."""
        s = self.spec
        eeg = model_trace(self, model, key).observable
        return spectral.welch(eeg, fs_hz=1e3 / s.simulation.dt_ms, segment_s=s.segment_s,
                              overlap=s.overlap, axis=0)[1]

    def model_features(self, model, key, floor_fraction=0.0) -> dict:
        freqs, psd = self.model_spectrum(model, key, floor_fraction)
        return sf.spectral_features(freqs, psd, self.spec.features, axis=0)

    def fit_data(self, observed: dict, seed: int) -> dict:
        """The target's whitened log-PSD and its whitening (the likelihood), its floor, and the
        fit key of ``seed``."""
        dtype = jnp.result_type(float)
        return {"log_psd": jnp.asarray(observed["log_psd"], dtype),
                "whiten": jnp.asarray(observed["whiten"], dtype), "key": keys(seed)[1],
                "floor_fraction": jnp.asarray(observed["floor_fraction"], dtype)}

    def observed_band(self, psd, whiten, log_psd):
        """The measured spectrum the model predicts on the likelihood's bins: its PSD (the
        floor included), plus the profiled aperiodic background where the block has one; and
        that background's ``(log A, chi)`` (None without)."""
        band = jnp.asarray(psd)[self._mask]
        if self.spec.aperiodic is None:
            return band, None
        total, log_a, chi = observed_spectrum.profile_aperiodic(
            band, self._band_freqs, whiten, log_psd, self.spec.aperiodic)
        return total, (log_a, chi)

    def loss(self, model, fit_data):
        """The negative log likelihood of the recording's spectrum given the model's (module
        docstring), with the fit's drive noise (its fit key) at every evaluation."""
        freqs, psd = self.model_spectrum(model, fit_data["key"], fit_data["floor_fraction"])
        band, background = self.observed_band(psd, fit_data["whiten"], fit_data["log_psd"])
        nll = likelihood.negative_log_likelihood(band, np.ones(self.n_bins, bool),
                                                 fit_data["whiten"], fit_data["log_psd"])
        aux = records.aux_of(sf.spectral_features(freqs, psd, self.spec.features, axis=0),
                          self._aux_axes)
        if background is not None:
            aux["aperiodic_exponent"] = background[1]
        return nll, aux

    # ---- posteriors: the likelihood's whitened log-PSD, one entry per degree of freedom -------
    def simulate_features(self, values: dict, context) -> dict:
        """The model's whitened log-PSD at ``values`` (a batch: one simulation), one entry per
        row of the target's whitening; ``context`` is ``(key, floor_fraction, whitening,
        whitened target)`` as
        :meth:`posterior_context` gives them. With the observed entries and a scale of 1, the
        Gaussian of :mod:`eegfit.infer` is the fit's likelihood."""
        key, floor, whiten, log_psd = context
        _, psd = self.model_spectrum(self.model_at(values), key, floor)
        band, _ = self.observed_band(psd, whiten, log_psd)
        entries = likelihood.whitened_log_psd(band, np.ones(self.n_bins, bool), whiten)
        return {f"log_psd_w[{i}]": entries[i] for i in range(entries.shape[0])}

    def posterior_context(self, observed, seed: int):
        dtype = jnp.result_type(float)
        return (keys(seed)[1], jnp.asarray(observed["floor_fraction"], dtype),
                jnp.asarray(observed["whiten"], dtype), jnp.asarray(observed["log_psd"], dtype))

    def posterior_observed(self, observed) -> dict:
        if "log_psd" not in observed:
            return observed
        return {f"log_psd_w[{i}]": v for i, v in enumerate(np.asarray(observed["log_psd"]))}

    def posterior_scale(self, observed) -> dict | None:
        """1 for every whitened entry (the whitening holds the log-PSD's sampling sd)."""
        if "whiten" not in observed:
            return None
        return {k: 1.0 for k in self.posterior_observed(observed)}

    # ---- amortized posteriors: noisy simulations, the gain-free whitened log-PSD --------------
    npe_drive_noise = True
    npe_max_batch = 256

    def npe_features(self, values: dict, key) -> dict:
        return recording_npe.features(self, values, key)

    def npe_observed(self, observed) -> dict:
        return recording_npe.observed(self, observed)

    def npe_noise(self):
        return recording_npe.noise(self)

    def npe_conditions(self) -> dict:
        return recording_npe.conditions(self)

    def fit_extras(self, target: Target, observed, result) -> dict:
        out = super().fit_extras(target, observed, result)
        out.update(records.fit_vars(self, target, observed, result))
        return out

