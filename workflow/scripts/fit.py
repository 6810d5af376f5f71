"""Fit the parameter of one (backend, truth, seed) and store the whole trace of the fit."""

from _job import start

config = start(snakemake)  # noqa: F821

import json  # noqa: E402
import logging  # noqa: E402

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from eegfit import experiment, features, io  # noqa: E402

wc = snakemake.wildcards  # noqa: F821
backend, truth, seed = wc.backend, float(wc.truth), int(wc.seed)
name, feat = config["parameter"]["name"], config["feature"]["name"]
with xr.open_dataset(snakemake.input.features) as ds:  # noqa: F821
    target_value = float(ds[feat])

result = experiment.run_fit(config, backend, target_value, seed, progress=False)
logging.getLogger("eegfit").info("%s: %s, best %s, loss %.3g", backend, result.status,
                                 result.best_params, result.best_loss)
fitted = None
if np.all(np.isfinite(result.best_params[name])):
    trace = experiment.simulate_at(config, result.best_params[name], experiment.keys(seed)[1])
    fitted = (trace.time_ms, trace.eeg_mv)
attrs = io.provenance(config, kind="fit", parameter=name, truth=truth, feature=feat,
                      target_feature_value=target_value)
ds = io.fit_dataset(result, param_units={name: experiment.param_unit(config)},
                    aux_units={feat: features.UNITS[feat]}, truth={name: truth},
                    fitted_trace=fitted, attrs=attrs)
io.write_netcdf(ds, snakemake.output.fit)  # noqa: F821
with open(snakemake.output.timing, "w") as fh:  # noqa: F821
    json.dump({"wall_time_s": result.wall_time_s, "n_evaluations": result.n_evaluations}, fh)
