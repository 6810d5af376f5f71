"""The FC objective and FC correlation over a grid of the coupling, per target and fit noise."""

from _job import start

config = start(snakemake)  # noqa: F821

import xarray as xr  # noqa: E402

from eegfit import io  # noqa: E402
from eegfit import network_experiment as ne  # noqa: E402

cfg = config["network"]
base = ne.base_model(cfg)
for target_path, path in zip(snakemake.input.targets, snakemake.output):  # noqa: F821
    with xr.open_dataset(target_path) as ds:
        target_fc, truth, seed = ds["fc"].values, float(ds.attrs["truth"]), int(ds.attrs["seed"])
    scan = ne.scan(cfg, target_fc, seed, int(cfg["scan"]["n_points"]), base)
    scan.attrs = io.provenance(config, kind="network_scan", truth=truth, seed=seed,
                               parameter=cfg["parameter"]["name"])
    io.write_netcdf(scan, path)
