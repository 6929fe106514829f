"""What validation remembers (signature facts, accepted paths, indexed CRLs) and what it
re-checks every time: the remembered path gives the very report the full path gives, and
never hides a revocation, a suspension, an expiry or a forgery."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509

from ca_interop import gm, validation
from ca_interop.demo_pki import DemoCA
from ca_interop.demo_pki import Usage as CertUsage
from ca_interop.demo_pki_sm2 import Sm2DemoCA
from ca_interop.revocation import RevocationSource, StaticRevocationTransport
from ca_interop.validation import (
    CertificateValidator,
    Indication,
    TrustAnchor,
    Usage,
    ValidationReport,
)
from ca_interop.validation_cache import BoundedSet, ValidationCaches, recheck
from core.clock import travel, utcnow

BIDDER_USCC = "91350100M000100Y43"
ALGORITHMS = ["rsa", "ecdsa", "sm2"]


# --- a small PKI of each algorithm: a root, an intermediate under it, leaves --------------


def as_asn1(cert: Any) -> asn1_x509.Certificate:
    if isinstance(cert, asn1_x509.Certificate):
        return cert
    from cryptography.hazmat.primitives.serialization import Encoding

    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def crl_der(ca: DemoCA | Sm2DemoCA) -> bytes:
    return bytes(ca.crl().dump()) if isinstance(ca, Sm2DemoCA) else ca.crl_der()


def sign_tbs(ca: DemoCA | Sm2DemoCA, tbs: bytes) -> bytes:
    """A signature over ``tbs`` with the CA's key, in the algorithm its certificates use."""
    if isinstance(ca, Sm2DemoCA):
        return gm.sm2_sign(ca.key, tbs)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    if isinstance(ca.key, rsa.RSAPrivateKey):
        return ca.key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    return ca.key.sign(tbs, ec.ECDSA(hashes.SHA256()))


def new_ca(algorithm: str, name: str) -> DemoCA | Sm2DemoCA:
    start = utcnow() - dt.timedelta(days=800)
    if algorithm == "sm2":
        return Sm2DemoCA.create(name, not_before=start)
    return DemoCA.create(name, algorithm, not_before=start)


def make_intermediate(root: DemoCA | Sm2DemoCA, algorithm: str, name: str) -> DemoCA | Sm2DemoCA:
    """A CA whose certificate the root signs: same key and name as a fresh CA of its own,
    basicConstraints cA with pathLen 0, keyCertSign, the root's CRL as distribution point."""
    sub = new_ca(algorithm, name)
    original = as_asn1(sub.cert)
    tbs = asn1_x509.TbsCertificate({
        "version": "v3",
        "serial_number": int.from_bytes(os.urandom(16), "big") >> 1,
        "signature": original["tbs_certificate"]["signature"],
        "issuer": as_asn1(root.cert).subject,
        "validity": {"not_before": asn1_x509.Time(name="utc_time", value=utcnow() - dt.timedelta(days=400)),
                     "not_after": asn1_x509.Time(name="utc_time", value=utcnow() + dt.timedelta(days=400))},
        "subject": original.subject,
        "subject_public_key_info": original.public_key,
        "extensions": [
            {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": True, "path_len_constraint": 0}},
            {"extn_id": "key_usage", "critical": True, "extn_value": {"key_cert_sign", "crl_sign"}},
            {"extn_id": "key_identifier", "critical": False, "extn_value": original.key_identifier},
            {"extn_id": "authority_key_identifier", "critical": False,
             "extn_value": {"key_identifier": as_asn1(root.cert).key_identifier}},
            {"extn_id": "crl_distribution_points", "critical": False, "extn_value": [
                {"distribution_point": {"full_name": [asn1_x509.GeneralName(
                    name="uniform_resource_identifier", value=root.crl_url)]}}]},
        ],
    })
    signed = asn1_x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": original["signature_algorithm"],
                                    "signature_value": sign_tbs(root, tbs.dump())})
    sub.cert = asn1_x509.Certificate.load(signed.dump()) if isinstance(sub, Sm2DemoCA) else _to_pyca(signed)
    return sub


def _to_pyca(cert: asn1_x509.Certificate) -> Any:
    from cryptography import x509

    return x509.load_der_x509_certificate(cert.dump())


