"""A likelihood for a Welch spectrum from its sampling statistics: a Gaussian on the log-PSD.

A Welch estimate ``P(f)`` (Hann-windowed segments, averaged) of a signal whose true PSD is
``S(f)`` scatters like ``S(f) chi2_nu / nu`` at every bin away from 0 Hz and the Nyquist
frequency, with ``nu`` the estimate's equivalent degrees of freedom: ``2 K`` for ``K``
independent segments, fewer when they overlap (Welch 1967; Percival & Walden 1993, Eq. 292b:
:func:`welch_dof`). Its log then has

    E[log P] = log S + digamma(nu / 2) - log(nu / 2),     Var[log P] = trigamma(nu / 2),

whatever the level ``S``: on the log scale the noise is additive with a known variance, so the
model's Monte Carlo PSD (the mean over ``R`` realisations, ``nu_model = R nu_1``) adds its own
``trigamma(nu_model / 2)`` and the two combine by summing. Neighbouring bins of a Hann-windowed
segment are correlated (the window's spectral leakage: 4/9 at one bin, 1/36 at two,
:func:`bin_correlation`); counting them as independent would claim about twice the information
the spectrum holds.

We take the Gaussian on the log-PSD over the Whittle likelihood because (i) with ``nu`` in the
tens to hundreds (segments of a minute of EEG) ``log chi2_nu`` is close to Gaussian, (ii) its
variance does not depend on the model, so the model's own Monte Carlo error and the bin
correlation enter as one fixed covariance, and (iii) a gain (the unknown scalp scale, mV of
model against µV of scalp) is an additive constant on the log scale, which is profiled out
exactly: the loss is taken on the residual orthogonal (in the covariance's metric) to a constant
offset, which is also the marginal likelihood under a flat prior on the log gain. The constant
biases ``digamma(nu / 2) - log(nu / 2)`` of both sides drop with it.

The log-PSD over one band of bins is the one feature set: no bin counts twice. With the
covariance ``Sigma = D C D`` (``D`` the bins' sd, ``sd^2 = trigamma(nu_t / 2) + trigamma(nu_m /
2)`` where the model's realisations make all of its PSD, less where a fixed floor is added;
``C`` the bins' correlation) and ``W`` the ``(n - 1, n)`` whitening that removes the offset
(``W 1 = 0``, ``W Sigma W^T = I``),

    -log L = 1/2 |W (log S_model - log P_target)|^2 + const,

so twice the loss at the best fit is a chi-square with about ``n - 2`` degrees of freedom for
one fitted parameter when the model can make the spectrum: a goodness of fit
(:func:`goodness_of_fit`) that tells a misfit from a wide posterior.

In a noisy limit cycle the bins are not independent beyond the window's leakage: the rhythm
wanders, its peak moves as a whole, and along that direction a spectrum scatters several times
what ``chi2_nu`` says. :func:`excess_covariance` measures it from the model's realisations (a
pilot of independent ones at one parameter value) and :func:`whitening` takes it as ``excess``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy import special, stats

from eegfit.signal.numerics import TINY


def hann(n: int) -> np.ndarray:
    """The periodic Hann window of :func:`eegfit.signal.spectral.periodogram`."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def _segment_correlation(window: np.ndarray, shift: int) -> float:
    """Percival & Walden's rho(m) for two segments ``shift`` samples apart: the normalised
    overlap of their windows."""
    n = len(window)
    if shift >= n:
        return 0.0
    return float(np.sum(window[:n - shift] * window[shift:]) / np.sum(window ** 2))


def welch_dof(n_segments, n_per_segment: int, overlap: float = 0.5) -> float:
    """Equivalent degrees of freedom of a Welch PSD estimate (Percival & Walden Eq. 292b).

    Args:
        n_segments: the number of Hann-windowed segments of each contiguous piece of signal (an
            int, or a sequence for pieces cut apart, e.g. a recording's kept windows, whose
            segments do not overlap across pieces).
        n_per_segment: samples per segment.
        overlap: the segments' overlap within a piece, as in :func:`spectral.segment_starts`.

    Returns:
        ``nu`` such that the estimate scatters like ``S chi2_nu / nu``: ``2 K`` for ``K``
        segments that do not overlap, about ``1.89 K`` for Hann segments at 50 % overlap.
    """
    counts = np.atleast_1d(np.asarray(n_segments, dtype=int))
    if counts.size == 0 or np.any(counts < 0) or counts.sum() < 1:
        raise ValueError(f"n_segments must hold at least one segment, got {n_segments!r}")
    window = hann(n_per_segment)
    shift = max(1, int(round(n_per_segment * (1.0 - overlap))))
    total = float(counts.sum())
    variance = 0.0  # of the mean of the segments' periodograms, in units of S^2 / (chi2_2 / 2)
    for k in counts:
        variance += k + 2.0 * sum((k - m) * _segment_correlation(window, m * shift) ** 2
                                  for m in range(1, int(k)))
    return 2.0 * total ** 2 / variance


