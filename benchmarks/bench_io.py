"""The shared end of every benchmark script: print its table, write its JSON. Imports no jax, so
the scripts that measure start-up in fresh processes can use it too."""

import json
from pathlib import Path


def finish(result: dict, print_table, out) -> int:
    """Print ``result`` with ``print_table`` and write it as JSON to ``out``; exit status 0."""
    print_table(result)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1))
    return 0
