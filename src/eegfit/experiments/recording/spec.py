"""The recording kind's config: its block's keys (:class:`RecordingSpec`, documented in
:mod:`eegfit.experiments.recording` and ``config/README.md``) and its checks at planning,
before any simulation: the filter, the bands against the filter and the step, and each
file of ``files`` against the config (its header only), each a ``ValueError`` naming the key."""

from __future__ import annotations

import dataclasses
import os

from eegfit.data import recordings as rec
from eegfit.experiments.recording import demo, pilot as covariance_pilot
from eegfit.experiments.recording import records
from eegfit.experiments.column import read_column
from eegfit.experiments.spec import Reader, Simulation, Spec, default, interval
from eegfit.models import JansenRit
from eegfit.observe import spectrum as observed_spectrum
from eegfit.signal import spectral
from eegfit.signal import features as sf


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
    band_hz: tuple[float, float] | None = None
    aperiodic: tuple[float, float] | None = None
    """The aperiodic exponent's box (``aperiodic.exponent``), or None: no background."""
    model: object = JansenRit()
    """The column's model: any registered model (``model.name``), Jansen-Rit by default."""
    n_realisations: int = 1
    noise_floor_hz: tuple[float, float] | None = None
    demo: dict | None = None
    accept_truncated: bool = False
    likelihood: dict = dataclasses.field(default_factory=lambda: dict(covariance_pilot.DEFAULT))
    """The likelihood's covariance: ``analytic``, or ``estimated`` from a pilot."""

    extra_keys = ("files", "channels", "units", "reference", "filter", "windows_s", "segment_s",
                  "overlap", "features", "band_hz", "model", "n_realisations", "noise_floor_hz",
                  "demo", "accept_truncated", "aperiodic", "likelihood")
    has_truths = False

    @classmethod
    def read_extra(cls, r: Reader, simulation: Simulation) -> dict:
        files = r.sub("files").block
        if not files:
            raise ValueError(f"config {r.path('files')} must name at least one recording")
        channels = r.raw("channels")
        channels = [channels] if isinstance(channels, str) else channels
        if not isinstance(channels, list) or not channels:
            raise ValueError(f"config {r.path('channels')} must name a channel or several, got "
                             f"{channels!r}")
        filt = read_filter(r, default(cls, "filter"))
        windows = r.raw("windows_s")
        if windows is not None:
            windows = tuple(interval(w, f"{r.path('windows_s')}[{i}]", low=0.0)
                            for i, w in enumerate(windows))
        features = sf.check_spec(r.raw("features", default(cls, "features")), where=r.path("features"),
                                 reads="spectrum")
        return {"files": {str(k): str(v) for k, v in files.items()},
                "channels": tuple(map(str, channels)),
                "units": None if r.raw("units") is None else r.choice("units", rec.UNITS),
                "reference": r.raw("reference", "none"), "filter": filt, "windows_s": windows,
                "segment_s": r.number("segment_s", cls.segment_s, above=0.0),
                "overlap": r.number("overlap", cls.overlap, low=0.0),
                "features": features,
                "band_hz": None if r.raw("band_hz") is None else interval(
                    r.raw("band_hz"), r.path("band_hz"), low=0.0),
                "aperiodic": None if r.raw("aperiodic") is None else
                observed_spectrum.check_exponent_box(
                    r.sub("aperiodic", ("exponent",)).raw("exponent", [0.0, 4.0]),
                    r.path("aperiodic.exponent")),
                "model": read_column(r.sub("model", ("name", "params", "drive")),
                                     simulation.dt_ms),
                "n_realisations": r.integer("n_realisations", cls.n_realisations, low=1),
                "noise_floor_hz": None if r.raw("noise_floor_hz") is None else interval(
                    r.raw("noise_floor_hz"), r.path("noise_floor_hz"), low=0.0),
                "demo": demo.read_demo(r),
                "accept_truncated": r.boolean("accept_truncated", cls.accept_truncated),
                "likelihood": covariance_pilot.read(r)}


def read_filter(r: Reader, default_filter: dict | None) -> dict | None:
    """The ``filter`` key: ``{low_hz, high_hz}`` (Hz; either may be null, low < high) or null."""
    filt = r.raw("filter", default_filter)
    if filt is None:
        return None
    f = Reader(filt, r.path("filter"), ("low_hz", "high_hz"))
    filt = {"low_hz": f.number("low_hz", optional=True, low=0.0),
            "high_hz": f.number("high_hz", optional=True, above=0.0)}
    if None not in filt.values() and not filt["low_hz"] < filt["high_hz"]:
        raise ValueError(f"config {r.path('filter')} needs low_hz < high_hz, got {filt}")
    return filt


