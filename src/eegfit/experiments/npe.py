"""The amortized posterior of an experiment whose ``npe:`` block is on, written once for every
kind that supplies ``simulate_features``: one NPE trained per experiment on prior simulations,
applied to every target (the same InferenceData as the ``posterior:`` block's files), and
calibrated by SBC and expected coverage.

The likelihood's noise and the priors are the ``posterior:`` block's (its ``rel_sd`` or ``sd``;
uniform on each box unless configured), or the kind's own likelihood (a recording's Welch
sampling noise, :mod:`eegfit.experiments.recording.npe`), so the NPE and the grid posterior
answer the same question. Feature names come from one simulation at the box's centre.

>>> estimator = npe.train(kind)                         # once per experiment
>>> npe_io.save(estimator, "results/<exp>/npe/estimator.eqx")
>>> estimator = npe.load(kind, "results/<exp>/npe/estimator.eqx")   # refused if the prior changed
>>> groups = npe.run(kind, estimator, target, target_ds)   # per target (npe.focus rounds first)
>>> calibration = npe.calibration(kind, estimator)                   # SBC + coverage dataset
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

from eegfit import infer
from eegfit.experiments.base import Kind, Target, as_float, keys
from eegfit.experiments.posterior import problem as target_problem
from eegfit.infer import sbc
from eegfit.infer.npe import io as npe_io
from eegfit.infer.npe.estimator import Estimator
from eegfit.infer.npe.settings import Noise
from eegfit.infer.npe.train import focus
from eegfit.infer.npe.train import train as train_estimator


def noise(kind: Kind) -> Noise:
    """The likelihood's noise: the kind's own (a recording's Welch sampling noise), else the
    posterior block's ``sd`` per feature, else ``rel_sd`` (default 0.01) of the feature."""
    own = kind.npe_noise()
    if own is not None:
        return own
    spec = kind.spec.posterior
    if spec.sd is not None:
        return Noise(rel_sd=None, sd=dict(spec.sd))
    return Noise(rel_sd=spec.rel_sd or 0.01)


def prior_problem(kind: Kind) -> infer.Problem:
    """The experiment's parameters, boxes, priors and features as a :class:`~eegfit.infer.Problem`
    (its observed values are placeholders: an NPE uses only the feature names)."""
    spec = kind.spec
    bounds = {p.name: p.bounds for p in spec.parameters}
    centre = {n: as_float(0.5 * (lo + hi)) for n, (lo, hi) in bounds.items()}
    context = keys(spec.npe.seed)[1]
    names = list(kind.npe_features(centre, context))
    priors = {n: spec.posterior.prior(n, b) for n, b in bounds.items()}
    return infer.problem(kind.npe_features, {k: 1.0 for k in names}, {k: 1.0 for k in names},
                         bounds, {n: p for n, p in priors.items() if p is not None},
                         context=context, units=kind.units(),
                         feature_units={n: kind.aux_units().get(n, "1") for n in names})


def train(kind: Kind) -> Estimator:
    """The experiment's NPE, trained on its ``npe.n_simulations`` prior simulations."""
    return train_estimator(prior_problem(kind), noise(kind), kind.spec.npe.settings,
                           conditions=kind.npe_conditions(), max_batch=kind.npe_max_batch)


def load(kind: Kind, path) -> Estimator:
    """The saved estimator, refused (``ValueError``) if trained for another prior, noise or
    condition (a recording's band, segment, length)."""
    return npe_io.load(path, npe_io.expected(prior_problem(kind), noise(kind),
                                             kind.npe_conditions()))


def run(kind: Kind, estimator: Estimator, target: Target,
        target_ds: xr.Dataset) -> dict[str, xr.Dataset]:
    """The NPE posterior of one target as InferenceData groups with provenance: the amortized
    estimator's draws, or (``npe.focus`` > 0) those of sequential rounds focused on the target."""
    from eegfit.experiments.provenance import provenance  # noqa: PLC0415

    post_spec, spec = kind.spec.posterior, kind.spec.npe
    observed = kind.observed(target_ds)
    prob, how = target_problem(kind, target, observed)
    # the NPE's own features of the target (a recording's: whitened with the trained noise)
    prob = dataclasses.replace(prob, observed=kind.npe_observed(observed))
    extra = {"npe_rounds": 1}
    if spec.focus:
        estimator, region = focus(estimator, prior_problem(kind), prob.observed,
                                  max_batch=kind.npe_max_batch, seed=int(target.seed),
                                  rounds=spec.focus)
        extra = {"npe_rounds": 1 + spec.focus, "npe_focus_region": "; ".join(
            f"{n}: [{lo:.6g}, {hi:.6g}]" for n, (lo, hi) in region.items())}
    post = infer.posterior(prob, "npe", estimator=estimator, truth=target.truth,
                           hds_prob=post_spec.hds_prob, max_width=post_spec.max_width,
                           draws=spec.draws, seed=int(target.seed))
    attrs = provenance(kind, "npe", target, scale=how, npe_noise=str(estimator.noise.describe()),
                       **extra)
    return post.groups(attrs=attrs, seed=int(target.seed))


def calibration(kind: Kind, estimator: Estimator) -> xr.Dataset:
    """SBC ranks, their chi-square test and expected coverage, with provenance."""
    from eegfit.experiments.provenance import provenance  # noqa: PLC0415

    spec = kind.spec.npe
    ds = sbc.calibrate(estimator, prior_problem(kind), runs=spec.sbc_runs, draws=spec.sbc_draws,
                       bins=spec.sbc_bins, max_batch=kind.npe_max_batch)
    ds.attrs.update(provenance(kind, "npe_calibration"))
    ds.attrs["final_training_loss"] = float(np.round(estimator.report.get("final_loss",
                                                                          np.nan), 6))
    return ds


__all__ = ["calibration", "load", "noise", "prior_problem", "run", "train"]
