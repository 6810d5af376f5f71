"""The figures of the pipeline, from the result files alone."""

from _job import start

config = start(snakemake)  # noqa: F821

from pathlib import Path  # noqa: E402

import xarray as xr  # noqa: E402

from eegfit import plots  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
summary = xr.load_dataset(inp.summary)
fits = [xr.load_dataset(p) for p in inp.fits]
targets = {(ds.attrs["truth"], ds.attrs["seed"]): ds for ds in map(xr.load_dataset, inp.targets)}
name = config["parameter"]["name"]


def save(fig, key):
    plots.save(fig, Path(out[f"{key}_pdf"]).with_suffix(""))


save(plots.convergence(fits), "convergence")
save(plots.comparison(summary), "comparison")
first_seed = min(int(f.attrs["seed"]) for f in fits)
pairs = [(f"{name}* = {f.attrs['truth']:g}, {f.attrs['backend']}, seed {first_seed}",
          targets[(f.attrs["truth"], f.attrs["seed"])], f)
         for f in fits if int(f.attrs["seed"]) == first_seed and "fitted_eeg" in f]
save(plots.eeg_fit(pairs), "eeg_fit")
landscape = xr.load_dataset(inp.landscape)
save(plots.landscape(landscape, truths=config["parameter"]["truths"]), "landscape")
