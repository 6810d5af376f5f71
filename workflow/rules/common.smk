# Helpers that turn the config into target lists, and the checks a schema cannot express.
# No science here, and no eegfit import: the driver stays light.
import math


def check_config(cfg):
    """Cross-field checks; each error names the offending key."""
    sim = cfg["simulation"]
    if not sim["transient_ms"] < sim["duration_ms"]:
        raise ValueError(
            f"config simulation.transient_ms ({sim['transient_ms']}) must be < "
            f"simulation.duration_ms ({sim['duration_ms']})"
        )
    if sim["dt_ms"] > sim["duration_ms"] - sim["transient_ms"]:
        raise ValueError(
            f"config simulation.dt_ms ({sim['dt_ms']}) is longer than the kept window "
            f"(duration_ms - transient_ms)"
        )
    par = cfg["parameter"]
    low, high = par["bounds"]
    if not low < high:
        raise ValueError(f"config parameter.bounds must have low < high, got {par['bounds']}")
    if par["start"] != "random" and not low <= par["start"] <= high:
        raise ValueError(
            f"config parameter.start ({par['start']}) lies outside parameter.bounds {par['bounds']}"
        )
    outside = [t for t in par["truths"] if not low <= t <= high]
    if outside:
        raise ValueError(
            f"config parameter.truths {outside} lie outside parameter.bounds {par['bounds']}"
        )
    drive = cfg.get("model", {}).get("drive", {})
    if par["name"].startswith("drive.") and drive.get("kind", "constant") != "constant":
        raise ValueError(
            f"config parameter.name {par['name']!r} needs model.drive.kind: constant"
        )


check_config(config)

PARAM = config["parameter"]["name"]
BACKENDS = list(config["backends"])
SEEDS = [int(s) for s in config["seeds"]]


def fmt(value):
    """A number as it appears in paths: 150 -> '150', 137.5 -> '137.5'."""
    return f"{float(value):g}"


TRUTHS = [fmt(t) for t in config["parameter"]["truths"]]


wildcard_constraints:
    param=PARAM.replace(".", r"\."),


def path(kind, truth, seed, backend=None):
    """The result file of one (truth, seed): kind is targets, features, fits or timings."""
    ext = "json" if kind == "timings" else "nc"
    parts = ["results", kind, backend, f"{PARAM}={truth}", f"seed={seed}.{ext}"]
    return "/".join(p for p in parts if p)


# Batching: one job handles a chunk of (truth, seed) pairs in one process (Python and JAX start
# once, compiled code is reused) while still writing one NetCDF per target and per fit.
CHUNK_SIZE = int(config.get("batching", {}).get("chunk_size", 1))
PAIRS = [(t, s) for t in TRUTHS for s in SEEDS]
CHUNKS = [PAIRS[i : i + CHUNK_SIZE] for i in range(0, len(PAIRS), CHUNK_SIZE)]


def grid(pattern, **fixed):
    """Every (truth, seed) [and backend] combination of ``pattern``."""
    return expand(pattern, param=PARAM, truth=TRUTHS, seed=SEEDS, **fixed)


def all_fits():
    return grid("results/fits/{backend}/{param}={truth}/seed={seed}.nc", backend=BACKENDS)


def all_outputs():
    return [
        *grid("results/features/{param}={truth}/seed={seed}.nc"),
        "results/summary.nc",
        "results/summary.csv",
        *expand("results/figures/{name}.{ext}", name=FIGURES, ext=["pdf", "png"]),
    ]


def subconfig(*paths):
    """The config values at the dotted ``paths``, nested as in the config.

    A rule's params: Snakemake reruns a job when its params change, so each rule gets only the
    values it depends on (changing the nevergrad budget does not rerun the grad fits).
    """
    out = {}
    for path in paths:
        source, target = config, out
        *parents, leaf = path.split(".")
        for part in parents:
            source, target = source[part], target.setdefault(part, {})
        target[leaf] = source[leaf]
    return out


FIT_KEYS = ("experiment", "parameter.name", "parameter.bounds", "parameter.start", "model",
            "simulation", "feature")
FIGURES = ["convergence", "comparison", "eeg_fit", "landscape"]
ENV = "../../envs/eegfit.yaml"
