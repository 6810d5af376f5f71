"""A recording's inputs checked against its config: channel names in the common EDF spellings,
and bad input (a channel that matches nothing or several, a recording too short for two Welch
segments, a truncated file, a flat or NaN channel) refused with the key and the value named:
at planning (``experiments.load``, where the file exists) or, for what needs the samples, when
the target is made, before any fit. Real files, written with the project's writer."""

from __future__ import annotations

import logging

import numpy as np
import pytest

mne = pytest.importorskip("mne")
pytest.importorskip("edfio")

from eegfit import experiments  # noqa: E402
from eegfit.data import recordings as rec  # noqa: E402
from eegfit.experiments import runner  # noqa: E402

SFREQ = 250.0
NAME = "rec_inputs"
AT = f"experiments.{NAME}"


def signals(names=("O1", "O2", "Cz"), n_s=20.0, seed=0) -> dict:
    """Channels in mV: a 10 Hz rhythm with noise on the first two, noise on the others."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(n_s * SFREQ)) / SFREQ
    return {n: (0.03 * np.sin(2 * np.pi * 10 * t + i) if i < 2 else 0.0)
            + 0.005 * rng.standard_normal(t.size) for i, n in enumerate(names)}


def block(path, **overrides) -> dict:
    """A small recording block for the file at ``path`` (no fit is run here)."""
    out = {"kind": "recording", "files": {"rest": str(path)}, "channels": ["O1", "O2"],
           "features": {"peak_frequency": {"band_hz": [6, 14]}},
           "model": {"drive": {"kind": "white_noise", "mean_hz": 220.0,
                               "sigma_hz_sqrt_s": 0.577}},
           "simulation": {"dt_ms": 0.5, "duration_ms": 5000.0, "transient_ms": 1000.0},
           "parameters": {"a": {"bounds": [80, 120], "start": 90}},
           "backends": {"nevergrad": {"optimizer": "DE", "num_candidates": 4, "n_steps": 2}}}
    out.update(overrides)
    return out


def load(path, **overrides):
    return experiments.load({"experiments": {NAME: block(path, **overrides)}})[NAME]


# ---- channel names --------------------------------------------------------------------------

SPELLINGS = ["O1", "EEG O1", "O1-A1", "O1-REF", "O1..", "O1.", "eeg o1-ref", "o1", "EEG O1-A2"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_10_20_name_finds_its_edf_spelling(spelling):
    names = [spelling, "EEG O2-REF", "Cz..", "O1-O2"]  # O1-O2: bipolar, never taken for O1
    assert rec.resolve_channels(["O1", "o2", "CZ"], names, "f.edf") == [
        spelling, "EEG O2-REF", "Cz.."]


def test_a_bipolar_derivation_is_not_the_channel():
    with pytest.raises(rec.RecordingError, match="'O1' matches no channel"):
        rec.resolve_channels(["O1"], ["O1-O2", "O2-A1"], "f.edf")


def test_the_files_own_name_wins():
    assert rec.resolve_channels(["O1"], ["EEG O1", "O1"], "f.edf") == ["O1"]
    assert rec.resolve_channels(["EEG O1"], ["EEG O1", "O1-REF"], "f.edf") == ["EEG O1"]


def test_none_or_several_matches_name_the_key_the_value_and_the_files_channels():
    names = ["EEG O1", "O1-REF", "EEG O2"]
    with pytest.raises(rec.RecordingError) as info:
        rec.resolve_channels(["O1"], names, "f.edf", "config experiments.x.channels")
    message = str(info.value)
    assert message.startswith("config experiments.x.channels: 'O1' matches several channels")
    assert "['EEG O1', 'O1-REF']" in message and "f.edf" in message
    with pytest.raises(rec.RecordingError) as info:
        rec.resolve_channels(["Oz"], names, "f.edf", "config experiments.x.channels")
    assert "'Oz' matches no channel" in str(info.value) and str(names) in str(info.value)


def test_a_file_with_edf_spellings_is_read_by_10_20_names(tmp_path, caplog):
    written = signals(("EEG O1-REF", "EEG O2-REF", "EEG Cz-REF"))
    path = rec.write(tmp_path / "rest.edf", written, SFREQ)
    with caplog.at_level(logging.INFO, logger="eegfit.data.recordings"):
        out = rec.load(path, channels=["O1", "O2"], band_pass=None)
    assert out.file_channels == ("EEG O1-REF", "EEG O2-REF")
    expected = (written["EEG O1-REF"] + written["EEG O2-REF"]) / 2
    np.testing.assert_allclose(out.pieces_mv[0], expected, atol=1e-4)
    assert "['O1', 'O2'] taken as the file's ['EEG O1-REF', 'EEG O2-REF']" in caplog.text
    # the reference channels too
    out = rec.load(path, channels=["O1"], reference=["cz"], band_pass=None)
    np.testing.assert_allclose(out.pieces_mv[0], written["EEG O1-REF"] - written["EEG Cz-REF"],
                               atol=1e-4)


def test_a_channel_the_file_lacks_is_refused_at_planning(tmp_path):
    path = rec.write(tmp_path / "rest.edf", signals(("EEG O1", "EEG O2", "EEG Cz")), SFREQ)
    assert load(path).spec.channels == ("O1", "O2")  # found: planning passes
    for channels, what in ((["O1", "Oz"], "'Oz' matches no channel"),
                           (["O1"], "'O1' matches several")):
        if "several" in what:
            path = rec.write(tmp_path / "two.edf", signals(("EEG O1", "O1-REF", "Cz")), SFREQ)
        with pytest.raises(ValueError) as info:
            load(path, channels=channels)
        message = str(info.value)
        assert f"config {AT}.channels: {what}" in message, message
        assert str(path) in message and "the file's channels: [" in message
    with pytest.raises(ValueError, match=f"config {AT}.reference: 'A1' matches no channel"):
        load(path, channels=["Cz"], reference=["A1"])


def test_a_demo_is_checked_by_the_channels_it_will_have(tmp_path):
    """The demo file does not exist at planning; its channels are known from demo.channels."""
    demo_path = f"results/{NAME}/inputs/demo.edf"
    demo = {"path": demo_path, "truth": {"a": 100.0}, "sfreq_hz": 250, "duration_s": 20,
            "gain_uv_per_mv": 10.0, "noise_uv": 2.0, "seed": 1, "channels": {"O1": 1.0}}
    with pytest.raises(ValueError, match=f"config {AT}.channels: 'O2' matches no channel of "
                                         f"recording file '{demo_path}'"):
        load(demo_path, demo=demo)
    assert load(demo_path, demo=demo, channels=["O1"]).spec.demo["channels"] == {"O1": 1.0}


def test_a_missing_file_is_left_to_the_job(tmp_path):
    """A file that does not exist yet (another rule may make it) is not read at planning."""
    assert load(tmp_path / "later.edf").spec.files == {"rest": str(tmp_path / "later.edf")}


# ---- a recording too short, a truncated file, a flat or NaN channel -------------------------

def test_a_recording_shorter_than_two_segments_is_refused_at_planning(tmp_path):
    path = rec.write(tmp_path / "short.edf", signals(n_s=2.0), SFREQ)  # one 2 s segment
    with pytest.raises(ValueError) as info:
        load(path)
    message = str(info.value)
    assert f"config {AT}.files.rest" in message and "1 Welch segment(s)" in message, message
    assert f"{AT}.segment_s" in message
    assert load(path, segment_s=1.0).spec.segment_s == 1.0  # 1 s segments: 3 of them
    windows = r"holds 1.5 s in its windows \(windows_s \[\[0.0, 1.5\]\]"
    with pytest.raises(ValueError, match=windows):
        load(path, segment_s=1.0, windows_s=[[0, 1.5]], overlap=0.0)
    with pytest.raises(ValueError, match=rf"{AT}.windows_s: .* window \[0.0, 5.0\] s lies beyond"):
        load(path, windows_s=[[0, 5]])


def truncated_copy(tmp_path, keep_s: float, n_s: float = 20.0, suffix: str = ".edf"):
    """An EDF (or BDF) of ``n_s`` s cut after about ``keep_s`` s of records (its header still
    says ``n_s``): what a recording not stopped cleanly, or a copy cut short, leaves."""
    path = rec.write(tmp_path / f"full{suffix}", signals(n_s=n_s), SFREQ)
    header = rec.read_header(path)
    assert header.header_duration_s == n_s and not header.truncated
    data = path.read_bytes()
    header_bytes = int(data[184:192].decode())
    per_second = (len(data) - header_bytes) / n_s
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[:header_bytes + int(keep_s * per_second) + 100])  # and a partial record
    return cut


@pytest.mark.parametrize("suffix", [".edf", ".bdf"])
def test_a_truncated_header_is_seen(tmp_path, suffix):
    """16-bit EDF and 24-bit BDF alike: the seconds held, the header's, the partial record."""
    header = rec.read_header(truncated_copy(tmp_path, keep_s=5.0, suffix=suffix))
    assert header.truncated and header.header_duration_s == 20.0
    assert header.used_duration_s == 5.0 and header.partial_bytes == 100


