"""A column fitted to measured EEG: each file of ``files`` is a target, fitted through gain-free
spectral features (the model's mV and the scalp's µV differ by an unknown gain).

Keys of its block (documented in ``config/README.md``)::

    files: {demo: results/recording_demo/demo.edf}   # name -> EDF/BDF/FIF path; one target each
    channels: [O1, O2]          # one name, or several averaged
    units: null                 # V | mV | uV for an EDF/BDF without units in its header
    reference: none             # none | average | [channel, ...]
    filter: {low_hz: 1, high_hz: 45}    # zero-phase FIR band-pass (null: none)
    windows_s: null             # [[start, end], ...] s to keep (null: all)
    segment_s: 2.0              # Welch segment, s (bins every 1 / segment_s Hz)
    overlap: 0.5
    features: {peak_frequency: {...}, relative_power: {...}, normalised_psd: {...}}
    model: {params: {}, drive: {kind: white_noise, ...}}
    n_realisations: 16          # the model PSD: the mean over this many independent simulations
    noise_floor_hz: [40, 45]    # the recording's white floor, read here, added to the model PSD
    demo: {path, truth, sfreq_hz, duration_s, gain_uv_per_mv, noise_uv, seed, channels, dt_ms}

The model is simulated at its own step and its Welch PSD computed with the same segment length
(s), so both spectra lie on the same frequency grid without resampling. The loss is the mean over
features of the squared model-target difference in units of the target's segment-to-segment
spread: about 1 or less means the model sits within the recording's own variability.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from eegfit.data import recordings as rec
from eegfit.experiments import recording_data as data
from eegfit.experiments.base import Kind, Target, keys
from eegfit.experiments.column import read_column
from eegfit.experiments.spec import Reader, Spec, default, interval
from eegfit.models import JansenRit
from eegfit.signal import features as sf
from eegfit.signal import spectral
from eegfit.simulate import simulate


@dataclasses.dataclass(frozen=True)
class RecordingSpec(Spec):
    """The recording kind's own keys (see the module docstring)."""

    files: dict = dataclasses.field(default_factory=dict)
    channels: tuple[str, ...] = ()
    units: str | None = None
    reference: object = "none"
    filter: dict | None = dataclasses.field(default_factory=lambda: dict(rec.DEFAULT_FILTER))
    windows_s: tuple | None = None
    segment_s: float = 2.0
    overlap: float = 0.5
    features: dict = dataclasses.field(default_factory=lambda: dict(sf.DEFAULT_SPECTRUM_FEATURES))
    model: object = JansenRit()
    """The column's model: any registered model (``model.name``), Jansen-Rit by default."""
    n_realisations: int = 1
    noise_floor_hz: tuple[float, float] | None = None
    demo: dict | None = None

    extra_keys = ("files", "channels", "units", "reference", "filter", "windows_s", "segment_s",
                  "overlap", "features", "model", "n_realisations", "noise_floor_hz", "demo")
    has_truths = False

    @classmethod
    def read_extra(cls, r: Reader) -> dict:
        files = r.sub("files").block
        if not files:
            raise ValueError(f"config {r.path('files')} must name at least one recording")
        channels = r.raw("channels")
        channels = [channels] if isinstance(channels, str) else channels
        if not isinstance(channels, list) or not channels:
            raise ValueError(f"config {r.path('channels')} must name a channel or several, got "
                             f"{channels!r}")
        filt = r.raw("filter", default(cls, "filter"))
        if filt is not None:
            f = Reader(filt, r.path("filter"), ("low_hz", "high_hz"))
            filt = {"low_hz": f.number("low_hz", optional=True, low=0.0),
                    "high_hz": f.number("high_hz", optional=True, above=0.0)}
            if None not in filt.values() and not filt["low_hz"] < filt["high_hz"]:
                raise ValueError(f"config {r.path('filter')} needs low_hz < high_hz, got {filt}")
        windows = r.raw("windows_s")
        if windows is not None:
            windows = tuple(interval(w, f"{r.path('windows_s')}[{i}]", low=0.0)
                            for i, w in enumerate(windows))
        dt_ms = r.sub("simulation").raw("dt_ms")
        features = sf.check_spec(r.raw("features", default(cls, "features")), where=r.path("features"),
                                 reads="spectrum")
        return {"files": {str(k): str(v) for k, v in files.items()},
                "channels": tuple(map(str, channels)),
                "units": None if r.raw("units") is None else r.choice("units", rec.UNITS),
                "reference": r.raw("reference", "none"), "filter": filt, "windows_s": windows,
                "segment_s": r.number("segment_s", cls.segment_s, above=0.0),
                "overlap": r.number("overlap", cls.overlap, low=0.0),
                "features": features,
                "model": read_column(r.sub("model", ("name", "params", "drive")),
                                     dt_ms if isinstance(dt_ms, (int, float)) else None),
                "n_realisations": r.integer("n_realisations", cls.n_realisations, low=1),
                "noise_floor_hz": None if r.raw("noise_floor_hz") is None else interval(
                    r.raw("noise_floor_hz"), r.path("noise_floor_hz"), low=0.0),
                "demo": data.read_demo(r)}


