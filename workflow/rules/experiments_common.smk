# Helpers of the optional experiment blocks (multi.smk, network.smk): no rules here.
import yaml


def optional_section(name):
    """The optional experiment block ``name`` of the config, or None if this run does not ask
    for it. Snakemake merges a --configfile into config/config.yaml, so without this check the
    default config's blocks would run along with any small config (e.g. .test/config.yaml): a
    block runs when no --configfile is given, or when one of the --configfile files has it."""
    cli_files = list(workflow.overwrite_configfiles or [])
    if cli_files and not any(
        name in (yaml.safe_load(open(path)) or {}) for path in cli_files
    ):
        return None
    return config.get(name)


def multi_fits(kind="fits", ext="nc"):
    """One path per (backend, truth, seed) of the multi experiment."""
    return [
        f"results/multi/{kind}/{b}/{label}/seed={s}.{ext}"
        for b in MULTI_BACKENDS
        for label in MULTI_LABELS
        for s in MULTI_SEEDS
    ]

