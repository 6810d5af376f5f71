"""The recording NPE's pilot (issue 22, part 6): independent realisations of the model at the
box's centre, for the whitening's excess under ``likelihood: {covariance: estimated}``
(:func:`excess`) and for the model's own variance of each principal entry (:func:`model_variance`),
which the ``per_simulation`` training noise tops up to the likelihood's unit variance
(:func:`eegfit.experiments.recording_npe.top_up`)."""

from __future__ import annotations

import jax
import numpy as np

from eegfit.experiments import recording_pilot
from eegfit.signal import likelihood


def pilot_point(kind) -> dict:
    """Where the NPE's pilot measures the excess: the centre of the box (name -> float)."""
    return {p.name: 0.5 * (p.bounds[0] + p.bounds[1]) for p in kind.spec.parameters}


def pilot(kind) -> np.ndarray:
    """``(pilot_realisations, n_bins)``: the Welch PSDs of independent single realisations of
    the model at :func:`pilot_point` (keys from ``npe.seed``; no floor), simulated once per
    kind object."""
    cached = getattr(kind, "_npe_pilot", None)
    if cached is not None:
        return cached
    key = jax.random.fold_in(jax.random.key(int(kind.spec.npe.seed)),
                             recording_pilot.PILOT_STREAM)
    psd = recording_pilot.realisations(kind, pilot_point(kind), key,
                                       kind.spec.likelihood["pilot_realisations"])
    if not np.all(np.isfinite(psd) & (psd > 0)):
        raise ValueError(f"config experiments.{kind.spec.name}.likelihood: the NPE's pilot "
                         f"realisations at {pilot_point(kind)} have a PSD that is not finite "
                         f"and > 0")
    kind._npe_pilot = psd
    return psd


def excess(kind) -> np.ndarray | None:
    """The realisations' excess covariance the NPE whitens with under ``likelihood:
    {covariance: estimated}`` (None: analytic). One for every recording, as the whitening must
    be: the :func:`pilot` at the box's centre through :func:`likelihood.excess_covariance`, as
    a target's own pilot (:mod:`~eegfit.experiments.recording_pilot`), which sits at that
    target's coarse minimum instead (the pipeline's grid and fits of a recording far from the
    centre whiten along its own peak's motion; the NPE along the centre's)."""
    if not recording_pilot.estimated(kind.spec):
        return None
    cached = getattr(kind, "_npe_excess", None)
    if cached is None:  # deterministic given the config: measured once per kind object
        cached = kind._npe_excess = likelihood.excess_covariance(
            pilot(kind), kind.realisation_dof, kind._n_per_segment)
    return cached


TOP_UP_MIN = 0.01
"""The least variance the training noise adds to a principal entry (where the model's own
Monte Carlo part already fills the unit variance or more)."""


def model_variance(kind, u, whiten) -> tuple[np.ndarray, np.ndarray]:
    """``(V, lambda)``: the eigenvectors (columns, largest variance first) and variances of the
    covariance of ``u^T W log S_hat`` (``W``: ``whiten``) across the model's noise at
    :func:`pilot_point`, with ``S_hat`` the mean of ``R = n_realisations`` realisations:
    ``u^T W Cov(delta) W^T u / R``, ``delta`` the pilot's relative deviations from its mean
    (``log`` of a mean of ``R`` realisations moves by the mean of their ``delta``, to first
    order)."""
    psd = pilot(kind)
    delta = psd / psd.mean(axis=0) - 1.0
    w = np.asarray(whiten, float)
    cov = u.T @ w @ np.cov(delta, rowvar=False) @ w.T @ u / kind.spec.n_realisations
    values, vectors = np.linalg.eigh(cov)
    return vectors[:, ::-1], values[::-1]


__all__ = ["TOP_UP_MIN", "excess", "model_variance", "pilot", "pilot_point"]
