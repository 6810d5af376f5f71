"""Collect fit results (NetCDF + timing JSON) into one table: one row per fit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

COLUMNS = {  # column -> (units, long name); wall_time_s goes to the CSV only
    "backend": ("", "fitting backend"),
    "optimizer": ("", "optimizer"),
    "seed": ("", "seed"),
    "truth": (None, "ground-truth parameter value"),
    "start": (None, "start value"),
    "fitted": (None, "best fitted value (lowest loss)"),
    "rel_error": ("1", "relative error |fitted - truth| / |truth|"),
    "best_loss": ("1", "lowest finite loss"),
    "noise_floor_loss": ("1", "loss at the true parameter: the seed-to-seed noise floor"),
    "status": ("", "fit status"),
    "n_evaluations": ("1", "model evaluations"),
    "n_nonfinite": ("1", "evaluations with a non-finite loss or gradient"),
}


def collect(fit_paths, timing_paths=None) -> pd.DataFrame:
    """A DataFrame with one row per fit file (and its wall time where a timing file is given)."""
    timing_paths = list(timing_paths or [None] * len(fit_paths))
    rows = []
    for path, timing in zip(fit_paths, timing_paths):
        with xr.open_dataset(path) as ds:
            name = ds.attrs["fitted_parameters"].split(",")[0]
            truth, fitted = float(ds[f"true_{name}"]), float(ds[f"best_{name}"])
            row = {"parameter": name, "backend": ds.attrs["backend"],
                   "optimizer": ds.attrs["optimizer"], "seed": int(ds.attrs["seed"]),
                   "truth": truth, "start": float(ds[f"start_{name}"]), "fitted": fitted,
                   "rel_error": abs(fitted - truth) / abs(truth) if truth else abs(fitted),
                   "best_loss": float(ds["best_loss"]),
                   "noise_floor_loss": float(ds["noise_floor_loss"]) if "noise_floor_loss" in ds
                   else float("nan"), "status": ds.attrs["status"],
                   "n_evaluations": int(ds.attrs["n_evaluations"]),
                   "n_nonfinite": int(ds.attrs["n_nonfinite"]), "units": ds[f"best_{name}"].attrs[
                       "units"]}
        if timing is not None:
            with open(timing) as fh:
                row["wall_time_s"] = float(json.load(fh)["wall_time_s"])
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values(["backend", "truth", "seed"], kind="stable").reset_index(drop=True)


def to_dataset(table: pd.DataFrame, *, attrs: dict) -> xr.Dataset:
    """The table as a Dataset on a ``fit`` dimension, without wall times (not reproducible)."""
    unit = str(table["units"].iloc[0]) if len(table) else "1"
    data = {}
    for column, (units, long_name) in COLUMNS.items():
        values = table[column].to_numpy()
        if values.dtype == object:
            values = values.astype(str)
        data[column] = ("fit", values, {"units": unit if units is None else units,
                                        "long_name": long_name})
    return xr.Dataset(data, coords={"fit": ("fit", np.arange(len(table)))},
                      attrs={**attrs, "parameter": str(table["parameter"].iloc[0])})
