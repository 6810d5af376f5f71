"""A source signal as scalp electrodes record it: scaled from the model's units to the
recording's by a gain, a share of it on each channel, and each channel's own white noise (the
amplifier's and the skin's). The synthetic demo recordings are made with it
(:mod:`eegfit.experiments.recording.demo`)."""

from __future__ import annotations

import numpy as np


def channels(source, shares: dict, gain_uv_per_mv: float, noise_uv: float,
             rng: np.random.Generator) -> dict:
    """Channel name -> signal (mV): ``gain * share * source`` (``gain_uv_per_mv`` µV on the
    scalp per mV of the model's ``source``: a 1-D array, or a dict of one per channel) plus
    white noise of RMS ``noise_uv`` (µV) per channel, drawn from ``rng`` channel by channel in
    the order of ``shares``."""
    gain_mv, noise_mv = float(gain_uv_per_mv) * 1e-3, float(noise_uv) * 1e-3
    out = {}
    for ch, weight in shares.items():
        clean = source[ch] if isinstance(source, dict) else source
        out[ch] = gain_mv * weight * clean + noise_mv * rng.standard_normal(len(clean))
    return out


__all__ = ["channels"]
