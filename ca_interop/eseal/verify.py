"""Verifying a seal signature (SES_Signature, GB/T 38540 v4 or GM/T 0031 v1) over a document.

The report follows ETSI EN 319 102-1 in shape: an indication (TOTAL_PASSED, TOTAL_FAILED,
INDETERMINATE), a subindication saying why, a detail sentence, and then every check
that was made, what the seal and the signer are, and the certificate validations.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Final

from asn1crypto import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca_interop import gm
from ca_interop.certificates import CertificateFormatError, load_certificate
from ca_interop.eseal.common import (
    HEADER_ID,
    SM2_SIGNATURE_OIDS,
    Document,
    ESealFormatError,
    SealSignature,
    check_binding,
    check_seal_signature,
    check_window,
    describe_cert,
    hash_document,
    parse_signature,
    verify_sm2,
)
from ca_interop.timestamps import TimestampFormatError, verify_token
from ca_interop.validation import CertificateValidator, Indication, Usage
from core.clock import rfc3339, utcnow

log = logging.getLogger("bidhall.ca")

TOTAL_PASSED: Final = str(Indication.TOTAL_PASSED)
TOTAL_FAILED: Final = str(Indication.TOTAL_FAILED)
INDETERMINATE: Final = str(Indication.INDETERMINATE)

TIMESTAMP_TOLERANCE: Final = dt.timedelta(minutes=5)
"""How far the claimed signing time may be after the time stamp's genTime (clock skew)."""


@dataclass
class _Failure:
    indication: str
    subindication: str
    detail: str


class _Report:
    def __init__(self) -> None:
        self.checks: list[dict[str, Any]] = []
        self.failures: list[_Failure] = []
        self.warnings: list[str] = []
        self.parts: dict[str, Any] = {"format": None, "signing_time": None, "seal": None, "signer": None,
                                      "certificate": None, "seal_issuer_certificate": None, "timestamp": None}

    def check(self, name: str, passed: bool | None, detail: str, *,
              indication: str = TOTAL_FAILED, subindication: str | None = None) -> bool:
        """Record a check; a failed one (False) is a failure with the given indication.
        ``None`` means the check could not be made (also a failure, INDETERMINATE)."""
        self.checks.append({"check": name, "passed": passed, "detail": detail})
        if passed is not True:
            self.failures.append(_Failure(indication, subindication or "GENERIC", f"{name}: {detail}"))
        return passed is True

    def finish(self, passed_detail: str) -> dict[str, Any]:
        failure = next((f for f in self.failures if f.indication == TOTAL_FAILED), None)
        failure = failure or next(iter(self.failures), None)
        if failure is None:
            head = {"indication": TOTAL_PASSED, "subindication": None, "detail": passed_detail}
        else:
            head = {"indication": failure.indication, "subindication": failure.subindication,
                    "detail": failure.detail}
        return {**head, "checked_at": rfc3339(utcnow()), **self.parts,
                "checks": self.checks, "warnings": self.warnings}


def _format_failure(detail: str) -> dict[str, Any]:
    report = _Report()
    report.check("format", False, detail, indication=INDETERMINATE, subindication="FORMAT_FAILURE")
    return report.finish("")


async def verify_signature(
    document: Document,
    ses_signature_der: bytes,
    *,
    validator: CertificateValidator | None = None,
    tsa_validator: CertificateValidator | None = None,
) -> dict[str, Any]:
    """Verify a seal signature over ``document`` (bytes, a binary stream or a
    ``pathlib.Path``); v4 and v1 are told apart by their structure.

    Checked: the document's SM3 against dataHash; the signer's SM2 signature over
    DER(TBS_Sign); the seal maker's SM2 signature on the seal (maker certificate from the
    seal); the signer certificate bound to the seal (certListType 1: the exact
    certificate, 2: its digest); the signing time inside the seal's validity; an embedded
    time stamp (RFC 3161, over the signature value) and that the signing time is not after
    it; and, with ``validator``, the signer's and the seal maker's certificates against the
    trust list at the signing time (path, validity, revocation, key usage).
    ``tsa_validator``, if given, validates the time-stamp authority's certificate.

    Without a validator the certificates are not checked and the result is at best
    INDETERMINATE (CERTIFICATE_NOT_VALIDATED). Malformed input of any kind gives
    INDETERMINATE / FORMAT_FAILURE, never an exception; a document that cannot be read
    (wrong type, missing file) does raise.
    """
    data_hash = hash_document(document)
    try:
        signature = parse_signature(ses_signature_der)
        signer = load_certificate(signature.signer_cert_der)
    except ESealFormatError as error:
        return _format_failure(str(error))
    except CertificateFormatError as error:
        return _format_failure(f"the signer certificate in the signature is unusable: {error}")
    try:
        return await _verify(data_hash, signature, signer, validator, tsa_validator)
    except Exception as error:  # noqa: BLE001 - a report, never a traceback, for hostile input
        log.exception("e-seal verification failed unexpectedly")
        return _format_failure(f"the seal signature could not be processed: {type(error).__name__}: {error}")


