"""The sensor kind's config: its block's keys (:class:`SensorSpec`, documented in
:mod:`eegfit.experiments.sensor` and ``config/README.md``) and its checks at planning, before any
simulation: tvb-data installed, the lead field finite and on the connectome's regions, the channels
and groups among its electrodes, a file's channels and rate (each a ``ValueError`` naming the
key); and the channel groups of the figures."""

from __future__ import annotations

import dataclasses
import functools
import os
import types

from eegfit.data import recordings as rec
from eegfit.experiments.recording.spec import read_filter
from eegfit.experiments.column import read_column
from eegfit.experiments.recording.demo import read_demo
from eegfit.experiments.reader import Reader, default, interval
from eegfit.experiments.sensor import score
from eegfit.experiments.spec import Spec
from eegfit.models.network import DELAY_MODES
from eegfit.observe import spectrum as observed_spectrum
from eegfit.observe.leadfield import HOW, MODELS
from eegfit.signal import sensor
from eegfit.signal.fc import FC_MEASURES

GROUP_PREFIXES = {  # default channel groups: an electrode's name without its number
    "frontal": ("FP", "AF", "F"), "central": ("FC", "C", "CP"), "temporal": ("FT", "T", "TP"),
    "parietal": ("P",), "occipital": ("PO", "O", "I", "CB")}


FC_BAND_HZ = (8.0, 13.0)
FC_WEIGHT = 1000.0
"""The FC misfit's default weight: on the demo (.test/sensor.yaml) the loss's seed-to-seed sd is
about 60, so a Fisher-z RMSE of 0.06 counts as one such sd (README "Sensor-space EEG")."""


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
        "model": "surface", "how": "sum", "drop": ("IO1", "IO2"), "head_radius_mm": None})
    connectome: dict = dataclasses.field(default_factory=lambda: {
        "symmetrise": False, "delays": True, "speed_m_s": 10.0, "delay_mode": "interpolate"})
    column: object = None
    drive: dict = dataclasses.field(default_factory=lambda: {
        "low_hz": 50.0, "high_hz": 150.0, "interval_ms": 5.0})
    n_realisations: int = 1
    profile: dict = dataclasses.field(default_factory=lambda: {"n_points": 7, "n_keys": 4})
    demo: dict | None = None
    fc: dict | None = None
    """The sensor FC in the loss (``{measure, band_hz, groups, weight}``; ``groups`` None:
    every pair), or None: not fitted."""
    likelihood: dict = dataclasses.field(default_factory=lambda: dict(score.DEFAULT))
    """The posterior's pilot (:mod:`~eegfit.experiments.sensor.score`): its realisations and
    the grid of its nodes."""

    extra_keys = ("files", "channels", "groups", "units", "filter", "segment_s", "overlap",
                  "band_hz", "alpha_hz", "gain", "aperiodic", "lead_field", "connectome", "model",
                  "n_realisations", "profile", "demo", "fc", "likelihood")
    has_truths = False
    features = types.MappingProxyType({})  # none: recording.check reads the bands
    noise_floor_hz = None
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
        filt = read_filter(r, default(cls, "filter"))
        lead = read_lead_field(r.sub("lead_field", ("model", "how", "drop", "head_radius_mm")),
                               defaults["lead_field"])
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
            "lead_field": lead,
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
            "demo": read_demo_block(r),
            "fc": read_fc(r, groups), "likelihood": score.read(r)}


def read_lead_field(lead: Reader, default: dict) -> dict:
    """The ``lead_field`` block: ``model`` (surface | sphere), ``how`` (the surface model's),
    ``drop`` (electrodes) and ``head_radius_mm`` (the sphere's, > 0; null: fitted)."""
    model = lead.choice("model", MODELS, default["model"])
    drop = lead.raw("drop", list(default["drop"]))
    if not isinstance(drop, list):
        raise ValueError(f"config {lead.path('drop')} must list electrodes, got {drop!r}")
    for key, only in (("how", "surface"), ("head_radius_mm", "sphere")):
        if lead.raw(key) is not None and model != only:
            raise ValueError(f"config {lead.path(key)} is a key of model: {only}, not of "
                             f"model: {model}")
    return {"model": model, "how": lead.choice("how", HOW, default["how"]),
            "drop": tuple(map(str, drop)),
            "head_radius_mm": lead.number("head_radius_mm", None, above=0.0, optional=True)}


