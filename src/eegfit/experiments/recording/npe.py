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

Training data (``npe.model_noise``; default ``per_simulation`` under the estimated covariance,
``fit_key`` under the analytic one):

- ``fit_key``: every simulation with the fit key of the first seed (common random
  numbers, as the fits and the grid posterior), the likelihood's unit noise on top: the NPE's
  implied likelihood is the grid's, ``N(U^T W log P; U^T W log S_k(theta), I)``.
- ``per_simulation``: each simulation with noise of its own (independent within a batch,
  a key per chunk), the recording's share ``r = trigamma(nu_t / 2) / s^2`` of the noise on
  top: the simulations bring the model's Monte Carlo part. Its implied likelihood is the
  simulator's own. With the analytic covariance that is not the grid's Gaussian: the model's
  Monte Carlo errors of the whitened bins are correlated (up to 0.76 on
  .test/npe_recording.yaml) where the likelihood assumes them independent, so this NPE is
  narrower than the grid (docs/npe.md). With the block's ``likelihood: {covariance:
  estimated}`` the whitening holds the realisations' excess
  (:func:`~eegfit.experiments.recording.pilot.npe_excess`, a pilot at the box's centre), so the simulations' whitened entries have about unit covariance there too.

:func:`reference_problem` is the grid problem of the NPE's likelihood with the model's mean PSD
over ``factor`` times more realisations (the reference of ``per_simulation``).

The white floor (``noise_floor_hz``): the likelihood adds to the model's PSD the floor the
recording shows, as the fraction ``phi`` of the band's mean PSD it makes
(:func:`eegfit.experiments.recording.records.floor_fraction`). The NPE takes ``phi`` as a nuisance:
each training simulation draws it log-uniformly on ``[FLOOR_FRACTION_MIN, FLOOR_FRACTION_MAX)``
(up to the largest floor the recording kind accepts), adds that floor, and the flow is
conditioned on ``log phi`` as one more feature (with a small noise,
:data:`LOG_FLOOR_FRACTION_SD`); a recording is then read with its own ``phi`` (below
``FLOOR_FRACTION_MIN``, taken as that: a floor of 1e-5 of the band's mean). The whitening stays the floor-free one (the likelihood's, with a floor, gives the bins
the floor dominates a smaller model share of the variance): the NPE's likelihood is that of
:func:`reference_problem`, which the benchmark holds it to.

Restricted: no aperiodic background (``aperiodic`` null): it is profiled per target; a block
with it and an NPE is refused at planning.
"""

from __future__ import annotations

import copy
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from eegfit import infer
from eegfit.experiments.recording import pilot as covariance_pilot
from eegfit.experiments.recording.pilot import (NPE_TOP_UP_MIN, npe_excess, npe_model_variance,
                                                 npe_pilot_point)
from eegfit.experiments.base import keys
from eegfit.infer.npe.settings import Noise
from eegfit.signal import likelihood, spectral

DOF_TOLERANCE = 0.02
"""Relative difference between a target's Welch degrees of freedom and the trained ones that an
estimator still serves."""


def check(kind) -> None:
    """The recording's ``npe:`` block against the rest (``ValueError`` naming the key)."""
    spec, where = kind.spec, f"config experiments.{kind.spec.name}"
    if spec.aperiodic is not None:
        raise ValueError(f"{where}.aperiodic: the recording NPE conditions on the model's "
                         f"spectrum without a profiled background; set aperiodic: null "
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
    """``(W, r)``: the likelihood's whitening for a recording of :func:`recording_s` seconds
    (with the block's ``likelihood: {covariance: estimated}``, the realisations' excess of
    :func:`~eegfit.experiments.recording.pilot.npe_excess` in it), and the share ``r`` of each whitened entry's unit variance that is
    the recording's (the excess scales the recording's and the model's terms alike)."""
    dof = target_dof(kind)
    sd = float(likelihood.log_psd_sd(dof, kind.model_dof))
    whiten = likelihood.whitening(np.full(kind.n_bins, sd), kind._n_per_segment, npe_excess(kind))
    return whiten, likelihood.log_variance(dof) / sd ** 2


def topped_up(kind) -> bool:
    """Whether the training noise tops each direction up to the likelihood's unit variance
    (``per_simulation`` under the estimated covariance) rather than adding the recording's
    share ``r`` alone."""
    return per_simulation(kind) and covariance_pilot.estimated(kind.spec)


FLOOR_FRACTION_MIN, FLOOR_FRACTION_MAX = 1e-5, 0.5
"""Training floors are drawn log-uniformly between these fractions of the band's mean PSD (up
to the largest the recording kind accepts: :func:`eegfit.experiments.recording.records.
floor_fraction`). A demo recording's floor is a few thousandths (0.0022 on the test's)."""
LOG_FLOOR_FRACTION_SD = 0.05
"""The noise on the ``log_floor_fraction`` feature in training (5 % of the floor: the flow's
condition is never exact)."""


def has_floor(kind) -> bool:
    """Whether the block adds the recording's white floor (``noise_floor_hz``) to the model."""
    return kind.spec.noise_floor_hz is not None


def floor_draws(kind, key, shape):
    """Training floors: log-uniform on ``[FLOOR_FRACTION_MIN, FLOOR_FRACTION_MAX)``, of the
    batch ``shape`` (0 without a floor)."""
    if not has_floor(kind):
        return 0.0
    low, high = np.log(FLOOR_FRACTION_MIN), np.log(FLOOR_FRACTION_MAX)
    return jnp.exp(jax.random.uniform(jax.random.fold_in(key, 104_729), shape,
                                      jnp.result_type(float), low, high))


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
    floor = floor_draws(kind, key, (BASIS_POINTS,))
    _, psd = kind.model_spectrum(kind.model_at(values), fit_key(kind), floor)
    entries = np.asarray(likelihood.whitened_log_psd(psd[kind._mask], np.ones(kind.n_bins, bool),
                                                     whiten), float).T
    entries = entries[np.all(np.isfinite(entries), axis=1)]
    _, _, vt = np.linalg.svd(entries - entries.mean(axis=0), full_matrices=False)
    u = vt[:min(N_COMPONENTS, kind.n_bins - 1)].T
    if topped_up(kind):  # the same span, turned so that the model's noise is uncorrelated
        vectors, values = npe_model_variance(kind, u, whitening(kind)[0])
        u = u @ vectors
        kind._npe_top_up = np.maximum(1.0 - values, NPE_TOP_UP_MIN)
    u = u * np.where(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])] < 0, -1.0, 1.0)
    kind._npe_basis = u  # deterministic given the config: computed once per kind object
    return u


