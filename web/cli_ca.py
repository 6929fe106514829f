"""``bidhall ca ...``: the trust list and certificate validation from the command line.

Changes made here are recorded in the ledger as made by the platform itself (``system``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ca_interop.validation import Usage
from core.actors import SYSTEM
from core.clock import parse_rfc3339
from core.settings import Settings
from identities import trust_service
from identities.trust_schemas import IdentityRule, StatusChange, TrustedCACreate, TrustedCAOut
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


