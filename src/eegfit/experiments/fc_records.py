"""The records of the network kinds (network, empirical_fc): the NetCDF layout of the target's
node signals, FC and structural connectivity, and a fit's extras (the fitted FC and, with a
truth, the noise floor)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import xarray as xr

from eegfit.data import connectome as sc
from eegfit.experiments.base import as_float, keys
from eegfit.signal.fc import FC_OBJECTIVES, fc_correlation


def node_coords(labels) -> dict:
    return {"node": ("node", list(labels), {"long_name": "region (atlas index)"}),
            "node_2": ("node_2", list(labels), {"long_name": "region (atlas index)"})}


def matrix(values, long_name: str) -> tuple:
    return (("node", "node_2"), np.asarray(values), {"units": "1", "long_name": long_name})


def sc_vars(conn: sc.Connectome, delays: bool = False) -> dict:
    used = "conduction delays: length / speed" if delays else "not used: no delays"
    return {"sc": matrix(conn.weights, "structural connectivity (max row sum 1)"),
            "tract_length": (("node", "node_2"), conn.lengths_mm, {
                "units": "mm", "long_name": f"tract length ({used})"})}


def target_dataset(conn: sc.Connectome, time_ms, signals, fc, node, delays: bool = False,
                   fc_no_delays=None) -> xr.Dataset:
    """The target's node signals (the observable of the ``node`` model, in its units; the
    variable keeps its name ``eeg``), FC and the SC it was simulated on (with delays, also the FC
    of the same network and noise without them)."""
    coords = {"time": ("time", np.asarray(time_ms), {"units": "ms", "long_name": "time"}),
              **node_coords(conn.labels)}
    extra = {} if fc_no_delays is None else {"fc_no_delays": matrix(
        fc_no_delays, "FC of the truth without conduction delays (the target's noise)")}
    return xr.Dataset(
        {"eeg": (("time", "node"), np.asarray(signals), {
            "units": node.observable_units, "long_name": f"node {node.observable_name}"}),
         "fc": matrix(fc, "functional connectivity (Pearson correlation)"),
         **extra, **sc_vars(conn, delays)},
        coords=coords, attrs={"connectome_source": conn.source})


def fit_vars(kind, target, observed, result) -> dict:
    """The fitted FC, the FC correlation at the best values and, with a truth, the noise floor:
    the objective and FC correlation of the truth under the fit's noise."""
    obj = FC_OBJECTIVES[kind.spec.objective]
    best = {n: float(result.best_params[n]) for n in kind.spec.names}
    if all(np.isfinite(v) for v in best.values()):
        fitted = kind.fit_fc(kind.model_at({n: as_float(v) for n, v in best.items()}),
                             keys(target.seed)[1])
    else:
        fitted = jnp.full(observed.shape, jnp.nan)
    out = {"coords": node_coords(kind.connectome.labels),
           "target_fc": matrix(observed, "target FC"),
           "fitted_fc": matrix(fitted, "FC simulated at the best value (fit noise)"),
           "best_fc_correlation": ((), float(fc_correlation(fitted, observed)), {
               "units": "1", "long_name": "FC correlation at the best value"})}
    if target.truth is not None:
        fc = kind.fit_fc(kind.model_at({n: as_float(v) for n, v in target.truth.items()}),
                         keys(target.seed)[1])
        out["noise_floor_loss"] = ((), float(obj(fc, observed)), {
            "units": "1", "long_name": f"{kind.spec.objective} of the truth under the fit's "
                                       f"noise (the floor)"})
        out["fc_correlation_ceiling"] = ((), float(fc_correlation(fc, observed)), {
            "units": "1", "long_name": "FC correlation of the truth under the fit's noise"})
    return out
