"""``python -m bench NAME [ARGS…]`` runs ``bench/NAME.py``'s ``main(ARGS)``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def run(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m bench NAME [ARGS…]; NAME is one of:", ", ".join(available()))  # noqa: T201
        return 0 if argv else 2
    if argv[0] not in available():
        print(f"unknown benchmark {argv[0]!r}; choose one of {', '.join(available())}")  # noqa: T201
        return 2
    module = importlib.import_module(f"bench.{argv[0]}")
    return module.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
