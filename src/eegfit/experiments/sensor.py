"""Sensor-space EEG: a network of Jansen-Rit columns on tvb-data's 76-region connectome, projected
through its region lead field, fitted to every channel of a recording at once.

Its own kind (not a block of ``recording``): the model is a network, not a column; a target is a
montage of channels, not one; the loss is the channel likelihood (:mod:`eegfit.signal.sensor`,
one gain for the montage), not the single-channel one with its aperiodic background and NPE.
Keys of its block (documented in ``config/README.md``)::

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
    lead_field: {how: sum, drop: [IO1, IO2]}
    connectome: {symmetrise: false, delays: true, speed_m_s: 10, delay_mode: interpolate}
    model: {params: {}, drive: {low_hz: 50, high_hz: 150, interval_ms: 5}}
    n_realisations: 1           # the model PSD: mean over this many simulations
    profile: {n_points: 7, n_keys: 4}   # each fit's identifiability check (n_points: 0, off)
    demo: {path, truth, sfreq_hz, duration_s, gain_uv_per_mv, noise_uv, seed, dt_ms, channels}

With ``aperiodic`` (the recording kind's key), channel ``c`` measures ``g (S_c + A_c f^-chi)``:
the network's PSD through the lead field plus an aperiodic background with **one offset per
channel** and **one exponent for the montage**, profiled out with the gain at every evaluation
(:func:`eegfit.observe.spectrum.profile_aperiodic_channels`); each fit records them.

Fitted fields: ``k`` (coupling), ``speed_m_s`` (with ``connectome.delays``), ``drive.low_hz``,
``drive.high_hz`` and ``node.<field>``. The network's regions' observable (y1 - y2, mV) is
projected through the lead field rows of the target's channels with an average reference over
exactly those channels (:func:`eegfit.observe.leadfield.project`), the recording's reference
(:func:`eegfit.data.sensor_recording.load`). The model is simulated at its own step and both
Welch PSDs use ``segment_s``, so they share the bin spacing.

Each fit records, beyond the runner's: the model PSD per channel, alpha power and envelope FC
at the best parameters; goodness of fit (``chi2_per_dof``, ``fit_p_value``, the channels
counted as independent); and an **identifiability check** (:func:`sensor_fit.profile_vars`):
the loss along each parameter's box (the others at the fit), the loss's seed-to-seed spread at
the fit (``loss_seed_sd``, over ``n_keys`` other noise keys), and the values whose loss lies
within 2 ``loss_seed_sd`` of the best (``consistent_low_<p>``, ``consistent_high_<p>``). A
parameter is ``identified_<p>`` when that set spans at most half the box: a fit that missed
the truth within it is not a failure of the fit but a parameter the data do not pin down.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from eegfit.data import recordings as rec
from eegfit.experiments import recording_data
from eegfit.experiments import sensor_data as sdata
from eegfit.experiments.base import FigureKind, InputKind, Kind, Target, keys
from eegfit.experiments.column import read_column
from eegfit.experiments.network import delay_args
from eegfit.experiments.reader import Reader, default, interval
from eegfit.experiments.spec import Spec
from eegfit.models.network import DELAY_MODES, NodeNoiseDrive, coupled
from eegfit.observe import spectrum as observed_spectrum
from eegfit.observe.leadfield import HOW, project
from eegfit.signal import likelihood, sensor, spectral
from eegfit.simulate import simulate


@dataclasses.dataclass(frozen=True)
class SensorSpec(Spec):
    """The sensor kind's own keys (see the module docstring)."""

    files: dict = dataclasses.field(default_factory=dict)
    channels: tuple[str, ...] | None = None
    groups: dict = dataclasses.field(default_factory=dict)
    units: str | None = None
    filter: dict | None = dataclasses.field(default_factory=lambda: dict(rec.DEFAULT_FILTER))
    segment_s: float = 1.0
    overlap: float = 0.5
    band_hz: tuple[float, float] = (2.0, 40.0)
    alpha_hz: tuple[float, float] = (8.0, 13.0)
    gain: str = "common"
    aperiodic: tuple[float, float] | None = None
    """The aperiodic exponent's box (``aperiodic.exponent``), or None: no background."""
    lead_field: dict = dataclasses.field(default_factory=lambda: {
        "how": "sum", "drop": ("IO1", "IO2")})
    connectome: dict = dataclasses.field(default_factory=lambda: {
        "symmetrise": False, "delays": True, "speed_m_s": 10.0, "delay_mode": "interpolate"})
    column: object = None
    drive: dict = dataclasses.field(default_factory=lambda: {
        "low_hz": 50.0, "high_hz": 150.0, "interval_ms": 5.0})
    n_realisations: int = 1
    profile: dict = dataclasses.field(default_factory=lambda: {"n_points": 7, "n_keys": 4})
    demo: dict | None = None

    extra_keys = ("files", "channels", "groups", "units", "filter", "segment_s", "overlap",
                  "band_hz", "alpha_hz", "gain", "aperiodic", "lead_field", "connectome", "model",
                  "n_realisations", "profile", "demo")
    has_truths = False
    # the loss of seconds of noisy network ripples on a scale of a few % of the box (README)
    gradient_check = {"rtol": 1.0, "rel_step": 0.02}

    @classmethod
    def read_extra(cls, r: Reader) -> dict:
        defaults = {f.name: f.default_factory() for f in dataclasses.fields(cls)
                    if f.default_factory is not dataclasses.MISSING}
        files = r.sub("files").block
        if not files:
            raise ValueError(f"config {r.path('files')} must name at least one recording")
        channels = r.raw("channels")
        if channels is not None:
            channels = [channels] if isinstance(channels, str) else channels
            if not isinstance(channels, list) or len(channels) < 2:
                raise ValueError(f"config {r.path('channels')} must be null (every shared "
                                 f"channel) or name at least 2 channels, got {channels!r}")
        groups = r.sub("groups").block
        for name, members in groups.items():
            if not isinstance(members, list) or not members:
                raise ValueError(f"config {r.path('groups')}.{name} must list channels, got "
                                 f"{members!r}")
        filt = recording_data.read_filter(r, default(cls, "filter"))
        lead = r.sub("lead_field", ("how", "drop"))
        drop = lead.raw("drop", list(defaults["lead_field"]["drop"]))
        if not isinstance(drop, list):
            raise ValueError(f"config {lead.path('drop')} must list electrodes, got {drop!r}")
        conn = r.sub("connectome", ("symmetrise", "delays", "speed_m_s", "delay_mode"))
        c0 = defaults["connectome"]
        model = r.sub("model", ("params", "drive"))
        drive = model.sub("drive", ("low_hz", "high_hz", "interval_ms"))
        d0 = defaults["drive"]
        drive_values = {k: drive.number(k, v, optional=v is None, above=0.0)
                        for k, v in d0.items()}
        if not drive_values["low_hz"] < drive_values["high_hz"]:
            raise ValueError(f"config {drive.path('low_hz')} must be < high_hz, got "
                             f"{drive_values['low_hz']!r} and {drive_values['high_hz']!r}")
        prof = r.sub("profile", ("n_points", "n_keys"))
        p0 = defaults["profile"]
        return {
            "files": {str(k): str(v) for k, v in files.items()},
            "channels": None if channels is None else tuple(map(str, channels)),
            "groups": {str(k): tuple(map(str, v)) for k, v in groups.items()},
            "units": None if r.raw("units") is None else r.choice("units", rec.UNITS),
            "filter": filt,
            "segment_s": r.number("segment_s", cls.segment_s, above=0.0),
            "overlap": r.number("overlap", cls.overlap, low=0.0),
            "band_hz": interval(r.raw("band_hz", list(cls.band_hz)), r.path("band_hz"), low=0.0),
            "alpha_hz": interval(r.raw("alpha_hz", list(cls.alpha_hz)), r.path("alpha_hz"),
                                 low=0.0),
            "gain": r.choice("gain", sensor.GAINS, cls.gain),
            "aperiodic": None if r.raw("aperiodic") is None else
            observed_spectrum.check_exponent_box(
                r.sub("aperiodic", ("exponent",)).raw("exponent", [0.0, 4.0]),
                r.path("aperiodic.exponent")),
            "lead_field": {"how": lead.choice("how", HOW, "sum"),
                           "drop": tuple(map(str, drop))},
            "connectome": {"symmetrise": conn.boolean("symmetrise", c0["symmetrise"]),
                           "delays": conn.boolean("delays", c0["delays"]),
                           "speed_m_s": conn.number("speed_m_s", c0["speed_m_s"], above=0.0),
                           "delay_mode": conn.choice("delay_mode", DELAY_MODES,
                                                     c0["delay_mode"])},
            "column": read_column(Reader({"params": model.raw("params") or {}}, model.where)),
            "drive": drive_values,
            "n_realisations": r.integer("n_realisations", cls.n_realisations, low=1),
            "profile": {"n_points": prof.integer("n_points", p0["n_points"], low=0),
                        "n_keys": prof.integer("n_keys", p0["n_keys"], low=2)},
            "demo": read_demo_block(r)}


