"""What the figures read from a fit dataset or a summary table (``summary.nc``, ``summary.csv``):
the fitted parameter, a column and its parameter, the rows of one fit each, the lowest loss so far
per step, and the median and spread of values and curves. The figures common to every fit
(:mod:`eegfit.plots.fits`) and each kind's figures share them.
"""

from __future__ import annotations

import warnings

import numpy as np

USABLE = ("converged", "max_steps")  # statuses whose best value is a result
BAND_PERCENT = (10, 90)


def fitted_parameter(fit) -> str:
    """The (first) fitted parameter's name of a fit dataset."""
    return fit.attrs["fitted_parameters"].split(",")[0]


def spread(values) -> tuple[float, float, float]:
    """Median and the (min, max) range of the finite values."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return np.nan, np.nan, np.nan
    return float(np.median(values)), float(values.min()), float(values.max())


def table_column(table, name: str) -> np.ndarray:
    """One column of a summary table (``summary.csv`` DataFrame or ``summary.nc``) as an array."""
    if name not in table:
        raise KeyError(f"the summary has no column {name!r} (wall times are in summary.csv, "
                       f"not summary.nc)")
    return np.asarray(table[name])


def table_parameter(table) -> tuple[str, str]:
    """(parameter name, units) of a summary table (summary.csv DataFrame or summary.nc)."""
    if "parameter" in table:
        unit = str(table_column(table, "units")[0]) if "units" in table else "1"
        return str(table_column(table, "parameter")[0]), unit
    return (table.attrs.get("parameter", "parameter"),
            getattr(table["truth"], "attrs", {}).get("units", "1"))


def fit_rows(summary) -> np.ndarray:
    """The rows of a summary with one row per fit: those of its first fitted parameter."""
    parameter = np.asarray(summary["parameter"].values).astype(str)
    return np.flatnonzero(parameter == parameter[0]) if parameter.size else np.arange(0)


def progress(summary, rows) -> np.ndarray:
    """(fit, step) lowest loss so far of the summary's ``rows``, up to the longest of their fits:
    a fit that stopped earlier keeps its last value; non-finite values as NaN."""
    n_steps = np.asarray(summary["n_steps"].values[rows])
    curves = np.array(summary["best_loss_so_far"].values[rows, :max(n_steps, default=0)],
                      dtype=float)
    for curve, n in zip(curves, n_steps):
        if 0 < n < curve.size:
            curve[n:] = curve[n - 1]
    return np.where(np.isfinite(curves), curves, np.nan)


def band(curves) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and the :data:`BAND_PERCENT` percentiles over fits (axis 0) at each step, of the
    finite values (NaN where a step has none)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a step where no fit is finite yet
        median = np.nanmedian(curves, axis=0)
        low, high = np.nanpercentile(curves, BAND_PERCENT, axis=0)
    return median, low, high
