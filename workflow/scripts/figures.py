"""The figures every experiment has, from its summary alone (every fit's progress and result)."""

from _job import start

start(snakemake, kind=False)  # noqa: F821  (no JAX: the summary alone is drawn)

from pathlib import Path  # noqa: E402

from eegfit import io, plots  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
summary = io.load_netcdf(inp.summary)
for name, draw in (("convergence", plots.convergence), ("comparison", plots.comparison)):
    plots.save(draw(summary), Path(out[f"{name}_pdf"]).with_suffix(""))
