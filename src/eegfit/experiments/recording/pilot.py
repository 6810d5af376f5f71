"""The pilot of the recording likelihood's estimated covariance: the model's own realisations at
one parameter value, made once per target (the ``likelihood`` key of a recording block; the
estimator is :func:`eegfit.signal.likelihood.excess_covariance`).

In a noisy limit cycle the log-PSD's bins move together beyond the window's leakage (the peak
wanders as a whole), so the analytic covariance (:mod:`eegfit.signal.likelihood`) is several
times overconfident along the direction the peak moves. With ``covariance: estimated`` the
target's job simulates ``pilot_realisations`` independent realisations of the model and measures
that excess (:func:`likelihood.excess_covariance`: the identity where there is none, so a fixed
point's whitening keeps its bytes); every fit, grid and Laplace posterior of the target then
whitens with it (:meth:`Recording.observed`).

Where: at the minimum of the analytic likelihood on a coarse grid of ``pilot_grid_points`` per
fitted parameter over the box (``grid_points ** d`` evaluations), the point the full-size
calibration benchmark validated (``benchmarks/bench_calibration.py``). Not the start: the excess
lies along the peak's motion, so a pilot at a start whose peak sits elsewhere (or in another
regime: a fixed point) measures the wrong directions; not the first fit's best, which would make
the target depend on a fit that itself depends on the target's likelihood. Deterministic: the
grid's likelihood uses the fit key of the target's seed (as the fits do), the pilot's
realisations a key of its own stream of that seed.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from eegfit.experiments.base import Target, as_float
from eegfit.experiments.spec import Reader
from eegfit.signal import likelihood

COVARIANCES = ("analytic", "estimated")
DEFAULT = {"covariance": "analytic", "pilot_realisations": 320, "pilot_grid_points": 9}
PILOT_STREAM = 3
"""A ``fold_in`` stream of the target's seed apart from the target's (0) and the fit's (1)."""
BATCH = 64
"""Realisations simulated in one call (memory)."""
EXCESS = "likelihood_excess"


def read(r: Reader) -> dict:
    """The ``likelihood`` block, checked (a ``ValueError`` naming the key)."""
    sub = r.sub("likelihood", tuple(DEFAULT), default=dict(DEFAULT))
    return {"covariance": sub.choice("covariance", COVARIANCES, DEFAULT["covariance"]),
            "pilot_realisations": sub.integer("pilot_realisations",
                                              DEFAULT["pilot_realisations"], low=8),
            "pilot_grid_points": sub.integer("pilot_grid_points", DEFAULT["pilot_grid_points"],
                                             low=2)}


def check(spec, n_bins: int) -> None:
    """A pilot of fewer than 4x the likelihood's bins is refused (a spike hides below the
    noise edge of a sample covariance that small: :func:`likelihood.excess_covariance`)."""
    n = spec.likelihood["pilot_realisations"]
    if estimated(spec) and n < 4 * n_bins:
        raise ValueError(f"config experiments.{spec.name}.likelihood.pilot_realisations ({n}) "
                         f"must be at least 4x the likelihood's {n_bins} bins ({4 * n_bins})")


def estimated(spec) -> bool:
    return spec.likelihood["covariance"] == "estimated"


@functools.lru_cache(maxsize=8)
def _grid_program(kind):
    """``(values (batch, d), fit data) -> the analytic losses``: one compiled program per kind,
    the target's data an argument (a constant of the program would compile it again for every
    target; the fits pass it the same way)."""
    names = kind.spec.names

    def losses(values, data):
        return jax.vmap(lambda v: kind.loss(kind.model_at(dict(zip(names, v))), data)[0])(values)
    return jax.jit(losses)


@functools.lru_cache(maxsize=8)
def _realisations_program(kind):
    """``(model, keys (batch,)) -> the Welch PSDs over the likelihood's band``: one compiled
    program per kind, the model (its parameter values) an argument."""
    return jax.jit(jax.vmap(lambda model, k: kind.realisation_psd(model, k)[kind._mask],
                            in_axes=(None, 0)))


