"""The identifiability verdict over the box of a one-parameter experiment (posteriors/verdict.nc)."""

from _job import start

kind = start(snakemake)  # noqa: F821

from eegfit import io  # noqa: E402
from eegfit.experiments import posterior, provenance  # noqa: E402

verdict = posterior.verdict_scan(kind)
verdict.attrs.update(provenance.provenance(kind, "posterior_verdict"))
io.write_netcdf(verdict, snakemake.output[0])  # noqa: F821
