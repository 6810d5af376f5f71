"""One summary table per experiment, on one schema for every kind: a row per fit and parameter.

Columns (units in the NetCDF; wall times in the CSV only, since they differ run to run):
``experiment, kind, target, parameter, units, backend, optimizer, seed, truth, start, fitted,
rel_error, std, best_loss, noise_floor_loss, status, n_evaluations, n_nonfinite``, then the kind's
own scalar columns (``Kind.summary_columns``, e.g. the FC correlation of a network fit), then the
posterior's (:data:`POSTERIOR_COLUMNS`: the target's 90 % highest-density set, whether it
identifies the parameter, where the truth lies; ``n/a`` where the experiment has no posterior).
``truth`` and ``rel_error`` are NaN where the data have no ground truth (a recording, an empirical
FC); ``std`` is the Laplace 1-sigma where the experiment asks for it (``uncertainty.rel_sd``).

Last, the backends compared on each target and seed (:data:`AGREEMENT_COLUMNS`, :func:`agreement`):
``loss_above_lowest`` flags a fit whose best loss lies above the lowest of any backend on the
same target by more than the loss's noise floor (it did not find the optimum another backend
found); ``disagrees_90`` names the backends whose fit lies outside this fit's 90 % set, or whose
90 % set holds not this fit (the Laplace set ``fitted +- 1.645 std``, where both have one);
``fitted_in_hds`` whether the fit lies in the target's posterior 90 % set (one set per target,
from the posterior block).

The NetCDF also holds each fit's progress, so that the figures of a sweep read one file:
``best_loss_so_far`` on (``fit``, ``step``) (NaN after the fit's last step, ``n_steps``) and
``evaluations_per_step``; the loss columns carry the kind's loss name and units
(``Kind.loss_label``).
"""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from eegfit import io
from eegfit.fit.retry import margin as loss_margin

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
    "retried": ("", "a one-start grad fit that tried again: its first attempt's status (empty: "
                    "not retried; why: the record's retry_reason)"),
}


POSTERIOR_COLUMNS = {  # column -> (units, long name); None: the parameter's units
    "posterior_method": ("", "posterior method (grid | nuts; n/a: no posterior block)"),
    "hds_intervals": (None, "the target's highest-density set, as [low, high] intervals"),
    "hds_n_intervals": ("1", "intervals of the highest-density set"),
    "hds_width": (None, "total width of the highest-density set"),
    "identified": ("", "yes: the set is one interval narrower than max_width of the box"),
    "truth_in_hds": ("", "truth relative to the set: inside, below, above, between"),
    "truth_hds_level": ("1", "posterior mass denser than at the truth (inside iff < hds prob)"),
    "posterior_mean": (None, "posterior mean"),
    "posterior_rhat": ("1", "R-hat of the NUTS chains (NaN for a grid)"),
}


AGREEMENT_COLUMNS = {  # column -> (units, long name)
    "lowest_loss": ("1", "lowest best loss of any backend on this target and seed"),
    "loss_gap": ("1", "best_loss - lowest_loss"),
    "loss_margin": ("1", "the gap allowed: the noise floor, at least eegfit.fit.retry.LOSS_RTOL "
                         "of the lowest loss plus LOSS_ATOL"),
    "loss_above_lowest": ("", "yes: loss_gap > loss_margin (another backend found a lower "
                              "optimum)"),
    "disagrees_90": ("", "backends whose fit and this fit lie outside each other's 90 % "
                         "Laplace sets (none; n/a where a set is missing)"),
    "fitted_in_hds": ("", "whether the fit lies in the target's posterior 90 % set (n/a: no "
                          "posterior)"),
}
Z90 = 1.6448536269514722
"""The half-width of a normal's central 90 % interval, in standard deviations."""


def _in_sets(value: float, intervals) -> bool:
    return any(low <= value <= high for low, high in intervals)


