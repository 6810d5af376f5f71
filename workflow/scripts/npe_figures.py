"""The NPE figures from the result files alone: SBC ranks, coverage, NPE vs grid per target."""

from _job import start

kind = start(snakemake)  # noqa: F821

from pathlib import Path  # noqa: E402

import xarray as xr  # noqa: E402

from eegfit import plots  # noqa: E402
from eegfit.infer import idata  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
calibration = xr.load_dataset(inp.calibration)
figures = {"npe_sbc": plots.sbc_ranks(calibration), "npe_coverage": plots.coverage(calibration),
           "npe_vs_grid": plots.npe_vs_grid([idata.read(p) for p in inp.npe],
                                            [idata.read(p) for p in inp.grid])}
for name, fig in figures.items():
    plots.save(fig, Path(out[f"{name}_pdf"]).with_suffix(""))
