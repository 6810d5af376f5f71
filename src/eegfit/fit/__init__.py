"""Fitting: mark parameters with Param, write loss_fn(model) -> (loss, aux), pick a backend."""

from eegfit.fit.fitter import BACKENDS, Fitter
from eegfit.fit.hybrid import Hybrid
from eegfit.fit.nevergrad_backend import optimizer_names
from eegfit.fit.param import Param, Split, split, unwrap
from eegfit.fit.result import STATUSES, FitResult, History

__all__ = ["BACKENDS", "STATUSES", "FitResult", "Fitter", "History", "Hybrid", "Param", "Split",
           "optimizer_names", "split", "unwrap"]
