"""Certificate validation against the trust list, with revocation, at any moment.

The result is a report modelled on ETSI EN 319 102-1: an indication (TOTAL_PASSED,
TOTAL_FAILED, INDETERMINATE), a subindication saying why, the chain, the identity the
certificate proves, when it was checked and what revocation information was used.

Path validation is pyhanko-certvalidator's (RFC 5280, with revocation). This module
decides what goes in: which recognised CA the chain ends at (and whether that CA is
active), the CA's revocation policy, the revocation information (fetched, cached and
indexed by :class:`~ca_interop.revocation.RevocationSource`), and the signature verifiers
(SM2 is plugged in through :data:`EXTRA_SIGNATURE_VERIFIERS`).

Once the full path validation has passed a chain with a given set of CRLs, later
validations of that chain re-check only what can change (validity at the moment asked,
CA constraints, CRL freshness, every serial against the indexed CRLs; the trust list's
state and the usage as always) and skip pyhanko; anything unusual runs the full path
again. :mod:`ca_interop.validation_cache` says what is remembered and why that is sound.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from asn1crypto import algos, keys, x509
from pyhanko_certvalidator import CertificateValidator as PathValidator
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator import errors as path_errors
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidationContext,
)

from ca_interop import gm
from ca_interop.certificates import key_algorithm
from ca_interop.identity import CertificateIdentity, identity_of
from ca_interop.revocation import (
    IndexedCrl,
    RevocationSource,
    RevocationUnavailable,
    distribution_points,
    ocsp_urls,
)
from ca_interop.validation_cache import (
    SHARED_CACHES,
    ValidationCaches,
    path_key,
    recheck,
    signature_fact,
)
from core.clock import rfc3339, utcnow

log = logging.getLogger("bidhall.ca")

# Signature algorithm OID -> verify(public_key_info, signature, signed_data) -> bool, for
# what pyca/cryptography cannot check (RSA and ECDSA stay with it). SM2-with-SM3 uses the
# standard user ID "1234567812345678", as Chinese CAs sign certificates and CRLs.
SignatureVerifier = Callable[[keys.PublicKeyInfo, bytes, bytes], bool]
EXTRA_SIGNATURE_VERIFIERS: dict[str, SignatureVerifier] = {gm.OID_SM2_WITH_SM3: gm.verify_sm2_with_sm3}


class Indication(StrEnum):
    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"


class Usage(StrEnum):
    SIGNING = "signing"
    ENCRYPTION = "encryption"


@dataclass(frozen=True)
class TrustAnchor:
    """One entry of the trust list, as the validator needs it (no database here)."""

    name: str
    certificate: x509.Certificate
    status: str = "active"
    revocation_policy: str = "hard_fail"
    identity_rule: dict[str, Any] = field(default_factory=dict)
    status_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass
class ValidationReport:
    indication: Indication
    subindication: str | None
    detail: str
    checked_at: str
    chain: list[dict[str, Any]] = field(default_factory=list)
    identity: dict[str, Any] | None = None
    ca: str | None = None
    revocation: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.indication is Indication.TOTAL_PASSED

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["indication"] = str(self.indication)
        return document


class _PluggableSignatureValidator(DefaultSignatureValidator):
    """pyca/cryptography for RSA and ECDSA; the registered verifiers for the rest (SM2).

    With ``caches``, a signature that verified once (same key, algorithm, signature and
    signed bytes) is not verified again; one that failed is verified every time.
    """

    def __init__(self, caches: ValidationCaches | None = None) -> None:
        super().__init__()
        self.caches = caches

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: keys.PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        caches = self.caches
        if caches is None:
            self._verify(signature, signed_data, public_key_info, signature_algorithm, context)
            return
        fact = signature_fact(public_key_info.dump(), signature_algorithm.dump(), bytes(signature), bytes(signed_data),
                              repr((context.contextual_md_algorithm, context.prehashed)).encode())
        if fact in caches.signatures:
            return
        self._verify(signature, signed_data, public_key_info, signature_algorithm, context)
        caches.signatures.add(fact)  # only once it verified: a failure is checked every time

    def _verify(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: keys.PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext,
    ) -> None:
        verifier = EXTRA_SIGNATURE_VERIFIERS.get(signature_algorithm["algorithm"].dotted)
        if verifier is None:
            super().validate_signature(signature, signed_data, public_key_info, signature_algorithm, context)
            return
        if not verifier(public_key_info, signature, signed_data):
            from cryptography.exceptions import InvalidSignature

            raise InvalidSignature("the signature does not verify")


@dataclass
class CertificateValidator:
    """Validates certificates against a snapshot of the trust list.

    ``caches`` holds what validations remember (shared by every validator of the process
    by default); None runs the full path every time and remembers nothing.
    """

    anchors: Sequence[TrustAnchor]
    revocation: RevocationSource
    caches: ValidationCaches | None = field(default_factory=lambda: SHARED_CACHES)

    async def validate(
        self,
        certificate: x509.Certificate,
        *,
        at: datetime | None = None,
        usage: Usage = Usage.SIGNING,
        extra_certs: Iterable[x509.Certificate] = (),
    ) -> ValidationReport:
        moment = at or utcnow()
        report = ValidationReport(Indication.INDETERMINATE, None, "", checked_at=rfc3339(moment))
        chain = self._chain_to_anchor(certificate, list(extra_certs))
        if chain is None:
            issuer = certificate.issuer.human_friendly
            return _finish(report, Indication.INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND",
                           f"the certificate was issued by {issuer!r}, which is not a recognised CA")
        certs, met = chain
        anchor = met[0]  # the nearest recognised CA sets the revocation policy and identity rule
        report.ca = anchor.name
        report.chain = [_describe(cert) for cert in certs]
        inactive = next((ca for ca in met if not ca.active), None)
        if inactive is not None:
            reason = f": {inactive.status_reason}" if inactive.status_reason else ""
            return _finish(report, Indication.INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND",
                           f"CA {inactive.name!r} is {inactive.status} on the trust list{reason}")
        revinfo = await self._gather_revocation(certs, report)
        outcome = await self._judge_path(certs, met, moment, at is not None, revinfo, report)
        if outcome is not None:
            return outcome
        usage_problem = _usage_problem(certs[0], usage)
        if usage_problem:
            return _finish(report, Indication.TOTAL_FAILED, "CHAIN_CONSTRAINTS_FAILURE", usage_problem)
        identity = identity_of(certs[0], anchor.identity_rule)
        report.identity = identity.to_dict() if isinstance(identity, CertificateIdentity) else None
        if isinstance(identity, str):
            report.warnings.append(identity)
        return _finish(report, Indication.TOTAL_PASSED, None,
                       f"valid at {rfc3339(moment)}, issued under {anchor.name!r}")

    # --- the chain ------------------------------------------------------------------------

    def _chain_to_anchor(
        self, certificate: x509.Certificate, extra: list[x509.Certificate]
    ) -> tuple[list[x509.Certificate], list[TrustAnchor]] | None:
        """Walk issuer links up to a self-signed CA on the trust list.

        Returns the chain (leaf first) and the trust-list CAs met on the way (nearest
        first, whatever their status), or None when the chain does not end on the list.
        """
        issuers: dict[bytes, list[tuple[x509.Certificate, TrustAnchor | None]]] = {}
        for anchor in self.anchors:
            issuers.setdefault(anchor.certificate.subject.dump(), []).append((anchor.certificate, anchor))
        for cert in extra:
            issuers.setdefault(cert.subject.dump(), []).append((cert, None))
        chain, met, current = [certificate], [], certificate
        itself = [anchor for anchor in self.anchors if anchor.certificate.dump() == certificate.dump()]
        if itself:
            met.append(itself[0])  # a recognised CA's own certificate
        while not _self_signed(current):
            candidates = [c for c in issuers.get(current.issuer.dump(), []) if _key_matches(current, c[0])]
            if not candidates or len(chain) > MAX_CHAIN_LENGTH:
                break
            issuer, anchor = candidates[0]
            if anchor is not None:
                met.append(anchor)
            chain.append(issuer)
            current = issuer
        # The chain must pass through a recognised CA and end on a self-signed root: the
        # listed root itself, or, under a recognised intermediate, the root presented with
        # the certificate (the trust is pinned on the intermediate; the root only completes
        # the path, which pyhanko-certvalidator needs to check CRLs the intermediate signs).
        if not met or not _self_signed(chain[-1]):
            return None
        return chain, met

    async def _judge_path(
        self,
        certs: list[x509.Certificate],
        met: list[TrustAnchor],
        moment: datetime,
        past: bool,
        revinfo: dict[str, list],
        report: ValidationReport,
    ) -> ValidationReport | None:
        """None when the path holds at ``moment``, else the failed report.

        A pass of the full path for this very chain, trust-list entries and CRLs stands
        when everything that can change still clearly holds (:func:`recheck`); otherwise
        the full path runs, and its pass is remembered when the same re-check holds now.
        """
        caches, anchor = self.caches, met[0]
        key = self._accepted_path_key(certs, met, past, revinfo, report)
        if caches is None or key is None:
            return await self._validate_path(certs, anchor, moment, past, revinfo, report)
        crls = revinfo["indexed_crls"]
        if key in caches.paths and recheck(certs, crls, moment, past):
            caches.fast_validations += 1
            return None
        outcome = await self._validate_path(certs, anchor, moment, past, revinfo, report)
        if outcome is None and recheck(certs, crls, moment, past):
            caches.paths.add(key)
        return outcome

    def _accepted_path_key(
        self,
        certs: list[x509.Certificate],
        met: list[TrustAnchor],
        past: bool,
        revinfo: dict[str, list],
        report: ValidationReport,
    ) -> bytes | None:
        """The key under which the full path's pass is remembered for this chain, or None
        when this validation must not use or record one (no caches, fast path off,
        revocation incomplete or partly unreachable, OCSP in use)."""
        if self.caches is None or not self.caches.fast_path or revinfo["ocsps"] or not report.revocation["complete"]:
            return None
        if any(entry["errors"] for entry in report.revocation["checked"]):
            return None
        anchors = [(ca.name, ca.certificate.dump(), ca.status, ca.revocation_policy, ca.status_reason) for ca in met]
        return path_key(certs, anchors, past, revinfo["indexed_crls"])

    # --- revocation -----------------------------------------------------------------------

    async def _gather_revocation(self, certs: list[x509.Certificate], report: ValidationReport) -> dict[str, list]:
        crls, indexed, responses, checked = [], [], [], []
        for cert, issuer in zip(certs, certs[1:]):
            entry: dict[str, Any] = {"certificate": _name_text(cert.subject.dump()), "source": None, "errors": []}
            for url in distribution_points(cert):
                try:
                    crl: IndexedCrl = await self.revocation.indexed_crl(url)
                    crls.append(crl.parsed)
                    indexed.append(crl)
                    entry.update(source="crl", url=url)
                    break
                except RevocationUnavailable as error:
                    entry["errors"].append(str(error))
            if entry["source"] is None:
                for url in ocsp_urls(cert):
                    try:
                        responses.append(await self.revocation.ocsp(url, cert, issuer))
                        entry.update(source="ocsp", url=url)
                        break
                    except RevocationUnavailable as error:
                        entry["errors"].append(str(error))
            checked.append(entry)
        report.revocation = {"checked": checked, "complete": all(e["source"] for e in checked)}
        return {"crls": crls, "indexed_crls": indexed, "ocsps": responses}

    # --- path validation ------------------------------------------------------------------

    async def _validate_path(
        self,
        certs: list[x509.Certificate],
        anchor: TrustAnchor,
        moment: datetime,
        past: bool,
        revinfo: dict[str, list],
        report: ValidationReport,
    ) -> ValidationReport | None:
        complete = report.revocation["complete"]
        if not complete and anchor.revocation_policy == "soft_fail":
            report.warnings.append("revocation could not be checked; passed under the CA's soft-fail policy")
        context = ValidationContext(
            trust_roots=[certs[-1]],
            other_certs=certs[1:-1],
            moment=moment,
            crls=revinfo["crls"],
            ocsps=revinfo["ocsps"],
            allow_fetching=False,
            revocation_mode="require" if anchor.revocation_policy == "hard_fail" else "soft-fail",
            retroactive_revinfo=past,
            signature_validator=_PluggableSignatureValidator(self.caches),
        )
        validator = PathValidator(certs[0], certs[1:-1], validation_context=context)
        if self.caches is not None:
            self.caches.full_validations += 1
        try:
            await validator.async_validate_path()
        except path_errors.RevokedError as error:
            return _finish(report, Indication.TOTAL_FAILED, "REVOKED", str(error))
        except path_errors.ExpiredError as error:
            # Checked at a stated moment: it had expired then. Checked now: no proof that it
            # was used while still valid (ETSI's OUT_OF_BOUNDS_NO_POE).
            if past:
                return _finish(report, Indication.TOTAL_FAILED, "EXPIRED", str(error))
            return _finish(report, Indication.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE", str(error))
        except path_errors.NotYetValidError as error:
            return _finish(report, Indication.TOTAL_FAILED, "NOT_YET_VALID", str(error))
        except path_errors.InsufficientRevinfoError as error:
            detail = "; ".join(e for entry in report.revocation["checked"] for e in entry["errors"]) or str(error)
            return _finish(report, Indication.INDETERMINATE, "TRY_LATER",
                           f"revocation status unknown and CA {anchor.name!r} requires it: {detail}")
        except path_errors.DisallowedAlgorithmError as error:
            return _finish(report, Indication.INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE_NO_POE", str(error))
        except path_errors.PathBuildingError as error:
            return _finish(report, Indication.INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND", str(error))
        except (path_errors.PathValidationError, path_errors.InvalidCertificateError) as error:
            message = str(error)
            subindication = "SIG_CRYPTO_FAILURE" if "signature" in message.lower() else "CHAIN_CONSTRAINTS_FAILURE"
            return _finish(report, Indication.TOTAL_FAILED, subindication, message)
        return None


def _finish(report: ValidationReport, indication: Indication, subindication: str | None,
            detail: str) -> ValidationReport:
    report.indication = indication
    report.subindication = subindication
    report.detail = detail
    return report


MAX_CHAIN_LENGTH = 8


def _self_signed(cert: x509.Certificate) -> bool:
    """asn1crypto's ``self_signed`` test, without its RFC 5280 name comparison (string
    preparation of every attribute, a millisecond a certificate) when the subject and the
    issuer are the very same bytes, as they are on every root CA certificate."""
    if cert.subject.dump() != cert.issuer.dump():
        return cert.self_signed in ("maybe", "yes")
    key_id, authority_key_id = cert.key_identifier, cert.authority_key_identifier
    return not key_id or not authority_key_id or key_id == authority_key_id


def _key_matches(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Name match is not enough when a CA renewed its key: compare AKI with SKI when present."""
    aki = cert.authority_key_identifier
    ski = issuer.key_identifier
    return aki is None or ski is None or aki == ski


