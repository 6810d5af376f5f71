"""Features over a fine grid of the fitted parameter: where the objective is flat or non-monotone."""

from _job import start

config = start(snakemake)  # noqa: F821

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from eegfit import experiment, features, io  # noqa: E402

low, high = config["parameter"]["bounds"]
values = np.linspace(low, high, config["landscape"]["n_points"])
names = config["landscape"]["features"]
curves = experiment.landscape(config, values, seed=0, names=names)
unit = experiment.param_unit(config)
data = {}
for n in names:
    data[n] = ("value", curves[n], {"units": features.UNITS[n], "long_name": n})
    data[f"{n}_identifiable"] = ("value", experiment.identifiable(curves[n]), {
        "units": "1", "long_name": f"1 where the {n} value is met once in the box (not flat, "
                                   f"not repeated): the parameter is identifiable from {n}"})
ds = xr.Dataset(
    data,
    coords={"value": ("value", values, {"units": unit,
                                        "long_name": config["parameter"]["name"]})},
    attrs=io.provenance(config, kind="landscape", parameter=config["parameter"]["name"]))
io.write_netcdf(ds, snakemake.output[0])  # noqa: F821
