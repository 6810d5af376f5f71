#!/usr/bin/env bash
# Create benchmarks/.venv-brainmass: brainmass 0.1.1 (PyPI) in its OWN environment, so its
# dependency pins (brainstate, brainunit, jax, ...) cannot change eegfit's.
# Usage: bash benchmarks/setup_brainmass.sh [PYTHON]   (default python3; Python >= 3.10)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-brainmass"
python="${1:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
# nevergrad: brainmass's nevergrad fitting path imports it but does not require it.
"$venv/bin/python" -m pip install --quiet "brainmass==0.1.1" nevergrad optax
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
for name in ("brainmass", "brainstate", "brainunit", "braintools", "jax", "jaxlib", "optax",
             "nevergrad", "numpy"):
    try:
        print(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        print(f"{name}: not installed")
PY
