"""The sensor FC by measure, band and channel group (:mod:`eegfit.signal.fc`, the sensor kind's
``fc`` block): the JAX coherence against SciPy's on the same Welch segments, the pairs within
and between channel groups, the misfit's gradient against finite differences, bad keys named."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal

from eegfit.signal import fc

FS_HZ = 250.0


def mixed(n_s: float = 8.0, seed: int = 1) -> np.ndarray:
    """Four channels ``(time, channel)``: two share a source (one of them 3 samples late, so
    their coherency has an imaginary part), one is independent, one a sign-flipped copy."""
    rng = np.random.default_rng(seed)
    n = int(n_s * FS_HZ)
    common = rng.standard_normal(n)
    return np.stack([common + 0.5 * rng.standard_normal(n),
                     np.roll(common, 3) + rng.standard_normal(n),
                     rng.standard_normal(n),
                     -common + rng.standard_normal(n)], axis=1)


def scipy_band_coherence(x, band_hz, imaginary=False, segment_s=1.0, overlap=0.5):
    nperseg = int(segment_s * FS_HZ)
    kw = {"fs": FS_HZ, "window": "hann", "nperseg": nperseg, "noverlap": int(overlap * nperseg)}
    out = np.zeros((x.shape[1], x.shape[1]))
    for a in range(x.shape[1]):
        for b in range(x.shape[1]):
            freqs, cxy = signal.coherence(x[:, a], x[:, b], **kw)
            if imaginary:
                _, pxy = signal.csd(x[:, a], x[:, b], **kw)
                _, paa = signal.welch(x[:, a], **kw)
                _, pbb = signal.welch(x[:, b], **kw)
                cxy = np.imag(pxy) / np.sqrt(paa * pbb)
            band = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
            out[a, b] = cxy[band].mean()
    return out


@pytest.mark.parametrize("imaginary", [False, True])
@pytest.mark.parametrize(("segment_s", "overlap"), [(1.0, 0.5), (0.5, 0.25)])
def test_the_jax_coherence_is_scipys(imaginary, segment_s, overlap):
    """Magnitude-squared coherence (``scipy.signal.coherence``) and imaginary coherency (from
    ``scipy.signal.csd`` and ``welch``), averaged over the bins of 8-13 Hz: equal to 1e-10 in
    float64 (the recording's path) and to 1e-5 in float32 (the model's)."""
    x = mixed()
    want = scipy_band_coherence(x, (8.0, 13.0), imaginary, segment_s, overlap)
    measure = "imaginary_coherence" if imaginary else "coherence"
    got64 = fc.recorded_fc(x.T, FS_HZ, (8.0, 13.0), measure, segment_s=segment_s,
                           overlap=overlap)
    np.testing.assert_allclose(got64, want, atol=1e-10)
    got32 = fc.band_fc(jnp.asarray(x, jnp.float32), FS_HZ, (8.0, 13.0), measure,
                       segment_s=segment_s, overlap=overlap)
    np.testing.assert_allclose(np.asarray(got32), want, atol=1e-5)
    if imaginary:  # the shared source's lag shows; antisymmetric
        assert abs(want[0, 1]) > 0.2 and np.allclose(want, -want.T)
    else:
        assert want[0, 1] > 0.3 and want[0, 2] < 0.15 and np.allclose(np.diag(want), 1.0)


CHANNELS = ["Fp1", "O1", "C3", "O2", "Fz"]
GROUPS = {"frontal": ["Fp1", "Fz"], "occipital": ["O1", "O2"], "central": ["C3"]}


def test_group_pairs_are_the_pairs_within_and_between_the_named_groups():
    mask = fc.group_pairs(CHANNELS, GROUPS, ("frontal", "occipital"))
    picked = {(CHANNELS[i], CHANNELS[j]) for i, j in zip(*np.nonzero(mask))}
    assert picked == {("Fp1", "O1"), ("Fp1", "O2"), ("Fp1", "Fz"), ("O1", "O2"), ("O1", "Fz"),
                      ("O2", "Fz")}
    assert fc.group_pairs(CHANNELS, GROUPS, ("central",) * 1 + ("occipital",)).sum() == 3
    np.testing.assert_array_equal(fc.group_pairs(CHANNELS, GROUPS), np.triu(np.ones((5, 5)), 1))
    with pytest.raises(ValueError, match=r"groups \['back'\] are not channel groups"):
        fc.group_pairs(CHANNELS, GROUPS, ("back",))
    with pytest.raises(ValueError, match="hold 1 of the channels"):
        fc.group_pairs(CHANNELS, GROUPS, ("central",))


def test_the_misfit_over_group_pairs_reads_each_pair_once_in_its_order():
    """A model FC that is antisymmetric (an imaginary coherency) against a target with no
    symmetry: the misfit over the frontal-occipital pairs equals the RMSE of the Fisher z over
    exactly those ``[i, j]``, ``i < j`` entries, not over ``[j, i]`` (a transposed index), and
    all pairs give the plain misfit."""
    rng = np.random.default_rng(0)
    upper = np.triu(rng.uniform(-0.8, 0.8, (5, 5)), 1)
    model, target = upper - upper.T, rng.uniform(-0.8, 0.8, (5, 5))
    mask = fc.group_pairs(CHANNELS, GROUPS, ("frontal", "occipital"))
    i, j = np.nonzero(mask)
    want = np.sqrt(np.mean((np.arctanh(model[i, j]) - np.arctanh(target[i, j])) ** 2))
    got = float(fc.fisher_z_rmse(jnp.asarray(model), jnp.asarray(target), mask))
    assert got == pytest.approx(want, rel=1e-5)
    transposed = np.sqrt(np.mean((np.arctanh(model[j, i]) - np.arctanh(target[j, i])) ** 2))
    assert abs(transposed - want) > 0.1
    every = fc.group_pairs(CHANNELS, GROUPS)
    assert float(fc.fisher_z_rmse(jnp.asarray(model), jnp.asarray(target), every)) == (
        pytest.approx(float(fc.fisher_z_rmse(jnp.asarray(model), jnp.asarray(target))),
                      rel=1e-6))


@pytest.mark.parametrize("measure", fc.FC_MEASURES)
def test_the_fc_misfit_is_differentiable_in_a_mixing_weight(measure):
    """The misfit of each measure as a function of ``w``, the weight of the shared source in
    channel 2 (float64): ``jax.grad`` against central differences to 1e-4 relative."""
    base = mixed(4.0, seed=2)
    target = fc.recorded_fc(mixed(4.0, seed=3).T, FS_HZ, (8.0, 13.0), measure)
    mask = fc.group_pairs(["a", "b", "c", "d"], {"g": ["a", "b", "c"]}, ("g",))

    def misfit(w):
        x = jnp.asarray(base).at[:, 2].add(w * base[:, 0])
        return fc.fisher_z_rmse(fc.band_fc(x, FS_HZ, (8.0, 13.0), measure), target, mask)
    with jax.enable_x64(True):
        w, h = jnp.float64(0.4), 1e-5
        grad = float(jax.grad(misfit)(w))
        numeric = float((misfit(w + h) - misfit(w - h)) / (2 * h))
    assert abs(grad) > 1e-3 and grad == pytest.approx(numeric, rel=1e-4)


@pytest.mark.parametrize(("change", "culprit"), [
    ({"fc": {"measure": "pli"}}, r"sensor_k\.fc\.measure must be one of \['envelope', "),
    ({"fc": {"groups": ["back"]}}, r"sensor_k\.fc\.groups: \['back'\] are not channel groups"),
    ({"fc": {"groups": "some"}}, r"sensor_k\.fc\.groups must be all or a list"),
    ({"groups": {"back": ["O1", "Oz"]}, "fc": {"groups": ["occipital"]}},
     r"sensor_k\.fc\.groups: \['occipital'\] are not channel groups .*\['back'\]"),
    ({"fc": {"measure": "coherence", "band_hz": [8.2, 8.6]}}, r"sensor_k\.fc\.band_hz"),
    ({"fc": {"weight": 1, "colour": 3}}, r"sensor_k\.fc"),
])
def test_bad_fc_keys_are_refused_at_planning(tvb, change, culprit):
    from test_sensor_kind import build

    with pytest.raises(ValueError, match=culprit):
        build(**change)