async def _verify(data_hash: bytes, signature: SealSignature, signer: x509.Certificate,
                  validator: CertificateValidator | None,
                  tsa_validator: CertificateValidator | None) -> dict[str, Any]:
    seal = signature.seal
    report = _Report()
    moment = signature.signing_time
    report.parts.update(
        format=f"{signature.standard} (v{signature.version})",
        signing_time=rfc3339(moment) if moment else None,
        seal=seal.describe(),
        signer={**describe_cert(signer), "signing_time": rfc3339(moment) if moment else None,
                "time_source": signature.time_source, "property_info": signature.property_info,
                "signature_algorithm": signature.sign_algorithm, "extensions": list(signature.extensions)},
    )
    _check_format(report, signature)
    _check_crypto(report, data_hash, signature, signer)
    if moment is not None:
        inside, detail = check_window(seal, moment)
        report.check("seal_validity", inside, detail, subindication="SIG_CONSTRAINTS_FAILURE")
    else:
        report.check("seal_validity", None, "no signing time to compare with the seal's validity",
                     indication=INDETERMINATE, subindication="SIG_CONSTRAINTS_FAILURE")
    await _check_timestamp(report, signature, tsa_validator)
    await _check_certificates(report, signature, signer, validator)
    if report.parts["timestamp"] is None:
        report.warnings.append("the signing time is the signer's own claim: the signature has no time stamp")
    passed = (f"sealed with {seal.name!r} ({seal.es_id}) by {signer.subject.human_friendly} "
              f"at {report.parts['signing_time']}")
    return report.finish(passed)


def _check_format(report: _Report, signature: SealSignature) -> None:
    seal = signature.seal
    problems = []
    if seal.header_id != HEADER_ID:
        problems.append(f"the seal header id is {seal.header_id!r}, not {HEADER_ID!r}")
    if signature.signing_time is None:
        problems.append(f"the signing time cannot be read: {signature.time_source}")
    if problems:
        report.check("format", False, "; ".join(problems), indication=INDETERMINATE, subindication="FORMAT_FAILURE")
    else:
        report.check("format", True, f"{signature.standard} SES_Signature, seal header version {seal.header_version}")
    if signature.version == 4 and seal.header_version != 4:
        report.warnings.append(f"a GB/T 38540 seal should have header version 4, this one has {seal.header_version}")
    if signature.tbs_version != seal.header_version:
        report.warnings.append(f"TBS_Sign version {signature.tbs_version} differs from the seal's "
                               f"header version {seal.header_version}")


def _check_crypto(report: _Report, data_hash: bytes, signature: SealSignature, signer: x509.Certificate) -> None:
    seal = signature.seal
    if data_hash == signature.data_hash:
        report.check("document_hash", True, f"the document's SM3 {data_hash.hex()} is the signed dataHash")
    else:
        report.check("document_hash", False,
                     f"the document's SM3 {data_hash.hex()} is not the signed dataHash "
                     f"{signature.data_hash.hex()}: the document was changed after signing",
                     subindication="HASH_FAILURE")

    if signature.sign_algorithm not in SM2_SIGNATURE_OIDS:
        report.check("signature", None, f"signature algorithm {signature.sign_algorithm} is not supported (SM2 only)",
                     indication=INDETERMINATE, subindication="CRYPTO_CONSTRAINTS_FAILURE")
    else:
        try:
            key = gm.sm2_public_key_from_spki(signer.public_key)
        except gm.GmError as error:
            report.check("signature", False, f"the signer certificate holds no SM2 key: {error}",
                         subindication="SIG_CRYPTO_FAILURE")
        else:
            convention, how = verify_sm2(key, [("DER(TBS_Sign)", signature.tbs_der)], signature.signature)
            if convention is None:
                report.check("signature", False, f"the signer's signature over TBS_Sign: {how}",
                             subindication="SIG_CRYPTO_FAILURE")
            else:
                raw = "" if how == "DER" else f" (signature value as {how})"
                report.check("signature", True, f"SM2 signature over DER(TBS_Sign) by the signer verifies{raw}")

    intact, detail = check_seal_signature(seal)
    report.check("seal_signature", intact, detail, subindication="SIG_CRYPTO_FAILURE")
    if intact and "non-standard" in detail:
        report.warnings.append(f"the seal maker signed a non-standard range: {detail}")

    bound, detail = check_binding(seal, signature.signer_cert_der)
    report.check("signer_bound", bound, detail, subindication="SIG_CONSTRAINTS_FAILURE")


