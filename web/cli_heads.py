"""``bidhall ledger heads|publish-head|check-head``: published tree heads, as served by
``GET /ledger/heads``, ``GET /ledger/heads/{size}``, ``POST /ledger/heads`` and
``POST /ledger/heads/check``.

``check-head FILE`` takes a head, a bid receipt (its ``tree_head``) or a project archive
(its ``ledger/head.json``). Without ``--published`` it asks this platform's database whether
the head belongs to its ledger (and prints the consistency proof to the current head);
with ``--published HEAD.json --proof PROOF.json --platform-key KEY.pem`` it needs no
database at all: both heads must be signed by the pinned key and the proof must show one
tree is a prefix of the other. Exit 0 only if the head holds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.actors import SYSTEM
from core.clock import parse_rfc3339
from core.errors import InvalidInput
from core.settings import Settings
from supervision import heads
from supervision.head_check import HeadRefused, check_against_published, embedded_head
from web.cli_support import fail, print_json, read_input_file, run_with_runtime
from web.runtime import Runtime

ACTIONS = ("heads", "publish-head", "check-head")


def add_parsers(commands: Any) -> None:
    """The head commands live under ``bidhall ledger`` (see :func:`add_ledger_actions`)."""


def add_ledger_actions(actions: Any) -> None:
    """Add the head actions to the ``bidhall ledger`` subcommands."""
    listing = actions.add_parser("heads", help="the published signed tree heads")
    listing.add_argument("--since", help="RFC 3339: published at or after")
    listing.add_argument("--after-size", type=int, default=-1, help="the page after this tree size")
    listing.add_argument("--limit", type=int, default=heads.MAX_PAGE)
    listing.add_argument("--size", type=int, help="only the head published at this tree size")
    actions.add_parser("publish-head", help="publish a signed tree head over every entry now")
    check = actions.add_parser("check-head", help="check a head (or a receipt's, or an archive's) against the ledger")
    check.add_argument("file", type=Path, help="a head JSON, a bid receipt JSON or a project archive zip")
    check.add_argument("--published", type=Path, help="a published head JSON: check offline against it")
    check.add_argument("--proof", type=Path, help="consistency proof JSON between the two sizes (offline)")
    check.add_argument("--platform-key", type=Path, help="the platform's public key PEM (required offline)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "check-head" and args.published is not None:
        return _check_offline(args)
    if args.action == "heads" and not 1 <= args.limit <= heads.MAX_PAGE:
        return fail(f"--limit must be from 1 to {heads.MAX_PAGE}")
    since = parse_rfc3339(args.since) if getattr(args, "since", None) else None

    async def work(runtime: Runtime) -> int:
        async with runtime.database.transaction() as session:
            if args.action == "heads" and args.size is not None:
                print_json(await heads.published_at_size(session, args.size))
            elif args.action == "heads":
                print_json(await heads.list_published(session, since=since, after_size=args.after_size,
                                                      limit=args.limit))
            elif args.action == "publish-head":
                print_json(await heads.publish_head(session, SYSTEM, runtime.signer, trigger="demand"))
            else:
                return await _check_online(session, runtime, args)
        return 0

    return run_with_runtime(settings, work)


async def _check_online(session: Any, runtime: Runtime, args: argparse.Namespace) -> int:
    try:
        print_json(await heads.check_presented(session, runtime.signer, embedded_head(args.file)))
    except HeadRefused as refused:
        return _refused(refused)
    return 0


def _check_offline(args: argparse.Namespace) -> int:
    if args.platform_key is None:
        return fail("checking against a published head offline needs --platform-key: the key is pinned by "
                    "the checker, never taken from the heads themselves")
    key = read_input_file(args.platform_key).decode("ascii")
    published = _json_file(args.published)
    proof = _json_file(args.proof) if args.proof else None
    try:
        print_json(check_against_published(embedded_head(args.file), published, proof, key))
    except HeadRefused as refused:
        return _refused(refused)
    return 0


def _refused(refused: HeadRefused) -> int:
    print_json({"ok": False, "reason": refused.reason, "detail": refused.detail})
    return 1


def _json_file(path: Path) -> Any:
    try:
        return json.loads(read_input_file(path))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInput(f"{path} is not valid JSON: {error}") from None