def agreement(table: pd.DataFrame, hds: dict | None = None) -> pd.DataFrame:
    """The table with :data:`AGREEMENT_COLUMNS`: per fit (all rows of a target, seed and
    backend), the gap to the lowest best loss of any backend on that target and seed, flagged
    beyond the noise floor; per fit and parameter, the backends outside each other's 90 % sets
    and whether the fit lies in the posterior's (``hds``: ``(target, seed, parameter) -> [(low,
    high), ...]``)."""
    table = table.copy()
    hds = hds or {}
    loss = table["best_loss"].astype(float)
    key = [table["target"], table["seed"]]
    lowest = loss.where(np.isfinite(loss)).groupby(key).transform("min")
    floor = table["noise_floor_loss"].astype(float)
    margin = loss_margin(lowest, floor)
    gap = loss - lowest
    table["lowest_loss"], table["loss_gap"], table["loss_margin"] = lowest, gap, margin
    table["loss_above_lowest"] = np.where(~np.isfinite(lowest), "n/a", np.where(
        ~np.isfinite(loss) | (gap > margin), "yes", "no"))
    disagree = []
    for _, row in table.iterrows():
        std = float(row["std"])
        peers = table[(table["target"] == row["target"]) & (table["seed"] == row["seed"])
                      & (table["parameter"] == row["parameter"])
                      & (table["backend"] != row["backend"])]
        if not np.isfinite(std) or peers.empty:
            disagree.append("n/a")
            continue
        names, missing = [], False
        for _, peer in peers.iterrows():
            peer_std = float(peer["std"])
            if not np.isfinite(peer_std):
                missing = True
                continue
            gap_value = abs(float(row["fitted"]) - float(peer["fitted"]))
            if gap_value > Z90 * std or gap_value > Z90 * peer_std:
                names.append(str(peer["backend"]))
        disagree.append(";".join(names) if names else ("n/a" if missing else "none"))
    table["disagrees_90"] = disagree
    table["fitted_in_hds"] = [
        "n/a" if (row["target"], row["seed"], row["parameter"]) not in hds else
        ("yes" if _in_sets(float(row["fitted"]), hds[(row["target"], row["seed"],
                                                       row["parameter"])]) else "no")
        for _, row in table.iterrows()]
    return table


def posterior_rows(paths) -> dict:
    """``(target, seed, parameter) -> {column: value}`` of posterior files (their
    ``identifiability`` group)."""
    out = {}
    for path in paths:
        with xr.open_dataset(path, group="identifiability") as ds:
            target, seed = str(ds.attrs["target"]), int(ds.attrs["seed"])
            for name in ds["parameter"].values:
                v = ds.sel(parameter=name)
                n = int(v["n_intervals"])
                sets = [(float(v["lower"][i]), float(v["upper"][i])) for i in range(n)]
                intervals = " ".join(f"[{low:.6g}, {high:.6g}]" for low, high in sets)
                out[(target, seed, str(name))] = {
                    "posterior_method": ds.attrs["method"], "hds_intervals": intervals,
                    "hds_n_intervals": n, "hds_width": float(v["width"]),
                    "identified": "yes" if int(v["identified"]) else "no",
                    "truth_in_hds": str(v["truth_position"].values),
                    "truth_hds_level": float(v["truth_level"]),
                    "posterior_mean": float(v["mean"]), "posterior_rhat": float(v["rhat"]),
                    "_hds": sets}
    return out


def _scalar(ds, name: str) -> float:
    # the variable, not ds[name]: a DataArray costs more than the read (a sweep has thousands)
    return float(ds.variables[name].values) if name in ds.variables else float("nan")


class Record(NamedTuple):
    """A fit record's attrs and variables (:func:`eegfit.io.load_variables`), read as a
    Dataset would be by :func:`rows_of`, without building one."""

    attrs: dict
    variables: dict


def rows_of(ds: xr.Dataset | Record, extra_columns=()) -> list[dict]:
    """The summary rows of one fit record (one per fitted parameter)."""
    rows = []
    for name in ds.attrs["fitted_parameters"].split(","):
        truth, fitted = _scalar(ds, f"true_{name}"), _scalar(ds, f"best_{name}")
        row = {"experiment": ds.attrs["experiment"], "kind": ds.attrs["kind"],
               "target": str(ds.attrs["target"]), "parameter": name,
               "units": ds.variables[f"best_{name}"].attrs["units"], "backend": ds.attrs["backend"],
               "optimizer": ds.attrs["optimizer"], "seed": int(ds.attrs["seed"]),
               "truth": truth, "start": _scalar(ds, f"start_{name}"), "fitted": fitted,
               "rel_error": abs(fitted - truth) / abs(truth) if truth else abs(fitted - truth),
               "std": _scalar(ds, f"std_{name}"), "best_loss": _scalar(ds, "best_loss"),
               "noise_floor_loss": _scalar(ds, "noise_floor_loss"), "status": ds.attrs["status"],
               "n_evaluations": int(ds.attrs["n_evaluations"]),
               "n_nonfinite": int(ds.attrs["n_nonfinite"]),
               "retried": str(ds.attrs.get("first_attempt_status", ""))}
        row.update({c: _scalar(ds, c) for c in extra_columns})
        rows.append(row)
    return rows


def collect(fit_paths, timing_paths=None, extra_columns=(), posterior_paths=None) -> pd.DataFrame:
    """The table of the fit records at ``fit_paths`` (and their wall times, s, where given),
    with the posterior columns from ``posterior_paths`` (``n/a`` without them)."""
    return read(fit_paths, timing_paths, extra_columns, posterior_paths)[0]