class Recording(Kind):
    """Parameters of a column fitted to the spectrum of a measured recording."""

    Spec = RecordingSpec
    loss_label = ("mean squared misfit in segment-to-segment spreads", "1")

    def __init__(self, spec: RecordingSpec):
        super().__init__(spec)
        data.check(spec)
        # the model's frequency grid (that of its Welch PSD) labels the axes the aux reads
        fs_hz = 1e3 / spec.simulation.dt_ms
        freqs = spectral.frequencies(spectral.segment_samples(spec.segment_s, fs_hz), fs_hz)
        self._aux_axes = sf.feature_axes(freqs, spec.features)

    @property
    def figure_names(self) -> tuple[str, ...]:
        return tuple(f"{fig}_{name}" for name in self.spec.files for fig in ("psd", "windows"))

    def base_model(self):
        return self.spec.model

    def targets(self) -> list[Target]:
        demo = self.spec.demo
        return [Target(name, dict(demo["truth"]) if demo and demo["path"] == path else None, seed)
                for name, path in self.spec.files.items() for seed in self.spec.seeds]

    def generated_inputs(self) -> dict[str, str]:
        return {self.spec.demo["path"]: "demo"} if self.spec.demo else {}

    def make_input(self, what: str, path) -> None:
        signals, sfreq = data.demo_signals(self)
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
                             max_feature_hz=data.max_feature_hz(s))
        return xr.merge([data.preprocessed_dataset(recording),
                         data.features_dataset(data.target_features(s, recording))],
                        combine_attrs="drop_conflicts")

    def observed(self, target_ds: xr.Dataset) -> dict:
        freqs = target_ds["frequency"].values
        return {"freqs_hz": freqs,
                "floor_fraction": data.floor_fraction(self.spec, freqs, target_ds["psd"].values),
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
        (:func:`recording_data.floor_fraction`): the recording's measurement noise, which the
        model lacks, would otherwise bias the fit through the bands it lifts."""
        sim, s = self.spec.simulation.kwargs(), self.spec
        fs_hz = 1e3 / sim["dt_ms"]

        def psd_of(k):
            eeg = simulate(model, key=k, **sim).eeg_mv
            return spectral.welch(eeg, fs_hz=fs_hz, segment_s=s.segment_s, overlap=s.overlap,
                                  axis=0)[1]
        freqs = spectral.frequencies(spectral.segment_samples(s.segment_s, fs_hz), fs_hz)
        psd = (psd_of(key) if s.n_realisations == 1 else
               jnp.mean(jax.vmap(psd_of)(jax.random.split(key, s.n_realisations)), axis=0))
        return freqs, data.with_floor(s, freqs, psd, floor_fraction)

    def model_features(self, model, key, floor_fraction=0.0) -> dict:
        freqs, psd = self.model_spectrum(model, key, floor_fraction)
        return sf.spectral_features(freqs, psd, self.spec.features, axis=0)

    def fit_data(self, observed: dict, seed: int) -> dict:
        """The target's features and their spread (arrays; the axes' labels stay out: they are
        the spec's) and the fit key of ``seed``."""
        dtype = jnp.result_type(float)
        as_arrays = lambda d: {k: jnp.asarray(v, dtype) for k, v in d.items()}  # noqa: E731
        return {"features": as_arrays(observed["features"]),
                "spread": as_arrays(observed["spread"]), "key": keys(seed)[1],
                "floor_fraction": jnp.asarray(observed["floor_fraction"], dtype)}

    def loss(self, model, fit_data):
        """The misfit of the model's features against the target's, in units of the target's
        segment-to-segment spread, with the fit's drive noise (its fit key) at every
        evaluation."""
        values = self.model_features(model, fit_data["key"], fit_data["floor_fraction"])
        return (spectral.misfit(values, fit_data["features"], fit_data["spread"]),
                data.aux_of(values, self._aux_axes))

    # ---- posteriors: an entry per element of each feature, each feature weighed once -----------
    def _entries(self, features: dict) -> dict:
        """``{name: scalar}`` and ``{name[label]: element}`` (the feature's own axis first)."""
        out = {}
        for name, value in features.items():
            labels = self._aux_axes[name]
            if labels is None:
                out[name] = value
            else:
                out.update({f"{name}[{label if isinstance(label, str) else f'{label:g}'}]":
                            value[i] for i, label in enumerate(labels)})
        return out

    def simulate_features(self, values: dict, key) -> dict:
        """The model's spectrum features at ``values`` (a batch: one simulation), by entry;
        ``key`` is a noise key, or ``(key, floor_fraction)`` as the fit's loss has them."""
        key, floor = key if isinstance(key, tuple) else (key, 0.0)
        return self._entries(self.model_features(self.model_at(values), key, floor))

    def posterior_context(self, observed, seed: int):
        floor = observed.get("floor_fraction", 0.0) if isinstance(observed, dict) else 0.0
        return keys(seed)[1], jnp.asarray(floor, jnp.result_type(float))

    def posterior_observed(self, observed) -> dict:
        return self._entries(observed["features"]) if "features" in observed else observed

    def posterior_scale(self, observed) -> dict | None:
        """The target's segment-to-segment spread of each entry, times ``sqrt(K n_k)`` (``K``
        features, ``n_k`` entries of feature ``k``): the log likelihood is then minus half the
        fit's own misfit (:func:`eegfit.signal.spectral.misfit`), each feature counting once."""
        if "spread" not in observed:
            return None
        spread = observed["spread"]
        return {k: float(v) for k, v in self._entries({
            n: np.asarray(v, float) * np.sqrt(len(spread) * np.size(v))
            for n, v in spread.items()}).items()}

    def fit_extras(self, target: Target, observed, result, loss_fn) -> dict:
        out = super().fit_extras(target, observed, result, loss_fn)
        out.update(data.fit_vars(self, target, observed, result))
        return out

    def figures(self, fits, targets, scan, summary) -> dict:
        from eegfit import plots  # noqa: PLC0415

        out = {}
        for ds in targets:
            mine = [f for f in fits if f.attrs["target"] == ds.attrs["target"]]
            name = ds.attrs["target"]
            out[f"psd_{name}"] = plots.recording_psd(ds, mine, self.spec.features)
            out[f"windows_{name}"] = plots.recording_windows(ds, mine)
        return out