def test_a_truncated_file_is_refused_unless_accepted(tmp_path, caplog):
    cut = truncated_copy(tmp_path, keep_s=8.0)
    header = rec.read_header(cut)
    assert header.truncated and header.header_duration_s == 20.0
    assert header.used_duration_s == pytest.approx(8.0, abs=1.0) and header.partial_bytes > 0
    # the library refuses it (MNE alone reads the 8 s with a warning)
    with pytest.raises(rec.RecordingError, match="truncated: its header states 20 s but it holds"):
        rec.read(cut)
    # planning refuses it, naming the key that accepts it
    with pytest.raises(ValueError) as info:
        load(cut)
    message = str(info.value)
    assert f"{AT}.accept_truncated: true" in message and str(cut) in message, message
    assert f"holds {header.used_duration_s:g} s" in message
    # accepted: the seconds used are in the log and in the target's attrs
    kind = load(cut, accept_truncated=True)
    with caplog.at_level(logging.WARNING, logger="eegfit.data.recordings"):
        ds = runner.make_target(kind, kind.targets()[0])
    assert ds.attrs["truncated"] == 1 and ds.attrs["header_duration_s"] == 20.0
    assert ds.attrs["used_duration_s"] == pytest.approx(header.used_duration_s)
    assert ds.sizes["time"] == round(header.used_duration_s * SFREQ)
    assert f"the {header.used_duration_s:g} s it holds are used" in caplog.text


