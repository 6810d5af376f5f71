"""Scalar features of one target trace."""

from _job import start

config = start(snakemake)  # noqa: F821

import xarray as xr  # noqa: E402

from eegfit import experiment, features, io  # noqa: E402

with xr.open_dataset(snakemake.input[0]) as target:  # noqa: F821
    eeg, attrs = target["eeg"].values, dict(target.attrs)
values = experiment.features_of(config, eeg, list(features.FEATURES))
attrs["kind"] = "features"
io.write_netcdf(io.features_dataset(values, features.UNITS, attrs=attrs),
                snakemake.output[0])  # noqa: F821
