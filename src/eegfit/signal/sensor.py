"""A likelihood over channels: the log-PSD of every channel of a montage, one unknown gain.

The single-channel likelihood (:mod:`eegfit.signal.likelihood`) profiles a channel's gain (an
offset of its log-PSD) out. Across a montage seen through one lead field the channels' relative
levels are part of what the model predicts (where the activity is, how it projects), and only one
scale is unknown: the lead field's units against the recording's (a.u. x mV against µV). So by
default (``gain="common"``) one offset, shared by all channels, is profiled out:

    -log L = 1/2 min_g sum_c |L^-1 (log S_c - log P_c - g 1)|^2
           = 1/2 (|r|^2 - (v . r)^2 / |v|^2),   r_c = L^-1 (log S_c - log P_c),  v_c = L^-1 1,

with ``L L^T = Sigma`` the bins' covariance of one channel (:func:`eegfit.signal.likelihood.
decorrelation`). ``gain="per_channel"`` profiles one offset per channel (the single-channel
likelihood summed over channels): spectral shapes only, no topography.

The channels are counted as independent: they are not (volume conduction makes neighbouring
electrodes share most of their signal), so this likelihood is too sharp by up to the number of
channels over their effective number; a loss to fit with, its posterior not yet calibrated.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from eegfit.signal.numerics import TINY

GAINS = ("common", "per_channel")


def band_log_psd(psd, mask) -> jnp.ndarray:
    """``log psd`` over the band's bins, ``(n_bins, channels)`` (frequency first)."""
    return jnp.log(jnp.maximum(jnp.asarray(psd)[np.asarray(mask)], TINY))


def negative_log_likelihood(psd, mask, decorrelate, target_log_psd, gain: str = "common"):
    """``-log L`` (up to a constant) of a model PSD ``(frequency, channels)`` against the
    target's log-PSD over the band, ``(n_bins, channels)``; ``decorrelate`` is ``L^-1``
    ``(n_bins, n_bins)``. Differentiable in ``psd``.

    Raises:
        ValueError: shapes that do not match (naming them), or an unknown ``gain``.
    """
    if gain not in GAINS:
        raise ValueError(f"gain must be one of {GAINS}, got {gain!r}")
    model = band_log_psd(psd, mask)
    # a traced argument where a fit passes its data (the runner's batched fits): shapes only
    if model.ndim != 2 or model.shape != jnp.shape(target_log_psd):
        raise ValueError(f"the model's band log-PSD {model.shape} and target_log_psd "
                         f"{jnp.shape(target_log_psd)} must both be (bins, channels)")
    if jnp.shape(decorrelate) != (model.shape[0],) * 2:
        raise ValueError(f"decorrelate must be ({model.shape[0]}, {model.shape[0]}) for the "
                         f"band's bins, got {jnp.shape(decorrelate)}")
    lmat = jnp.asarray(decorrelate, model.dtype)
    r = lmat @ (model - jnp.asarray(target_log_psd, model.dtype))  # (bins, channels)
    v = lmat @ jnp.ones(model.shape[0], model.dtype)                # (bins,)
    if gain == "per_channel":
        explained = (v @ r) ** 2 / (v @ v)                          # one offset per channel
        return 0.5 * (jnp.sum(r ** 2) - jnp.sum(explained))
    return 0.5 * (jnp.sum(r ** 2) - jnp.sum(v @ r) ** 2 / (model.shape[1] * (v @ v)))


def whitened_entries(band_log_psd, decorrelate, gain: str = "common") -> jnp.ndarray:
    """The likelihood's gain-free whitened entries of a band log-PSD ``(n_bins, channels)``: a
    flat vector ``e`` with ``1/2 |e(model) - e(target)|^2`` equal to
    :func:`negative_log_likelihood` (one entry per degree of freedom: ``bins x channels - 1``
    with ``gain="common"``, ``(bins - 1) x channels`` per channel). ``L^-1`` decorrelates the
    bins; a Householder reflection then maps the whitened gain direction (``L^-1 1`` on every
    channel, or on each) onto the first coordinate, which is dropped. Traceable."""
    if gain not in GAINS:
        raise ValueError(f"gain must be one of {GAINS}, got {gain!r}")
    x = jnp.asarray(band_log_psd)
    lmat = jnp.asarray(decorrelate, x.dtype)
    r = lmat @ x                                                    # (bins, channels)
    v = lmat @ jnp.ones(x.shape[0], x.dtype)
    if gain == "per_channel":
        return jnp.ravel(_reflect_out(r, jnp.broadcast_to(v[:, None], r.shape), axis=0))
    return _reflect_out(jnp.ravel(r), jnp.ravel(jnp.broadcast_to(v[:, None], r.shape)), axis=0)


def _reflect_out(x, direction, axis: int):
    """``x`` in an orthonormal basis whose first vector is ``direction`` (per slice along the
    other axes), that coordinate dropped: the Householder reflection ``H u = e_0``."""
    u = direction / jnp.linalg.norm(direction, axis=axis, keepdims=True)
    first = jnp.zeros(u.shape[axis], u.dtype).at[0].set(1.0)
    first = jnp.reshape(first, (-1,) + (1,) * (u.ndim - 1 - axis))
    h = u - first
    hx = x - 2.0 * h * jnp.sum(h * x, axis=axis, keepdims=True) / jnp.sum(h * h, axis=axis,
                                                                         keepdims=True)
    return jnp.take(hx, jnp.arange(1, u.shape[axis]), axis=axis)


__all__ = ["GAINS", "band_log_psd", "negative_log_likelihood", "whitened_entries"]