@functools.lru_cache(maxsize=4096)
def _name_text(der: bytes) -> str:
    """A distinguished name as reports show it, from its DER: rendering one costs more than
    the rest of a remembered validation, and the same CA names come back all the time."""
    return str(x509.Name.load(der).human_friendly)


def _describe(cert: x509.Certificate) -> dict[str, Any]:
    """The fields of :func:`~ca_interop.certificates.summarize` a report shows (read here
    directly: the summary's self-signed test costs more than the rest together)."""
    return {
        "subject": _name_text(cert.subject.dump()),
        "issuer": _name_text(cert.issuer.dump()),
        "serial": format(cert.serial_number, "x"),
        "fingerprint": hashlib.sha256(cert.dump()).hexdigest(),
        "algorithm": key_algorithm(cert),
        "not_before": rfc3339(cert.not_valid_before),
        "not_after": rfc3339(cert.not_valid_after),
    }


SIGNING_USAGES = {"digital_signature", "non_repudiation"}
ENCRYPTION_USAGES = {"rsa": {"key_encipherment"}, "ecdsa": {"key_agreement"},
                     "sm2": {"key_encipherment", "data_encipherment", "key_agreement"}}


def _usage_problem(cert: x509.Certificate, usage: Usage) -> str | None:
    """Chinese CAs issue separate signing and encryption certificates; each does its job only."""
    granted = set(cert.key_usage_value.native) if cert.key_usage_value is not None else None
    if granted is None:
        return None  # no keyUsage extension: RFC 5280 places no restriction
    if usage is Usage.SIGNING:
        needed = SIGNING_USAGES
    else:
        needed = ENCRYPTION_USAGES.get(key_algorithm(cert), {"key_encipherment"})
    if granted & needed:
        return None
    return (f"the certificate's key usage ({', '.join(sorted(granted)) or 'none'}) does not allow "
            f"{usage}: it needs one of {', '.join(sorted(needed))}")