def read_fc(r: Reader, groups: dict) -> dict | None:
    """The ``fc`` block: the measure (:data:`eegfit.signal.fc.FC_MEASURES`), its band (Hz,
    above 0), the channel groups whose pairs (within and between them) it compares (``all``,
    the default: every pair; else a list of names of ``groups``, or of the default groups
    where ``groups`` is empty) and the weight of the FC misfit in the loss (above 0); absent or
    null: no FC in the loss."""
    if r.raw("fc") is None:
        return None
    fc = r.sub("fc", ("measure", "band_hz", "groups", "weight"))
    names = fc.raw("groups", "all")
    known = list(groups or GROUP_PREFIXES)
    if names != "all":
        if not isinstance(names, list) or not names or not all(
                isinstance(n, str) for n in names):
            raise ValueError(f"config {fc.path('groups')} must be all or a list of channel "
                             f"groups ({known}), got {names!r}")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"config {fc.path('groups')}: {unknown} are not channel groups "
                             f"(the block's groups, or the default ones where it has none: "
                             f"{known})")
    return {"measure": fc.choice("measure", FC_MEASURES, "envelope"),
            "band_hz": interval(fc.raw("band_hz", list(FC_BAND_HZ)), fc.path("band_hz"),
                                low=0.0),
            "groups": None if names == "all" else tuple(names),
            "weight": fc.number("weight", FC_WEIGHT, above=0.0)}


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
    demo = read_demo(Reader({"demo": {**block, "channels": {"_": 1.0}}}, r.where))
    demo["channels"] = None if channels is None else tuple(map(str, channels))
    return demo


@functools.lru_cache(maxsize=4)
def lead_field(how: str, drop: tuple[str, ...], model: str = "surface",
               head_radius_mm: float | None = None):
    """The region lead field from tvb-data (read, or built by MNE, once per process)."""
    from eegfit.data import tvb  # noqa: PLC0415

    return tvb.lead_field(how, drop, model, head_radius_mm)


def check_forward_model(spec) -> tuple:
    """At planning (no simulation): tvb-data installed, the lead field finite after
    ``lead_field.drop``, its regions those of the connectome, the channels and groups among its
    electrodes. Returns ``(lead field, connectome)``; a ``ValueError`` naming the key."""
    from eegfit.data import montage, tvb  # noqa: PLC0415

    where = f"config experiments.{spec.name}"
    try:
        tvb.data_dir()
    except ModuleNotFoundError as err:
        raise ValueError(f"{where}.kind: sensor reads its lead field and connectome from the "
                         f"optional extra tvb-data (GPL-3), not installed ({err}): pip install "
                         f"tvb-data=={tvb.VERSION}, or pip install -e '.[eeg]'") from None
    try:
        lf = lead_field(**spec.lead_field)
    except ValueError as err:
        block = spec.lead_field  # the surface's errors are its rows'; the sphere's its geometry
        key = (f"lead_field.drop {list(block['drop'])}" if block["model"] == "surface" else
               "lead_field " + ", ".join(f"{k}: {list(v) if isinstance(v, tuple) else v}"
                                         for k, v in block.items()))
        raise ValueError(f"{where}.{key}: {err}") from None
    conn = tvb.connectome(symmetrise=spec.connectome["symmetrise"])
    check_regions(lf, conn, f"{where}.lead_field")
    if spec.channels is not None:
        montage.match(spec.channels, lf.electrodes, lf.aliases, key=f"{where}.channels")
    allowed = spec.channels or lf.electrodes
    for group, names in spec.groups.items():
        rows = montage.match(names, lf.electrodes, lf.aliases, key=f"{where}.groups.{group}")
        outside = [n for n, r in zip(names, rows) if lf.electrodes[r] not in {
            lf.electrodes[i] for i in montage.match(allowed, lf.electrodes, lf.aliases)}]
        if outside:
            raise ValueError(f"{where}.groups.{group}: {outside} are not among {where}.channels")
    return lf, conn


