"""A real resting EEG fitted end to end by Snakemake: PhysioNet's eegmmidb subject 1, run 1
(``tests/data/S001R01.edf``: eyes open, 64 channels named like ``O1..``, 160 Hz, 61 s; credit in
``tests/data/README.md``), its occipital channels named in the config as ``O1`` and ``O2``.

The fit reads the recording's log-PSD over 2-40 Hz through the spectral likelihood, with an
aperiodic 1/f^chi background profiled out (eegfit.observe.spectrum). Checked against fooof (its
"fixed" aperiodic fit over the same band, code we did not write): the fitted exponent and offset
agree with fooof's (measured 1.87 vs 1.81, -2.92 vs -2.89 log10 mV^2/Hz), the fit's chi-square
says the model with its background makes the spectrum (p 0.72; without the background the same
fit ends at the box's edge, a = 140, with chi2/dof 4.1), and the fitted model's alpha peak lies
within 1 Hz of the recording's alpha (the centre of gravity of its 6-14 Hz power above fooof's
background: 11.2 Hz; the model's soft-argmax 10.8 Hz). Why 1 Hz: two bins of the 2 s Welch grid;
the recording has two bumps in 6-14 Hz (8.4 Hz, weak alpha with eyes open, and 12.5 Hz) that one
column cannot make separately. The fit starts at (a, b) = (85, 42), whose peak lies about 2 Hz
from the recording's, so a fit that does not move fails.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import xarray as xr

from eegfit import experiments
from eegfit.experiments.base import as_float, keys
from test_pipeline import ROOT, SMALL, copy_workflow, snakemake

mne = pytest.importorskip("mne")
edfio = pytest.importorskip("edfio")
fooof = pytest.importorskip("fooof")
pytestmark = pytest.mark.slow

EDF = ROOT / "tests" / "data" / "S001R01.edf"
NAME = "real_recording"
OUT = f"results/{NAME}"
WINDOW_S = (1.0, 60.0)
PEAK_TOLERANCE_HZ = 1.0
BLOCK = {
    "kind": "recording",
    "files": {"S001R01": str(EDF)},
    "channels": ["O1", "O2"],  # the file names them "O1..", "O2.."
    "windows_s": [list(WINDOW_S)],
    "segment_s": 2.0,
    "features": {"peak_frequency": {"band_hz": [6, 14], "sharpness": 10}},
    "band_hz": [2, 40],
    "aperiodic": {"exponent": [0, 4]},
    "model": {"drive": {"kind": "white_noise", "mean_hz": 220.0, "sigma_hz_sqrt_s": 0.577}},
    "n_realisations": 4,
    "simulation": {"dt_ms": 0.5, "duration_ms": 5000.0, "transient_ms": 1000.0,
                   "integrator": "heun"},
    "parameters": {"a": {"bounds": [60, 140], "start": 85}, "b": {"bounds": [30, 80],
                                                                  "start": 42}},
    "seeds": [0],
    "backends": {"nevergrad": {"optimizer": "DE", "num_candidates": 8, "n_steps": 5,
                               "options": {"popsize": 8, "initialization": "LHS"}}},
}
CONFIG = {**copy.deepcopy(SMALL), "experiments": {**SMALL["experiments"], NAME: BLOCK}}
TARGET = f"{OUT}/targets/S001R01/seed=0.nc"
FIT = f"{OUT}/fits/nevergrad/S001R01/seed=0.nc"
OUTPUTS = [f"{OUT}/summary.csv", f"{OUT}/figures/psd_S001R01.png"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("real_recording"))
    snakemake(workdir, *OUTPUTS, config=CONFIG)
    return workdir


def occipital_mean_mv() -> tuple[np.ndarray, float]:
    """The mean of O1.. and O2.. read with edfio (not MNE), band-passed as the config says."""
    signals = {s.label: s for s in edfio.read_edf(EDF).signals}
    o1, o2 = signals["O1.."], signals["O2.."]
    assert o1.physical_dimension == "uV" and o1.sampling_frequency == 160
    mean_mv = 1e-3 * (o1.data + o2.data) / 2
    return mne.filter.filter_data(mean_mv, 160.0, 1.0, 45.0, verbose="error"), 160.0


def test_the_target_is_the_files_occipital_channels(run):
    with xr.open_dataset(run / TARGET) as ds:
        assert ds.attrs["file_channels"] == "O1..,O2.."  # found from "O1", "O2"
        assert ds.attrs["used_duration_s"] == ds.attrs["header_duration_s"] == 61.0
        assert ds.attrs["truncated"] == 0
        expected, fs = occipital_mean_mv()
        i0, i1 = (int(round(t * fs)) for t in WINDOW_S)
        np.testing.assert_allclose(ds["eeg"].values, expected[i0:i1], rtol=1e-6,
                                   atol=1e-6 * np.abs(expected).max())
        assert ds.sizes["segment"] == 58
        peak_hz = float(ds["peak_frequency"])
    assert 11.0 < peak_hz < 12.5, peak_hz  # the two bumps' soft-argmax (module docstring)
    log = (run / "logs" / "targets" / NAME / "chunk0.log").read_text()
    assert "channel(s) ['O1', 'O2'] taken as the file's ['O1..', 'O2..']" in log, log


def fooof_fit(target):
    """fooof's fit (fixed aperiodic mode) of the target's Welch PSD over 2-40 Hz."""
    model = fooof.FOOOF(aperiodic_mode="fixed", verbose=False)
    model.fit(target["frequency"].values, target["psd"].values, [2, 40])
    return model


def recordings_alpha_hz(target, model) -> float:
    """The centre of gravity of the recording's 6-14 Hz power above fooof's background."""
    freqs, psd = target["frequency"].values, target["psd"].values
    offset, exponent = model.aperiodic_params_
    band = (freqs >= 6) & (freqs <= 14)
    periodic = np.clip(psd[band] - 10 ** offset * freqs[band] ** -exponent, 0, None)
    return float(np.sum(freqs[band] * periodic) / np.sum(periodic))


def test_the_background_and_the_alpha_peak_are_the_recordings(run):
    with xr.open_dataset(run / FIT) as fit, xr.open_dataset(run / TARGET) as target:
        reference = fooof_fit(target)
        alpha_hz = recordings_alpha_hz(target, reference)
        model_hz = float(fit["model_peak_frequency"])
        best = {name: float(fit[f"best_{name}"]) for name in BLOCK["parameters"]}
        exponent, offset = float(fit["aperiodic_exponent"]), float(fit["aperiodic_offset"])
        p_value = float(fit["fit_p_value"])
        assert fit["model_aperiodic_psd"].dims == ("frequency",)
    assert abs(exponent - reference.aperiodic_params_[1]) < 0.3, (exponent, reference)
    assert abs(offset - reference.aperiodic_params_[0]) < 0.3, (offset, reference)
    assert p_value > 0.01, p_value  # the column and its background make the spectrum
    assert abs(model_hz - alpha_hz) < PEAK_TOLERANCE_HZ, (model_hz, alpha_hz, best)
    # the fit moved: the model's peak at the start (same noise: the fit's key) is further off
    kind = experiments.build(NAME, BLOCK)
    start = {p.name: as_float(p.start) for p in kind.spec.parameters}
    start_hz = float(kind.model_features(kind.model_at(start), keys(0)[1])["peak_frequency"])
    assert abs(start_hz - alpha_hz) > PEAK_TOLERANCE_HZ, (start_hz, alpha_hz)


def test_the_summary_and_figure_exist(run):
    import pandas as pd

    table = pd.read_csv(run / OUT / "summary.csv")
    assert list(table["parameter"]) == ["a", "b"] and table["truth"].isna().all()
    assert table["fitted"].notna().all()
    assert (run / OUTPUTS[1]).stat().st_size > 1000


def test_a_truncated_copy_is_refused_at_planning_unless_accepted(run, tmp_path):
    """The first 200 kB of the file (8 whole records of 1 s; its header still says 61):
    MNE alone would read the 8 s with a warning nobody sees."""
    cut = tmp_path / "S001R01_cut.edf"
    cut.write_bytes(EDF.read_bytes()[:200_000])
    config = copy.deepcopy(CONFIG)
    config["experiments"][NAME].update(files={"cut": str(cut)}, windows_s=None)
    target = f"{OUT}/targets/cut/seed=0.nc"
    proc = snakemake(run, "-n", target, config=config, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert (f"recording file '{cut}' is truncated: its header states 61 s but it holds 8 s"
            in out), out[-3000:]
    assert f"set experiments.{NAME}.accept_truncated: true" in out
    config["experiments"][NAME]["accept_truncated"] = True
    snakemake(run, target, config=config)
    with xr.open_dataset(run / target) as ds:
        assert ds.attrs["truncated"] == 1 and ds.attrs["used_duration_s"] == 8.0
        assert ds.attrs["header_duration_s"] == 61.0 and ds.sizes["time"] == 8 * 160
    log = (run / "logs" / "targets" / NAME / "chunk0.log").read_text()
    assert "accept_truncated: true, so the 8 s it holds are used" in log, log
