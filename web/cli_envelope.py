"""``bidhall envelope seal|open``: sealing a bid on the bidder's machine, and opening it.

Both run locally with the bidder's (or custodian's) own files; the platform never sees a
private key or the plaintext.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ca_interop.envelopes import EnvelopeInfo, inspect_envelope, open_envelope, seal
from core.errors import InvalidInput
from core.settings import Settings
from web.cli_support import print_json, read_input_file


def cmd_envelope(args: argparse.Namespace, settings: Settings) -> int:
    if not args.file.is_file():
        raise InvalidInput(f"cannot read {args.file}: no such file")
    if args.envelope_action == "seal":
        recipients = [read_input_file(path) for path in args.to]
        info = seal(args.file, recipients, args.output)
    elif args.envelope_action == "open":
        info = open_envelope(args.file, read_input_file(args.key), read_input_file(args.cert), args.output)
    else:
        info = inspect_envelope(args.file)
    print_json(_describe(info, args))
    return 0


def _describe(info: EnvelopeInfo, args: argparse.Namespace) -> dict[str, object]:
    described: dict[str, object] = info.as_dict()
    if getattr(args, "output", None):
        described["output"] = str(args.output)
    return described


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    envelope = commands.add_parser("envelope", help="seal a file for recipients, or open a sealed file")
    actions = envelope.add_subparsers(dest="envelope_action", required=True)
    sealing = actions.add_parser("seal", help="encrypt FILE so only the recipients' keys open it")
    sealing.add_argument("file", type=Path)
    sealing.add_argument("--to", type=Path, action="append", required=True,
                         help="a recipient's encryption certificate (repeat for several)")
    sealing.add_argument("-o", "--output", type=Path, required=True)
    opening = actions.add_parser("open", help="decrypt a sealed file with a recipient's key")
    opening.add_argument("file", type=Path)
    opening.add_argument("--key", type=Path, required=True)
    opening.add_argument("--cert", type=Path, required=True)
    opening.add_argument("-o", "--output", type=Path, required=True)
    inspecting = actions.add_parser("inspect", help="list an envelope's recipients without opening it")
    inspecting.add_argument("file", type=Path)
    envelope.set_defaults(handler=cmd_envelope)
