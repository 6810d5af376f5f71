"""The datasets of results: a trace, scalar features and a fit's full record, each variable with
its ``units`` and ``long_name`` (written by :func:`eegfit.io.write_netcdf`). Wall time, date
and host are left out, so a rerun gives the same dataset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

if TYPE_CHECKING:  # only a type here: building or writing a dataset does not import JAX
    from eegfit.fit import FitResult


def variable(dims, data, units: str, long_name: str) -> tuple:
    """``(dims, values, attrs)`` of a Dataset variable with its ``units`` and ``long_name``."""
    return (dims, np.asarray(data), {"units": units, "long_name": long_name})


def trace_dataset(time_ms, observable, *, attrs: dict, name: str = "eeg",
                  long_name: str = "EEG observable y1 - y2", units: str = "mV",
                  variables: dict | None = None) -> xr.Dataset:
    """A trace on a ``time`` axis in ms, with units (the model's observable's) and provenance
    attrs; ``variables`` are further variables, ``{name: (dims, values, attrs)}``."""
    return xr.Dataset(
        {name: variable(("time",), observable, units, long_name), **(variables or {})},
        coords={"time": ("time", np.asarray(time_ms),
                         {"units": "ms", "long_name": "time since simulation start"})},
        attrs=attrs)


def features_dataset(values: dict, units: dict, *, attrs: dict) -> xr.Dataset:
    """Scalar features, one variable each, with units."""
    return xr.Dataset({name: ((), np.asarray(v), {"units": units[name], "long_name": name})
                       for name, v in values.items()}, attrs=attrs)


def fit_dataset(result: FitResult, *, param_units: dict, aux_units: dict | None = None,
                truth: dict | None = None, attrs: dict,
                extras: dict | None = None) -> xr.Dataset:
    """A fit's full record: per-step loss, parameters and aux; best values; status.

    Dimensions ``step`` (optimizer step) and ``candidate`` (1 for grad; the population for
    nevergrad). ``extras`` are further variables, ``{name: (dims, values, attrs)}`` (the kind's:
    a fitted trace, the noise floor...), with their coordinates under ``"coords"``. Wall time
    is deliberately left out (it differs run to run).
    """
    dims = ("step", "candidate")
    data = {"loss": variable(dims, result.history.loss, "1", "loss of each evaluated candidate"),
            "best_loss_so_far": variable(("step",), result.history.best_so_far(), "1",
                                         "lowest finite loss up to this step")}
    data.update(_param_vars(result, param_units, truth))
    if isinstance(result.history.aux, dict):
        aux_units = aux_units or {}
        for key, value in result.history.aux.items():
            data[f"aux_{key}"] = variable(dims, value, aux_units.get(key, "1"),
                                          f"aux output {key}")
    data["best_loss"] = variable((), result.best_loss, "1", "lowest finite loss")
    coords = {"step": ("step", np.arange(result.n_steps), {"long_name": "optimizer step"}),
              "candidate": ("candidate", np.arange(result.history.loss.shape[1]),
                            {"long_name": "candidate within a step"})}
    extras = dict(extras or {})
    coords.update(extras.pop("coords", {}))
    data.update(extras)
    if result.starts is not None:
        data.update(_start_vars(result, param_units))
        coords["start"] = ("start", np.arange(result.starts.n_starts),
                           {"long_name": "start of a multi-start fit (0: the configured one)"})
    if result.gradient_check is not None:
        data.update(_check_vars(result, param_units))
    return xr.Dataset(data, coords=coords, attrs={**attrs, **_run_attrs(result)})


def _param_vars(result: FitResult, param_units: dict, truth: dict | None) -> dict:
    """Each fitted parameter's evaluated values and its best, start, final and true value."""
    out = {}
    for name in result.names:
        unit = param_units.get(name, "1")
        out[f"param_{name}"] = variable(("step", "candidate"), result.history.params[name], unit,
                                        f"evaluated value of {name}")
        out[f"best_{name}"] = variable((), result.best_params[name], unit,
                                       f"{name} at the lowest loss")
        out[f"start_{name}"] = variable((), result.start_params[name], unit,
                                        f"start value of {name}")
        out[f"final_{name}"] = variable((), result.final_params[name], unit,
                                        f"{name} at the optimizer's last iterate or "
                                        f"recommendation")
        if truth is not None and name in truth:
            out[f"true_{name}"] = variable((), truth[name], unit, f"ground-truth {name}")
    return out


def _run_attrs(result: FitResult) -> dict:
    """The fit's flat attrs: backend, optimizer, status, counts; its starts, retry and
    gradient check where it has them."""
    run_attrs = {"backend": result.backend, "optimizer": result.optimizer,
                 "status": result.status, "status_message": result.message,
                 "seed": int(result.seed), "n_steps": int(result.n_steps),
                 "n_evaluations": int(result.n_evaluations),
                 "n_nonfinite": int(result.n_nonfinite),
                 "fitted_parameters": ",".join(result.names)}
    if result.starts is not None:
        run_attrs.update(n_starts=int(result.starts.n_starts),
                         chosen_start=int(result.starts.chosen),
                         n_screened=int(result.starts.n_screened))
    if result.retry is not None:  # only then: the records of fits that fitted stay as they were
        run_attrs.update(result.retry.attrs())
    if result.gradient_check is not None:
        run_attrs.update({f"gradient_check_{k}": (int(v) if isinstance(v, bool) else float(v))
                          for k, v in result.gradient_check.items()
                          if np.ndim(v) == 0 and not isinstance(v, dict)})
    return run_attrs


def _start_vars(result: FitResult, param_units: dict) -> dict:
    """Every start of a multi-start fit: its start and best values, best loss, status, kept."""
    starts, out = result.starts, {}
    for name in result.names:
        unit = param_units.get(name, "1")
        out[f"starts_start_{name}"] = variable(("start",), starts.start[name], unit,
                                           f"start value of {name} of each start")
        out[f"starts_best_{name}"] = variable(("start",), starts.best[name], unit,
                                          f"{name} at each start's lowest loss")
    out["starts_best_loss"] = variable(("start",), starts.best_loss, "1",
                                   "lowest finite loss of each start")
    out["starts_status"] = variable(("start",), np.asarray(starts.status, dtype=str), "",
                                "fit status of each start")
    out["starts_kept"] = variable(("start",), np.asarray(starts.kept, bool), "1",
                              "whether the start was kept (false: its gradient check failed)")
    if starts.screen_loss is not None:
        out["screen_loss"] = variable(("screen",), starts.screen_loss, "1",
                                  "loss of each screened design point (picked the starts)")
        for name in result.names:
            out[f"screen_{name}"] = variable(("screen",), starts.screen_values[name],
                                         param_units.get(name, "1"),
                                         f"{name} of each screened design point")
    return out


def _check_vars(result: FitResult, param_units: dict) -> dict:
    """The first step's gradient and finite difference of each parameter (grad with a check)."""
    check, out = result.gradient_check, {}
    for name in result.names:
        unit = f"1/({param_units.get(name, '1')})"
        out[f"gradient_check_gradient_{name}"] = variable(
            (), check["gradient"][name], unit, f"gradient of the loss in {name} at the start")
        out[f"gradient_check_fd_{name}"] = variable(
            (), check["finite_difference"][name], unit, f"central finite difference of the "
            f"loss in {name} at the start, over rel_step of the box")
    return out
