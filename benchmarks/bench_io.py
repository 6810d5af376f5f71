"""The shared end of every benchmark script: print its table, write its JSON. Imports no jax, so
the scripts that measure start-up in fresh processes can use it too."""

import argparse
import json
from pathlib import Path


def finish(result: dict, print_table, out) -> int:
    """Print ``result`` with ``print_table`` and write it as JSON to ``out``; exit status 0."""
    print_table(result)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1))
    return 0


def main(doc: str, run, print_table, default_out, argv=None) -> int:
    """The command line of a benchmark script with ``--quick`` and ``--out`` only: ``run("quick")``
    or ``run("full")``, then :func:`finish`."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(default_out))
    args = parser.parse_args(argv)
    return finish(run("quick" if args.quick else "full"), print_table, args.out)