def top_up(kind) -> np.ndarray:
    """Per principal entry, the variance the training noise adds to a per-simulation feature
    under the estimated covariance: ``1 - lambda`` (at least :data:`NPE_TOP_UP_MIN`) for the
    model's own variance ``lambda`` there (:func:`model_variance`), so that the simulations'
    spread plus the noise is the likelihood's unit covariance at the pilot's point. The
    realisations are steadier than ``chi2`` at the limit cycle's peak (whitened entries' total
    variance down to 0.4 on .test/npe_recording.yaml with the share ``r`` added alone): the
    flow would learn a likelihood narrower there than the grid's, which the estimated
    covariance (floored at the analytic one) does not claim."""
    basis(kind)
    return kind._npe_top_up


def feature_names(kind) -> list[str]:
    """The principal directions, then (with a floor) ``log_floor_fraction``."""
    names = [f"log_psd_pc[{i}]" for i in range(min(N_COMPONENTS, kind.n_bins - 1))]
    return names + (["log_floor_fraction"] if has_floor(kind) else [])


def model_noise(kind) -> str:
    """``npe.model_noise``, or where unset its default: ``per_simulation`` under the block's
    ``likelihood: {covariance: estimated}`` (held to a key-averaged reference on the default
    ``recording_demo``, docs/npe.md), ``fit_key`` under the analytic covariance (where the
    simulations' own noise is not the likelihood's)."""
    chosen = kind.spec.npe.model_noise
    if chosen is not None:
        return chosen
    return "per_simulation" if covariance_pilot.estimated(kind.spec) else "fit_key"


def per_simulation(kind) -> bool:
    """Whether each training simulation gets noise of its own (:func:`model_noise`
    ``per_simulation``) rather than the fit key's (``fit_key``, the grid posterior's)."""
    return model_noise(kind) == "per_simulation"


def fit_key(kind):
    """The model's noise key of the grid posterior and the fits of the first seed's targets."""
    return keys(kind.spec.seeds[0])[1]


def noise(kind) -> Noise:
    """The likelihood's noise on a whitened entry: all of it (sd 1) on the fit key's simulation,
    or on a simulation with noise of its own the recording's share (sd ``sqrt(r)``), or under
    the estimated covariance what tops the entry up to unit variance (:func:`top_up`)."""
    names = feature_names(kind)
    if topped_up(kind):
        sd = np.sqrt(top_up(kind))
    else:
        sd = np.full(len(names), float(np.sqrt(whitening(kind)[1])) if per_simulation(kind)
                     else 1.0)
    sds = {k: (LOG_FLOOR_FRACTION_SD if k == "log_floor_fraction" else float(sd[i]))
           for i, k in enumerate(names)}
    # a key per chunk: the simulations' own noise, or the floors drawn for them
    return Noise(rel_sd=None, sd=sds, drive_noise=per_simulation(kind) or has_floor(kind))


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
    shape = jnp.broadcast_shapes(*(jnp.shape(v) for v in values.values()))
    floor = floor_draws(kind, key, shape)
    if per_simulation(kind):
        model = own_noise(model, shape)
    else:
        key = fit_key(kind)
    _, psd = kind.model_spectrum(model, key, floor)
    entries = likelihood.whitened_log_psd(psd[kind._mask], np.ones(kind.n_bins, bool), whiten)
    summary = jnp.tensordot(jnp.asarray(basis(kind).T, entries.dtype), entries, axes=1)
    out = {f"log_psd_pc[{i}]": summary[i] for i in range(summary.shape[0])}
    if has_floor(kind):
        out["log_floor_fraction"] = jnp.broadcast_to(jnp.log(floor), shape)
    return out


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
    out = {f"log_psd_pc[{i}]": float(v) for i, v in enumerate(entries)}
    if has_floor(kind):
        floor = max(float(observed["floor_fraction"]), FLOOR_FRACTION_MIN)
        out["log_floor_fraction"] = float(np.log(floor))
    return out


