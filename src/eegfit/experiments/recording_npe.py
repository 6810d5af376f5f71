"""The recording kind's amortized posterior (issue 22, part 6): an NPE that conditions on a
recording's gain-free whitened log-PSD, so that a new recording gets a posterior without a fit or
a grid.

Features: ``U^T W log P`` over the likelihood's band. ``W`` is the likelihood's whitening
(:func:`eegfit.signal.likelihood.whitening`) for a recording of ``npe.recording_s`` seconds: it
removes the gain exactly (``W 1 = 0``) and leaves ``n_bins - 1`` uncorrelated entries of unit
variance (without a floor every bin's log-ratio has the same sd ``s``, ``s^2 = trigamma(nu_t /
2) + trigamma(nu_m / 2)``, so one ``W`` serves every recording of that length). ``U`` holds the
:data:`N_COMPONENTS` principal directions of the model's whitened log-PSD over the prior
(:func:`basis`): the noise stays isotropic, and the flow reads 8 numbers, not one per bin.

Training data (``npe.model_noise``):

- ``fit_key`` (default): every simulation with the fit key of the first seed (common random
  numbers, as the fits and the grid posterior), the likelihood's unit noise on top: the NPE's
  implied likelihood is the grid's, ``N(U^T W log P; U^T W log S_k(theta), I)``.
- ``per_simulation``: each simulation with noise of its own (independent within a batch,
  a key per chunk), the recording's share ``r = trigamma(nu_t / 2) / s^2`` of the noise on
  top: the simulations bring the model's Monte Carlo part. Its implied likelihood is the
  simulator's own, which is not the grid's Gaussian: the model's Monte Carlo errors of the
  whitened bins are correlated (up to 0.76 on .test/npe_recording.yaml) where the likelihood
  assumes them independent, so this NPE is narrower than the grid (README).

:func:`reference_problem` is the grid problem of the NPE's likelihood with the model's mean PSD
over ``factor`` times more realisations (the reference of ``per_simulation``).

Restricted: no aperiodic background and no white floor (``aperiodic`` and ``noise_floor_hz``
null): both are profiled per target and change the whitening; a block with either and an NPE is
refused at planning.
"""

from __future__ import annotations

import copy
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from eegfit import infer
from eegfit.experiments.base import as_float, keys
from eegfit.infer.npe_settings import Noise
from eegfit.signal import likelihood, spectral

DOF_TOLERANCE = 0.02
"""Relative difference between a target's Welch degrees of freedom and the trained ones that an
estimator still serves."""


def check(kind) -> None:
    """The recording's ``npe:`` block against the rest (``ValueError`` naming the key)."""
    spec, where = kind.spec, f"config experiments.{kind.spec.name}"
    for key in ("aperiodic", "noise_floor_hz"):
        if getattr(spec, key) is not None:
            raise ValueError(f"{where}.{key}: the recording NPE conditions on the model's "
                             f"spectrum without a profiled background or floor; set {key}: null "
                             f"or remove the npe: block")
    post = spec.posterior
    if post.rel_sd is not None or post.sd is not None or post.seed_spread is not None:
        raise ValueError(f"{where}.posterior.scale: the recording NPE's likelihood is the "
                         f"recording's own (its Welch statistics); remove the scale")
    target_dof(kind)


def recording_s(kind) -> float:
    """The length of recording the estimator is trained for: ``npe.recording_s``, else the
    demo's ``duration_s``."""
    spec = kind.spec
    seconds = spec.npe.recording_s or (spec.demo or {}).get("duration_s")
    if seconds is None:
        raise ValueError(f"config experiments.{spec.name}.npe.recording_s: give the length (s) "
                         f"of the recordings the NPE is trained for (no demo to take it from)")
    return float(seconds)


def target_dof(kind) -> float:
    """The Welch degrees of freedom of a recording of :func:`recording_s` seconds (segments of
    the block's ``segment_s`` and ``overlap``)."""
    spec = kind.spec
    fs_hz = 1e3 / spec.simulation.dt_ms
    n = kind._n_per_segment
    seconds = recording_s(kind)
    if seconds < 2 * spec.segment_s:
        raise ValueError(f"config experiments.{spec.name}.npe.recording_s ({seconds:g} s) must "
                         f"hold at least two segments of segment_s ({spec.segment_s:g} s)")
    starts = spectral.segment_starts(int(round(seconds * fs_hz)), n, spec.overlap)
    return likelihood.welch_dof([len(starts)], n, spec.overlap)


