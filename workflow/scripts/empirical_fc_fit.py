"""Fit the network's coupling to the empirical BOLD FC with one backend, next to its noise floor."""

from _job import start

config = start(snakemake)  # noqa: F821

import json  # noqa: E402
import logging  # noqa: E402

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from eegfit import empirical_fc as ef  # noqa: E402
from eegfit import io  # noqa: E402
from eegfit import network_experiment as ne  # noqa: E402

smk = snakemake  # noqa: F821
cfg, backend, log = config["empirical_fc"], smk.params.backend, logging.getLogger("eegfit")
ef.check(cfg)
net = ef.network_config(cfg)
conn = ne.load_connectome(net)
base = ne.base_model(net, conn)
name = net["parameter"]["name"]
with xr.open_dataset(smk.input.target) as ds:
    empirical = ds["fc"].values
result = ef.run_fit(cfg, backend, empirical, base)
best = float(result.best_params[name])
if np.isfinite(best):
    fitted_fc = ef.model_fc(cfg, best, cfg["seed"], base)
    floor = ef.noise_floor(cfg, best, empirical, base)
else:
    fitted_fc = np.full_like(empirical, np.nan)
    nan = np.full(len(cfg["floor_seeds"]), np.nan)
    floor = {"floor_seeds": np.asarray(cfg["floor_seeds"]), "floor_fc_correlation": nan,
             "floor_mean": np.nan, "floor_std": np.nan}
log.info("%s: %s best %s=%g loss %.3g; FC correlation over floor seeds %.3f +- %.3f", backend,
         result.status, name, best, result.best_loss, floor["floor_mean"], floor["floor_std"])
attrs = io.provenance(config, kind="empirical_fc_fit", parameter=name, seed=int(cfg["seed"]))
io.write_netcdf(ef.fit_dataset(cfg, result, conn, empirical, fitted_fc, floor, attrs=attrs),
                smk.output.fit)
with open(smk.output.timing, "w") as fh:
    json.dump({"wall_time_s": result.wall_time_s, "n_evaluations": result.n_evaluations}, fh)
