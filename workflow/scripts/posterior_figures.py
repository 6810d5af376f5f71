"""The posterior figures from the result files alone: marginals with the truth and both fits, a
pair plot for two parameters, the landscape with the identifiability verdict as a strip."""

from _job import start

kind = start(snakemake)  # noqa: F821

from pathlib import Path  # noqa: E402

import xarray as xr  # noqa: E402

from eegfit import plots  # noqa: E402
from eegfit.infer import idata  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
posteriors = [idata.read(p) for p in inp.posteriors]
fits = [xr.load_dataset(p) for p in inp.fits]
figures = {"posterior": plots.posterior_marginals(posteriors, fits)}
if "posterior_pairs_pdf" in out.keys():
    figures["posterior_pairs"] = plots.posterior_pairs(posteriors, fits)
if "identifiability_pdf" in out.keys():
    verdict = xr.load_dataset(inp.verdict[0])
    # the kind's scan where it is a features line; else the verdict's own observed features
    scan = xr.load_dataset(inp.scan[0]) if inp.scan else None
    if scan is None or "value" not in scan.coords:
        scan = verdict[[v for v in verdict.data_vars if v.startswith("observed_")]]
    figures["identifiability"] = plots.landscape(
        scan, truths=kind.spec.parameters[0].truths, verdict=verdict)
for name, fig in figures.items():
    plots.save(fig, Path(out[f"{name}_pdf"]).with_suffix(""))
