"""``bidhall export ocds [--project ID] -o FILE`` and the national data reporting.

``export ocds`` writes the OCDS 1.1.5 release package of one project (or of every public
one), checked against the schema with the bid and lot extensions before it is written: an
invalid package is never left behind. ``export report DATASET --day YYYY-MM-DD -o FILE``
writes the JSON Lines a reporting batch of that dataset and day carries (built, recorded
and sent upward by the worker's job; this only shows its content).
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from core.errors import InvalidInput
from core.settings import Settings
from trading import reporting
from trading.ocds_publish import export_package
from trading.ocds_record import to_json
from trading.ocds_schema import errors_of
from web.cli_support import print_json, run_with_runtime
from web.runtime import Runtime


def add_parsers(commands: Any) -> None:
    """Add ``export ocds`` and ``export report`` to ``bidhall``."""
    export = commands.add_parser("export", help="open data: OCDS packages, national reporting datasets")
    kinds = export.add_subparsers(dest="export_kind", required=True)
    ocds = kinds.add_parser("ocds", help="an OCDS 1.1.5 release package (one project, or all)")
    ocds.add_argument("--project", type=int, help="the project id (default: every public project)")
    ocds.add_argument("-o", "--output", type=Path, required=True, help="where to write the JSON")
    report = kinds.add_parser("report", help="one national reporting dataset of one day as JSON Lines")
    report.add_argument("dataset", help="one of: " + ", ".join(sorted(reporting.DATASETS)))
    report.add_argument("--day", required=True, help="the UTC day, YYYY-MM-DD")
    report.add_argument("-o", "--output", type=Path, required=True, help="where to write the JSON Lines")
    export.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    if args.export_kind == "report":
        return _report(args, settings)
    return _ocds(args, settings)


def _ocds(args: argparse.Namespace, settings: Settings) -> int:
    async def work(runtime: Runtime) -> int:
        async with runtime.database.reader() as session:
            package = await export_package(session, args.project)
        problems = errors_of("release-package", _as_json(package))
        if problems:
            raise InvalidInput("the package does not validate against OCDS 1.1.5: " + "; ".join(problems[:5]))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(to_json(package, indent=2) + "\n", encoding="utf-8")
        print_json({"output": str(args.output), "releases": len(package["releases"]),
                    "ocids": sorted({release["ocid"] for release in package["releases"]})})
        return 0

    return run_with_runtime(settings, work)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    try:
        day = date.fromisoformat(args.day)
    except ValueError:
        raise InvalidInput(f"--day {args.day!r} is not a date (YYYY-MM-DD)") from None
    window = reporting.day_window(day)

    async def work(runtime: Runtime) -> int:
        async with runtime.database.reader() as session:
            rows = await reporting.dataset_rows(session, args.dataset, window)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_bytes(reporting.json_lines(rows))
        print_json({"output": str(args.output), "dataset": args.dataset, "records": len(rows),
                    "batch_id": reporting.batch_id(args.dataset, window)})
        return 0

    return run_with_runtime(settings, work)


def _as_json(document: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(to_json(document))  # type: ignore[no-any-return]
