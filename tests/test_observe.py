"""A source seen on scalp electrodes (:mod:`eegfit.observe.electrodes`) and a measured
spectrum's white floor (:mod:`eegfit.observe.spectrum`), against NumPy by hand."""

from __future__ import annotations

import numpy as np
import pytest

from eegfit.observe import electrodes
from eegfit.observe import spectrum as observed_spectrum


def test_channels_are_the_source_times_gain_and_share_plus_their_own_noise():
    source = np.sin(np.linspace(0.0, 20.0, 20_000))
    out = electrodes.channels(source, {"O1": 1.0, "O2": 0.5}, 10.0, 2.0,
                              np.random.default_rng(3))
    rng = np.random.default_rng(3)  # drawn channel by channel, in the order of the shares
    for name, share in (("O1", 1.0), ("O2", 0.5)):
        np.testing.assert_allclose(out[name], 1e-2 * share * source
                                   + 2e-3 * rng.standard_normal(source.size))
    assert np.std(out["O1"] - 1e-2 * source) == pytest.approx(2e-3, rel=0.03)  # 2 µV in mV


def test_a_floor_added_as_a_fraction_is_measured_as_that_fraction():
    freqs = np.arange(0.0, 50.5, 0.5)
    psd = np.exp(-0.5 * ((freqs - 10.0) / 2.0) ** 2)  # a peak, gone by 40 Hz
    band = (2.0, 40.0)
    floored = np.asarray(observed_spectrum.with_floor(freqs, psd, 0.2, band))
    in_band = (freqs >= 2.0) & (freqs <= 40.0)
    # the floor c is 0.2 of the floored spectrum's mean over the band: c = 0.2 (m + c)
    c = floored[-1] - psd[-1]
    assert c == pytest.approx(0.2 * np.mean(floored[in_band]), rel=1e-5)
    assert observed_spectrum.floor_level(freqs, floored, (40.0, 45.0)) == pytest.approx(
        c, rel=1e-5)
    assert observed_spectrum.floor_fraction(freqs, floored, (40.0, 45.0), band) == pytest.approx(
        0.2, rel=1e-5)
    assert observed_spectrum.floor_fraction(freqs, floored, None, band) == 0.0
    assert observed_spectrum.floor_level(freqs, floored, None) == 0.0
