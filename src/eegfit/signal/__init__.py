"""Signal processing: pure array functions, no models, no fitting.

- :mod:`~eegfit.signal.numerics`: square roots and logs that stay finite (with finite
  gradients) at 0.
- :mod:`~eegfit.signal.spectral`: one spectral stack (periodogram, Welch, bands, the features of a
  spectrum) with an ``axis=`` argument; default ``axis=0``, time first as in a trace.
- :mod:`~eegfit.signal.likelihood`: the likelihood of a Welch spectrum from its sampling
  statistics (a Gaussian on the log-PSD; degrees of freedom, bin correlation, gain profiled).
- :mod:`~eegfit.signal.features`: one registry of the features a config may name (function,
  units, long name, whether it reads a trace or a spectrum) and the check of their options.
- :mod:`~eegfit.signal.fc`: functional connectivity of a network and losses between FC matrices.
"""

from eegfit.signal import fc, features, likelihood, numerics, spectral
from eegfit.signal.fc import (FC_OBJECTIVES, fc_correlation, fc_correlation_loss, fc_rmse,
                              functional_connectivity)
from eegfit.signal.features import (FEATURES, SPECTRUM_FEATURES, TRACE_FEATURES, Feature,
                                    band_power, check_options, check_spec, feature, long_name,
                                    psd, rms, spectral_features, spectral_peak_hz, units)
from eegfit.signal.numerics import TINY, safe_log, safe_rsqrt, safe_sqrt
from eegfit.signal.spectral import (band_integral, band_mask, normalised_psd,
                                    peak_frequency, periodogram, relative_power, spread, welch)

__all__ = ["FC_OBJECTIVES", "FEATURES", "SPECTRUM_FEATURES", "TINY", "TRACE_FEATURES", "Feature",
           "band_integral", "band_mask", "band_power", "check_options", "check_spec", "fc",
           "fc_correlation", "fc_correlation_loss", "fc_rmse", "feature", "features",
           "functional_connectivity", "likelihood", "long_name", "normalised_psd", "numerics",
           "peak_frequency", "periodogram", "psd", "relative_power", "rms", "safe_log",
           "safe_rsqrt", "safe_sqrt", "spectral", "spectral_features", "spectral_peak_hz",
           "spread", "units", "welch"]
