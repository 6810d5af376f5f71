"""eegfit: fit neural-mass models of the brain to measured signals, with gradients and without.

The layers, each importing only those below it (README, "Architecture"):

- ``eegfit.models`` (JansenRit, drives, networks) and ``eegfit.simulate`` (one rollout);
- ``eegfit.signal``: safe numerics, one spectral stack, the feature registry, FC;
- ``eegfit.data`` (connectomes, HCP BOLD, recordings) and ``eegfit.observe`` (BOLD);
- ``eegfit.fit``: Param, Fitter (grad: optax; nevergrad), FitResult;
- ``eegfit.io`` and ``eegfit.plots``: NetCDF with provenance, figures;
- ``eegfit.experiments``: a config block read into an experiment kind, and the one runner.

What a user of the library needs is here; the pipeline's pieces are in their modules.
"""

__version__ = "0.1.0"

from eegfit._lazy import attach  # noqa: E402

_NAMES = {
    **dict.fromkeys(["Fitter", "FitResult", "Param", "unwrap"], "fit"),
    **dict.fromkeys(["ConstantDrive", "JansenRit", "OUNoiseDrive", "UniformNoiseDrive",
                     "WhiteNoiseDrive"], "models"),
    **dict.fromkeys(["band_power", "psd", "rms", "spectral_peak_hz"], "signal"),
    **dict.fromkeys(["Trace", "simulate", "simulate_rms"], "simulate"),
}
attach(__name__, _NAMES)

__all__ = ["ConstantDrive", "FitResult", "Fitter", "JansenRit", "OUNoiseDrive", "Param", "Trace",
           "UniformNoiseDrive", "WhiteNoiseDrive", "band_power", "psd", "rms", "simulate",
           "simulate_rms", "spectral_peak_hz", "unwrap", "__version__"]
