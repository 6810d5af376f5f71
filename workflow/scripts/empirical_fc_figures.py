"""Figures of the empirical-FC experiment: FC matrices, FC correlation vs coupling, convergence."""

from _job import start

config = start(snakemake)  # noqa: F821

from pathlib import Path  # noqa: E402

import xarray as xr  # noqa: E402

from eegfit import empirical_fc as ef  # noqa: E402
from eegfit import plots  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
fits = [xr.load_dataset(p) for p in inp.fits]
figures = ef.figures(xr.load_dataset(inp.target), fits, xr.load_dataset(inp.scan))
for name, fig in figures.items():
    plots.save(fig, Path(out[f"{name}_pdf"]).with_suffix(""))
