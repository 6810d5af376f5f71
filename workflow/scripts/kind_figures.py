"""The kind's own figures, from its scan and the few target and fit files they draw
(FigureKind.figure_targets); a job of their own, beside the summary and the common figures."""

from _job import start

kind = start(snakemake)  # noqa: F821

from pathlib import Path  # noqa: E402

from eegfit import io, plots  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
fits = [io.load_netcdf(p) for p in inp.fits]
targets = [io.load_netcdf(p) for p in inp.targets]
scan = io.load_netcdf(inp.scan[0]) if inp.scan else None
summary = io.load_netcdf(inp.summary[0]) if inp.summary else None
for name, fig in kind.figures(fits, targets, scan, summary).items():
    plots.save(fig, Path(out[f"{name}_pdf"]).with_suffix(""))
