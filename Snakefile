# eegfit: fit neural-mass models to synthetic EEG targets, with gradients and without.
# Run: snakemake --cores N   (config/config.yaml; another with --configfile FILE)
from snakemake.utils import min_version, validate

min_version("9.0")


# A config given with --configfile replaces the default one instead of being merged into it, so
# an experiment without (say) a nevergrad block or a recording section does not inherit them.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/targets.smk"
include: "workflow/rules/fits.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/paper.smk"
include: "workflow/rules/recording.smk"
include: "workflow/rules/experiments_common.smk"
include: "workflow/rules/multi.smk"
include: "workflow/rules/network.smk"
include: "workflow/rules/empirical_fc.smk"


rule all:
    input:
        all_outputs(),
        PAPER_OUTPUTS,
        RECORDING_OUTPUTS,
        MULTI_OUTPUTS,
        NETWORK_OUTPUTS,
        EMPIRICAL_OUTPUTS,
    default_target: True
