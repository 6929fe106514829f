"""``bidhall warnings run [--since T] [--until T] [--parameters FILE]`` and ``bidhall warnings list``.

Running the rules is the platform's act (the system actor), as the periodic job does; the
window defaults to the last day. ``list`` prints the warnings as JSON, filtered like the
HTTP list (as the system actor it sees every jurisdiction).
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from core.actors import SYSTEM
from core.clock import parse_rfc3339, utcnow
from core.settings import Settings
from supervision.warnings import service
from supervision.warnings.rules import read_overrides
from supervision.warnings.schemas import WarningSummary
from web.cli_support import print_json, read_input_file, run_with_runtime
from web.runtime import Runtime

DEFAULT_LOOK_BACK = timedelta(days=1)


def _moment(text: str) -> object:
    try:
        return parse_rfc3339(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time with an offset ({error})") from None


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``warnings run`` and ``warnings list`` to ``bidhall``."""
    warnings = commands.add_parser("warnings", help="early warnings: run the rules, list the warnings")
    actions = warnings.add_subparsers(dest="warnings_action", required=True)
    run = actions.add_parser("run", help="run every warning rule over a window (default: the last day)")
    run.add_argument("--since", type=_moment, help="start of the window (RFC 3339); default: a day ago")
    run.add_argument("--until", type=_moment, help="end of the window (RFC 3339); default: now")
    run.add_argument("--parameters", type=Path, help="JSON {rule_code: {parameter: value}} overriding defaults")
    listing = actions.add_parser("list", help="list warnings as JSON, newest first")
    listing.add_argument("--rule")
    listing.add_argument("--status", choices=service.STATUSES)
    listing.add_argument("--project", type=int)
    listing.add_argument("--limit", type=int, default=100)
    warnings.set_defaults(handler=cmd_warnings)


def cmd_warnings(args: argparse.Namespace, settings: Settings) -> int:
    return _run(args, settings) if args.warnings_action == "run" else _list(args, settings)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    overrides = None
    if args.parameters is not None:
        overrides = read_overrides(read_input_file(args.parameters).decode("utf-8"), str(args.parameters))
    until = args.until or utcnow()
    since = args.since or until - DEFAULT_LOOK_BACK

    async def work(runtime: Runtime) -> int:
        async with runtime.database.transaction() as session:
            report = await service.run_warning_rules(session, SYSTEM, since=since, until=until,
                                                     blobs=runtime.blobs, overrides=overrides)
        print_json(report.to_json())
        return 0 if not report.failures else 1

    return run_with_runtime(settings, work)


def _list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(runtime: Runtime) -> int:
        async with runtime.database.transaction() as session:
            rows = await service.list_warnings(session, SYSTEM, rule=args.rule, status=args.status,
                                               project_id=args.project, limit=args.limit)
        print_json([WarningSummary.model_validate(row).model_dump(mode="json") for row in rows])
        return 0

    return run_with_runtime(settings, work)