def issue(ca: DemoCA | Sm2DemoCA, name: str, **options: Any) -> asn1_x509.Certificate:
    return as_asn1(ca.issue(name, **options).cert)


def forge(genuine: asn1_x509.Certificate, algorithm: str) -> asn1_x509.Certificate:
    """The genuine certificate's very subject, serial, issuer name and key identifiers, with
    an impostor's public key, signed by the impostor: only the signature gives it away."""
    impostor = new_ca(algorithm, "Impostor")
    impostor_key = as_asn1(impostor.cert).public_key
    tbs = asn1_x509.TbsCertificate.load(genuine["tbs_certificate"].dump())
    tbs["subject_public_key_info"] = asn1_keys.PublicKeyInfo.load(impostor_key.dump())
    forged = asn1_x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": genuine["signature_algorithm"],
                                    "signature_value": sign_tbs(impostor, tbs.dump())})
    return asn1_x509.Certificate.load(forged.dump())


@dataclass
class Pki:
    """A root and an intermediate of one algorithm, their CRLs on a fake network, and two
    validators over one RevocationSource: the full path every time, and the remembering one."""

    algorithm: str
    root: DemoCA | Sm2DemoCA
    sub: DemoCA | Sm2DemoCA
    transport: StaticRevocationTransport = field(default_factory=StaticRevocationTransport)
    status: str = "active"
    policy: str = "hard_fail"

    def __post_init__(self) -> None:
        self.source = RevocationSource(self.transport)
        self.caches = ValidationCaches()
        self.publish()

    @classmethod
    def create(cls, algorithm: str) -> Pki:
        root = new_ca(algorithm, f"Fujian {algorithm}")
        return cls(algorithm, root, make_intermediate(root, algorithm, f"Fujian {algorithm} Sub"))

    def publish(self) -> None:
        """Put both CAs' current CRLs on the network and drop the cached ones, as a fetch
        after their nextUpdate would."""
        self.transport.documents = {self.root.crl_url: crl_der(self.root), self.sub.crl_url: crl_der(self.sub)}
        self.transport.unreachable.clear()
        self.source.crl_cache.clear()

    def anchors(self) -> list[TrustAnchor]:
        return [TrustAnchor("Fujian CA", as_asn1(self.root.cert), status=self.status,
                            revocation_policy=self.policy, status_reason="audit" if self.status != "active" else None)]

    def full(self) -> CertificateValidator:
        return CertificateValidator(self.anchors(), self.source, caches=None)

    def remembering(self) -> CertificateValidator:
        return CertificateValidator(self.anchors(), self.source, caches=self.caches)

    @property
    def sub_cert(self) -> asn1_x509.Certificate:
        return as_asn1(self.sub.cert)


def frozen_pki(algorithm: str, monkeypatch: pytest.MonkeyPatch) -> Pki:
    made = Pki.create(algorithm)
    now = utcnow()
    # "Now" stands still for validation, so that both paths state the same moment.
    monkeypatch.setattr(validation, "utcnow", lambda: now)
    return made