def test_a_whole_file_says_so(tmp_path):
    path = rec.write(tmp_path / "whole.edf", signals(n_s=10.0), SFREQ)
    kind = load(path)
    ds = runner.make_target(kind, kind.targets()[0])
    assert ds.attrs["truncated"] == 0 and ds.attrs["file_channels"] == "O1,O2"
    assert ds.attrs["used_duration_s"] == ds.attrs["header_duration_s"] == 10.0


def test_accept_truncated_must_be_a_boolean(tmp_path):
    with pytest.raises(ValueError, match=f"config {AT}.accept_truncated must be true or false"):
        load(tmp_path / "x.edf", accept_truncated="yes")


@pytest.mark.parametrize("bad", ["flat", "nan"])
def test_a_flat_or_nan_channel_stops_the_target_naming_it(tmp_path, bad):
    """Only the samples show it: the target (made before any fit) stops, naming the channel."""
    written = signals(("EEG O1", "EEG O2", "EEG Cz"))
    if bad == "flat":
        written["EEG O2"] = np.full_like(written["EEG O2"], 0.01)
        path = rec.write(tmp_path / "rest.edf", written, SFREQ)
    else:  # EDF stores integers: a NaN needs a FIF
        written["EEG O2"][100] = np.nan
        path = rec.write(tmp_path / "rest.fif", written, SFREQ)
    kind = load(path)  # planning reads no samples
    with pytest.raises(rec.RecordingError) as info:
        runner.make_target(kind, kind.targets()[0])
    message = str(info.value)
    assert "channel 'EEG O2' (channels 'O2')" in message and str(path) in message, message
    assert ("flat in window" if bad == "flat" else "NaN or infinite") in message
