"""``bidhall pki demo`` and ``bidhall tsa ...``: demo certificates and trusted timestamps."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca_interop.certificates import as_asn1
from ca_interop.demo_pki_set import write_demo_pki
from ca_interop.timestamps import TimestampFormatError, parse_response, verify_token
from ca_interop.validation import Usage
from core.actors import SYSTEM
from core.clock import rfc3339
from core.errors import InvalidInput
from core.settings import Settings
from identities import trust_service
from identities.trust_schemas import TrustedCACreate
from identities.trust_states import RevocationPolicy
from web.cli_support import print_json, read_input_file, run_with_runtime
from web.runtime import Runtime


def cmd_pki_demo(args: argparse.Namespace, settings: Settings) -> int:
    directory = args.directory or settings.resolved_pki_dir
    try:
        pki = write_demo_pki(directory)
    except FileExistsError as error:
        raise InvalidInput(str(error)) from None
    if args.trust:
        run_with_runtime(settings, lambda runtime: trust_demo_cas(runtime, directory))
    print_json({"directory": str(directory), "cas": pki.manifest["cas"], "tsa": pki.manifest["tsa"]})
    return 0


async def trust_demo_cas(runtime: Runtime, directory: Path) -> int:
    """Put the demo PKI's three CAs on the trust list (those already there are left alone)."""
    import json

    manifest = json.loads((directory / "manifest.json").read_text())
    added = 0
    async with runtime.database.transaction() as session:
        known = {ca.fingerprint for ca in await trust_service.list_trusted_cas(session, SYSTEM)}
        for ca in manifest["cas"].values():
            pem = (directory / ca["certificate"]).read_bytes()
            der = asn1_x509.Certificate.load(_der(pem))
            if hashlib.sha256(der.dump()).hexdigest() in known:
                continue
            await trust_service.add_trusted_ca(session, SYSTEM, TrustedCACreate(
                name=ca["name"], certificate_pem=pem.decode("ascii"), region="Fujian (demo)",
                revocation_policy=RevocationPolicy.HARD_FAIL))
            added += 1
    return added


def _der(pem_bytes: bytes) -> bytes:
    from asn1crypto import pem

    return pem.unarmor(pem_bytes)[2] if pem.detect(pem_bytes) else pem_bytes


def cmd_tsa(args: argparse.Namespace, settings: Settings) -> int:
    async def work(runtime: Runtime) -> int:
        if args.tsa_action == "stamp":
            _require_file(args.file)
            token = runtime.tsa.respond(_request_for(args.file))
            args.output.write_bytes(token)
            reply = parse_response(token)
            check = verify_token(reply.token, data=args.file) if reply.token else None
            print_json({"response": str(args.output), "status": reply.status,
                        "gen_time": rfc3339(check.gen_time) if check and check.gen_time else None,
                        "serial": format(check.serial, "x") if check and check.serial else None})
            return 0 if reply.granted else 1
        if args.tsa_action == "certs":
            chain = [runtime.tsa.cert, *runtime.tsa.chain]
            args.output.write_bytes(b"".join(cert.public_bytes(Encoding.PEM) for cert in chain))
            print_json({"certificates": str(args.output), "count": len(chain)})
            return 0
        return await _verify(runtime, args)

    return run_with_runtime(settings, work)


def _request_for(path: Path) -> bytes:
    from ca_interop.timestamps import make_request, new_nonce

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return make_request(digest.digest(), "sha256", nonce=new_nonce(), cert_req=True)


async def _verify(runtime: Runtime, args: argparse.Namespace) -> int:
    """The token's own checks, then its TSA certificate against the trust list at genTime."""
    _require_file(args.file)
    try:
        check = verify_token(read_input_file(args.token), data=args.file)
    except TimestampFormatError as error:
        print_json({"indication": "INDETERMINATE", "subindication": "FORMAT_FAILURE", "detail": str(error)})
        return 1
    report = {"indication": "TOTAL_FAILED", "subindication": "SIG_CRYPTO_FAILURE", "detail": check.reason,
              "gen_time": rfc3339(check.gen_time) if check.gen_time else None,
              "serial": format(check.serial, "x") if check.serial is not None else None,
              "policy": check.policy, "hash_algorithm": check.hash_algorithm, "tsa_certificate": None}
    if check.valid and check.tsa_cert is not None:
        async with runtime.database.reader() as session:
            validator = await trust_service.certificate_validator(session, runtime.revocation)  # type: ignore[arg-type]
        chain = [as_asn1(c) for c in check.certificates[1:]]
        certificate = await validator.validate(as_asn1(check.tsa_cert), at=check.gen_time, usage=Usage.SIGNING,
                                               extra_certs=chain)
        report.update(indication=str(certificate.indication), subindication=certificate.subindication,
                      detail=f"token valid; TSA certificate: {certificate.detail}",
                      tsa_certificate=certificate.to_dict())
    elif check.valid:
        report.update(indication="INDETERMINATE", subindication="NO_SIGNING_CERTIFICATE_FOUND",
                      detail="the token carries no TSA certificate; ask for one (certReq) when stamping")
    print_json(report)
    return 0 if report["indication"] == "TOTAL_PASSED" else 1


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise InvalidInput(f"cannot read {path}: no such file")


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    pki = commands.add_parser("pki", help="demo certificate authorities")
    pki_actions = pki.add_subparsers(dest="pki_action", required=True)
    demo = pki_actions.add_parser("demo", help="make three demo CAs (RSA, ECDSA, SM2) and their certificates")
    demo.add_argument("directory", type=Path, nargs="?", help="where (default: DATA_DIR/pki)")
    demo.add_argument("--trust", action="store_true", help="also put the three CAs on the trust list")
    demo.set_defaults(handler=cmd_pki_demo)

    tsa = commands.add_parser("tsa", help="RFC 3161 timestamps by the platform TSA")
    actions = tsa.add_subparsers(dest="tsa_action", required=True)
    stamp = actions.add_parser("stamp", help="timestamp a file (writes a DER TimeStampResp)")
    stamp.add_argument("file", type=Path)
    stamp.add_argument("-o", "--output", type=Path, required=True)
    verify = actions.add_parser("verify", help="verify a timestamp (response or token) over a file")
    verify.add_argument("file", type=Path)
    verify.add_argument("token", type=Path)
    certs = actions.add_parser("certs", help="write the TSA certificate and its chain (PEM)")
    certs.add_argument("-o", "--output", type=Path, required=True)
    tsa.set_defaults(handler=cmd_tsa)
