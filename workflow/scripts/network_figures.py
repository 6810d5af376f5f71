"""Figures of the network experiment: FC matrices, objective vs coupling, convergence."""

from _job import start

config = start(snakemake)  # noqa: F821

from pathlib import Path  # noqa: E402

import xarray as xr  # noqa: E402

from eegfit import plots  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
fits = [xr.load_dataset(p) for p in inp.fits]
scans = [xr.load_dataset(p) for p in inp.scans]
targets = [xr.load_dataset(p) for p in inp.targets]
plots.save(plots.fc_matrices(targets[0], fits), Path(out.fc_matrices_pdf).with_suffix(""))
plots.save(plots.fc_vs_parameter(scans, fits), Path(out.fc_vs_k_pdf).with_suffix(""))
plots.save(plots.convergence(fits), Path(out.convergence_pdf).with_suffix(""))
