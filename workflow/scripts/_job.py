"""Start of every workflow script: log to the rule's log file, configure JAX for the job."""

import logging


def start(smk) -> dict:
    """Send logging and warnings to ``smk.log[0]``, set JAX threads/cache/precision; the config."""
    logging.basicConfig(filename=smk.log[0], filemode="w", level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.captureWarnings(True)
    config = smk.params.config
    from eegfit import runtime  # noqa: PLC0415  (after logging is set up)

    runtime.configure(threads=smk.threads, cache_dir=config.get("runtime", {}).get(
        "jax_cache_dir"), x64=config.get("runtime", {}).get("x64", False))
    logging.getLogger("eegfit").info("job %s wildcards %s", smk.rule, dict(smk.wildcards))
    return config