def grid_minimum(kind, observed: dict, seed: int) -> dict:
    """The parameter values (name -> float) of the lowest analytic loss on the coarse grid over
    the box, the fit key of ``seed`` (the fits' own likelihood)."""
    spec, g = kind.spec, kind.spec.likelihood["pilot_grid_points"]
    axes = [np.linspace(*p.bounds, g) for p in spec.parameters]
    points = np.array(list(itertools.product(*axes)), dtype=float)  # (g ** d, d)
    data = kind.fit_data(observed, seed)
    losses = _grid_program(kind)
    dtype = jnp.result_type(float)
    nll = np.concatenate([np.asarray(losses(jnp.asarray(points[i:i + g], dtype), data), float)
                          for i in range(0, len(points), g)])
    if not np.any(np.isfinite(nll)):
        raise ValueError(f"config experiments.{spec.name}.likelihood: the analytic likelihood "
                         f"is not finite anywhere on the pilot's {g}-point grid over the box")
    best = points[int(np.nanargmin(np.where(np.isfinite(nll), nll, np.nan)))]
    return {n: float(v) for n, v in zip(spec.names, best)}


def realisations(kind, values: dict, key, n: int) -> np.ndarray:
    """``(n, n_bins)``: the Welch PSDs over the likelihood's band of ``n`` independent
    realisations of the model at ``values`` (keys split from ``key``; no floor)."""
    model = kind.model_at({k: as_float(v) for k, v in values.items()})
    batch = _realisations_program(kind)
    split = jax.random.split(key, n)
    return np.concatenate([np.asarray(batch(model, split[i:i + BATCH]), float)
                           for i in range(0, n, BATCH)])


def excess_dataset(kind, target: Target, observed: dict) -> xr.Dataset:
    """The target's pilot: ``likelihood_excess`` (the band's bins x bins) and the parameter
    values it was measured at (``pilot_<name>``)."""
    point = grid_minimum(kind, observed, target.seed)
    n = kind.spec.likelihood["pilot_realisations"]
    key = jax.random.fold_in(jax.random.key(int(target.seed)), PILOT_STREAM)
    psd = realisations(kind, point, key, n)
    if not np.all(np.isfinite(psd) & (psd > 0)):
        raise ValueError(f"config experiments.{kind.spec.name}.likelihood: the pilot's "
                         f"realisations at {point} have a PSD that is not finite and > 0")
    excess = likelihood.excess_covariance(psd, kind.realisation_dof, kind._n_per_segment)
    freqs = np.asarray(kind._band_freqs, float)
    units = kind.units()
    data = {EXCESS: (("likelihood_frequency", "likelihood_frequency_2"), excess,
                     {"units": "1", "long_name": "the log-PSD's covariance across the pilot's "
                      "realisations in units of the analytic one (identity: none in excess)",
                      "pilot_realisations": n,
                      "largest_excess": float(np.linalg.eigvalsh(excess)[-1])})}
    for name, value in point.items():
        data[f"pilot_{name}"] = ((), value, {"units": units.get(name, "1"), "long_name":
                                             f"{name} of the pilot (the analytic likelihood's "
                                             f"minimum on the coarse grid over the box)"})
    coords = {d: (d, freqs, {"units": "Hz", "long_name": "frequency of the likelihood's bins"})
              for d in ("likelihood_frequency", "likelihood_frequency_2")}
    return xr.Dataset(data, coords=coords)


def excess_of(spec, target_ds: xr.Dataset) -> np.ndarray | None:
    """The target's measured excess under ``covariance: estimated`` (None: analytic)."""
    if not estimated(spec):
        return None
    if EXCESS not in target_ds:
        raise ValueError(f"config experiments.{spec.name}.likelihood.covariance is 'estimated' "
                         f"but the target {target_ds.attrs.get('target', '')!r} holds no "
                         f"{EXCESS} (made under another config: remake it)")
    return np.asarray(target_ds[EXCESS].values, float)


