"""``bidhall ca ...``: the trust list and certificate validation from the command line.

Changes made here are recorded in the ledger as made by the platform itself (``system``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ca_interop.certificates import load_certificates
from ca_interop.validation import Usage
from core.actors import SYSTEM
from core.clock import parse_rfc3339
from core.errors import InvalidInput
from core.settings import Settings
from identities import trust_service
from identities.trust_schemas import (
    IdentityRule,
    StatusChange,
    TrustedCACreate,
    TrustedCAOut,
)
from identities.trust_states import CAStatus, CreditCodeLocation, RevocationPolicy
from web.cli_support import print_json, read_input_file, run_with_runtime
from web.runtime import Runtime

STATUS_ACTIONS = {"suspend": CAStatus.SUSPENDED, "reinstate": CAStatus.ACTIVE, "retire": CAStatus.RETIRED}


def cmd_trust(args: argparse.Namespace, settings: Settings) -> int:
    async def work(runtime: Runtime) -> int:
        async with runtime.database.transaction() as session:
            if args.trust_action == "add":
                rule = IdentityRule(credit_code_in=CreditCodeLocation(args.credit_code_in), pattern=args.pattern)
                data = TrustedCACreate(
                    name=args.name, certificate_pem=_as_text(read_input_file(args.certificate)),
                    region=args.region, revocation_policy=RevocationPolicy(args.revocation), identity_rule=rule,
                )
                ca = await trust_service.add_trusted_ca(session, SYSTEM, data)
                print_json(TrustedCAOut.model_validate(ca).model_dump(mode="json"))
            elif args.trust_action == "list":
                cas = await trust_service.list_trusted_cas(session, SYSTEM)
                print_json([TrustedCAOut.model_validate(ca).model_dump(mode="json") for ca in cas])
            else:
                change = StatusChange(reason=args.reason)
                ca = await trust_service.change_trusted_ca_status(
                    session, SYSTEM, args.name, STATUS_ACTIONS[args.trust_action], change)
                print_json(TrustedCAOut.model_validate(ca).model_dump(mode="json"))
        return 0

    return run_with_runtime(settings, work)


def _as_text(data: bytes) -> str:
    """PEM stays as it is; DER travels as PEM, which is what the schema takes."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return data.decode("ascii", "replace")
    from asn1crypto import pem

    return pem.armor("CERTIFICATE", data).decode("ascii")


def cmd_verify_certificate(args: argparse.Namespace, settings: Settings) -> int:
    at = parse_rfc3339(args.at) if args.at else None

    async def work(runtime: Runtime) -> int:
        async with runtime.database.reader() as session:
            report = await trust_service.verify_certificate(
                session, SYSTEM, read_input_file(args.certificate), runtime.revocation, at=at, usage=Usage(args.usage))
        print_json(report.to_dict())
        return 0 if report.passed else 1

    return run_with_runtime(settings, work)


def cmd_sign(args: argparse.Namespace, settings: Settings) -> int:
    """Sign on this machine with the signer's own key; nothing touches the platform."""
    from ca_interop.signatures import load_signing_key, sign_detached

    key_bytes = read_input_file(args.key)
    try:
        key = load_signing_key(key_bytes, password=args.password.encode() if args.password else None)
    except (ValueError, TypeError) as error:
        raise InvalidInput(f"cannot load the private key {args.key}: {error}") from None
    certificates = load_certificates(read_input_file(args.cert))
    with args.file.open("rb") as content:
        signature = sign_detached(content, key, certificates[0].dump(), chain=[c.dump() for c in certificates[1:]])
    args.output.write_bytes(signature)
    print_json({"signature": str(args.output), "bytes": len(signature)})
    return 0


def cmd_verify_signature(args: argparse.Namespace, settings: Settings) -> int:
    from ca_interop.signature_reports import validate_detached_signature

    at = parse_rfc3339(args.at) if args.at else None
    signature = read_input_file(args.signature)

    async def work(runtime: Runtime) -> int:
        async with runtime.database.reader() as session:
            validator = await trust_service.certificate_validator(session, runtime.revocation)
        with args.file.open("rb") as content:
            report = await validate_detached_signature(content, signature, validator, at=at)
        print_json(report)
        return 0 if report["indication"] == "TOTAL_PASSED" else 1

    if not args.file.is_file():
        raise InvalidInput(f"cannot read {args.file}: no such file")
    return run_with_runtime(settings, work)


def add_signing_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sign = commands.add_parser("sign", help="write a detached CMS signature (DER) of a file")
    sign.add_argument("file", type=Path)
    sign.add_argument("--key", type=Path, required=True, help="the signer's private key (PEM)")
    sign.add_argument("--cert", type=Path, required=True, help="the signer's certificate, then its chain (PEM)")
    sign.add_argument("--password", help="the key's password, if it has one")
    sign.add_argument("-o", "--output", type=Path, required=True)
    sign.set_defaults(handler=cmd_sign)

    verify = commands.add_parser("verify", help="validate a detached signature and its certificate")
    verify.add_argument("file", type=Path)
    verify.add_argument("signature", type=Path)
    verify.add_argument("--at", help="RFC 3339 moment to judge the certificate at (default: now)")
    verify.set_defaults(handler=cmd_verify_signature)


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ca = commands.add_parser("ca", help="recognised CAs and certificate validation")
    actions = ca.add_subparsers(dest="ca_action", required=True)

    trust = actions.add_parser("trust", help="the trust list")
    trust_actions = trust.add_subparsers(dest="trust_action", required=True)
    add = trust_actions.add_parser("add", help="recognise a root or intermediate CA")
    add.add_argument("certificate", type=Path, help="the CA certificate (PEM or DER)")
    add.add_argument("--name", required=True)
    add.add_argument("--region")
    add.add_argument("--revocation", choices=[p.value for p in RevocationPolicy], default="hard_fail",
                     help="when revocation cannot be checked: refuse (hard_fail) or pass with a warning")
    add.add_argument("--credit-code-in", choices=[c.value for c in CreditCodeLocation],
                     default="organization_identifier", help="where this CA writes the credit code")
    add.add_argument("--pattern", help="regular expression with one group, for OU or CN")
    trust_actions.add_parser("list", help="every CA on the list")
    for action in STATUS_ACTIONS:
        change = trust_actions.add_parser(action, help=f"{action} a CA")
        change.add_argument("name")
        change.add_argument("--reason", required=True)
    trust.set_defaults(handler=cmd_trust)

    verify = actions.add_parser("verify", help="validate a certificate; exit 0 only for TOTAL_PASSED")
    verify.add_argument("certificate", type=Path, help="PEM or DER; a PEM bundle may add intermediates")
    verify.add_argument("--at", help="RFC 3339 moment to validate at (default: now)")
    verify.add_argument("--usage", choices=[u.value for u in Usage], default="signing")
    verify.set_defaults(handler=cmd_verify_certificate)


