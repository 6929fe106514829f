"""``python -m bench <name> [options]`` runs ``bench/<name>.py``; with no name, lists them.

A benchmark is a module of this package with a ``main(argv: list[str]) -> int``; the first
line of its docstring is its description.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import bench

NOT_BENCHMARKS = {"common", "__main__"}


def benchmarks() -> dict[str, str]:
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules([str(Path(bench.__file__).parent)]):
        if info.name in NOT_BENCHMARKS or info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "main", None)):
            found[info.name] = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
    return found


def main(argv: list[str]) -> int:
    available = benchmarks()
    if not argv or argv[0] in ("-h", "--help", "list"):
        print("usage: python -m bench <name> [options]   (python -m bench <name> --help for its options)")
        print("benchmarks:")
        for name, description in sorted(available.items()):
            print(f"  {name:<16} {description}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in available:
        print(f"unknown benchmark {name!r}; known: {', '.join(sorted(available)) or 'none'}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{name}")
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