def whitening(kind) -> tuple[np.ndarray, float]:
    """``(W, r)``: the likelihood's whitening for a recording of :func:`recording_s` seconds,
    and the share ``r`` of each whitened entry's unit variance that is the recording's."""
    dof = target_dof(kind)
    sd = float(likelihood.log_psd_sd(dof, kind.model_dof))
    whiten = likelihood.whitening(np.full(kind.n_bins, sd), kind._n_per_segment)
    return whiten, likelihood.log_variance(dof) / sd ** 2


N_COMPONENTS = 8
"""Principal components of the whitened log-PSD the NPE conditions on (at most ``n_bins - 1``)."""
BASIS_POINTS = 512
"""Prior draws whose spectra (at the fit key) span the components."""


def basis(kind) -> np.ndarray:
    """``U`` ``(n_bins - 1, d)``: orthonormal principal directions of the model's whitened
    log-PSD over the prior (``BASIS_POINTS`` draws, seeded by ``npe.seed``, simulated with the
    fit key), ``d = min(N_COMPONENTS, n_bins - 1)``. The likelihood's noise is isotropic in the
    whitened space, so ``U^T y`` keeps it ``N(0, I_d)`` and loses only the part of the spectrum's
    variation over the box that lies outside the ``d`` directions; the flow then reads ``d``
    numbers instead of one per bin (with 76 bins and a few thousand simulations, a flow
    conditioned on every bin overfits: narrower than its grid, its mean off)."""
    cached = getattr(kind, "_npe_basis", None)
    if cached is not None:
        return cached
    key = jax.random.key(int(kind.spec.npe.seed) + 7919)
    values = {}
    for i, p in enumerate(kind.spec.parameters):
        prior = kind.spec.posterior.prior(p.name, p.bounds) or infer.Uniform(*p.bounds)
        values[p.name] = jnp.asarray(prior.sample(jax.random.fold_in(key, i), BASIS_POINTS),
                                     jnp.result_type(float))
    whiten = jnp.asarray(whitening(kind)[0], jnp.result_type(float))
    _, psd = kind.model_spectrum(kind.model_at(values), fit_key(kind))
    entries = np.asarray(likelihood.whitened_log_psd(psd[kind._mask], np.ones(kind.n_bins, bool),
                                                     whiten), float).T
    entries = entries[np.all(np.isfinite(entries), axis=1)]
    _, _, vt = np.linalg.svd(entries - entries.mean(axis=0), full_matrices=False)
    u = vt[:min(N_COMPONENTS, kind.n_bins - 1)].T
    u = u * np.where(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])] < 0, -1.0, 1.0)
    kind._npe_basis = u  # deterministic given the config: computed once per kind object
    return u


def feature_names(kind) -> list[str]:
    return [f"log_psd_pc[{i}]" for i in range(min(N_COMPONENTS, kind.n_bins - 1))]


def per_simulation(kind) -> bool:
    """Whether each training simulation gets noise of its own (``npe.model_noise:
    per_simulation``) rather than the fit key's (``fit_key``, the grid posterior's)."""
    return kind.spec.npe.model_noise == "per_simulation"


def fit_key(kind):
    """The model's noise key of the grid posterior and the fits of the first seed's targets."""
    return keys(kind.spec.seeds[0])[1]


def noise(kind) -> Noise:
    """The likelihood's noise on a whitened entry: all of it (sd 1) on the fit key's simulation,
    or the recording's share (sd ``sqrt(r)``) on a simulation with noise of its own."""
    sd = float(np.sqrt(whitening(kind)[1])) if per_simulation(kind) else 1.0
    return Noise(rel_sd=None, sd={k: sd for k in feature_names(kind)},
                 drive_noise=per_simulation(kind))


def own_noise(model, shape):
    """``model`` whose drive's leaves have the batch ``shape``: its noise is then drawn
    independently for each simulation of the batch."""
    drive = jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), shape), model.drive)
    return dataclasses.replace(model, drive=drive)


