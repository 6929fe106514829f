"""supervision: replay of 100,000 entries, warning rules over a day of 1,000 projects, live feed to 50 regulators.

Each part lives in its own module (``bench/supervision_replay.py``,
``bench/supervision_warnings.py``, ``bench/supervision_live.py``) and returns its figures;
this driver parses the options and prints them as JSON lines. ``--only`` runs one part.
"""

from __future__ import annotations

import argparse

from bench import supervision_live, supervision_replay, supervision_warnings
from bench.common import emit

PARTS = {"replay": supervision_replay, "warnings": supervision_warnings, "live": supervision_live}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench supervision", description=__doc__)
    parser.add_argument("--only", choices=sorted(PARTS), action="append", help="run only this part (repeatable)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run of every part")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    for name in args.only or list(PARTS):
        for record in PARTS[name].run(args):
            emit(record)
    return 0