def check_regions(lf, conn, where: str) -> None:
    """The lead field's columns are the connectome's regions, in its order (a ``ValueError``
    naming ``where`` and the first region that differs)."""
    if lf.gain.shape[1] != len(conn.weights) or tuple(lf.regions) != tuple(conn.labels):
        first = next((i for i, (a, b) in enumerate(zip(lf.regions, conn.labels)) if a != b),
                     min(len(lf.regions), len(conn.labels)))
        raise ValueError(f"{where}: its {lf.gain.shape[1]} region columns do not match the "
                         f"connectome's {len(conn.weights)} regions (labels and order; first "
                         f"difference at column {first})")


def groups_of(channels, configured: dict) -> dict[str, list[str]]:
    """The channel groups among ``channels`` (lead-field names): the configured ones (each
    member by its lead-field name), else by name prefix (:data:`GROUP_PREFIXES`: ``Fp1`` is
    frontal, ``FC5`` central, ``PO3`` occipital); empty groups left out."""
    from eegfit.data import montage  # noqa: PLC0415

    if configured:
        out = {}
        for name, members in configured.items():
            forms = {rec.canonical(m) for m in members}
            forms |= {rec.canonical(montage.ALIASES_10_20.get(m.upper(), m)) for m in members}
            out[name] = [c for c in channels if rec.canonical(c) in forms]
        return {k: v for k, v in out.items() if v}
    out = {name: [] for name in GROUP_PREFIXES}
    for channel in channels:
        head = channel.rstrip("0123456789zZ").upper()
        for name, prefixes in GROUP_PREFIXES.items():
            if head in prefixes:
                out[name].append(channel)
                break
    return {k: v for k, v in out.items() if v}


def check_file(spec, lf, label: str, path: str) -> None:
    """At planning, a file that exists (its header only): at least 2 channels shared with the
    lead field, each named channel in it, its rate above the band's Nyquist frequency."""
    from eegfit.data.recordings import sensor as sensor_recording  # noqa: PLC0415

    where = f"config experiments.{spec.name}"
    if spec.demo and spec.demo["path"] == path or not os.path.isfile(path):
        return
    try:
        header = rec.read_header(path, spec.units)
    except rec.RecordingError as err:
        raise rec.RecordingError(f"{where}.files.{label}: {err}") from None
    shared = sensor_recording.shared(header.names, lf)
    if spec.channels is not None:
        from eegfit.data import montage  # noqa: PLC0415

        rows = set(shared.values())
        missing = [c for c, r in zip(spec.channels, montage.match(
            spec.channels, lf.electrodes, lf.aliases)) if r not in rows]
        if missing:
            raise rec.RecordingError(f"{where}.channels: {missing} are not channels of "
                                     f"{where}.files.{label} ({path!r}: {list(header.names)})")
    elif len(shared) < 2:
        raise rec.RecordingError(f"{where}.files.{label}: {path!r} shares {len(shared)} channel(s)"
                                 f" with the lead field ({list(shared)}); a montage needs 2")
    try:
        rec.check_band(header.sfreq_hz, spec.band_hz[1], "the likelihood's band", path)
    except ValueError as err:
        raise rec.RecordingError(f"{where}.band_hz: {err}") from None


__all__ = ["FC_BAND_HZ", "FC_WEIGHT", "GROUP_PREFIXES", "SensorSpec", "check_file", "check_forward_model", "check_regions",
           "groups_of", "lead_field", "read_demo_block", "read_fc", "read_lead_field"]
