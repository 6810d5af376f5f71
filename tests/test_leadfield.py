"""The EEG forward model from tvb-data: the region-level lead field (76 regions x 63 electrodes)
against a plain loop over the surface's vertices, its physics, the 10-20 names of a recording's
channels, and a 76-region Jansen-Rit network seen through it (finite channels, alpha at O1/O2/Oz).
Skipped, with the reason, where tvb-data (GPL-3, an optional extra) is not installed."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit.data import montage
from eegfit.observe.leadfield import LeadField, drop_rows, project, region_gain

OCCIPITAL = ("O1", "O2", "Oz", "Iz", "PO3", "PO4", "POz")
EDF = Path(__file__).resolve().parents[1] / "tests" / "data" / "S001R01.edf"


@pytest.fixture(scope="module")
def raw(tvb):
    """The files as read: raw names, positions, surface lead field, region mapping, labels."""
    names, positions = tvb.read_sensors()
    return {"names": names, "positions": positions, "projection": tvb.read_projection(),
            "rmap": tvb.read_region_mapping(), "labels": tvb.read_connectivity().labels}


@pytest.fixture(scope="module")
def lf(tvb):
    return tvb.lead_field()


def test_files_have_the_documented_shapes_and_nan_rows(raw, tvb):
    assert raw["projection"].shape == (65, 16384) and raw["rmap"].shape == (16384,)
    assert len(raw["labels"]) == 76 and raw["positions"].shape == (65, 3)
    nan_rows = [raw["names"][i] for i in np.flatnonzero(np.isnan(raw["projection"]).any(axis=1))]
    assert nan_rows == list(tvb.NAN_ROWS)
    assert np.isnan(raw["projection"][[raw["names"].index(n) for n in nan_rows]]).all()
    conn = tvb.read_connectivity()
    assert conn.weights.shape == conn.lengths_mm.shape == (76, 76)
    # the centres are the means of each region's vertices: the mapping and the labels agree
    assert conn.centres_mm.shape == (76, 3)
    sc = tvb.connectome()
    assert sc.n_nodes == 76 and np.isclose(sc.weights.sum(axis=1).max(), 1.0)
    assert np.isfinite(sc.lengths_mm).all() and sc.lengths_mm.max() > 100.0  # mm, not m or cm


def test_region_lead_field_is_the_sum_over_each_regions_vertices(raw, lf):
    assert lf.shape == (63, 76) and np.isfinite(lf.gain).all()
    assert "IO1" not in lf.electrodes and "IO2" not in lf.electrodes
    assert lf.regions == raw["labels"]
    # a plain loop over the 16,384 vertices, rows looked up by name
    expected = np.zeros((65, 76))
    for v, region in enumerate(raw["rmap"]):
        expected[:, region] += raw["projection"][:, v]
    rows = [[n.split("/")[0] for n in raw["names"]].index(e) for e in lf.electrodes]
    np.testing.assert_allclose(lf.gain, expected[rows], rtol=1e-12)
    counts = np.bincount(raw["rmap"], minlength=76)
    np.testing.assert_allclose(region_gain(raw["projection"], raw["rmap"], 76, "mean")[rows],
                               expected[rows] / counts, rtol=1e-12)


def test_region_gain_on_a_small_lead_field_where_a_transpose_would_show():
    g = np.arange(2 * 5, dtype=float).reshape(2, 5)  # 2 electrodes, 5 vertices
    rmap = np.array([2, 0, 2, 1, 0])                  # 3 regions, unordered
    np.testing.assert_array_equal(region_gain(g, rmap, 3), [[1 + 4, 3, 0 + 2], [6 + 9, 8, 5 + 7]])


@pytest.mark.parametrize(("call", "culprit"), [
    (lambda: region_gain(np.ones((2, 5)), np.zeros(4, int), 1), "one entry per vertex"),
    (lambda: region_gain(np.ones((2, 3)), np.array([0, 1, 3]), 3), r"in \[0, 3\)"),
    (lambda: region_gain(np.ones((2, 3)), np.array([0, 0, 2]), 3), r"regions \[1\] have no"),
    (lambda: region_gain(np.ones((2, 3)), np.array([0, 1, 2]), 3, "max"), "how must be"),
    (lambda: drop_rows(np.ones((2, 3)), ("A", "B"), ("IO1",)), r"drop: \['IO1'\]"),
    (lambda: LeadField(np.array([[1.0, np.nan]]), ("IO1",), np.zeros((1, 3)), ("a", "b"), ((),)),
     r"electrodes \['IO1'\]"),
    (lambda: LeadField(np.ones((2, 3)), ("A", "B"), np.zeros((2, 3)), ("a", "b"), ((), ())),
     r"shape \(electrodes, regions\) = \(2, 2\)"),
    (lambda: project(jnp.ones((4, 3)), np.ones((2, 5))), "3 regions"),
    (lambda: project(jnp.ones((4, 3)), np.ones((2, 3)), reference="Cz"), "reference must be"),
])
def test_bad_input_names_the_culprit(call, culprit):
    with pytest.raises(ValueError, match=culprit):
        call()


def test_nan_rows_left_in_are_refused_by_name(tvb, raw):
    names, aliases = montage.split_names(raw["names"])
    gain = region_gain(raw["projection"], raw["rmap"], 76)
    with pytest.raises(ValueError, match=r"electrodes \['IO1', 'IO2'\]"):
        LeadField(gain, names, raw["positions"], raw["labels"], aliases)


@pytest.mark.parametrize(("old", "new"), [("T3", "T7"), ("T4", "T8"), ("T5", "P7"), ("T6", "P8")])
def test_each_10_20_alias_finds_its_electrode(lf, tvb, old, new):
    assert lf.electrodes[montage.match([old], lf.electrodes, lf.aliases)[0]] == new
    # an alias known from the table alone (a source that gives only the new name)
    names, aliases = montage.split_names([new, "Cz"])
    assert montage.match([old.lower() + "..", "EEG CZ-REF"], names, aliases) == [0, 1]
    with pytest.raises(ValueError, match=rf"name the same electrodes \['{new}'\]"):
        tvb.for_channels([old, new.lower()])


def test_channels_are_matched_in_their_order_and_unknown_ones_are_listed(lf, tvb):
    picked = tvb.for_channels(["Oz..", "EEG O1-REF", "Fc5."])
    assert picked.electrodes == ("Oz", "O1", "FC5")
    np.testing.assert_array_equal(picked.gain[1], lf.gain[lf.electrodes.index("O1")])
    with pytest.raises(ValueError, match=r"\['XYZ', 'IO1'\] match no electrode.*'Fp1'"):
        tvb.for_channels(["O1", "XYZ", "IO1"])


def test_the_real_recordings_channels_find_their_rows(tvb, lf):
    pytest.importorskip("mne")
    from eegfit.data.recordings import read_header

    names = read_header(EDF).names
    found = [n for n in names if _matches(n, lf)]
    # 53 of the 64: the 65-electrode montage has no FC3/4, CP3/4, AFz, FT7/8, T9/10, PO7/8
    assert len(names) == 64 and sorted(set(names) - set(found)) == sorted(
        ["Fc3.", "Fc4.", "Cp3.", "Cp4.", "Afz.", "Ft7.", "Ft8.", "T9..", "T10.", "Po7.", "Po8."])
    assert tvb.for_channels(found).shape == (53, 76)


def _matches(name, lf):
    try:
        montage.match([name], lf.electrodes, lf.aliases)
    except ValueError:
        return False
    return True


def test_the_mne_montage_from_the_files_positions_matches_mnes_template(lf):
    mne = pytest.importorskip("mne")
    ours = montage.to_mne(lf.electrodes, lf.positions_mm).get_positions()["ch_pos"]
    assert set(ours) == set(lf.electrodes)  # CB1 and CB2 too, which MNE's templates lack
    template = {k.upper(): v for k, v in mne.channels.make_standard_montage(
        "colin27_1005").get_positions()["ch_pos"].items()}
    shared = [n for n in lf.electrodes if n.upper() in template]
    a = np.array([ours[n] for n in shared])
    b = np.array([template[n.upper()] for n in shared])
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)  # directions from the shared sites' centroid
    angle = np.degrees(np.arccos(np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1)
                                 / np.linalg.norm(b, axis=1)))
    assert len(shared) == 61 and np.median(angle) < 10.0 and angle.max() < 20.0
    assert 0.9 < np.linalg.norm(a, axis=1).mean() / np.linalg.norm(b, axis=1).mean() < 1.1  # m


def test_physics_occipital_sources_lateral_sources_and_dipole_signs(lf, tvb):
    gain = np.abs(lf.gain)
    for region in ("lV1", "rV1", "lV2", "rV2"):  # the strongest electrode is occipital
        assert lf.electrodes[int(np.argmax(gain[:, lf.regions.index(region)]))] in OCCIPITAL
    # lateral regions are stronger on their own side (odd numbers left, even right)
    digits = [int("".join(c for c in e if c.isdigit()) or 0) for e in lf.electrodes]
    left = np.array([d % 2 == 1 for d in digits])
    right = np.array([d > 0 and d % 2 == 0 for d in digits])
    for area in ("A1", "A2", "S1", "S2", "M1", "TCS", "TCI", "PFCVL", "PMCVL"):
        for side, own, other in (("l", left, right), ("r", right, left)):
            col = gain[:, lf.regions.index(side + area)]
            assert col[own].mean() > 1.2 * col[other].mean(), side + area
    # the sign at each electrode follows the region's mean normal as a dipole's does
    # (sign of n . (electrode - centre)) at most (electrode, region) pairs; chance once the
    # regions are shuffled (what a wrong region index would give)
    conn = tvb.read_connectivity()
    dipole = np.einsum("rk,erk->er", conn.orientations,
                       lf.positions_mm[:, None, :] - conn.centres_mm[None])
    assert np.mean(np.sign(dipole) == np.sign(lf.gain)) > 0.8
    shuffled = lf.gain[:, np.random.default_rng(0).permutation(76)]
    assert np.mean(np.sign(dipole) == np.sign(shuffled)) < 0.6


def test_project_is_the_product_with_an_average_reference_and_differentiable(lf):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 76))
    plain = np.asarray(project(x, lf.gain, reference="none"))
    scale = np.abs(plain).max()  # float32: compare to 1e-5 of the largest channel value
    np.testing.assert_allclose(plain, x @ lf.gain.T, rtol=0, atol=1e-5 * scale)
    avg = np.asarray(project(x, lf.gain))
    expected = x @ lf.gain.T
    np.testing.assert_allclose(avg, expected - expected.mean(axis=1, keepdims=True), rtol=0,
                               atol=1e-5 * scale)
    assert np.abs(avg.sum(axis=1)).max() < 1e-5 * np.abs(avg).max()
    w = rng.standard_normal((50, 63))
    grad = jax.grad(lambda a: jnp.sum(project(a, lf.gain) * w))(jnp.asarray(x))
    expected = w @ (lf.gain - lf.gain.mean(axis=0))
    np.testing.assert_allclose(grad, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


@pytest.fixture(scope="module")
def network_eeg(tvb, lf):
    """``(k, seed) -> (time, 63)`` EEG of the 76-region JR network (10 m/s delays) through the
    lead field: 2 s after 0.5 s at 0.5 ms (Heun); k is a leaf, so one compiled program."""
    from eegfit.models.network import network
    from eegfit.simulate import simulate

    sc = tvb.connectome()

    def run(k, seed):
        model = network(sc.weights, k=k, lengths_mm=sc.lengths_mm, speed_m_s=10.0,
                        interval_ms=5.0)
        nodes = simulate(model, duration_ms=2500.0, dt_ms=0.5, transient_ms=500.0,
                         integrator="heun", key=jax.random.key(seed)).observable
        return project(nodes, lf.gain)
    return run


def welch_1s(eeg):
    from eegfit.signal.spectral import welch

    freqs, power, _ = welch(eeg, fs_hz=2000.0, segment_s=1.0)
    return np.asarray(freqs), power


def test_a_76_region_network_projects_to_finite_channels_with_occipital_alpha(lf, network_eeg):
    from eegfit.signal.spectral import band_mask

    eeg = network_eeg(50.0, 0)
    assert eeg.shape == (4000, 63) and bool(jnp.isfinite(eeg).all())
    freqs, power = welch_1s(eeg)
    power = np.asarray(power)
    total, alpha = band_mask(freqs, (2.0, 40.0)), band_mask(freqs, (8.0, 13.0))
    for name in ("O1", "O2", "Oz"):
        p = power[:, lf.electrodes.index(name)]
        assert 8.0 <= freqs[total][np.argmax(p[total])] <= 13.0, name
        assert p[alpha].sum() > 0.5 * p[total].sum(), name


def test_the_sensor_likelihood_of_the_network_is_at_chance_at_the_truth(network_eeg):
    """All 63 channels, one gain: another noise seed at the target's coupling scores its
    expected value (n/2 for n whitened entries), an uncoupled network far above it."""
    from eegfit.signal import likelihood, sensor
    from eegfit.signal.spectral import band_mask

    freqs, target = welch_1s(network_eeg(50.0, 0))
    mask = band_mask(freqs, (2.0, 40.0))
    dof = likelihood.welch_dof(3, 2000)  # 3 one-second segments, half overlapping
    lmat = likelihood.decorrelation(np.full(mask.sum(), likelihood.log_psd_sd(dof, dof)), 2000)
    target = sensor.band_log_psd(target, mask)

    def nll(k):
        return float(sensor.negative_log_likelihood(welch_1s(network_eeg(k, 1))[1], mask, lmat,
                                                    target))
    chance = 0.5 * (target.size - 1)
    assert abs(nll(50.0) / chance - 1.0) < 0.25
    assert nll(0.0) > 2.0 * chance