def check(spec: RecordingSpec) -> None:
    """Cross-field checks (no file is read); ``ValueError`` naming the key."""
    where = f"config experiments.{spec.name}"
    filt = spec.filter
    bands = records.feature_bands(spec)
    if spec.band_hz is not None:
        bands.append(("band_hz", spec.band_hz))
    for key, (low, high) in bands:
        if filt is not None and ((filt["low_hz"] is not None and low < filt["low_hz"])
                                 or (filt["high_hz"] is not None and high > filt["high_hz"])):
            raise ValueError(f"{where}.{'' if key == 'band_hz' else 'features.'}{key} "
                             f"{[low, high]} Hz reaches outside the "
                             f"band-pass filter {where}.filter [{filt['low_hz']}, "
                             f"{filt['high_hz']}] Hz")
    sim = spec.simulation
    fs_hz = 1e3 / sim.dt_ms
    spectral.segment_samples(spec.segment_s, fs_hz)
    if not 0 <= spec.overlap < 1:
        raise ValueError(f"{where}.overlap must be in [0, 1), got {spec.overlap}")
    if sim.duration_ms - sim.transient_ms < 2e3 * spec.segment_s:
        raise ValueError(f"{where}.simulation: the kept simulation "
                         f"({sim.duration_ms - sim.transient_ms:g} ms) must hold at least two "
                         f"segments of segment_s ({spec.segment_s} s)")
    if spec.noise_floor_hz is not None:
        low, high = spec.noise_floor_hz
        f = filt or {}
        if (f.get("low_hz") is not None and low < f["low_hz"]) or (
                f.get("high_hz") is not None and high > f["high_hz"]) or high >= fs_hz / 2:
            raise ValueError(f"{where}.noise_floor_hz {[low, high]} Hz must lie inside the "
                             f"band-pass filter and below the model's Nyquist frequency")
    if records.max_feature_hz(spec) >= fs_hz / 2:
        raise ValueError(f"{where}.simulation.dt_ms ({sim.dt_ms}) is too coarse for features "
                         f"up to {records.max_feature_hz(spec):g} Hz")
    demo.check_demo(spec)


def check_file(spec, label: str, path: str) -> None:
    """At planning, one file of ``files`` against the config: the channels and reference found
    (:func:`recordings.resolve_channels`), and, for a file that exists (its header only, no
    samples), a truncation unless ``accept_truncated``, the windows inside it, a rate above the
    features' and the filter's Nyquist frequency, and at least two Welch segments. A file the
    demo makes is checked by its channel names; a file that does not exist yet, not at all.
    ``ValueError`` (a :class:`recordings.RecordingError`) naming the key and the value."""
    where = f"experiments.{spec.name}"
    header = None
    if spec.demo and spec.demo["path"] == path:
        names = list(spec.demo["channels"])
    elif os.path.isfile(path):
        try:
            header = rec.read_header(path, spec.units)
        except rec.RecordingError as err:
            raise rec.RecordingError(f"config {where}.files.{label}: {err}") from None
        names = list(header.names)
    else:
        return
    rec.resolve_channels(spec.channels, names, path, f"config {where}.channels")
    if spec.reference not in (None, "none", "average"):
        ref = [spec.reference] if isinstance(spec.reference, str) else list(spec.reference)
        rec.resolve_channels(ref, names, path, f"config {where}.reference")
    if header is None:
        return
    rec.check_truncation(header, spec.accept_truncated, f"{where}.accept_truncated")
    try:
        windows = rec.check_windows(spec.windows_s, header.used_duration_s, path)
    except rec.RecordingError as err:
        raise rec.RecordingError(f"config {where}.windows_s: {err}") from None
    try:
        rec.check_band(header.sfreq_hz, records.max_feature_hz(spec), "the features", path)
        if spec.filter is not None and spec.filter["high_hz"] is not None:
            rec.check_band(header.sfreq_hz, spec.filter["high_hz"], "the band-pass filter", path)
        n = spectral.segment_samples(spec.segment_s, header.sfreq_hz)
    except ValueError as err:
        raise rec.RecordingError(f"config {where}.files.{label}: {err}") from None
    n_seg = sum(len(spectral.segment_starts(int(round((end - start) * header.sfreq_hz)), n,
                                            spec.overlap)) for start, end in windows)
    if n_seg < 2:
        used = sum(end - start for start, end in windows)
        raise rec.RecordingError(
            f"config {where}.files.{label}: recording file {path!r} holds {used:g} s in its "
            f"windows (windows_s {[list(w) for w in windows]}): "
            f"{n_seg} Welch segment(s) of segment_s {spec.segment_s:g} s at overlap "
            f"{spec.overlap:g}; at least 2 are needed for a noise floor (use a longer recording "
            f"or windows, or a shorter {where}.segment_s)")
