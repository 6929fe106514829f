"""The ``bidhall`` command: serve, worker, db, seed, ledger and replay.

Every command reads the settings when it runs, prints JSON on stdout where it reports
something, and exits non-zero with the reason on stderr when it fails.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from ca_interop.tsa_config import TimestampAuthorityMissing
from core.clock import parse_rfc3339
from core.errors import BidhallError
from core.settings import Settings, load_settings
from web import (
    cli_archive,
    cli_ca,
    cli_client,
    cli_draw,
    cli_envelope,
    cli_eseal,
    cli_export,
    cli_heads,
    cli_pki,
    cli_warnings,
)
from web.cli_support import fail, print_json, run_with_runtime
from web.problems import from_validation_error
from web.runtime import Runtime

Command = Callable[[argparse.Namespace, Settings], int]


# --- serve, worker, db, seed --------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from web.app import create_app

    # uvicorn re-raises SIGTERM after its graceful shutdown, which would end the process
    # before the `finally` below stops the worker; exiting normally lets it run.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    worker = None
    if settings.is_embedded_broker and settings.run_embedded_worker and not args.no_worker:
        # The first-run promise: one command, no other server. The worker is a child
        # process on the file broker and stops with us.
        worker = subprocess.Popen([sys.executable, "-m", "web.cli", "worker", "--pool", "solo", "--beat"])
    try:
        uvicorn.run(create_app(settings), host=args.host or settings.host, port=args.port or settings.port,
                    log_level=settings.log_level.lower(), access_log=False)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from core.tasks import create_celery_app

    app = create_celery_app(settings)
    argv = ["worker", f"--loglevel={settings.log_level}", f"--pool={args.pool}", "--without-gossip",
            "--without-mingle", "--without-heartbeat"]
    if args.concurrency:
        argv.append(f"--concurrency={args.concurrency}")
    if args.beat:
        argv.append("--beat")  # the periodic jobs; run it in exactly one worker
    app.worker_main(argv)
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from migrations import runner

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    if args.action == "upgrade":
        runner.upgrade(url, args.revision or "head")
    elif args.action == "downgrade":
        if not args.revision:
            return fail("db downgrade needs a revision (e.g. 'base')")
        runner.downgrade(url, args.revision)
    else:
        runner.current(url)
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from ca_interop.demo_pki_set import write_demo_pki
    from web.cli_pki import trust_demo_cas
    from web.demo import seed_demo, seed_demo_tenders

    pki_dir = settings.resolved_pki_dir
    made_pki = not (pki_dir / "manifest.json").exists()
    if made_pki:
        write_demo_pki(pki_dir)

    async def work(runtime: Runtime) -> int:
        async with runtime.database.transaction() as session:
            created = await seed_demo(session, pool_size=settings.demo_pool_size)
        created["trusted_cas"] = await trust_demo_cas(runtime, pki_dir)
        async with runtime.database.transaction() as session:
            tenders, created["tender_projects"] = await seed_demo_tenders(session, runtime.blobs, pki_dir)
        print_json({"created": created, "tender_projects": tenders, "demo_pki": str(pki_dir) if made_pki else None})
        return 0

    return run_with_runtime(settings, work)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from web.demo_run import run_demo

    out = args.out or settings.data_dir / "demo"

    async def work(runtime: Runtime) -> int:
        summary = await run_demo(runtime, out)
        print_json(summary)
        files = summary["files"]
        listed = "\n".join(f"  {name}: {files['folder']}/{path}" for name, path in files.items()
                           if name not in ("folder", "receipts"))
        print(f"The demo's files are in {files['folder']}:\n{listed}", file=sys.stderr)
        return 0

    return run_with_runtime(settings, work)


# --- ledger -------------------------------------------------------------------------------


def cmd_ledger(args: argparse.Namespace, settings: Settings) -> int:
    from supervision.ledger import inspect

    if args.action in cli_heads.ACTIONS:
        return cli_heads.run(args, settings)

    async def work(runtime: Runtime) -> int:
        async with runtime.database.transaction() as session:
            if args.action == "head":
                print_json(await inspect.head(session, runtime.signer))
            elif args.action == "entry":
                print_json(await inspect.entry(session, args.index))
            elif args.action == "prove":
                print_json(await inspect.prove(session, args.index, args.size))
            elif args.action == "consistency":
                print_json(await inspect.consistency(session, args.first, args.second))
            else:
                report = await inspect.verify(session)
                print_json(report)
                return 0 if report["ok"] else 1
        return 0

    return run_with_runtime(settings, work)


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from supervision.replay import check_all, check_stream, replay, timeline

    until_time = parse_rfc3339(args.at) if args.at else None
    if args.stream == "all" and not args.check:
        return fail("'replay all' only checks: add --check")
    if args.timeline and (args.check or args.at or args.seq is not None):
        return fail("--timeline prints every step; --at, --seq and --check are for the state")

    async def work(runtime: Runtime) -> int:
        async with runtime.database.reader() as session:
            if args.stream == "all":
                results = await check_all(session, runtime.registry)
                mismatched = [result.stream for result in results if not result.matches]
                print_json({"streams": len(results), "mismatched": mismatched})
                return 1 if mismatched else 0
            if args.check:
                result = await check_stream(session, runtime.registry, args.stream)
                print_json({"stream": args.stream, "matches": result.matches, "replayed": result.replayed,
                            "stored": result.stored})
                return 0 if result.matches else 1
            if args.timeline:
                page = await timeline(session, runtime.registry, args.stream, limit=2**62)
                print_json({"stream": args.stream, "steps": page.steps})
                return 0
            state = await replay(session, runtime.registry, args.stream, until_seq=args.seq, until_time=until_time)
            print_json({"stream": args.stream, "state": state})
            return 0

    return run_with_runtime(settings, work)


# --- parsing ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bidhall", description="Public-resource trading and remote bid evaluation")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve HTTP (and, embedded, a worker)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--no-worker", action="store_true", help="do not start the embedded worker")
    serve.set_defaults(handler=cmd_serve)

    worker = commands.add_parser("worker", help="run a Celery worker")
    worker.add_argument("--pool", default="prefork", choices=["prefork", "solo", "threads"])
    worker.add_argument("--concurrency", type=int)
    worker.add_argument("--beat", action="store_true", help="also run the periodic jobs (in one worker only)")
    worker.set_defaults(handler=cmd_worker)

    db = commands.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"])
    db.add_argument("revision", nargs="?")
    db.set_defaults(handler=cmd_db)

    seed = commands.add_parser("seed", help="load the demo data (idempotent)")
    seed.set_defaults(handler=cmd_seed)

    demo = commands.add_parser("demo", help="run the demo story against the configured database")
    demo.add_argument("--out", type=Path, help="where to write summary.json (default DATA_DIR/demo)")
    demo.set_defaults(handler=cmd_demo)

    ledger = commands.add_parser("ledger", help="the tamper-evident ledger")
    actions = ledger.add_subparsers(dest="action", required=True)
    actions.add_parser("head", help="the signed tree head over every entry")
    entry = actions.add_parser("entry", help="one entry and its exact bytes")
    entry.add_argument("index", type=int)
    prove = actions.add_parser("prove", help="inclusion proof of an entry")
    prove.add_argument("index", type=int)
    prove.add_argument("--size", type=int, help="tree size to prove against (default: current)")
    consistency = actions.add_parser("consistency", help="consistency proof between two sizes")
    consistency.add_argument("first", type=int)
    consistency.add_argument("second", type=int)
    actions.add_parser("verify", help="check every entry, the tree and the signed heads")
    cli_heads.add_ledger_actions(actions)
    ledger.set_defaults(handler=cmd_ledger)

    replay = commands.add_parser("replay", help="rebuild a stream's state from the ledger")
    replay.add_argument("stream", help="e.g. user:7 or party:3; 'all' with --check checks every stream")
    moment = replay.add_mutually_exclusive_group()
    moment.add_argument("--at", help="RFC 3339 time: state as it was then")
    moment.add_argument("--seq", type=int, help="state after this ledger sequence number")
    replay.add_argument("--check", action="store_true", help="exit 0 only if it equals the tables")
    replay.add_argument("--timeline", action="store_true",
                        help="every step: seq, time, type, actor and what changed")
    replay.set_defaults(handler=cmd_replay)

    cli_ca.add_parser(commands)
    cli_ca.add_signing_parsers(commands)
    cli_pki.add_parsers(commands)
    cli_envelope.add_parsers(commands)
    cli_eseal.add_parsers(commands)
    cli_draw.add_parsers(commands)
    cli_archive.add_parsers(commands)
    cli_heads.add_parsers(commands)
    cli_warnings.add_parsers(commands)
    cli_export.add_parsers(commands)
    cli_client.add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        return int(args.handler(args, settings))
    except BidhallError as error:
        return fail(error.detail)
    except ValidationError as error:
        return fail(from_validation_error(error).detail)
    except TimestampAuthorityMissing as error:
        return fail(str(error))
    except ValueError as error:
        return fail(str(error))
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - one line for the operator, not a traceback
        return fail(f"failed: {type(error).__name__}: {error}", code=3)


if __name__ == "__main__":
    sys.exit(main())
