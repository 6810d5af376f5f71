"""Recording figures: PSD of the recording vs the fitted models, window-level features with the
fits' values, convergence per backend."""

from _job import start

config = start(snakemake)  # noqa: F821

from pathlib import Path  # noqa: E402

import xarray as xr  # noqa: E402

from eegfit import plots  # noqa: E402

inp, out = snakemake.input, snakemake.output  # noqa: F821
features = xr.load_dataset(inp.features)
fits = [xr.load_dataset(p) for p in inp.fits]
spec = config["recording"].get("features")
for key, fig in (("psd", plots.recording_psd(features, fits, spec)),
                 ("windows", plots.recording_windows(features, fits)),
                 ("convergence", plots.recording_convergence(fits))):
    plots.save(fig, Path(out[f"{key}_pdf"]).with_suffix(""))
