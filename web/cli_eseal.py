"""``bidhall eseal make|sign|verify``: GB/T 38540 electronic seals from the command line.

Making a seal is the seal maker's act (the platform's e-seal issuer in the demo); signing
is the holder's, on their own machine; verifying is anyone's, against the trust list.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from ca_interop.eseal import (
    ESealError,
    make_seal,
    seal_docx,
    sign_document,
    verify_signature,
)
from core.clock import utcnow
from core.errors import InvalidInput
from core.settings import Settings
from identities import trust_service
from web.cli_support import print_json, read_input_file, run_with_runtime
from web.runtime import Runtime


def cmd_eseal(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.eseal_action == "make":
            return _make(args)
        if args.eseal_action == "sign":
            return _sign(args, settings)
    except ESealError as error:
        raise InvalidInput(str(error)) from None
    return _verify(args, settings)


def _make(args: argparse.Namespace) -> int:
    start = utcnow()
    seal = make_seal(
        read_input_file(args.issuer_key), read_input_file(args.issuer_cert),
        name=args.name, picture_png=read_input_file(args.picture), width_mm=args.width_mm,
        height_mm=args.height_mm, signer_certs=[read_input_file(path) for path in args.signer_cert],
        valid_start=start, valid_end=start + dt.timedelta(days=args.valid_days),
    )
    args.output.write_bytes(seal)
    print_json({"seal": str(args.output), "bytes": len(seal), "name": args.name,
                "valid_until": (start + dt.timedelta(days=args.valid_days)).isoformat()})
    return 0


def _sign(args: argparse.Namespace, settings: Settings) -> int:
    _require_file(args.document)
    seal, key, cert = read_input_file(args.seal), read_input_file(args.key), read_input_file(args.cert)
    stamper = _platform_tsa(settings) if args.timestamp else None
    if args.docx_out:
        signature = seal_docx(args.document, seal, key, cert, args.docx_out, timestamp_token=stamper)
    else:
        signature = sign_document(args.document, seal, key, cert, timestamp_token=stamper)
    args.output.write_bytes(signature)
    print_json({"signature": str(args.output), "bytes": len(signature),
                "document": str(args.docx_out or args.document)})
    return 0


def _platform_tsa(settings: Settings):  # type: ignore[no-untyped-def]
    return Runtime.from_settings(settings).tsa


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    _require_file(args.document)
    signature = read_input_file(args.signature)

    async def work(runtime: Runtime) -> int:
        async with runtime.database.reader() as session:
            validator = await trust_service.certificate_validator(session, runtime.revocation)  # type: ignore[arg-type]
        report = await verify_signature(args.document, signature, validator=validator, tsa_validator=validator)
        print_json(report)
        return 0 if report["indication"] == "TOTAL_PASSED" else 1

    return run_with_runtime(settings, work)


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise InvalidInput(f"cannot read {path}: no such file")


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    eseal = commands.add_parser("eseal", help="GB/T 38540 electronic seals")
    actions = eseal.add_subparsers(dest="eseal_action", required=True)
    make = actions.add_parser("make", help="make a seal (the seal maker signs it)")
    make.add_argument("--issuer-key", type=Path, required=True, help="the seal maker's SM2 key")
    make.add_argument("--issuer-cert", type=Path, required=True, help="the seal maker's SM2 certificate")
    make.add_argument("--signer-cert", type=Path, action="append", required=True,
                      help="a certificate allowed to sign with the seal (repeat for several)")
    make.add_argument("--name", required=True)
    make.add_argument("--picture", type=Path, required=True, help="PNG picture of the seal")
    make.add_argument("--width-mm", type=int, default=40)
    make.add_argument("--height-mm", type=int, default=40)
    make.add_argument("--valid-days", type=int, default=365)
    make.add_argument("-o", "--output", type=Path, required=True)

    sign = actions.add_parser("sign", help="seal a document (DER SES_Signature)")
    sign.add_argument("document", type=Path)
    sign.add_argument("--seal", type=Path, required=True)
    sign.add_argument("--key", type=Path, required=True, help="the holder's SM2 signing key")
    sign.add_argument("--cert", type=Path, required=True, help="the holder's SM2 certificate (bound to the seal)")
    sign.add_argument("--docx-out", type=Path, help="for a .docx: write a copy showing the seal, and sign that copy")
    sign.add_argument("--timestamp", action="store_true", help="embed a timestamp from the platform TSA")
    sign.add_argument("-o", "--output", type=Path, required=True)

    verify = actions.add_parser("verify", help="verify a seal signature over a document")
    verify.add_argument("document", type=Path)
    verify.add_argument("signature", type=Path)
    eseal.set_defaults(handler=cmd_eseal)