def bin_correlation(n_per_segment: int, n_lags: int = 4) -> np.ndarray:
    """Correlation of a Hann-windowed periodogram's bins ``0..n_lags-1`` apart (locally white
    spectrum): ``|sum w^2 exp(-2 pi i m t / N)|^2 / (sum w^2)^2`` (1, 4/9, 1/36, 0, ...)."""
    w2 = hann(n_per_segment) ** 2
    t = np.arange(n_per_segment)
    lags = np.arange(n_lags)
    coherence = np.abs(np.exp(-2j * np.pi * lags[:, None] * t[None, :] / n_per_segment) @ w2)
    return (coherence / np.sum(w2)) ** 2


def log_variance(dof: float) -> float:
    """``Var[log(chi2_nu / nu)] = trigamma(nu / 2)``."""
    return float(special.polygamma(1, 0.5 * dof))


def log_psd_sd(target_dof: float, model_dof: float, model_share=1.0) -> np.ndarray:
    """The standard deviation (natural log) of each bin's log-ratio of the model's PSD to the
    target's: ``sqrt(trigamma(nu_t / 2) + share^2 trigamma(nu_m / 2))``.

    ``model_share`` (per bin, in [0, 1]) is the part of the model's PSD that its realisations
    make: where a fixed term (a white measurement floor) is added to them, the mean's relative
    Monte Carlo error shrinks by that share (``log(S_hat + c)`` varies like ``S / (S + c)`` times
    ``log S_hat``). The target's sampling error is full: its floor is measured noise."""
    for name, dof in (("target_dof", target_dof), ("model_dof", model_dof)):
        if not (np.isfinite(dof) and dof > 0):
            raise ValueError(f"{name} must be finite and > 0, got {dof!r}")
    share = np.clip(np.asarray(model_share, dtype=float), 0.0, 1.0)
    return np.sqrt(log_variance(target_dof) + share ** 2 * log_variance(model_dof))


def whitening(sd, n_per_segment: int, excess=None) -> np.ndarray:
    """``W``, shape ``(n - 1, n)`` for the ``n`` bins whose log-ratio has standard deviation
    ``sd`` (per bin, :func:`log_psd_sd`): ``W 1 = 0`` and ``W Sigma W^T = I`` with
    ``Sigma = diag(sd) C diag(sd)`` and ``C`` the bins' correlation (:func:`bin_correlation`),
    or ``L E L^T`` with ``L L^T`` that and ``E`` the spectrum's ``excess`` covariance measured
    from the model's realisations (:func:`excess_covariance`; ``None``: the identity).
    It removes a constant offset of the log-PSD (the gain) and decorrelates the rest."""
    chol_inv = decorrelation(sd, n_per_segment, excess)
    offset = chol_inv @ np.ones(chol_inv.shape[0])
    q, _ = np.linalg.qr(np.column_stack([offset, np.eye(chol_inv.shape[0])[:, :-1]]))
    return q[:, 1:].T @ chol_inv  # a basis orthogonal to the whitened offset, then L^-1


def decorrelation(sd, n_per_segment: int, excess=None) -> np.ndarray:
    """``L^-1``, shape ``(n, n)``, with ``L L^T = Sigma`` (see :func:`whitening`): it
    decorrelates the ``n`` bins' log-ratios without removing their offset (the sensor-space
    likelihood removes one offset shared by all channels, :mod:`eegfit.signal.sensor`)."""
    sd = np.asarray(sd, dtype=float)
    n_bins = sd.size
    if n_bins < 3:
        raise ValueError(f"the likelihood's band holds {n_bins} frequency bin(s); it needs at "
                         f"least 3")
    if not np.all(np.isfinite(sd) & (sd > 0)):
        raise ValueError("the log-PSD's standard deviation must be finite and > 0 in every bin")
    rho = bin_correlation(n_per_segment, n_lags=min(n_bins, 4))
    lags = np.abs(np.arange(n_bins)[:, None] - np.arange(n_bins)[None, :])
    corr = np.where(lags < len(rho), rho[np.minimum(lags, len(rho) - 1)], 0.0)
    chol = np.linalg.cholesky(sd[:, None] * corr * sd[None, :])
    if excess is not None:
        excess = np.asarray(excess, dtype=float)
        if excess.shape != (n_bins, n_bins) or not np.all(np.isfinite(excess)):
            raise ValueError(f"excess must be a finite ({n_bins}, {n_bins}) matrix, got shape "
                             f"{excess.shape}")
        if np.any(excess != np.eye(n_bins)):  # the identity leaves Sigma's bytes alone
            chol = np.linalg.cholesky(chol @ excess @ chol.T)
    return np.linalg.inv(chol)


