"""``bidhall draw verify DRAW_ID``: re-run a revealed draw from the ledger alone.

A draw across venues (remote off-site evaluation) is verified venue by venue from the same
ledger entries: each call must be the next expert of its venue's order for its specialty;
``accepted`` then lists the experts per venue key (``V1`` the main venue), then specialty.
"""

from __future__ import annotations

import argparse

from core.settings import Settings
from expert_pool.draws import verify_from_ledger
from web.cli_support import print_json, run_with_runtime
from web.runtime import Runtime


def cmd_draw(args: argparse.Namespace, settings: Settings) -> int:
    async def work(runtime: Runtime) -> int:
        async with runtime.database.reader() as session:
            result = await verify_from_ledger(session, args.draw_id)
        print_json({"draw": args.draw_id, **result.to_dict()})
        return 0 if result.ok else 1

    return run_with_runtime(settings, work)


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    draw = commands.add_parser("draw", help="expert draws")
    actions = draw.add_subparsers(dest="draw_action", required=True)
    verify = actions.add_parser("verify", help="re-run a revealed draw (single-venue or across venues) from the ledger; "
                                  "exit 0 only if it matches")
    verify.add_argument("draw_id", type=int)
    draw.set_defaults(handler=cmd_draw)
