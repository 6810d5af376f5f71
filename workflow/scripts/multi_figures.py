"""Figures of the multi-parameter experiment: loss surfaces with the fits' paths, convergence."""

from _job import start

config = start(snakemake)  # noqa: F821

from pathlib import Path  # noqa: E402

import xarray as xr  # noqa: E402

from eegfit import plots  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
surfaces = [xr.load_dataset(p) for p in inp.surfaces]
fits = [xr.load_dataset(p) for p in inp.fits]
plots.save(plots.loss_surface(surfaces, fits), Path(out.loss_surface_pdf).with_suffix(""))
plots.save(plots.convergence(fits), Path(out.convergence_pdf).with_suffix(""))