def read_demo_block(r: Reader) -> dict | None:
    """The recording kind's ``demo`` block, its ``channels`` a list of electrodes (null: every
    electrode of the lead field) instead of a mapping of shares."""
    if not r.has("demo"):
        return None
    block = dict(r.raw("demo"))
    channels = block.pop("channels", None)
    if channels is not None and (not isinstance(channels, list) or len(channels) < 2):
        raise ValueError(f"config {r.path('demo')}.channels must be null or list at least 2 "
                         f"electrodes, got {channels!r}")
    demo = recording_data.read_demo(Reader({"demo": {**block, "channels": {"_": 1.0}}}, r.where))
    demo["channels"] = None if channels is None else tuple(map(str, channels))
    return demo


class Sensor(Kind, InputKind, FigureKind):
    """Network parameters fitted to the channel spectra of an EEG recording."""

    Spec = SensorSpec
    summary_columns = ("chi2_per_dof", "fit_p_value", "loss_seed_sd", "target_alpha_peak_hz",
                       "model_alpha_peak_hz", "network_alpha_peak_hz", "aperiodic_exponent")
    loss_label = ("negative log likelihood of the channel spectra", "1")

    def __init__(self, spec: SensorSpec):
        where = f"config experiments.{spec.name}"
        self._base = None
        self.lf, self.conn = sdata.check_forward_model(spec)
        for name in spec.names:
            if name == "speed_m_s" and not spec.connectome["delays"]:
                raise ValueError(f"{where}.parameters.speed_m_s needs {where}.connectome.delays:"
                                 f" true")
        super().__init__(spec)
        for key, (low, high) in (("band_hz", spec.band_hz), ("alpha_hz", spec.alpha_hz)):
            f = spec.filter or {}
            if (f.get("low_hz") is not None and low < f["low_hz"]) or (
                    f.get("high_hz") is not None and high > f["high_hz"]):
                raise ValueError(f"{where}.{key} {[low, high]} Hz reaches outside the band-pass "
                                 f"filter {where}.filter {[f.get('low_hz'), f.get('high_hz')]}")
        if not 0 <= spec.overlap < 1:
            raise ValueError(f"{where}.overlap must be in [0, 1), got {spec.overlap}")
        sim = spec.simulation
        fs_hz = 1e3 / sim.dt_ms
        if spec.band_hz[1] >= fs_hz / 2:
            raise ValueError(f"{where}.simulation.dt_ms ({sim.dt_ms}) is too coarse for "
                             f"band_hz up to {spec.band_hz[1]:g} Hz")
        self._n_per_segment = spectral.segment_samples(spec.segment_s, fs_hz)
        self.freqs_hz = spectral.frequencies(self._n_per_segment, fs_hz)
        self._mask = spectral.band_mask(self.freqs_hz, spec.band_hz, f"{where}.band_hz")
        self._band_freqs = self.freqs_hz[self._mask]
        if spec.aperiodic is not None and self._band_freqs[0] <= 0:
            raise ValueError(f"{where}.band_hz must start above 0 Hz with an aperiodic "
                             f"background (f^-chi at 0 Hz), got {list(spec.band_hz)}")
        kept = int(round((sim.duration_ms - sim.transient_ms) / 1e3 * fs_hz))
        per = len(spectral.segment_starts(kept, self._n_per_segment, spec.overlap))
        if per < 2:
            raise ValueError(f"{where}.simulation: the kept simulation must hold at least two "
                             f"segments of segment_s ({spec.segment_s} s)")
        self.model_dof = likelihood.welch_dof([per] * spec.n_realisations, self._n_per_segment,
                                              spec.overlap)
        recording_data.check_demo(spec)
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
        return recording_data.file_targets(self.spec)

    def generated_inputs(self) -> dict[str, str]:
        return recording_data.demo_inputs(self.spec)

    def check_inputs(self) -> None:
        for label, path in self.spec.files.items():
            sdata.check_file(self.spec, self.lf, label, path)

    def make_input(self, what: str, path) -> None:
        from eegfit.experiments.sensor_fit import demo_signals  # noqa: PLC0415

        signals, sfreq = demo_signals(self)
        rec.write(path, signals, sfreq)

    def sensor_signal(self, model, key, gain) -> jax.Array:
        """The model's channels ``(time, channels)``: its regions through ``gain``, average
        reference over those channels."""
        eeg = simulate(model, key=key, **self.spec.simulation.kwargs()).observable
        return project(eeg, gain)

    def model_psd(self, model, key, gain) -> jax.Array:
        """The model's Welch PSD ``(frequency, channels)``: one simulation with the noise of
        ``key``, or the mean over ``n_realisations`` (keys split from ``key``)."""
        s = self.spec
        fs_hz = 1e3 / s.simulation.dt_ms

        def psd_of(k):
            return spectral.welch(self.sensor_signal(model, k, gain), fs_hz=fs_hz,
                                  segment_s=s.segment_s, overlap=s.overlap, axis=0)[1]
        if s.n_realisations == 1:
            return psd_of(key)
        return jnp.mean(jax.vmap(psd_of)(jax.random.split(key, s.n_realisations)), axis=0)

    # ---- the target --------------------------------------------------------------------------
    def make_target(self, target: Target) -> xr.Dataset:
        from eegfit.data import sensor_recording  # noqa: PLC0415

        s = self.spec
        recording = sensor_recording.load(s.files[target.label], self.lf, channels=s.channels,
                                          units=s.units, band_pass=s.filter)
        return sdata.target_dataset(s, recording, sdata.groups_of(recording.channels, s.groups))

    def observed(self, target_ds: xr.Dataset) -> dict:
        from eegfit.data import montage  # noqa: PLC0415

        channels = [str(c) for c in target_ds["channel"].values]
        lf = self.lf.take(montage.match(channels, self.lf.electrodes, self.lf.aliases))
        freqs = target_ds["frequency"].values
        band = recording_data.band_psd(target_ds, self.spec.band_hz, self.n_bins)
        sd = np.full(self.n_bins, likelihood.log_psd_sd(float(target_ds["psd_dof"]),
                                                        self.model_dof))
        return {"gain": lf.gain, "channels": channels, "freqs_hz": freqs,
                "log_psd": np.log(band), "decorrelate": likelihood.decorrelation(
                    sd, self._n_per_segment), "target_ds": target_ds}

    def fit_data(self, observed: dict, seed: int) -> dict:
        dtype = jnp.result_type(float)
        return {k: jnp.asarray(observed[k], dtype) for k in ("gain", "log_psd", "decorrelate")} | {
            "key": keys(seed)[1]}

    def aux_units(self) -> dict:
        return {"peak_frequency": "Hz"}

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
        psd = self.model_psd(model, data["key"], data["gain"])
        band, background = self.observed_band(psd, data["decorrelate"], data["log_psd"])
        nll = sensor.negative_log_likelihood(band, np.ones(self.n_bins, bool),
                                             data["decorrelate"], data["log_psd"],
                                             self.spec.gain)
        peak = spectral.peak_frequency(self.freqs_hz, jnp.mean(psd, axis=1), band_hz=(6.0, 14.0))
        aux = {"peak_frequency": peak}
        if background is not None:
            aux["aperiodic_exponent"] = background[1]
        return nll, aux

    def fit_extras(self, target: Target, observed, result) -> dict:
        from eegfit.experiments.sensor_fit import fit_vars  # noqa: PLC0415

        out = super().fit_extras(target, observed, result)
        out.update(fit_vars(self, target, observed, result))
        return out

    def figure_targets(self) -> list[Target]:
        """One seed's target per file: the figures show each file against its fits."""
        first = {}
        for t in self.targets():
            first.setdefault(t.label, t)
        return list(first.values())

    def figures(self, fits, targets, scan, summary) -> dict:
        from eegfit.plots import sensor as plots  # noqa: PLC0415

        out = {}
        for ds in targets:
            name = ds.attrs["target"]
            mine = [f for f in fits if f.attrs["target"] == name]
            out[f"sensor_spectra_{name}"] = plots.spectra_by_group(ds, mine, self.spec.band_hz)
            out[f"sensor_topomap_{name}"] = plots.alpha_topomaps(ds, mine, self.spec.alpha_hz)
            out[f"sensor_fc_{name}"] = plots.sensor_fc(ds, mine, self.spec.alpha_hz)
        return out