# The recording NPE's pilot (issue 22, part 6): independent realisations of the model at the
# box's centre, for the whitening's excess under ``likelihood: {covariance: estimated}``
# (:func:`npe_excess`: one whitening for every recording, so not a target's own pilot) and for
# the model's own variance of each principal entry (:func:`npe_model_variance`), which the
# ``per_simulation`` training noise tops up to the likelihood's unit variance
# (:func:`eegfit.experiments.recording.npe.top_up`).


def npe_pilot_point(kind) -> dict:
    """Where the NPE's pilot measures the excess: the centre of the box (name -> float)."""
    return {p.name: 0.5 * (p.bounds[0] + p.bounds[1]) for p in kind.spec.parameters}


def npe_pilot(kind) -> np.ndarray:
    """``(pilot_realisations, n_bins)``: the Welch PSDs of independent single realisations of
    the model at :func:`npe_pilot_point` (keys from ``npe.seed``; no floor), simulated once per
    kind object."""
    cached = getattr(kind, "_npe_pilot", None)
    if cached is not None:
        return cached
    key = jax.random.fold_in(jax.random.key(int(kind.spec.npe.seed)),
                             PILOT_STREAM)
    psd = realisations(kind, npe_pilot_point(kind), key,
                                       kind.spec.likelihood["pilot_realisations"])
    if not np.all(np.isfinite(psd) & (psd > 0)):
        raise ValueError(f"config experiments.{kind.spec.name}.likelihood: the NPE's pilot "
                         f"realisations at {npe_pilot_point(kind)} have a PSD that is not finite "
                         f"and > 0")
    kind._npe_pilot = psd
    return psd


def npe_excess(kind) -> np.ndarray | None:
    """The realisations' excess covariance the NPE whitens with under ``likelihood:
    {covariance: estimated}`` (None: analytic). One for every recording, as the whitening must
    be: the :func:`npe_pilot` at the box's centre through :func:`likelihood.excess_covariance`, as
    a target's own pilot (:func:`excess_dataset`), which sits at that
    target's coarse minimum instead (the pipeline's grid and fits of a recording far from the
    centre whiten along its own peak's motion; the NPE along the centre's)."""
    if not estimated(kind.spec):
        return None
    cached = getattr(kind, "_npe_excess", None)
    if cached is None:  # deterministic given the config: measured once per kind object
        cached = kind._npe_excess = likelihood.excess_covariance(
            npe_pilot(kind), kind.realisation_dof, kind._n_per_segment)
    return cached


NPE_TOP_UP_MIN = 0.01
"""The least variance the training noise adds to a principal entry (where the model's own
Monte Carlo part already fills the unit variance or more)."""


def npe_model_variance(kind, u, whiten) -> tuple[np.ndarray, np.ndarray]:
    """``(V, lambda)``: the eigenvectors (columns, largest variance first) and variances of the
    covariance of ``u^T W log S_hat`` (``W``: ``whiten``) across the model's noise at
    :func:`npe_pilot_point`, with ``S_hat`` the mean of ``R = n_realisations`` realisations:
    ``u^T W Cov(delta) W^T u / R``, ``delta`` the pilot's relative deviations from its mean
    (``log`` of a mean of ``R`` realisations moves by the mean of their ``delta``, to first
    order)."""
    psd = npe_pilot(kind)
    delta = psd / psd.mean(axis=0) - 1.0
    w = np.asarray(whiten, float)
    cov = u.T @ w @ np.cov(delta, rowvar=False) @ w.T @ u / kind.spec.n_realisations
    values, vectors = np.linalg.eigh(cov)
    return vectors[:, ::-1], values[::-1]


__all__ = ["COVARIANCES", "DEFAULT", "EXCESS", "NPE_TOP_UP_MIN", "check", "estimated",
           "excess_dataset", "excess_of", "grid_minimum", "npe_excess", "npe_model_variance",
           "npe_pilot", "npe_pilot_point", "read", "realisations"]