def conditions(kind) -> dict:
    """What the estimator is trained for beside its prior and noise (checked on reload)."""
    spec = kind.spec
    sim = spec.simulation
    out = {"model_noise": model_noise(kind) + (
               "" if per_simulation(kind) else f" (seed {spec.seeds[0]})"),
           "band_hz": [float(b) for b in kind.band_hz], "segment_s": float(spec.segment_s),
           "overlap": float(spec.overlap), "n_realisations": int(spec.n_realisations),
           "recording_s": recording_s(kind),
           "simulation": f"dt_ms={sim.dt_ms:g} duration_ms={sim.duration_ms:g} "
                         f"transient_ms={sim.transient_ms:g} integrator={sim.integrator}",
           "model": repr(spec.model),
           "summary": f"{len(feature_names(kind)) - has_floor(kind)} principal directions of "
                      f"{BASIS_POINTS} prior draws (seed {spec.npe.seed}) at the fit key"}
    if covariance_pilot.estimated(spec):
        out["covariance"] = (f"estimated: {spec.likelihood['pilot_realisations']} realisations "
                             f"at {npe_pilot_point(kind)} (seed {spec.npe.seed})" +
                             ("; the noise tops each entry up to unit variance"
                              if topped_up(kind) else ""))
    if has_floor(kind):
        out["floor"] = (f"log-uniform fraction of the band's mean PSD in "
                        f"[{FLOOR_FRACTION_MIN:g}, {FLOOR_FRACTION_MAX:g}), drawn per "
                        f"simulation; its log a feature (sd {LOG_FLOOR_FRACTION_SD:g})")
    return out


def reference_problem(kind, observed_npe: dict, seed: int, factor: int = 16,
                      bounds: dict | None = None) -> infer.Problem:
    """The grid problem of the NPE's likelihood at one target (its features ``observed_npe``):
    the model's mean PSD over ``factor x n_realisations`` realisations of the fit key of
    ``seed`` (its Monte Carlo error ``1 / factor`` of the configured one) plus the target's floor
    (``exp(observed_npe["log_floor_fraction"])``, exact), the whitening and the variance of the configured
    ones (module docstring). ``bounds`` (name -> (low, high)) narrows the box: a grid there is a
    finer reference for a posterior much narrower than the box (uniform priors only: a narrowed
    box is the posterior truncated, negligible outside where the box holds its mass)."""
    spec = kind.spec
    ref = copy.copy(kind)
    ref.spec = dataclasses.replace(spec, n_realisations=spec.n_realisations * int(factor))
    whiten = jnp.asarray(whitening(kind)[0], jnp.result_type(float))
    u = jnp.asarray(basis(kind).T, jnp.result_type(float))
    floor = float(np.exp(observed_npe["log_floor_fraction"])) if has_floor(kind) else 0.0
    observed = {k: v for k, v in observed_npe.items() if k != "log_floor_fraction"}

    def model_features(values, key):
        _, psd = ref.model_spectrum(ref.model_at(values), key, floor)
        entries = likelihood.whitened_log_psd(psd[kind._mask], np.ones(kind.n_bins, bool),
                                              whiten)
        summary = jnp.tensordot(u, entries, axes=1)
        return {f"log_psd_pc[{i}]": summary[i] for i in range(summary.shape[0])}

    box = {p.name: p.bounds for p in spec.parameters}
    priors = {n: spec.posterior.prior(n, b) for n, b in box.items()}
    priors = {n: p for n, p in priors.items() if p is not None}
    if bounds is not None:
        if priors:
            raise ValueError(f"experiment {spec.name}: a narrowed reference box needs uniform "
                             f"priors, the posterior block has {sorted(priors)}")
        for n, (lo, hi) in bounds.items():
            if n not in box or not box[n][0] <= lo < hi <= box[n][1]:
                raise ValueError(f"experiment {spec.name}: reference bounds {n}: [{lo}, {hi}] "
                                 f"must be a parameter's interval inside its box {box.get(n)}")
        box = {**box, **{n: (float(lo), float(hi)) for n, (lo, hi) in bounds.items()}}
    return infer.problem(model_features, observed, {k: 1.0 for k in observed}, box, priors,
                         context=keys(seed)[1], units=kind.units())


__all__ = ["DOF_TOLERANCE", "FLOOR_FRACTION_MAX", "FLOOR_FRACTION_MIN", "LOG_FLOOR_FRACTION_SD",
           "check", "conditions", "feature_names", "features",
           "fit_key", "floor_draws", "has_floor", "model_noise", "noise",
           "observed", "own_noise", "per_simulation", "recording_s",
           "reference_problem", "target_dof", "top_up", "topped_up", "whitening"]
