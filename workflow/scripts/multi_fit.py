"""Fit every multi-parameter target and seed with one backend; the Hessian uncertainty per fit."""

from _job import start

config = start(snakemake)  # noqa: F821

import json  # noqa: E402
import logging  # noqa: E402

import xarray as xr  # noqa: E402

from eegfit import experiments_multi as em  # noqa: E402
from eegfit import io  # noqa: E402

smk = snakemake  # noqa: F821
cfg, backend, log = config["multi"], smk.params.backend, logging.getLogger("eegfit")
fits, timings = iter(smk.output.fits), iter(smk.output.timings)
for truth, target_path in zip(cfg["truths"], smk.input.targets):
    with xr.open_dataset(target_path) as ds:
        target_features = {name: float(ds[name]) for name in cfg["features"]}
    for seed in smk.params.seeds:
        result, curv = em.run_fit(cfg, backend, target_features, seed)
        log.info("%s seed %d %s: %s best %s loss %.3g std %s", em.label(cfg, truth), seed,
                 backend, result.status, result.best_params, result.best_loss,
                 None if curv is None else curv.std)
        attrs = io.provenance(config, kind="multi_fit", truth_label=em.label(cfg, truth))
        io.write_netcdf(em.fit_dataset(cfg, result, curv, truth, target_features, attrs=attrs),
                        next(fits))
        with open(next(timings), "w") as fh:
            json.dump({"wall_time_s": result.wall_time_s,
                       "n_evaluations": result.n_evaluations}, fh)
