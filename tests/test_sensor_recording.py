"""A recording's channels matched to the lead field (:mod:`eegfit.data.recordings.sensor`): an EDF
written here from node activity projected through the lead field reads back as the model's
average-referenced channels, whatever the EDF spelling or 10-20 alias of their names; the real
64-channel recording gives its 53 shared channels; bad channels are refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eegfit.data.recordings import RecordingError, write
from eegfit.observe.leadfield import project

pytest.importorskip("mne")
pytest.importorskip("edfio")
REAL = Path(__file__).resolve().parent / "data" / "S001R01.edf"
# the file's names: EDF spellings and the old 10-20 names of T7, T8, P7, P8
SPELLED = {"O1..": "O1", "Oz..": "Oz", "EEG O2-REF": "O2", "T3..": "T7", "T4": "T8", "t5": "P7",
           "T6-A1": "P8", "Fc5.": "FC5", "Cz..": "Cz", "Fp1.": "Fp1"}


@pytest.fixture(scope="module")
def lf(tvb):
    return tvb.lead_field()


@pytest.fixture(scope="module")
def written(lf, tmp_path_factory):
    """An EDF of 10 channels (plus one the lead field lacks) projected from random node activity
    (no reference), ~100 µV; and that activity."""
    rng = np.random.default_rng(0)
    nodes = 1e-5 * rng.standard_normal((1600, 76))  # 10 s at 160 Hz
    rows = [lf.electrodes.index(v) for v in SPELLED.values()]
    sensors = np.asarray(project(nodes, lf.gain[rows], reference="none"))
    signals = {name: sensors[:, i] for i, name in enumerate(SPELLED)}
    signals["T9.."] = 0.1 * rng.standard_normal(1600)
    return write(tmp_path_factory.mktemp("edf") / "net.edf", signals, 160.0), nodes


def test_an_edf_of_projected_activity_reads_back_as_the_models_channels(lf, written):
    from eegfit.data.recordings import sensor as sensor_recording

    path, nodes = written
    rec = sensor_recording.load(path, lf, band_pass=None)
    assert rec.file_channels == tuple(SPELLED) and rec.channels == tuple(SPELLED.values())
    # the model's signal: the same nodes through the same rows, averaged over the same channels
    expected = np.asarray(project(nodes, rec.lead_field.gain)).T
    scale = np.abs(expected).max()
    np.testing.assert_allclose(rec.data_mv, expected, rtol=0, atol=1e-3 * scale)  # 16-bit EDF
    assert np.abs(rec.data_mv.sum(axis=0)).max() < 1e-9 * scale


def test_named_channels_keep_their_order_and_are_filtered(lf, written):
    from eegfit.data.recordings import sensor as sensor_recording

    path, _ = written
    rec = sensor_recording.load(path, lf, channels=["P8", "O1"])
    assert rec.file_channels == ("T6-A1", "O1..") and rec.lead_field.shape == (2, 76)
    assert rec.band_pass == {"low_hz": 1.0, "high_hz": 45.0}


@pytest.mark.parametrize(("channels", "error", "culprit"), [
    (["O1", "T9"], ValueError, r"\['T9'\] match no electrode"),  # not in the lead field
    (["O1", "PO4"], RecordingError, r"'PO4' \(electrode.*matches no channel"),  # not in file
    (["O1"], ValueError, "at least 2"),
])
def test_bad_channels_are_refused_by_name(lf, written, channels, error, culprit):
    from eegfit.data.recordings import sensor as sensor_recording

    with pytest.raises(error, match=culprit):
        sensor_recording.load(written[0], lf, channels=channels)


def test_the_real_recording_shares_53_channels(lf):
    from eegfit.data.recordings import sensor as sensor_recording

    rec = sensor_recording.load(REAL, lf)
    assert rec.data_mv.shape == (53, 61 * 160) and np.isfinite(rec.data_mv).all()
    assert rec.channels[:3] == ("FC5", "FC1", "FCz") and rec.file_channels[:3] == (
        "Fc5.", "Fc1.", "Fcz.")
    assert np.abs(rec.data_mv.sum(axis=0)).max() < 1e-9 * np.abs(rec.data_mv).max()
