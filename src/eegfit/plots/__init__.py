"""Figures from result datasets (NetCDF opened with xarray) and summary tables, in one style.

- :mod:`~eegfit.plots.style`: the style, journal sizes, backend colours and markers, ``figure``,
  ``save``, ``axis_label``.
- :mod:`~eegfit.plots.tables`: what the figures read from a fit dataset or a summary table.
- :mod:`~eegfit.plots.fits`: the figures common to every fit of every experiment kind.
- one module per experiment kind: :mod:`~eegfit.plots.column`, :mod:`~eegfit.plots.network`,
  :mod:`~eegfit.plots.recording`, :mod:`~eegfit.plots.sensor`; :mod:`~eegfit.plots.posterior`,
  posteriors and their identifiability verdict; :mod:`~eegfit.plots.npe`, the NPE's calibration
  and its posteriors; and :mod:`~eegfit.plots.paper`, the paper's figures.

The figures read datasets and tables only; they import no experiment module. Each function
returns a matplotlib Figure; :func:`save` writes it as PDF and PNG, the same bytes on a rerun.
"""

from eegfit.plots.style import (  # noqa: I001  (the style first: it selects the Agg backend)
    BACKEND_COLORS, BACKEND_MARKERS, DOUBLE_COLUMN_IN, SINGLE_COLUMN_IN, STYLE, TARGET_COLOR,
    axis_label, color, figure, save)
from eegfit.plots.fits import comparison, convergence
from eegfit.plots.column import (eeg_fit, feature_landscape, landscape, loss_surface,
                                 target_traces)
from eegfit.plots.network import (empirical_fc_figures, fc_matrices, fc_vs_parameter,
                                  fc_with_and_without_delays)
from eegfit.plots.recording import (RECORDING_COLOR, recording_convergence, recording_psd,
                                    recording_windows)
from eegfit.plots.sensor import alpha_topomaps, sensor_fc, spectra_by_group
from eegfit.plots.paper import PAPER_FIGURES, convergence_over_seeds, cost, recovery
from eegfit.plots.posterior import posterior_marginals, posterior_pairs, verdict_strip
from eegfit.plots.npe import coverage, npe_vs_grid, sbc_ranks

__all__ = [
    # style
    "BACKEND_COLORS", "BACKEND_MARKERS", "DOUBLE_COLUMN_IN", "SINGLE_COLUMN_IN", "STYLE",
    "TARGET_COLOR", "axis_label", "color", "figure", "save",
    # every fit
    "comparison", "convergence",
    # per experiment kind
    "eeg_fit", "feature_landscape", "landscape", "loss_surface", "target_traces",
    "empirical_fc_figures", "fc_matrices", "fc_vs_parameter", "fc_with_and_without_delays",
    "RECORDING_COLOR", "recording_convergence", "recording_psd", "recording_windows",
    "alpha_topomaps", "sensor_fc", "spectra_by_group",
    # the paper
    "PAPER_FIGURES", "convergence_over_seeds", "cost", "recovery",
    # posteriors
    "posterior_marginals", "posterior_pairs", "verdict_strip",
    # amortized posteriors (NPE)
    "coverage", "npe_vs_grid", "sbc_ranks",
]