async def _check_timestamp(report: _Report, signature: SealSignature,
                           tsa_validator: CertificateValidator | None) -> None:
    if signature.timestamp is None:
        return
    try:
        check = verify_token(signature.timestamp, data=signature.signature)
    except TimestampFormatError as error:
        report.parts["timestamp"] = {"valid": False, "reason": str(error)}
        report.check("timestamp", False, f"the embedded time stamp is malformed: {error}",
                     indication=INDETERMINATE, subindication="FORMAT_FAILURE")
        return
    tsa = check.tsa_cert
    stamp: dict[str, Any] = {
        "valid": check.valid,
        "reason": check.reason,
        "gen_time": rfc3339(check.gen_time) if check.gen_time else None,
        "hash_algorithm": check.hash_algorithm,
        "serial": format(check.serial, "x") if check.serial is not None else None,
        "policy": check.policy,
        "tsa": tsa.subject.rfc4514_string() if tsa is not None else None,
        "certificate": None,
    }
    report.parts["timestamp"] = stamp
    if not check.valid:
        report.check("timestamp", False, f"the embedded time stamp over the signature value: {check.reason}",
                     subindication="SIG_CRYPTO_FAILURE")
        return
    report.check("timestamp", True, f"time stamp over the signature value, genTime {stamp['gen_time']}, "
                                    f"by {stamp['tsa']}")
    moment = signature.signing_time
    if moment is not None and check.gen_time is not None:
        slack = TIMESTAMP_TOLERANCE + (check.accuracy or dt.timedelta(0))
        ordered = moment <= check.gen_time + slack
        report.check("timestamp_order", ordered,
                     f"signing time {rfc3339(moment)} {'is not after' if ordered else 'is after'} the time "
                     f"stamp's genTime {stamp['gen_time']} (tolerance {int(slack.total_seconds())} s)",
                     indication=INDETERMINATE, subindication="TIMESTAMP_ORDER_FAILURE")
    if tsa_validator is not None and tsa is not None:
        tsa_cert = x509.Certificate.load(tsa.public_bytes(Encoding.DER))
        extra = [x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in check.certificates[1:]]
        result = await tsa_validator.validate(tsa_cert, at=check.gen_time, usage=Usage.SIGNING, extra_certs=extra)
        stamp["certificate"] = result.to_dict()
        if not result.passed:
            report.warnings.append(f"the time-stamp authority's certificate is not validated: {result.detail}")


async def _check_certificates(report: _Report, signature: SealSignature, signer: x509.Certificate,
                              validator: CertificateValidator | None) -> None:
    if validator is None:
        report.check("signer_certificate", None, "no certificate validator was given: the signer's and the seal "
                     "maker's certificates were not checked against the trust list",
                     indication=INDETERMINATE, subindication="CERTIFICATE_NOT_VALIDATED")
        return
    moment = signature.signing_time
    when = f"at the signing time {rfc3339(moment)}" if moment else "now (no signing time)"
    result = await validator.validate(signer, at=moment, usage=Usage.SIGNING)
    report.parts["certificate"] = result.to_dict()
    if result.identity:
        report.parts["signer"]["identity"] = result.identity
    report.check("signer_certificate", result.passed, f"{when}: {result.detail}",
                 indication=str(result.indication), subindication=result.subindication or "GENERIC")
    try:
        maker = load_certificate(signature.seal.issuer_cert_der)
    except CertificateFormatError as error:
        report.check("seal_issuer_certificate", False, f"unusable: {error}",
                     indication=INDETERMINATE, subindication="FORMAT_FAILURE")
        return
    maker_result = await validator.validate(maker, at=moment, usage=Usage.SIGNING)
    report.parts["seal_issuer_certificate"] = maker_result.to_dict()
    report.check("seal_issuer_certificate", maker_result.passed, f"{when}: {maker_result.detail}",
                 indication=str(maker_result.indication), subindication=maker_result.subindication or "GENERIC")
