"""The second lead field: MNE's spherical head model with one dipole per region of tvb-data's
connectome (:func:`eegfit.observe.leadfield.sphere_gain`, :func:`eegfit.data.tvb.sphere_lead_field`).

A dipole's potential against a plain-NumPy Legendre series of a current source in an insulated
homogeneous sphere (not MNE's code); the frames of tvb-data's electrodes and regions (the
electrodes on the scalp and on the sphere, the centres inside it); the region topographies against
the surface lead field's; bad input named. Skipped where tvb-data or MNE is missing."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.polynomial import legendre

from eegfit.observe.leadfield import sphere_gain

pytest.importorskip("mne")
SIGMA_S_M = 0.33


def monopole(electrodes_m, source_m, radius_m, n_terms=400):
    """Potential (V per A) on the surface of an insulated homogeneous sphere (centre 0) of a unit
    current source at ``source_m`` (its sink spread evenly: the n = 0 term left out). Outside
    the source, 1/d expands in Legendre polynomials of the angle between them; the regular
    part that cancels the normal current at r = R has coefficients (n + 1) b^n / (n R^(2n+1)),
    so at the surface V = sum_n (2n + 1) / n (b / R)^n P_n(cos angle) / (4 pi sigma R)."""
    b = np.linalg.norm(source_m)
    cos = electrodes_m @ source_m / (np.linalg.norm(electrodes_m, axis=1) * b)
    n = np.arange(1, n_terms + 1)
    coef = np.concatenate([[0.0], (2 * n + 1) / n * (b / radius_m) ** n])
    return legendre.legval(cos, coef) / (4 * np.pi * SIGMA_S_M * radius_m)


def dipole(electrodes_m, source_m, moment, radius_m, h_m=1e-7):
    """A unit dipole: the moment times the gradient of :func:`monopole` in the source's
    position (central differences)."""
    steps = h_m * np.eye(3)
    return sum(moment[k] * (monopole(electrodes_m, source_m + steps[k], radius_m)
                            - monopole(electrodes_m, source_m - steps[k], radius_m)) / (2 * h_m)
               for k in range(3))


@pytest.mark.parametrize("r0_mm", [(0.0, 0.0, 0.0), (5.0, -3.0, 40.0)])
def test_a_dipole_in_a_homogeneous_sphere_is_the_legendre_series(r0_mm):
    """MNE's sphere model with two shells of one conductivity (a homogeneous sphere) through
    :func:`sphere_gain` (frames, orientations, the sphere's centre) against the series, at 20
    electrodes on the upper half of the sphere and three dipoles: equal to 1e-5 (measured 2e-7)."""
    rng = np.random.default_rng(0)
    radius_mm = 90.0
    u = rng.standard_normal((20, 3))
    u[:, 2] = np.abs(u[:, 2])
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    r0 = np.asarray(r0_mm)
    electrodes_mm = r0 + radius_mm * u
    centres_mm = r0 + np.array([[10.0, 20.0, 30.0], [0.0, -40.0, 50.0], [60.0, 0.0, 10.0]])
    orientations = np.array([[0.0, 0.0, 2.0], [1.0, 1.0, 0.0], [0.3, -0.5, 0.8]])
    gain, geometry = sphere_gain([f"E{i}" for i in range(20)], electrodes_mm, centres_mm,
                                 orientations, head_radius_mm=radius_mm, r0_mm=r0_mm,
                                 relative_radii=(0.99, 1.0), sigmas=(SIGMA_S_M, SIGMA_S_M))
    np.testing.assert_allclose(geometry["r0_mm"], r0, atol=1e-9)
    assert not geometry["moved_mm"].any()
    for j in range(3):
        moment = orientations[j] / np.linalg.norm(orientations[j])
        want = dipole((electrodes_mm - r0) / 1e3, (centres_mm[j] - r0) / 1e3, moment,
                      radius_mm / 1e3)
        np.testing.assert_allclose(gain[:, j], want, rtol=0, atol=1e-5 * np.abs(want).max())


@pytest.fixture(scope="module")
def both(tvb):
    return tvb.lead_field(model="sphere"), tvb.lead_field()


def test_the_frames_agree_electrodes_on_scalp_and_sphere_centres_inside(tvb, both):
    """tvb-data's electrodes (Brainstorm's frame) moved by the fitted offset onto its scalp
    (the surface's frame): a median 4.3 mm from a scalp vertex; MNE's sphere fitted to them
    has them on it (median distance from its centre 1.00 of its radius) and every region centre
    in its inner shell, two frontal poles moved there by under 0.5 mm."""
    from scipy.spatial import cKDTree

    sphere, surface = both
    offset = tvb.electrode_offset_mm()
    np.testing.assert_allclose(offset, [10.4, -0.2, 61.3], atol=0.05)
    positions = tvb.read_sensors()[1]
    distance = cKDTree(tvb.read_scalp()).query(positions - offset)[0]
    assert np.median(distance) < 5.0 and distance.max() < 10.0, distance
    conn = tvb.read_connectivity()
    _, geometry = sphere_gain(sphere.electrodes, sphere.positions_mm, conn.centres_mm + offset,
                          conn.orientations)
    on = np.linalg.norm(sphere.positions_mm - geometry["r0_mm"], axis=1) / geometry["radius_mm"]
    assert abs(np.median(on) - 1.0) < 0.01, np.median(on)
    inside = np.linalg.norm(conn.centres_mm + offset - geometry["r0_mm"], axis=1)
    assert (inside < geometry["inner_radius_mm"] + 0.5).all()
    assert geometry["moved_mm"].max() < 0.5 and (geometry["moved_mm"] > 0).sum() == 2
    assert sphere.electrodes == surface.electrodes and sphere.regions == surface.regions
    assert sphere.units == "V/(A m)" and sphere.model == "sphere"


def topography_correlation(a, b):
    """Per region: the correlation over the electrodes of its average-referenced columns."""
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    return np.sum(a * b, axis=0) / np.sqrt(np.sum(a * a, axis=0) * np.sum(b * b, axis=0))


def agrees(sphere_gain_, surface_gain) -> bool:
    r = topography_correlation(sphere_gain_, surface_gain)
    return bool(np.median(r) > 0.95 and r.min() > 0.86)


def test_the_sphere_and_the_surface_lead_fields_region_topographies_agree(both):
    """Each region's topography on the 63 electrodes correlates with the surface lead field's
    (median 0.984, lowest 0.878: rTCS; V1 0.90): the two forward models and the frames agree.
    Two neighbouring regions (rA1, rA2), two homologous ones (rA1, lA1) or two electrodes (Fp1,
    Fp2) swapped in the sphere's gain fail the same check."""
    sphere, surface = both
    r = topography_correlation(sphere.gain, surface.gain)
    assert agrees(sphere.gain, surface.gain), (np.median(r), r.min())
    labels, electrodes = list(sphere.regions), list(sphere.electrodes)
    for a, b in (("rA1", "rA2"), ("rA1", "lA1")):
        i, j = labels.index(a), labels.index(b)
        swapped = sphere.gain.copy()
        swapped[:, [i, j]] = swapped[:, [j, i]]
        assert not agrees(swapped, surface.gain), (a, b)
    i, j = electrodes.index("Fp1"), electrodes.index("Fp2")
    swapped = sphere.gain.copy()
    swapped[[i, j]] = swapped[[j, i]]
    assert not agrees(swapped, surface.gain)


@pytest.mark.parametrize(("change", "culprit"), [
    ({"model": "bem"}, r"sensor_k\.lead_field\.model must be one of \['surface', 'sphere'\]"),
    ({"model": "sphere", "head_radius_mm": 0}, r"sensor_k\.lead_field\.head_radius_mm must"),
    ({"model": "sphere", "head_radius_mm": -90}, r"sensor_k\.lead_field\.head_radius_mm must"),
    ({"head_radius_mm": 90}, r"sensor_k\.lead_field\.head_radius_mm is a key of model: sphere"),
    ({"model": "sphere", "how": "mean"}, r"sensor_k\.lead_field\.how is a key of model: surface"),
    ({"model": "sphere", "head_radius_mm": 40},
     r"sensor_k\.lead_field .*more than 5 mm outside the sphere's inner shell"),
])
def test_bad_lead_field_keys_are_refused_naming_the_key(tvb, change, culprit):
    from test_sensor_kind import build

    with pytest.raises(ValueError, match=culprit):
        build(lead_field=change)


def test_sphere_gain_refuses_a_non_positive_radius_and_bad_shapes():
    with pytest.raises(ValueError, match="head_radius_mm must be > 0"):
        sphere_gain(["A", "B"], np.eye(2, 3), np.zeros((1, 3)), np.ones((1, 3)), head_radius_mm=0)
    with pytest.raises(ValueError, match="orientations"):
        sphere_gain(["A", "B"], np.eye(2, 3), np.zeros((1, 3)), np.ones((2, 3)))
