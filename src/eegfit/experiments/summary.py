"""One summary table per experiment, on one schema for every kind: a row per fit and parameter.

Columns (units in the NetCDF; wall times in the CSV only, since they differ run to run):
``experiment, kind, target, parameter, units, backend, optimizer, seed, truth, start, fitted,
rel_error, std, best_loss, noise_floor_loss, status, n_evaluations, n_nonfinite``, then the kind's
own scalar columns (``Kind.summary_columns``, e.g. the FC correlation of a network fit).
``truth`` and ``rel_error`` are NaN where the data have no ground truth (a recording, an empirical
FC); ``std`` is the Laplace 1-sigma where the experiment asks for it (``uncertainty.rel_sd``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

COLUMNS = {  # column -> (units, long name); None: the parameter's units
    "experiment": ("", "experiment"),
    "kind": ("", "experiment kind"),
    "target": ("", "target label"),
    "parameter": ("", "fitted parameter"),
    "units": ("", "units of the parameter"),
    "backend": ("", "fitting backend"),
    "optimizer": ("", "optimizer"),
    "seed": ("", "seed"),
    "truth": (None, "ground-truth parameter value"),
    "start": (None, "start value"),
    "fitted": (None, "best fitted value (lowest loss)"),
    "rel_error": ("1", "relative error |fitted - truth| / |truth|"),
    "std": (None, "Laplace 1-sigma uncertainty (NaN where not computed)"),
    "best_loss": ("1", "lowest finite loss"),
    "noise_floor_loss": ("1", "loss at the true parameters: the seed-to-seed noise floor"),
    "status": ("", "fit status"),
    "n_evaluations": ("1", "model evaluations"),
    "n_nonfinite": ("1", "evaluations with a non-finite loss or gradient"),
}


def _scalar(ds: xr.Dataset, name: str) -> float:
    return float(ds[name]) if name in ds else float("nan")


def rows_of(ds: xr.Dataset, extra_columns=()) -> list[dict]:
    """The summary rows of one fit record (one per fitted parameter)."""
    rows = []
    for name in ds.attrs["fitted_parameters"].split(","):
        truth, fitted = _scalar(ds, f"true_{name}"), _scalar(ds, f"best_{name}")
        row = {"experiment": ds.attrs["experiment"], "kind": ds.attrs["kind"],
               "target": str(ds.attrs["target"]), "parameter": name,
               "units": ds[f"best_{name}"].attrs["units"], "backend": ds.attrs["backend"],
               "optimizer": ds.attrs["optimizer"], "seed": int(ds.attrs["seed"]),
               "truth": truth, "start": _scalar(ds, f"start_{name}"), "fitted": fitted,
               "rel_error": abs(fitted - truth) / abs(truth) if truth else abs(fitted - truth),
               "std": _scalar(ds, f"std_{name}"), "best_loss": _scalar(ds, "best_loss"),
               "noise_floor_loss": _scalar(ds, "noise_floor_loss"), "status": ds.attrs["status"],
               "n_evaluations": int(ds.attrs["n_evaluations"]),
               "n_nonfinite": int(ds.attrs["n_nonfinite"])}
        row.update({c: _scalar(ds, c) for c in extra_columns})
        rows.append(row)
    return rows


def collect(fit_paths, timing_paths=None, extra_columns=()) -> pd.DataFrame:
    """The table of the fit records at ``fit_paths`` (and their wall times, s, where given)."""
    timing_paths = list(timing_paths or [None] * len(fit_paths))
    rows = []
    for path, timing in zip(fit_paths, timing_paths):
        with xr.open_dataset(path) as ds:
            new = rows_of(ds, extra_columns)
        if timing is not None:
            with open(timing) as fh:
                wall = float(json.load(fh)["wall_time_s"])
            for row in new:
                row["wall_time_s"] = wall
        rows += new
    table = pd.DataFrame(rows, columns=[*COLUMNS, *extra_columns,
                                        *(["wall_time_s"] if timing_paths[:1] != [None] else [])])
    order = {n: i for i, n in enumerate(dict.fromkeys(table["parameter"]))}
    return (table.assign(_order=table["parameter"].map(order))
            .sort_values(["backend", "target", "seed", "_order"], kind="stable")
            .drop(columns="_order").reset_index(drop=True))


def to_dataset(table: pd.DataFrame, *, attrs: dict) -> xr.Dataset:
    """The table on a ``fit`` dimension, without wall times; parameter-valued columns carry the
    parameter's units (``mixed``, see ``units``, when the experiment fits several)."""
    units = sorted(set(table["units"])) if len(table) else ["1"]
    param_unit = units[0] if len(units) == 1 else "mixed (see the units column)"
    data = {}
    for column in table.columns.drop("wall_time_s", errors="ignore"):
        unit, long_name = COLUMNS.get(column, ("1", column))
        values = table[column].to_numpy()
        if values.dtype == object:
            values = values.astype(str)
        data[column] = ("fit", values, {"units": param_unit if unit is None else unit,
                                        "long_name": long_name})
    parameters = ",".join(dict.fromkeys(table["parameter"]))
    return xr.Dataset(data, coords={"fit": ("fit", np.arange(len(table)))},
                      attrs={**attrs, "parameter": parameters})
