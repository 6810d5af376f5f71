"""Start of every workflow script: log to the rule's log file, configure JAX for the job, and
make the job's Kind from the spec the planning passed it."""

import logging
import sys


def start(smk, kind: bool = True):
    """Send logging to ``smk.log[0]``, an uncaught error's traceback included; set JAX threads,
    cache and precision; return the Kind of the job's experiment, built from the spec the
    planning read and checked (``params.job``, an :class:`eegfit.experiments.Job`): a job does
    not read the config. ``kind=False`` (a job that only reads NetCDF and draws) sets up the log
    alone and imports neither the kinds nor JAX."""
    logging.basicConfig(filename=smk.log[0], filemode="w", level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.captureWarnings(True)
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # 400 lines per PDF's font subset
    sys.excepthook = _log_then_raise
    name = smk.params.get("experiment") or smk.wildcards["experiment"]
    logging.getLogger("eegfit").info("job %s of %s, wildcards %s", smk.rule, name,
                                     dict(smk.wildcards))
    if not kind:
        return None
    job = smk.params.job
    from eegfit import experiments, runtime  # noqa: PLC0415  (after logging is set up)

    runtime.configure(threads=smk.threads, cache_dir=job.jax_cache_dir,
                      x64=job.spec.simulation.float64)
    return experiments.from_spec(job.spec)


def chunk(smk, kind) -> list:
    """The job's targets (``params.targets``: (label, seed) pairs), in output order."""
    by_key = {(t.label, t.seed): t for t in kind.targets()}
    return [by_key[(label, int(seed))] for label, seed in smk.params.targets]


def chunk_paths(smk, kind, manifest) -> tuple[list, list[str]]:
    """The job's targets (:func:`chunk`) and each one's target file, from the chunk's manifest
    (a JSON file of (label, seed, path) triples)."""
    import json  # noqa: PLC0415

    with open(manifest) as fh:
        paths = {(label, int(seed)): path for label, seed, path in json.load(fh)["targets"]}
    targets = chunk(smk, kind)
    return targets, [paths[(t.label, int(t.seed))] for t in targets]


def write_records(records, fit_paths, timing_paths) -> None:
    """Write each fit's ``(dataset, timing)`` record: the NetCDF and the timing JSON."""
    import json  # noqa: PLC0415

    from eegfit import io  # noqa: PLC0415

    for (fit_ds, timing), fit_path, timing_path in zip(records, fit_paths, timing_paths,
                                                        strict=True):
        io.write_netcdf(fit_ds, fit_path)
        with open(timing_path, "w") as fh:
            json.dump(timing, fh)


def _log_then_raise(kind, error, tb):
    """The job's error into its log file (which Snakemake shows with the failed rule), then
    Python's own report on stderr."""
    logging.getLogger("eegfit").error("job failed: %s: %s", kind.__name__, error,
                                      exc_info=(kind, error, tb))
    sys.__excepthook__(kind, error, tb)
