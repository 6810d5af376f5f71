"""Calibration of an NPE by simulation: simulation-based calibration (SBC) and expected coverage.

Both use ``runs`` held-out simulations ``(theta_i, y_i)`` from the prior predictive (the
training's noise, a seed of their own) and ``draws`` posterior draws for each ``y_i``:

- SBC (Talts et al. 2018): the rank of ``theta_i`` among its draws (per parameter, ``0 ..
  draws``) is uniform when the posterior is calibrated; the ranks' histogram over ``bins`` bins
  and its chi-square test against the uniform (``scipy.stats.chisquare``) say how far off it is.
  With 99 draws and 10 bins every bin holds 10 rank values.
- Expected coverage: the fraction of runs whose ``x`` % set contains the truth, for ``x`` in
  ``levels`` (5 .. 95 %): the central interval per parameter (``coverage_central``) and the joint
  highest-density set of the flow's own density (``coverage_hpd``: the truth lies inside the
  ``x`` % HDS when fewer than ``x`` % of the draws are denser than the truth). A calibrated
  posterior lies on the diagonal; above it is conservative, below overconfident.

:func:`calibrate` returns an ``xarray.Dataset`` (units and long names on every variable, no
timestamps: a rerun writes the same bytes).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from eegfit.infer.npe.estimator import Estimator
from eegfit.infer.npe.train import simulate_prior
from eegfit.infer.problem import Problem

LEVELS = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))


def _checked(runs, draws, bins):
    for name, value, low in (("runs", runs, 2), ("draws", draws, 1), ("bins", bins, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"SBC {name} must be an integer >= {low}, got {value!r}")
    if bins > draws + 1:
        raise ValueError(f"SBC bins ({bins}) must be at most draws + 1 ({draws + 1})")


def ranks_and_coverage(estimator: Estimator, theta: np.ndarray, y: np.ndarray, draws: int,
                       seed: int, levels=LEVELS):
    """Ranks ``(runs, P)``, central coverage ``(levels, P)`` and HPD coverage ``(levels,)``."""
    x = estimator.sample(y, draws, seed)  # name -> (draws, runs)
    names = estimator.names
    ranks = np.stack([np.sum(x[n] < theta[:, j], axis=0) for j, n in enumerate(names)], -1)
    levels = np.asarray(levels, float)
    central = np.empty((len(levels), len(names)))
    for j, n in enumerate(names):
        lo = np.quantile(x[n], (1 - levels) / 2, axis=0)  # (levels, runs)
        hi = np.quantile(x[n], (1 + levels) / 2, axis=0)
        central[:, j] = np.mean((lo <= theta[:, j]) & (theta[:, j] <= hi), axis=1)
    lq_draws = estimator.log_prob(x, y)  # (draws, runs)
    lq_truth = estimator.log_prob({n: theta[:, j] for j, n in enumerate(names)}, y)
    denser = np.mean(lq_draws > lq_truth, axis=0)  # HDS level at which the truth enters
    hpd = np.mean(denser[None, :] < levels[:, None], axis=1)
    return ranks, central, hpd


def calibrate(estimator: Estimator, problem: Problem, *, runs: int = 200, draws: int = 99,
              bins: int = 10, seed: int | None = None, levels=LEVELS,
              max_batch: int = 2048) -> xr.Dataset:
    """SBC and expected coverage of ``estimator`` on ``problem``'s prior predictive (see the
    module docstring); ``seed`` (default: the training seed + 1) must differ from training's."""
    from scipy.stats import chisquare  # noqa: PLC0415

    _checked(runs, draws, bins)
    seed = estimator.settings.seed + 1 if seed is None else int(seed)
    if seed == estimator.settings.seed:
        raise ValueError(f"SBC seed {seed} is the training seed: calibrate on held-out "
                         f"simulations")
    theta, y = simulate_prior(problem, estimator.noise, runs, seed, max_batch)
    ranks, central, hpd = ranks_and_coverage(estimator, theta, y, draws, seed, levels)
    which_bin = np.minimum(ranks * bins // (draws + 1), bins - 1)
    counts = np.stack([np.bincount(which_bin[:, j], minlength=bins)
                       for j in range(ranks.shape[1])])
    test = [chisquare(c) for c in counts]
    names, units = list(estimator.names), estimator.units
    pu = ", ".join(f"{n}: {units.get(n, '1')}" for n in names)
    data = {
        "truth": (("run", "parameter"), theta, {"units": f"the parameter's ({pu})",
                                                "long_name": "parameters drawn from the prior"}),
        "observed": (("run", "feature"), y, {"units": "the feature's", "long_name":
                                             "simulated features with the likelihood's noise"}),
        "rank": (("run", "parameter"), ranks.astype(np.int32), {
            "units": "1", "long_name": f"draws (of {draws}) below the truth"}),
        "rank_count": (("parameter", "bin"), counts.astype(np.int32), {
            "units": "1", "long_name": f"runs whose rank falls in the bin ({bins} bins)"}),
        "chi2": ("parameter", [t.statistic for t in test], {
            "units": "1", "long_name": "chi-square statistic of the rank counts vs uniform"}),
        "chi2_p": ("parameter", [t.pvalue for t in test], {
            "units": "1", "long_name": "p-value of the chi-square test (uniform ranks)"}),
        "coverage_central": (("level", "parameter"), central, {
            "units": "1", "long_name": "fraction of runs whose central interval holds the truth"}),
        "coverage_hpd": ("level", hpd, {
            "units": "1", "long_name": "fraction of runs whose joint HDS holds the truth"}),
    }
    coords = {"parameter": names, "feature": list(estimator.feature_names),
              "run": np.arange(len(theta)), "bin": np.arange(bins),
              "level": ("level", np.asarray(levels, float),
                        {"units": "1", "long_name": "credibility level of the set"})}
    return xr.Dataset(data, coords=coords, attrs={
        "runs": int(len(theta)), "runs_asked": int(runs), "draws": int(draws), "bins": int(bins),
        "seed": seed, "expected_count_per_bin": len(theta) / bins,
        "method": "simulation-based calibration (ranks) and expected coverage of an NPE"})


__all__ = ["LEVELS", "calibrate", "ranks_and_coverage"]
