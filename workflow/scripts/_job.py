"""Start of every workflow script: log to the rule's log file, configure JAX for the job."""

import logging


def start(smk) -> dict:
    """Send logging to ``smk.log[0]``, set JAX threads, cache and precision; return the rule's
    config (``params.config``: only the values the rule depends on, so that changing another
    value does not rerun it)."""
    logging.basicConfig(filename=smk.log[0], filemode="w", level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.captureWarnings(True)
    config = smk.params.config
    from eegfit import runtime  # noqa: PLC0415  (after logging is set up)

    runtime.configure(threads=smk.threads,
                      cache_dir=smk.config.get("runtime", {}).get("jax_cache_dir"),
                      x64=config.get("simulation", {}).get("float64", False))
    logging.getLogger("eegfit").info("job %s wildcards %s", smk.rule, dict(smk.wildcards))
    return config


def members(paths) -> list[tuple[float, int]]:
    """The (truth, seed) of each result path ``.../{param}={truth}/seed={seed}.nc`` of a chunk."""
    out = []
    for path in paths:
        parts = str(path).split("/")
        out.append((float(parts[-2].rpartition("=")[2]),
                    int(parts[-1].removeprefix("seed=").partition(".")[0])))
    return out
