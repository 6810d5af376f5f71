"""Fit the parameter for each (truth, seed) of a chunk and store the whole record of each fit."""

from _job import members, start

config = start(snakemake)  # noqa: F821

import json  # noqa: E402
import logging  # noqa: E402

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from eegfit import experiment, features, io  # noqa: E402

smk = snakemake  # noqa: F821
backend = smk.params.backend
name, feat = config["parameter"]["name"], config["feature"]["name"]
log = logging.getLogger("eegfit")
chunk = list(zip(members(smk.output.fits), smk.input.features, smk.output.fits,
                 smk.output.timings))
for k, ((truth, seed), features_path, fit_path, timing_path) in enumerate(chunk, 1):
    with xr.open_dataset(features_path) as ds:
        target_value = float(ds[feat])
    result = experiment.run_fit(config, backend, target_value, seed, progress=False)
    log.info("fit %d/%d %s=%g seed %d, %s: %s, best %s, loss %.3g", k, len(chunk), name, truth,
             seed, backend, result.status, result.best_params, result.best_loss)
    fitted = None
    if np.all(np.isfinite(result.best_params[name])):
        trace = experiment.simulate_at(config, result.best_params[name],
                                       experiment.keys(seed)[1])
        fitted = (trace.time_ms, trace.eeg_mv)
    attrs = io.provenance(config, kind="fit", parameter=name, truth=truth, feature=feat,
                          target_feature_value=target_value)
    ds = io.fit_dataset(result, param_units={name: experiment.param_unit(config)},
                        aux_units={feat: features.UNITS[feat]}, truth={name: truth},
                        fitted_trace=fitted, attrs=attrs)
    floor = experiment.noise_floor_loss(config, truth, target_value, seed)
    ds["noise_floor_loss"] = ((), floor, {
        "units": "1", "long_name": "loss at the true parameter (the fit's noise vs the target's)"})
    io.write_netcdf(ds, fit_path)
    with open(timing_path, "w") as fh:
        json.dump({"wall_time_s": result.wall_time_s, "n_evaluations": result.n_evaluations}, fh)
