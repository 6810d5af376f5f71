"""The Laplace uncertainty of fits as NetCDF variables: the loss Hessians of a chunk's fits in
one call, and each fit's Hessian, covariance, correlation and 1-sigma per parameter with units
(:mod:`eegfit.fit.uncertainty` computes them)."""

from __future__ import annotations

import numpy as np

from eegfit.experiments.base import Kind
from eegfit.fit import Fitter, FitResult


def hessians(fit: Fitter, results: list[FitResult], data) -> list:
    """The loss Hessian at each fit's best point, all in one compiled call (a Fitter of every
    target, its fits' ``data`` stacked); ``None`` where a fit has no best point."""
    from eegfit.fit.uncertainty import loss_hessians  # noqa: PLC0415

    names = results[0].names
    ok = [bool(np.isfinite(r.best_loss)) for r in results]
    # a failed fit is evaluated at its start (finite) to keep the batch whole, then dropped
    values = {k: np.asarray([r.best_params[k] if good else r.start_params[k]
                             for r, good in zip(results, ok)]) for k in names}
    h = loss_hessians(fit.loss_fn, fit.model_at, values, data)
    return [h[b] if good else None for b, good in enumerate(ok)]


def curvature_vars(kind: Kind, result: FitResult, hessian: np.ndarray | None) -> dict:
    """The Laplace uncertainty at the best point (``uncertainty.rel_sd``) from its loss
    ``hessian`` (:func:`hessians`): Hessian, covariance, correlation and 1-sigma per parameter
    (NaN where the fit failed or H is not positive definite)."""
    from eegfit.fit.uncertainty import Curvature, laplace  # noqa: PLC0415

    names, n, rel_sd = result.names, len(result.names), kind.spec.uncertainty_rel_sd
    if not np.isfinite(result.best_loss) or hessian is None:
        nan = np.full((n, n), np.nan)
        curv = Curvature(names, nan, np.full(n, np.nan), nan, np.full(n, np.nan), nan, False)
    else:
        curv = laplace(names, hessian, rel_sd)
    units = kind.units()
    unit_list = ", ".join(f"{k}: {u}" for k, u in units.items())
    dims = ("parameter", "parameter_2")
    out = {
        "hessian": (dims, curv.hessian, {"units": f"1/(unit_i*unit_j), unit_k = {unit_list}",
                                         "long_name": "Hessian of the loss at the best point"}),
        "hessian_eigenvalues": (("eigen",), curv.eigenvalues, {
            "units": "mixed", "long_name": "eigenvalues of the Hessian, ascending"}),
        "covariance": (dims, curv.covariance, {"units": f"unit_i*unit_j, unit_k = {unit_list}",
                                               "long_name": "Laplace covariance 2 rel_sd^2 inv(H)"}),
        "correlation": (dims, curv.correlation, {"units": "1", "long_name": "Laplace correlation"}),
        "hessian_positive_definite": ((), int(curv.positive_definite), {
            "units": "1", "long_name": "1 where the Hessian is positive definite"}),
        "coords": {"parameter": ("parameter", list(names), {"long_name": "parameter"}),
                   "parameter_2": ("parameter_2", list(names), {"long_name": "parameter"})}}
    for i, name in enumerate(names):
        out[f"std_{name}"] = ((), curv.std[i], {"units": units[name], "long_name":
                                                 f"1-sigma Laplace uncertainty of {name}"})
    return out


__all__ = ["curvature_vars", "hessians"]
