"""The loss over the two-parameter box for each multi-parameter target."""

from _job import start

config = start(snakemake)  # noqa: F821

import xarray as xr  # noqa: E402

from eegfit import experiments_multi as em  # noqa: E402
from eegfit import io  # noqa: E402

cfg = config["multi"]
for truth, target_path, path in zip(cfg["truths"], snakemake.input.targets,  # noqa: F821
                                    snakemake.output):  # noqa: F821
    with xr.open_dataset(target_path) as ds:
        target_features = {name: float(ds[name]) for name in cfg["features"]}
    surface = em.surface(cfg, target_features, int(cfg["surface"]["n_points"]))
    surface.attrs = io.provenance(config, kind="multi_surface", truth_label=em.label(cfg, truth),
                                  **{f"truth.{k}": v for k, v in
                                     em.truth_values(cfg, truth).items()})
    io.write_netcdf(surface, path)
