"""NetCDF results: one function per kind of result, read back with plain ``xarray.open_dataset``.

Every variable carries ``units`` and ``long_name``; provenance goes into flat dataset attrs
(NetCDF cannot hold nested ones): the eegfit version, the config as JSON and its values flattened
to ``config.<path>`` keys, the seed, backend and simulation settings. Nothing run-dependent (wall
time, date, host) is written, so a rerun gives byte-identical files; timings live elsewhere.
Files are written to a temporary name and renamed, so a killed job never leaves half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

import eegfit
from eegfit.fit import FitResult


def flatten(tree, prefix: str = "") -> dict[str, object]:
    """Flatten nested dicts/lists into ``{"a.b.c": value}`` with NetCDF-storable values."""
    out = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(tree, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(
            v, bool) for v in tree) and tree:
        out[prefix] = np.asarray(tree, dtype=float)
    elif isinstance(tree, (list, tuple)):
        out[prefix] = json.dumps(tree)
    elif tree is None:
        out[prefix] = "null"
    elif isinstance(tree, bool):
        out[prefix] = int(tree)
    elif isinstance(tree, (int, float, str)):
        out[prefix] = tree
    else:
        out[prefix] = str(tree)
    return out


def provenance(config: dict | None = None, **extra) -> dict[str, object]:
    """Flat provenance attrs: eegfit version, the config (JSON and flattened), extra values."""
    attrs: dict[str, object] = {"eegfit_version": eegfit.__version__,
                                "Conventions": "CF-1.8"}
    if config is not None:
        attrs["config_json"] = json.dumps(config, sort_keys=True)
        attrs.update(flatten(config, "config"))
    attrs.update(flatten(extra))
    return attrs


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path`` to write to: renamed to ``path`` when the block ends,
    removed if it raises (even on KeyboardInterrupt), so a killed job never leaves half a file
    and an old file at ``path`` stays whole until the new one is complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_netcdf(ds: xr.Dataset, path) -> Path:
    """Write ``ds`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")
    return Path(path)


def _var(dims, data, units: str, long_name: str):
    return (dims, np.asarray(data), {"units": units, "long_name": long_name})


def trace_dataset(time_ms, eeg_mv, *, attrs: dict, name: str = "eeg",
                  long_name: str = "EEG observable y1 - y2", units: str = "mV") -> xr.Dataset:
    """A trace on a ``time`` axis in ms, with units (the model's observable's) and provenance
    attrs."""
    return xr.Dataset(
        {name: _var(("time",), eeg_mv, units, long_name)},
        coords={"time": ("time", np.asarray(time_ms),
                         {"units": "ms", "long_name": "time since simulation start"})},
        attrs=attrs)


def features_dataset(values: dict, units: dict, *, attrs: dict) -> xr.Dataset:
    """Scalar features, one variable each, with units."""
    return xr.Dataset({name: ((), np.asarray(v), {"units": units[name], "long_name": name})
                       for name, v in values.items()}, attrs=attrs)


def fit_dataset(result: FitResult, *, param_units: dict, aux_units: dict | None = None,
                truth: dict | None = None, fitted_trace=None, attrs: dict) -> xr.Dataset:
    """A fit's full record: per-step loss, parameters and aux; best values; status.

    Dimensions ``step`` (optimizer step) and ``candidate`` (1 for grad; the population for
    nevergrad). ``fitted_trace`` is an optional ``(time_ms, eeg_mv)`` simulated at the best params.
    Wall time is deliberately left out (it differs run to run).
    """
    aux_units = aux_units or {}
    dims = ("step", "candidate")
    data = {"loss": _var(dims, result.history.loss, "1", "loss of each evaluated candidate"),
            "best_loss_so_far": _var(("step",), result.history.best_so_far(), "1",
                                     "lowest finite loss up to this step")}
    for name in result.names:
        unit = param_units.get(name, "1")
        data[f"param_{name}"] = _var(dims, result.history.params[name], unit,
                                     f"evaluated value of {name}")
        data[f"best_{name}"] = _var((), result.best_params[name], unit,
                                    f"{name} at the lowest loss")
        data[f"start_{name}"] = _var((), result.start_params[name], unit, f"start value of {name}")
        data[f"final_{name}"] = _var((), result.final_params[name], unit,
                                     f"{name} at the optimizer's last iterate or recommendation")
        if truth is not None and name in truth:
            data[f"true_{name}"] = _var((), truth[name], unit, f"ground-truth {name}")
    if isinstance(result.history.aux, dict):
        for key, value in result.history.aux.items():
            data[f"aux_{key}"] = _var(dims, value, aux_units.get(key, "1"), f"aux output {key}")
    data["best_loss"] = _var((), result.best_loss, "1", "lowest finite loss")
    coords = {"step": ("step", np.arange(result.n_steps), {"long_name": "optimizer step"}),
              "candidate": ("candidate", np.arange(result.history.loss.shape[1]),
                            {"long_name": "candidate within a step"})}
    if fitted_trace is not None:
        time_ms, eeg_mv = fitted_trace
        data["fitted_eeg"] = _var(("time",), eeg_mv, "mV", "EEG simulated at the best params")
        coords["time"] = ("time", np.asarray(time_ms), {"units": "ms", "long_name": "time"})
    run_attrs = {"backend": result.backend, "optimizer": result.optimizer,
                 "status": result.status, "status_message": result.message,
                 "seed": int(result.seed), "n_steps": int(result.n_steps),
                 "n_evaluations": int(result.n_evaluations),
                 "n_nonfinite": int(result.n_nonfinite),
                 "fitted_parameters": ",".join(result.names)}
    if result.gradient_check is not None:
        data.update(_check_vars(result, param_units))
        check = result.gradient_check
        run_attrs.update({f"gradient_check_{k}": (int(v) if isinstance(v, bool) else float(v))
                          for k, v in check.items() if np.ndim(v) == 0 and not isinstance(v, dict)})
    return xr.Dataset(data, coords=coords, attrs={**attrs, **run_attrs})


def _check_vars(result: FitResult, param_units: dict) -> dict:
    """The first step's gradient and finite difference of each parameter (grad with a check)."""
    check, out = result.gradient_check, {}
    for name in result.names:
        unit = f"1/({param_units.get(name, '1')})"
        out[f"gradient_check_gradient_{name}"] = _var(
            (), check["gradient"][name], unit, f"gradient of the loss in {name} at the start")
        out[f"gradient_check_fd_{name}"] = _var(
            (), check["finite_difference"][name], unit, f"central finite difference of the "
            f"loss in {name} at the start, over rel_step of the box")
    return out
