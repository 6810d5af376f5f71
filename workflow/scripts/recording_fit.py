"""Fit the named parameters to one recording's features with one backend."""

from _job import start

config = start(snakemake)  # noqa: F821

import json  # noqa: E402
import logging  # noqa: E402

import xarray as xr  # noqa: E402

from eegfit import io, recording_experiment as rx  # noqa: E402

smk = snakemake  # noqa: F821
backend, name = smk.wildcards.rec_backend, smk.wildcards.recording
with xr.open_dataset(smk.input[0]) as ds:
    target = rx.target_from_dataset(config, ds.load())
result = rx.run_fit(config, backend, target, progress=False)
logging.getLogger("eegfit").info("recording %s, %s: %s, best %s, loss %.3g", name, backend,
                                 result.status, result.best_params, result.best_loss)
demo = config["recording"].get("demo")
truth = demo["truth"] if demo and demo["path"] == smk.params.source else None
aux_units = {k: "Hz" if k == "peak_frequency" else "1" for k in result.history.aux}
attrs = io.provenance(config, kind="recording_fit", recording=name)
ds = io.fit_dataset(result, param_units=rx.param_units(config), aux_units=aux_units,
                    truth=truth, attrs=attrs)
extras = rx.fit_extras(config, result, target)
ds = ds.assign_coords(extras["coords"]).assign(extras["data"])
io.write_netcdf(ds, smk.output.fit)
with open(smk.output.timing, "w") as fh:
    json.dump({"wall_time_s": result.wall_time_s, "n_evaluations": result.n_evaluations}, fh)
