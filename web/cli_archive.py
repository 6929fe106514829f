"""``bidhall archive make PROJECT_ID -o ZIP`` and ``bidhall archive verify ZIP``.

Making an archive is the platform's act (as the system actor) on a project whose lots are
all finished; it moves the project to archived. Verifying needs nothing but the zip (no
database, no network): it prints the JSON report and exits 0 only if everything verifies.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from core.actors import SYSTEM
from core.settings import Settings
from trading.archive import make_archive
from trading.archive_verify import verify_archive
from web.cli_support import print_json, read_input_file, run_with_runtime
from web.runtime import Runtime


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``archive make`` and ``archive verify`` to ``bidhall``."""
    archive = commands.add_parser("archive", help="project archives: make one, verify one offline")
    actions = archive.add_subparsers(dest="archive_action", required=True)
    make = actions.add_parser("make", help="archive a project whose lots are all finished (it becomes archived)")
    make.add_argument("project_id", type=int)
    make.add_argument("-o", "--output", type=Path, required=True, help="where to write the zip")
    verify = actions.add_parser("verify", help="check an archive offline: files, ledger proofs, signed head")
    verify.add_argument("zip", type=Path)
    verify.add_argument("--platform-key", type=Path,
                        help="the platform's public key (PEM) the tree head must be signed with")
    archive.set_defaults(handler=cmd_archive)


def cmd_archive(args: argparse.Namespace, settings: Settings) -> int:
    if args.archive_action == "verify":
        pinned = read_input_file(args.platform_key).decode("ascii") if args.platform_key else None
        report = verify_archive(args.zip, platform_key_pem=pinned)
        print_json(report)
        return 0 if report["ok"] else 1
    return _make(args, settings)


def _make(args: argparse.Namespace, settings: Settings) -> int:
    async def work(runtime: Runtime) -> int:
        async with runtime.database.transaction() as session:
            made = await make_archive(session, SYSTEM, args.project_id, blobs=runtime.blobs, signer=runtime.signer)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(runtime.blobs.path_for(made.sha256), args.output)
        print_json({"project_id": made.project_id, "archive": str(args.output), "sha256": made.sha256,
                    "size": made.size, "file_count": made.file_count, "tree_size": made.tree_size})
        return 0

    return run_with_runtime(settings, work)
