"""FC correlation with the empirical BOLD FC over a grid of the coupling, one row per noise seed."""

from _job import start

config = start(snakemake)  # noqa: F821

import xarray as xr  # noqa: E402

from eegfit import empirical_fc as ef  # noqa: E402
from eegfit import io  # noqa: E402

cfg = config["empirical_fc"]
with xr.open_dataset(snakemake.input.target) as ds:  # noqa: F821
    empirical = ds["fc"].values
scan = ef.scan(cfg, empirical)
scan.attrs = io.provenance(config, kind="empirical_fc_scan", parameter=cfg["parameter"]["name"])
io.write_netcdf(scan, snakemake.output[0])  # noqa: F821