def read(fit_paths, timing_paths=None, extra_columns=(), posterior_paths=None):
    """``(table, progress)``: the table of :func:`collect` and, row by row, each fit's progress
    ``{"best_loss_so_far": (row, step) array, NaN after the fit's last step; "n_steps",
    "evaluations_per_step": (row,) arrays}``, every record read once."""
    timing_paths = list(timing_paths or [None] * len(fit_paths))
    posteriors = posterior_rows(posterior_paths or [])
    rows, curves, per_step = [], [], []
    for path, timing in zip(fit_paths, timing_paths):
        ds = Record(*io.load_variables(path))
        new = rows_of(ds, extra_columns)
        for row in new:
            row.update({k: v for k, v in posteriors.get(
                (row["target"], row["seed"], row["parameter"]),
                dict.fromkeys(POSTERIOR_COLUMNS, "n/a")).items() if k != "_hds"})
        if timing is not None:
            with open(timing) as fh:
                wall = float(json.load(fh)["wall_time_s"])
            for row in new:
                row["wall_time_s"] = wall
        rows += new
        curves += [np.asarray(ds.variables["best_loss_so_far"].values, float)] * len(new)
        loss = ds.variables["loss"]  # (step, candidate)
        per_step += [loss.sizes.get("candidate", 1)] * len(new)
    table = pd.DataFrame(rows, columns=[*COLUMNS, *extra_columns, *POSTERIOR_COLUMNS,
                                        *(["wall_time_s"] if timing_paths[:1] != [None] else [])])
    wall = table.pop("wall_time_s") if "wall_time_s" in table else None
    table = agreement(table, {k: v["_hds"] for k, v in posteriors.items()})
    if wall is not None:
        table["wall_time_s"] = wall
    order = {n: i for i, n in enumerate(dict.fromkeys(table["parameter"]))}
    table = (table.assign(_order=table["parameter"].map(order))
             .sort_values(["backend", "target", "seed", "_order"], kind="stable")
             .drop(columns="_order"))
    rank = table.index.to_numpy()
    n_steps = np.array([c.size for c in curves], dtype=int)[rank]
    padded = np.full((len(rank), max(n_steps, default=0)), np.nan)
    for i, j in enumerate(rank):
        padded[i, :n_steps[i]] = curves[j]
    return table.reset_index(drop=True), {
        "best_loss_so_far": padded, "n_steps": n_steps,
        "evaluations_per_step": np.array(per_step, dtype=int)[rank]}


def to_dataset(table: pd.DataFrame, *, attrs: dict, progress: dict | None = None,
               loss_label: tuple[str, str] = ("loss", "1")) -> xr.Dataset:
    """The table on a ``fit`` dimension, without wall times; parameter-valued columns carry the
    parameter's units (``mixed``, see ``units``, when the experiment fits several), the loss
    columns ``loss_label`` (the kind's loss name and units); with ``progress`` (from
    :func:`read`), each fit's best loss so far on (``fit``, ``step``)."""
    units = sorted(set(table["units"])) if len(table) else ["1"]
    param_unit = units[0] if len(units) == 1 else "mixed (see the units column)"
    loss_name, loss_unit = loss_label
    described = {**COLUMNS, **POSTERIOR_COLUMNS, **AGREEMENT_COLUMNS,
                 "best_loss": (loss_unit, f"lowest finite loss: {loss_name}"),
                 "noise_floor_loss": (loss_unit, f"{loss_name} at the true parameters: the "
                                                 f"seed-to-seed noise floor")}
    data = {}
    for column in table.columns.drop("wall_time_s", errors="ignore"):
        unit, long_name = described.get(column, ("1", column))
        values = table[column].to_numpy()
        if values.dtype == object:
            values = values.astype(str)
        data[column] = ("fit", values, {"units": param_unit if unit is None else unit,
                                        "long_name": long_name})
    if progress is not None:
        data["best_loss_so_far"] = (("fit", "step"), progress["best_loss_so_far"], {
            "units": loss_unit, "long_name": f"lowest loss so far: {loss_name}",
            "loss": loss_name, "comment": "NaN after the fit's last step (n_steps)"})
        data["n_steps"] = ("fit", progress["n_steps"], {"units": "1",
                                                        "long_name": "optimizer steps taken"})
        data["evaluations_per_step"] = ("fit", progress["evaluations_per_step"], {
            "units": "1", "long_name": "model evaluations per optimizer step"})
    parameters = ",".join(dict.fromkeys(table["parameter"]))
    coords = {"fit": ("fit", np.arange(len(table)))}
    if progress is not None:
        coords["step"] = ("step", np.arange(progress["best_loss_so_far"].shape[1]),
                          {"units": "1", "long_name": "optimizer step"})
    return xr.Dataset(data, coords=coords, attrs={**attrs, "parameter": parameters})
