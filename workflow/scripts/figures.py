"""The experiment's figures from its result files alone: the common ones from the summary, and
its kind's own from the scan and the few fits and targets it draws (Kind.figure_targets)."""

from _job import start

kind = start(snakemake)  # noqa: F821

from pathlib import Path  # noqa: E402

from eegfit import io, plots  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
summary = io.load_netcdf(inp.summary)
fits = [io.load_netcdf(p) for p in inp.fits]
targets = [io.load_netcdf(p) for p in inp.targets]
scan = io.load_netcdf(inp.scan[0]) if inp.scan else None
figures = {"convergence": plots.convergence(summary), "comparison": plots.comparison(summary),
           **kind.figures(fits, targets, scan, summary)}
for name, fig in figures.items():
    plots.save(fig, Path(out[f"{name}_pdf"]).with_suffix(""))
