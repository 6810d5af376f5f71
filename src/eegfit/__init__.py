"""eegfit: fit neural-mass models of the brain to measured signals, with gradients and without.

Layers, each depending only on those before it: ``models`` and ``simulate`` (the dynamics),
``features`` (scalar, phase-invariant summaries of a trace), ``fit`` (Param, Fitter, FitResult),
then ``io`` and ``plots`` (NetCDF results and figures).
"""

__version__ = "0.1.0"

from eegfit.features import band_power, psd, rms, spectral_peak_hz  # noqa: E402
from eegfit.fit import Fitter, FitResult, Param, unwrap  # noqa: E402
from eegfit.models import ConstantDrive, JansenRit, UniformNoiseDrive  # noqa: E402
from eegfit.simulate import Trace, simulate, simulate_rms  # noqa: E402

__all__ = ["ConstantDrive", "FitResult", "Fitter", "JansenRit", "Param", "Trace",
           "UniformNoiseDrive", "band_power", "psd", "rms", "simulate", "simulate_rms",
           "spectral_peak_hz", "unwrap", "__version__"]