@pytest.fixture(params=ALGORITHMS)
def pki(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Pki:
    return frozen_pki(request.param, monkeypatch)


async def both(pki: Pki, cert: asn1_x509.Certificate, **options: Any) -> tuple[ValidationReport, str]:
    """The full path's report and the remembering validator's, which must be the same;
    and which path the remembering one took ("fast" or "full")."""
    full = await pki.full().validate(cert, **options)
    fast_before, full_before = pki.caches.fast_validations, pki.caches.full_validations
    remembered = await pki.remembering().validate(cert, **options)
    assert remembered.to_dict() == full.to_dict()
    if pki.caches.fast_validations > fast_before:
        return remembered, "fast"
    return remembered, "full" if pki.caches.full_validations > full_before else "neither"


async def twice(pki: Pki, cert: asn1_x509.Certificate, **options: Any) -> tuple[ValidationReport, str]:
    """Validated once to be remembered, then compared."""
    await pki.remembering().validate(cert, **options)
    return await both(pki, cert, **options)


# --- the equivalence of both paths on every scenario ---------------------------------------


async def test_a_valid_certificate_is_then_served_by_the_remembered_path(pki: Pki) -> None:
    leaf = issue(pki.root, "Minjiang Construction", uscc=BIDDER_USCC, organization="Minjiang Group")
    first, path = await both(pki, leaf)
    assert first.passed and path == "full"
    again, path = await both(pki, leaf)
    assert again.passed and path == "fast", again.detail
    assert again.identity == {"name": "Minjiang Construction", "uscc": BIDDER_USCC, "organization": "Minjiang Group"}
    assert again.revocation["complete"] and again.revocation["checked"][0]["source"] == "crl"


async def test_a_chain_through_an_intermediate(pki: Pki) -> None:
    leaf = issue(pki.sub, "Deep Co", uscc=BIDDER_USCC)
    report, path = await twice(pki, leaf, extra_certs=[pki.sub_cert])
    assert report.passed and path == "fast", report.detail
    assert len(report.chain) == 3 and len(report.revocation["checked"]) == 2


async def test_expired_and_not_yet_valid_moments(pki: Pki) -> None:
    old = issue(pki.root, "Old Co", uscc=BIDDER_USCC, not_before=utcnow() - dt.timedelta(days=400), days=30)
    while_valid = utcnow() - dt.timedelta(days=390)
    report, path = await twice(pki, old, at=while_valid)
    assert report.passed and path == "fast", report.detail
    now, path = await both(pki, old)
    assert (now.indication, now.subindication, path) == (Indication.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE", "full")
    expired, path = await both(pki, old, at=utcnow() - dt.timedelta(days=100))
    assert (expired.indication, expired.subindication, path) == (Indication.TOTAL_FAILED, "EXPIRED", "full")
    early, path = await both(pki, old, at=utcnow() - dt.timedelta(days=500))
    assert (early.indication, early.subindication, path) == (Indication.TOTAL_FAILED, "NOT_YET_VALID", "full")


async def test_a_leaf_revoked_after_it_passed(pki: Pki) -> None:
    leaf = issue(pki.root, "Revoked Co", uscc=BIDDER_USCC)
    assert (await twice(pki, leaf))[1] == "fast"
    pki.root.revoke(leaf, utcnow() - dt.timedelta(hours=1))
    pki.publish()
    report, path = await both(pki, leaf)
    assert (report.indication, report.subindication, path) == (Indication.TOTAL_FAILED, "REVOKED", "full")


async def test_an_intermediate_revoked_after_its_leaf_passed(pki: Pki) -> None:
    leaf = issue(pki.sub, "Deep Co", uscc=BIDDER_USCC)
    assert (await twice(pki, leaf, extra_certs=[pki.sub_cert]))[1] == "fast"
    pki.root.revoke(pki.sub_cert, utcnow() - dt.timedelta(hours=1))
    pki.publish()
    report, path = await both(pki, leaf, extra_certs=[pki.sub_cert])
    assert (report.indication, report.subindication, path) == (Indication.TOTAL_FAILED, "REVOKED", "full")


async def test_a_suspended_ca(pki: Pki) -> None:
    leaf = issue(pki.root, "Member", uscc=BIDDER_USCC)
    assert (await twice(pki, leaf))[1] == "fast"
    pki.status = "suspended"
    report, path = await both(pki, leaf)
    assert (report.indication, report.subindication, path) == (
        Indication.INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND", "neither")
    assert "suspended" in report.detail


async def test_the_wrong_usage(pki: Pki) -> None:
    signing = issue(pki.root, "Signer", uscc=BIDDER_USCC)
    encryption = issue(pki.root, "Encryptor", uscc=BIDDER_USCC, usage=CertUsage.ENCRYPTION)
    await twice(pki, signing)
    wrong, path = await both(pki, signing, usage=Usage.ENCRYPTION)
    assert (wrong.indication, wrong.subindication, path) == (Indication.TOTAL_FAILED, "CHAIN_CONSTRAINTS_FAILURE", "fast")
    assert (await twice(pki, encryption, usage=Usage.ENCRYPTION))[0].passed
    assert not (await both(pki, encryption, usage=Usage.SIGNING))[0].passed


async def test_an_unknown_ca(pki: Pki) -> None:
    stranger = new_ca(pki.algorithm, "Unknown CA")
    report, path = await twice(pki, issue(stranger, "Someone", uscc=BIDDER_USCC))
    assert (report.subindication, path) == ("NO_CERTIFICATE_CHAIN_FOUND", "neither")


@pytest.mark.parametrize("policy", ["hard_fail", "soft_fail"])
async def test_an_unreachable_crl_after_a_pass(pki: Pki, policy: str) -> None:
    pki.policy = policy
    leaf = issue(pki.root, "Someone", uscc=BIDDER_USCC)
    assert (await twice(pki, leaf))[1] == "fast"
    pki.source.crl_cache.clear()
    pki.transport.unreachable.add(pki.root.crl_url)
    report, path = await both(pki, leaf)
    assert path == "full"
    if policy == "hard_fail":
        assert (report.indication, report.subindication) == (Indication.INDETERMINATE, "TRY_LATER")
    else:
        assert report.passed and "soft-fail" in report.warnings[0]


async def test_a_past_moment_before_a_revocation(pki: Pki) -> None:
    leaf = issue(pki.root, "Later Revoked", uscc=BIDDER_USCC, not_before=utcnow() - dt.timedelta(days=30))
    signed_at = utcnow() - dt.timedelta(days=10)
    assert (await twice(pki, leaf, at=signed_at))[1] == "fast"
    pki.root.revoke(leaf, utcnow() - dt.timedelta(days=2))
    pki.publish()
    then, path = await twice(pki, leaf, at=signed_at)
    assert then.passed and path == "full"  # the serial is listed: the full path judges the dates
    now, _ = await both(pki, leaf)
    assert now.subindication == "REVOKED"


async def test_a_forged_certificate_after_the_genuine_one_passed(pki: Pki) -> None:
    genuine = issue(pki.root, "Minjiang Construction", uscc=BIDDER_USCC)
    assert (await twice(pki, genuine))[1] == "fast"
    forged = forge(genuine, pki.algorithm)
    assert forged.subject == genuine.subject and forged.serial_number == genuine.serial_number
    report, path = await twice(pki, forged)
    assert (report.indication, report.subindication, path) == (Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE", "full")


@pytest.mark.parametrize("algorithm", ["rsa", "ecdsa"])  # the SM2 demo CA answers no OCSP
async def test_ocsp_answers_are_always_judged_by_the_full_path(algorithm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pki = frozen_pki(algorithm, monkeypatch)
    leaf = issue(pki.root, "Someone", uscc=BIDDER_USCC)
    pki.transport.documents.clear()
    pki.transport.responders[pki.root.ocsp_url] = pki.root.ocsp_respond  # type: ignore[union-attr]
    pki.source.crl_cache.clear()
    report, path = await twice(pki, leaf)
    assert report.passed and path == "full" and report.revocation["checked"][0]["source"] == "ocsp"


# --- what each remembered fact does not hide ------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_a_revocation_shows_once_the_next_crl_is_fetched(algorithm: str) -> None:
    """Shared caches, the CRL cached until its nextUpdate: the first validation after it
    fetches the new CRL and reports the revocation."""
    pki = Pki.create(algorithm)
    leaf = issue(pki.root, "Revoked Later", uscc=BIDDER_USCC)
    checker = CertificateValidator(pki.anchors(), pki.source)
    for _ in range(2):
        assert (await checker.validate(leaf)).passed
    pki.root.revoke(leaf)
    pki.transport.documents[pki.root.crl_url] = crl_der(pki.root)  # published; ours is still current
    assert (await checker.validate(leaf)).passed
    with travel(by=dt.timedelta(days=7, hours=1)):  # past the cached CRL's nextUpdate
        pki.transport.documents[pki.root.crl_url] = crl_der(pki.root)
        report = await checker.validate(leaf)
    assert (report.indication, report.subindication) == (Indication.TOTAL_FAILED, "REVOKED"), report.detail
    assert pki.transport.requests.count(pki.root.crl_url) == 2


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("status", ["suspended", "retired"])
async def test_a_suspended_or_retired_ca_fails_at_once(algorithm: str, status: str) -> None:
    pki = Pki.create(algorithm)
    leaf = issue(pki.root, "Member", uscc=BIDDER_USCC)
    for _ in range(2):
        assert (await pki.remembering().validate(leaf)).passed
    assert pki.caches.fast_validations == 1
    pki.status = status
    report = await pki.remembering().validate(leaf)
    assert report.subindication == "NO_CERTIFICATE_CHAIN_FOUND" and f"is {status}" in report.detail
    pki.status = "active"
    assert (await pki.remembering().validate(leaf)).passed


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_signatures_are_verified_once_and_failures_every_time(
        algorithm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pki = Pki.create(algorithm)
    pki.caches.fast_path = False  # the full path each time, with the signature facts
    verified: list[bytes] = []
    original = validation._PluggableSignatureValidator._verify

    def counting(self: Any, signature: bytes, *rest: Any) -> None:
        verified.append(bytes(signature))
        original(self, signature, *rest)

    monkeypatch.setattr(validation._PluggableSignatureValidator, "_verify", counting)
    genuine = issue(pki.root, "Minjiang", uscc=BIDDER_USCC)
    for _ in range(3):
        assert (await pki.remembering().validate(genuine)).passed
    assert len(verified) == 2  # the leaf's signature and the CRL's, once each
    forged = forge(genuine, algorithm)
    for _ in range(2):
        assert (await pki.remembering().validate(forged)).subindication == "SIG_CRYPTO_FAILURE"
    assert verified.count(bytes(forged.signature)) == 2
    assert pki.caches.fast_validations == 0


async def test_recheck_refuses_what_the_full_path_must_judge() -> None:
    pki = Pki.create("ecdsa")
    leaf = issue(pki.root, "Someone", uscc=BIDDER_USCC)
    certs = [leaf, as_asn1(pki.root.cert)]
    crl = await pki.source.indexed_crl(pki.root.crl_url)
    now = utcnow()
    assert recheck(certs, [crl], now, retroactive=False)
    assert not recheck(certs, [crl], leaf.not_valid_after + dt.timedelta(seconds=1), retroactive=True)
    assert not recheck(certs, [crl], leaf.not_valid_before - dt.timedelta(seconds=1), retroactive=True)
    assert not recheck(certs, [crl], crl.next_update + dt.timedelta(seconds=1), retroactive=False)
    before_crl = crl.this_update - dt.timedelta(seconds=1)
    assert not recheck(certs, [crl], before_crl, retroactive=False)
    assert recheck(certs, [crl], before_crl, retroactive=True)
    pki.root.revoke(leaf)
    pki.publish()
    listed = await pki.source.indexed_crl(pki.root.crl_url)
    assert not recheck(certs, [listed], now, retroactive=False)
    not_a_ca = [leaf, leaf, as_asn1(pki.root.cert)]
    assert not recheck(not_a_ca, [crl], now, retroactive=False)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_a_crl_is_fetched_and_indexed_once(algorithm: str) -> None:
    pki = Pki.create(algorithm)
    revoked_at = (utcnow() - dt.timedelta(days=1)).replace(microsecond=0)
    serials = [issue(pki.root, f"Gone {n}").serial_number for n in range(3)]
    for serial in serials:
        pki.root.revoked[serial] = revoked_at
    pki.publish()
    first = await pki.source.indexed_crl(pki.root.crl_url)
    assert await pki.source.indexed_crl(pki.root.crl_url) is first
    assert pki.transport.requests == [pki.root.crl_url]
    assert set(first.revoked) == set(serials)  # type: ignore[arg-type]
    assert {entry.revoked_at for entry in first.revoked.values()} == {revoked_at}  # type: ignore[union-attr]
    assert {entry.reason for entry in first.revoked.values()} == {"unspecified"}  # type: ignore[union-attr]
    assert first.lists(serials[0]) and not first.lists(serials[0] + 1)
    assert (await pki.source.crl(pki.root.crl_url)) is first.parsed


def test_the_bounded_set_forgets_the_least_recently_used() -> None:
    remembered = BoundedSet(2)
    remembered.add(b"a")
    remembered.add(b"b")
    assert b"a" in remembered  # used: now the most recent
    remembered.add(b"c")
    assert b"a" in remembered and b"c" in remembered and b"b" not in remembered
    assert len(remembered) == 2