def excess_covariance(psd_realisations, realisation_dof: float,
                      n_per_segment: int) -> np.ndarray:
    """``E``, shape ``(n, n)``: the covariance of the model's spectrum across independent
    realisations in units of the one the sampling statistics give (``E = I`` where every bin
    scatters like ``chi2_nu / nu`` with only the window's correlation between bins).

    A noisy limit cycle breaks that: its rhythm's frequency and amplitude wander over seconds,
    so the bins around its peak move together (the peak shifts as a whole), the direction that
    carries most of the information on the rate constants. Measured at the default column
    (C = 135, a = 100, b = 50): 2.4x the assumed variance along the direction in which b moves
    the log-PSD, 2.5x for 120 s recordings (so a recording and the mean of 5 s realisations
    share it); at a fixed point (C = 120) 1.1-1.4x, and no eigenvalue above the noise edge.

    Args:
        psd_realisations: ``(K, n)`` PSDs of ``K`` independent realisations (one noise key
            each) at one parameter value, over the likelihood's band (K >= 8).
        realisation_dof: the Welch degrees of freedom of one realisation (:func:`welch_dof`).
        n_per_segment: samples per Welch segment (the bins' correlation).

    Returns:
        ``E`` in the whitened coordinates of ``diag(sqrt(2 / nu)) C diag(sqrt(2 / nu))``, the
        relative covariance of one realisation's PSD (``Var[chi2_nu / nu] = 2 / nu``): the
        realisations' relative deviations from their mean, whitened by it, their sample
        covariance's eigenvalues above the noise edge debiased (a spiked covariance) and every
        other set to 1, so that the realisations can only widen the likelihood (a bin they
        show steadier than ``chi2_nu`` keeps the sampling statistics' variance). K of 4x the
        bins or more: fewer hide a spike below the edge.
        Used as ``excess`` of :func:`whitening`, it scales the target's and the model's terms
        alike: a recording and the mean of realisations share the model's dynamics.
    """
    psd = np.asarray(psd_realisations, dtype=float)
    if psd.ndim != 2 or psd.shape[0] < 8:
        raise ValueError(f"psd_realisations must be (K >= 8, n_bins), got shape {psd.shape}")
    if not np.all(np.isfinite(psd) & (psd > 0)):
        raise ValueError("psd_realisations must be finite and > 0 in every bin")
    if not (np.isfinite(realisation_dof) and realisation_dof > 0):
        raise ValueError(f"realisation_dof must be finite and > 0, got {realisation_dof!r}")
    relative = psd / psd.mean(axis=0) - 1.0
    sd = np.full(psd.shape[1], np.sqrt(2.0 / realisation_dof))
    z = relative @ decorrelation(sd, n_per_segment).T
    z = z - z.mean(axis=0)
    n_real, n_bins = z.shape
    values, vectors = np.linalg.eigh(z.T @ z / (n_real - 1))
    # a spiked covariance (identity plus a few directions): a sample eigenvalue above the
    # Marchenko-Pastur edge (1 + sqrt(gamma))^2 is the population's l pushed out to
    # l (1 + gamma / (l - 1)) (Baik & Silverstein 2006), inverted here; below it, noise: 1
    gamma = n_bins / (n_real - 1)
    shifted = values + 1.0 - gamma
    spikes = 0.5 * (shifted + np.sqrt(np.maximum(shifted ** 2 - 4.0 * values, 0.0)))
    values = np.where(values > (1.0 + np.sqrt(gamma)) ** 2, np.maximum(spikes, 1.0), 1.0)
    return np.eye(n_bins) + (vectors * (values - 1.0)) @ vectors.T  # exactly I without spikes


def whitened_log_psd(psd, mask, whiten):
    """``W log psd`` over the band's bins (frequency first; traceable, batched on later axes)."""
    band = jnp.asarray(psd)[np.asarray(mask)]
    return jnp.tensordot(jnp.asarray(whiten, band.dtype), jnp.log(jnp.maximum(band, TINY)),
                         axes=1)


def negative_log_likelihood(psd, mask, whiten, observed):
    """``-log L`` (up to a constant) of a model PSD (frequency first) against the target whose
    whitened log-PSD is ``observed`` (``whiten @ log P_target``): half the squared norm of the
    whitened residual. Batched on the PSD's later axes."""
    residual = whitened_log_psd(psd, mask, whiten) - jnp.reshape(
        jnp.asarray(observed), (-1,) + (1,) * (jnp.ndim(psd) - 1))
    return 0.5 * jnp.sum(residual ** 2, axis=0)


def goodness_of_fit(nll: float, n_bins: int, n_fitted: int) -> tuple[float, float]:
    """``(chi2 / dof, p)`` of a best fit whose loss is ``nll``: ``chi2 = 2 nll`` against a
    chi-square with ``n_bins - 1 - n_fitted`` degrees of freedom (the gain is profiled); a p
    below 0.01 says the model does not make the target's spectrum."""
    dof = max(n_bins - 1 - n_fitted, 1)
    chi2 = 2.0 * float(nll)
    return chi2 / dof, float(stats.chi2.sf(chi2, dof))


__all__ = ["bin_correlation", "decorrelation", "excess_covariance", "goodness_of_fit", "hann",
           "log_psd_sd", "log_variance", "negative_log_likelihood", "welch_dof",
           "whitened_log_psd", "whitening"]
