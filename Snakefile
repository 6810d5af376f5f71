# eegfit: fit neural-mass models to synthetic targets and measured signals, with gradients and
# without. Run: snakemake --cores N   (config/config.yaml; another with --configfile FILE)
from snakemake.utils import min_version, validate

min_version("9.0")


# A config given with --configfile replaces the default one instead of being merged into it, so
# a small config does not inherit the default config's experiments.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/experiments.smk"
include: "workflow/rules/paper.smk"


rule all:
    input:
        all_outputs(),
        paper_outputs(),
    default_target: True
