"""Fit the network's coupling to each target FC with one backend, next to the noise floor."""

from _job import start

config = start(snakemake)  # noqa: F821

import json  # noqa: E402
import logging  # noqa: E402

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from eegfit import io  # noqa: E402
from eegfit import network_experiment as ne  # noqa: E402

smk = snakemake  # noqa: F821
cfg, backend, log = config["network"], smk.params.backend, logging.getLogger("eegfit")
ne.check(cfg)
conn = ne.load_connectome(cfg)
base = ne.base_model(cfg, conn)
name = cfg["parameter"]["name"]
for target_path, fit_path, timing_path in zip(smk.input.targets, smk.output.fits,
                                              smk.output.timings):
    with xr.open_dataset(target_path) as ds:
        target_fc, truth, seed = ds["fc"].values, float(ds.attrs["truth"]), int(ds.attrs["seed"])
    result = ne.run_fit(cfg, backend, target_fc, seed, base)
    floor = ne.noise_floor(cfg, truth, target_fc, seed, base)
    best = result.best_params[name]
    fitted_fc = (np.asarray(ne.fit_fc(cfg, best, seed, base)) if np.isfinite(best)
                 else np.full_like(target_fc, np.nan))
    log.info("%s=%g seed %d %s: %s best %s loss %.3g, floor %.3g", name, truth, seed, backend,
             result.status, best, result.best_loss, floor["noise_floor_loss"])
    attrs = io.provenance(config, kind="network_fit", truth=truth, parameter=name)
    io.write_netcdf(ne.fit_dataset(cfg, result, conn, truth, target_fc, fitted_fc, floor,
                                   attrs=attrs), fit_path)
    with open(timing_path, "w") as fh:
        json.dump({"wall_time_s": result.wall_time_s, "n_evaluations": result.n_evaluations}, fh)
