"""One table of every fit: truth, fit, relative error, loss, status, cost (+ wall time in CSV)."""

from _job import start

config = start(snakemake)  # noqa: F821

from eegfit import io, summary  # noqa: E402

inp = snakemake.input  # noqa: F821
table = summary.collect(inp.fits, inp.timings)
ds = summary.to_dataset(table, attrs=io.provenance(config, kind="summary",
                                                   parameter=config["parameter"]["name"]))
io.write_netcdf(ds, snakemake.output.nc)  # noqa: F821
table.to_csv(snakemake.output.csv, index=False, float_format="%.6g")  # noqa: F821
