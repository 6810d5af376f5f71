"""One table of every fit of the experiment (the CSV adds wall times; the NetCDF cannot) and,
in the NetCDF, each fit's progress: what the common figures draw."""

from _job import start

kind = start(snakemake)  # noqa: F821

from eegfit.experiments import provenance, summary  # noqa: E402
from eegfit import io  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
table, progress = summary.read(inp.fits, inp.timings, kind.summary_columns, inp.posteriors)
io.write_netcdf(summary.to_dataset(table, attrs=provenance.provenance(kind, "summary"),
                                   progress=progress, loss_label=kind.loss_label), out.nc)
table.to_csv(out.csv, index=False, float_format="%.6g")
