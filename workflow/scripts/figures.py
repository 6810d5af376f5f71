"""The experiment's figures from its result files alone: the common ones and its kind's own."""

from _job import start

kind = start(snakemake)  # noqa: F821

from pathlib import Path  # noqa: E402

import xarray as xr  # noqa: E402

from eegfit import plots  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
summary = xr.load_dataset(inp.summary)
fits = [xr.load_dataset(p) for p in inp.fits]
targets = [xr.load_dataset(p) for p in inp.targets]
scan = xr.load_dataset(inp.scan[0]) if inp.scan else None
figures = {"convergence": plots.convergence(fits), "comparison": plots.comparison(summary),
           **kind.figures(fits, targets, scan, summary)}
for name, fig in figures.items():
    plots.save(fig, Path(out[f"{name}_pdf"]).with_suffix(""))