def features(kind, values: dict, key) -> dict:
    """The whitened log-PSD of the model at ``values`` (a batch): what the NPE conditions on.
    Each simulation with noise of its own (from ``key``) or all with the fit key's
    (:func:`fit_key`, ``key`` unused: common random numbers, as the grid and the fits)."""
    whiten = jnp.asarray(whitening(kind)[0], jnp.result_type(float))
    model = kind.model_at(values)
    if per_simulation(kind):
        model = own_noise(model, jnp.broadcast_shapes(*(jnp.shape(v) for v in values.values())))
    else:
        key = fit_key(kind)
    _, psd = kind.model_spectrum(model, key)
    entries = likelihood.whitened_log_psd(psd[kind._mask], np.ones(kind.n_bins, bool), whiten)
    summary = jnp.tensordot(jnp.asarray(basis(kind).T, entries.dtype), entries, axes=1)
    return {name: summary[i] for i, name in enumerate(feature_names(kind))}


def observed(kind, observed: dict) -> dict:
    """A target's whitened log-PSD for the NPE; a recording whose Welch estimate has other
    degrees of freedom than the trained length's (beyond :data:`DOF_TOLERANCE`) is refused."""
    want, have = target_dof(kind), float(observed["psd_dof"])
    if abs(have / want - 1) > DOF_TOLERANCE:
        raise ValueError(f"experiment {kind.spec.name}: the recording's Welch PSD has {have:.1f} "
                         f"degrees of freedom, the NPE was trained for {want:.1f} (recordings of "
                         f"{recording_s(kind):g} s); set npe.recording_s to its length and "
                         f"retrain")
    whiten = whitening(kind)[0]
    entries = basis(kind).T @ (whiten @ np.log(np.asarray(observed["band_psd"], float)))
    return {name: float(entries[i]) for i, name in enumerate(feature_names(kind))}


def conditions(kind) -> dict:
    """What the estimator is trained for beside its prior and noise (checked on reload)."""
    spec = kind.spec
    sim = spec.simulation
    return {"model_noise": spec.npe.model_noise + (
                "" if per_simulation(kind) else f" (seed {spec.seeds[0]})"),
            "band_hz": [float(b) for b in kind.band_hz], "segment_s": float(spec.segment_s),
            "overlap": float(spec.overlap), "n_realisations": int(spec.n_realisations),
            "recording_s": recording_s(kind),
            "simulation": f"dt_ms={sim.dt_ms:g} duration_ms={sim.duration_ms:g} "
                          f"transient_ms={sim.transient_ms:g} integrator={sim.integrator}",
            "model": repr(spec.model),
            "summary": f"{len(feature_names(kind))} principal directions of {BASIS_POINTS} prior "
                       f"draws (seed {spec.npe.seed}) at the fit key"}


def reference_problem(kind, observed_npe: dict, seed: int, factor: int = 16) -> infer.Problem:
    """The grid problem of the NPE's likelihood at one target (its whitened log-PSD
    ``observed_npe``): the model's mean PSD over ``factor x n_realisations`` realisations of the
    fit key of ``seed`` (its Monte Carlo error ``1 / factor`` of the configured one), the
    whitening and the variance of the configured ones (module docstring)."""
    spec = kind.spec
    ref = copy.copy(kind)
    ref.spec = dataclasses.replace(spec, n_realisations=spec.n_realisations * int(factor))
    whiten = jnp.asarray(whitening(kind)[0], jnp.result_type(float))
    u = jnp.asarray(basis(kind).T, jnp.result_type(float))

    def model_features(values, key):
        _, psd = ref.model_spectrum(ref.model_at(values), key)
        entries = likelihood.whitened_log_psd(psd[kind._mask], np.ones(kind.n_bins, bool),
                                              whiten)
        summary = jnp.tensordot(u, entries, axes=1)
        return {name: summary[i] for i, name in enumerate(feature_names(kind))}

    bounds = {p.name: p.bounds for p in spec.parameters}
    priors = {n: spec.posterior.prior(n, b) for n, b in bounds.items()}
    return infer.problem(model_features, observed_npe, {k: 1.0 for k in observed_npe}, bounds,
                         {n: p for n, p in priors.items() if p is not None},
                         context=keys(seed)[1], units=kind.units())


__all__ = ["DOF_TOLERANCE", "check", "conditions", "feature_names", "features", "fit_key",
           "noise", "observed", "own_noise", "per_simulation", "recording_s",
           "reference_problem", "target_dof", "whitening"]
