"""A pipeline's results directory read back, for figures and notebooks that use the files alone.

The files are found by globbing the documented layout (``results/README.md``) and identified by
their attrs (parameter, backend, truth, seed), not by their names, so nothing here assumes which
parameter was fitted. ``summary.csv`` says which fits belong to the run: files from an earlier
config that are still lying around are ignored, and a fit, target, feature or landscape file the
summary needs but that is missing raises :class:`FileNotFoundError` naming the path it expects.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import xarray as xr


@dataclasses.dataclass(frozen=True)
class Results:
    """Everything the paper figures need from one results directory.

    Attributes:
        root: the results directory.
        parameter: the fitted model field (e.g. ``"C"``), from the summary.
        summary: ``summary.csv``, one row per fit, wall times (s) included.
        fits: the fit datasets, in the summary's row order.
        targets: ``(truth, seed) -> target dataset`` (EEG in mV on time in ms).
        features: ``(truth, seed) -> features dataset`` of the target.
        landscape: the features over a grid of the parameter.
    """

    root: Path
    parameter: str
    summary: pd.DataFrame
    fits: list[xr.Dataset]
    targets: dict[tuple[float, int], xr.Dataset]
    features: dict[tuple[float, int], xr.Dataset]
    landscape: xr.Dataset

    @property
    def config(self) -> dict:
        """The config the fits were made with (from the first fit's provenance)."""
        return json.loads(self.fits[0].attrs["config_json"])


def _key(truth, seed) -> tuple[str, int]:
    # Truths as they appear in paths and in the CSV (6 significant digits), so that 137.5 read
    # back from either matches.
    return f"{float(truth):g}", int(seed)


def _index(paths, parameter: str, with_backend: bool = False) -> dict:
    """``(backend?, truth, seed) -> path`` for the files of ``parameter`` among ``paths``."""
    index = {}
    for path in sorted(paths):
        with xr.open_dataset(path) as ds:
            attrs = ds.attrs
            if attrs.get("parameter") != parameter or "truth" not in attrs:
                continue
            key = _key(attrs["truth"], attrs["seed"])
            index[(attrs["backend"], *key) if with_backend else key] = path
    return index


def _require(index: dict, key, expected: Path, summary_path: Path) -> Path:
    if key not in index:
        raise FileNotFoundError(f"results file {expected} is missing (the run in "
                                f"{summary_path} lists it); rerun the pipeline to make it")
    return index[key]


def load(results_dir) -> Results:
    """Read the results directory ``results_dir`` made by the pipeline (see module docstring)."""
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"results directory {root} does not exist; run the pipeline "
                                f"(snakemake --cores N) first or pass the right results_dir")
    summary_path = root / "summary.csv"
    if not summary_path.is_file():
        raise FileNotFoundError(f"results file {summary_path} is missing; run the pipeline "
                                f"(snakemake --cores N) first")
    summary = pd.read_csv(summary_path)
    if summary.empty:
        raise ValueError(f"{summary_path} lists no fit")
    parameter = str(summary["parameter"].iloc[0])

    fit_index = _index(root.glob("fits/*/*=*/seed=*.nc"), parameter, with_backend=True)
    target_index = _index(root.glob("targets/*=*/seed=*.nc"), parameter)
    feature_index = _index(root.glob("features/*=*/seed=*.nc"), parameter)

    fits, targets, features = [], {}, {}
    for row in summary.itertuples():
        truth, seed = _key(row.truth, row.seed)
        where = f"{parameter}={truth}/seed={seed}.nc"
        path = _require(fit_index, (row.backend, truth, seed),
                        root / "fits" / row.backend / where, summary_path)
        fits.append(xr.load_dataset(path))
        key = (float(row.truth), int(row.seed))
        if key not in targets:
            targets[key] = xr.load_dataset(_require(target_index, (truth, seed),
                                                    root / "targets" / where, summary_path))
            features[key] = xr.load_dataset(_require(feature_index, (truth, seed),
                                                     root / "features" / where, summary_path))

    landscapes = {}
    for path in sorted(root.glob("landscape/*.nc")):
        with xr.open_dataset(path) as ds:
            landscapes.setdefault(ds.attrs.get("parameter"), path)
    landscape_path = _require(landscapes, parameter, root / "landscape" / f"{parameter}.nc",
                              summary_path)
    return Results(root=root, parameter=parameter, summary=summary, fits=fits,
                   targets=targets, features=features,
                   landscape=xr.load_dataset(landscape_path))
