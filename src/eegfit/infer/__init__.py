"""Posteriors of fitted parameters from the fits' own objective: which values are consistent
with the data, and whether the data pin a parameter down.

- :mod:`~eegfit.infer.problem`: :func:`problem` (boxes, priors, a Gaussian likelihood on the
  features a fit compares), :func:`relative_scale`, :func:`spread_scale`.
- :mod:`~eegfit.infer.priors`: :class:`Uniform` (the default), :class:`TruncatedNormal`, any
  object with ``support``, ``log_prob`` and ``sample``; the logistic transform of a box.
- :mod:`~eegfit.infer.grid`: the exact grid posterior of one or two parameters (the reference).
- :mod:`~eegfit.infer.nuts`: NUTS (BlackJAX) with several chains, window adaptation and
  diagnostics (R-hat, bulk and tail ESS, MCSE, divergences).
- :mod:`~eegfit.infer.hds`: highest-density sets as intervals and the identifiability verdict.
- :mod:`~eegfit.infer.posterior`: :func:`posterior`, one call from a problem to its result.
- :mod:`~eegfit.infer.idata`: the results as ArviZ InferenceData groups in one NetCDF file.
- amortized posteriors, the package :mod:`~eegfit.infer.npe` (imported on use: it needs equinox
  and flowjax): ``settings`` (its noise and training settings), ``estimator`` (the trained
  flow: draws and densities for any target), ``train`` (on prior simulations), ``io`` (save
  and reload, refusing a changed prior), ``check`` (each target's NPE against its grid
  posterior); :mod:`~eegfit.infer.sbc` (simulation-based calibration and expected coverage).
"""

from eegfit._lazy import attach

attach(__name__, {
    **dict.fromkeys(["GridPosterior", "grid_posterior"], "grid"),
    **dict.fromkeys(["Identifiability", "Marginal", "identifiability", "marginal_of_cells",
                     "marginal_of_draws"], "hds"),
    **dict.fromkeys(["NutsResult", "diagnostics", "nuts"], "nuts"),
    **dict.fromkeys(["METHODS", "Posterior", "posterior"], "posterior"),
    **dict.fromkeys(["Box", "Prior", "TruncatedNormal", "Uniform"], "priors"),
    **dict.fromkeys(["Problem", "problem", "relative_scale", "spread_scale"], "problem"),
})

__all__ = ["Box", "GridPosterior", "Identifiability", "METHODS", "Marginal", "NutsResult",
           "Posterior", "Prior", "Problem", "TruncatedNormal", "Uniform", "diagnostics", "grid_posterior",
           "identifiability", "marginal_of_cells", "marginal_of_draws", "nuts", "posterior", "problem",
           "relative_scale", "spread_scale"]
