"""Certificate validation against a trust list, with CRL and OCSP revocation."""

from __future__ import annotations

import datetime as dt

import pytest
from asn1crypto import x509 as asn1_x509

from ca_interop.certificates import (
    CertificateFormatError,
    load_certificate,
    load_certificates,
)
from ca_interop.demo_pki import DemoCA, Issued
from ca_interop.demo_pki import Usage as CertUsage
from ca_interop.revocation import RevocationSource, StaticRevocationTransport
from ca_interop.validation import CertificateValidator, Indication, TrustAnchor, Usage
from core.clock import utcnow

UTC = dt.timezone.utc
BIDDER_USCC = "91350100M000100Y43"


def asn1(issued: Issued | DemoCA) -> asn1_x509.Certificate:
    return load_certificate(issued.cert_pem)


@pytest.fixture(params=["rsa", "ecdsa"])
def ca(request: pytest.FixtureRequest) -> DemoCA:
    return DemoCA.create(f"Fujian {request.param}", request.param, not_before=utcnow() - dt.timedelta(days=800))


def network_with_crl(ca: DemoCA) -> StaticRevocationTransport:
    return StaticRevocationTransport(documents={ca.crl_url: ca.crl_der()})


def validator(ca: DemoCA, transport: StaticRevocationTransport, **anchor: object) -> CertificateValidator:
    return CertificateValidator([TrustAnchor("Fujian CA", asn1(ca), **anchor)], RevocationSource(transport))  # type: ignore[arg-type]


async def test_a_good_certificate_passes_and_names_its_party(ca: DemoCA) -> None:
    leaf = ca.issue("Minjiang Construction", uscc=BIDDER_USCC, organization="Minjiang Construction Group")
    report = await validator(ca, network_with_crl(ca)).validate(asn1(leaf))
    assert report.indication is Indication.TOTAL_PASSED, report.detail
    assert report.identity == {"name": "Minjiang Construction", "uscc": BIDDER_USCC,
                               "organization": "Minjiang Construction Group"}
    assert [link["subject"].split(",")[0] for link in report.chain] == [
        "Common Name: Minjiang Construction", f"Common Name: {ca.name} Root CA"]
    assert report.revocation["complete"] and report.revocation["checked"][0]["source"] == "crl"
    assert report.ca == "Fujian CA"


async def test_an_expert_certificate_names_the_person(ca: DemoCA) -> None:
    leaf = ca.issue("Wang Wei", person_id="350102198001011234")
    report = await validator(ca, network_with_crl(ca)).validate(asn1(leaf))
    assert report.passed and report.identity == {"name": "Wang Wei", "person_id": "350102198001011234"}


async def test_a_bad_credit_code_is_a_warning_not_an_identity(ca: DemoCA) -> None:
    leaf = ca.issue("Shell Co", uscc="91350100M000100Y44")
    report = await validator(ca, network_with_crl(ca)).validate(asn1(leaf))
    assert report.passed and report.identity is None
    assert "check character" in report.warnings[0]


async def test_a_revoked_certificate_fails_by_crl_and_by_ocsp(ca: DemoCA) -> None:
    leaf = ca.issue("Revoked Co", uscc=BIDDER_USCC)
    ca.revoke(leaf.cert, utcnow() - dt.timedelta(days=1))
    report = await validator(ca, network_with_crl(ca)).validate(asn1(leaf))
    assert (report.indication, report.subindication) == (Indication.TOTAL_FAILED, "REVOKED")
    ocsp_only = StaticRevocationTransport(responders={ca.ocsp_url: ca.ocsp_respond})
    report = await validator(ca, ocsp_only).validate(asn1(leaf))
    assert (report.indication, report.subindication) == (Indication.TOTAL_FAILED, "REVOKED")
    assert report.revocation["checked"][0]["source"] == "ocsp"


async def test_a_bid_signed_before_the_revocation_is_still_valid_at_signing_time(ca: DemoCA) -> None:
    leaf = ca.issue("Later Revoked", uscc=BIDDER_USCC, not_before=utcnow() - dt.timedelta(days=30))
    ca.revoke(leaf.cert, utcnow() - dt.timedelta(days=2))
    checker = validator(ca, network_with_crl(ca))
    signed_at = utcnow() - dt.timedelta(days=10)
    assert (await checker.validate(asn1(leaf), at=signed_at)).passed
    assert (await checker.validate(asn1(leaf))).subindication == "REVOKED"


async def test_expired_and_not_yet_valid(ca: DemoCA) -> None:
    old = ca.issue("Old Co", not_before=utcnow() - dt.timedelta(days=400), days=30)
    checker = validator(ca, network_with_crl(ca))
    now = await checker.validate(asn1(old))
    assert (now.indication, now.subindication) == (Indication.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE")
    later = await checker.validate(asn1(old), at=utcnow() - dt.timedelta(days=100))
    assert (later.indication, later.subindication) == (Indication.TOTAL_FAILED, "EXPIRED")
    then = await checker.validate(asn1(old), at=utcnow() - dt.timedelta(days=390))
    assert then.passed, then.detail
    early = await checker.validate(asn1(old), at=utcnow() - dt.timedelta(days=500))
    assert (early.indication, early.subindication) == (Indication.TOTAL_FAILED, "NOT_YET_VALID")


async def test_unreachable_revocation_follows_the_ca_policy(ca: DemoCA) -> None:
    leaf = ca.issue("Someone", uscc=BIDDER_USCC)
    offline = StaticRevocationTransport(unreachable={ca.crl_url, ca.ocsp_url})
    hard = await validator(ca, offline, revocation_policy="hard_fail").validate(asn1(leaf))
    assert (hard.indication, hard.subindication) == (Indication.INDETERMINATE, "TRY_LATER")
    assert ca.crl_url in hard.detail
    soft = await validator(ca, offline, revocation_policy="soft_fail").validate(asn1(leaf))
    assert soft.passed and "soft-fail" in soft.warnings[0]


async def test_crls_are_cached_until_next_update(ca: DemoCA) -> None:
    transport = network_with_crl(ca)
    checker = validator(ca, transport)
    for _ in range(3):
        assert (await checker.validate(asn1(ca.issue("Repeat", uscc=BIDDER_USCC)))).passed
    assert transport.requests == [ca.crl_url]
    stale = DemoCA.crl(ca, this_update=utcnow() - dt.timedelta(days=8), days=7)
    from cryptography.hazmat.primitives.serialization import Encoding

    transport.documents[ca.crl_url] = stale.public_bytes(Encoding.DER)
    checker.revocation.crl_cache.clear()
    await checker.validate(asn1(ca.issue("Stale", uscc=BIDDER_USCC)))
    transport.documents[ca.crl_url] = ca.crl_der()
    await checker.validate(asn1(ca.issue("Fresh", uscc=BIDDER_USCC)))
    assert transport.requests.count(ca.crl_url) == 3  # the stale one was not kept


async def test_wrong_key_usage_is_refused(ca: DemoCA) -> None:
    signing = ca.issue("Signer", uscc=BIDDER_USCC)
    encryption = ca.issue("Encryptor", uscc=BIDDER_USCC, usage=CertUsage.ENCRYPTION)
    checker = validator(ca, network_with_crl(ca))
    wrong = await checker.validate(asn1(signing), usage=Usage.ENCRYPTION)
    assert (wrong.indication, wrong.subindication) == (Indication.TOTAL_FAILED, "CHAIN_CONSTRAINTS_FAILURE")
    assert "does not allow encryption" in wrong.detail
    assert (await checker.validate(asn1(encryption), usage=Usage.ENCRYPTION)).passed
    assert not (await checker.validate(asn1(encryption), usage=Usage.SIGNING)).passed


async def test_unknown_and_suspended_cas(ca: DemoCA) -> None:
    stranger = DemoCA.create("Unknown CA", ca.algorithm)
    leaf = stranger.issue("Someone", uscc=BIDDER_USCC)
    report = await validator(ca, network_with_crl(ca)).validate(asn1(leaf))
    assert (report.indication, report.subindication) == (Indication.INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND")
    assert "not a recognised CA" in report.detail
    own = ca.issue("Member", uscc=BIDDER_USCC)
    suspended = await validator(ca, network_with_crl(ca), status="suspended",
                                status_reason="audit").validate(asn1(own))
    assert suspended.subindication == "NO_CERTIFICATE_CHAIN_FOUND" and "suspended" in suspended.detail


async def test_a_forged_certificate_with_the_ca_name_fails_its_signature(ca: DemoCA) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding

    from ca_interop.demo_pki import new_key

    impostor_key = new_key(ca.algorithm)
    forged = (  # the CA's name, another key, and no key identifier to give it away
        x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=Forged Co"))
        .issuer_name(ca.cert.subject).public_key(new_key(ca.algorithm).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(utcnow() - dt.timedelta(days=1)).not_valid_after(utcnow() + dt.timedelta(days=30))
        .sign(impostor_key, hashes.SHA256())
    )
    report = await validator(ca, network_with_crl(ca)).validate(load_certificate(forged.public_bytes(Encoding.DER)))
    assert (report.indication, report.subindication) == (Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE"), report.detail


async def test_an_intermediate_ca_chain(ca: DemoCA) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    sub_key_holder = DemoCA.create("Fujian Sub", ca.algorithm)
    # Re-issue the sub CA's certificate under the root, keeping its key and name.
    sub_cert = (
        x509.CertificateBuilder().subject_name(sub_key_holder.cert.subject).issuer_name(ca.cert.subject)
        .public_key(sub_key_holder.key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(utcnow() - dt.timedelta(days=1)).not_valid_after(utcnow() + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(sub_key_holder.key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(ca.crl_url)], None, None, None)]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    sub_key_holder.cert = sub_cert
    leaf = sub_key_holder.issue("Deep Co", uscc=BIDDER_USCC)
    transport = StaticRevocationTransport(documents={ca.crl_url: ca.crl_der(),
                                                     sub_key_holder.crl_url: sub_key_holder.crl_der()})
    from cryptography.hazmat.primitives.serialization import Encoding

    bundle = leaf.cert_pem + sub_cert.public_bytes(Encoding.PEM)
    certs = load_certificates(bundle)
    root_only = CertificateValidator([TrustAnchor("Fujian CA", asn1(ca))], RevocationSource(transport))
    report = await root_only.validate(certs[0], extra_certs=certs[1:])
    assert report.passed, report.detail
    assert len(report.chain) == 3


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x30\x88\x40\x00\x00\x00\x00\x00\x00\x00",
                                  b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                                  b"\x30\x03\x02\x01\x05"])
def test_garbage_certificates_are_refused_clearly(data: bytes) -> None:
    with pytest.raises(CertificateFormatError):
        load_certificate(data)


async def test_sm2_chains_and_sm2_signed_crls_validate() -> None:
    from ca_interop.demo_pki_sm2 import Sm2DemoCA

    ca = Sm2DemoCA.create("Fujian SM2 CA")
    good = ca.issue("Minjiang Construction", uscc=BIDDER_USCC)
    revoked = ca.issue("Revoked Co", uscc=BIDDER_USCC)
    ca.revoke(revoked.cert)
    transport = StaticRevocationTransport(documents={ca.crl_url: ca.crl().dump()})
    checker = CertificateValidator([TrustAnchor("Fujian SM2", ca.cert)], RevocationSource(transport))
    report = await checker.validate(good.cert)
    assert report.passed, report.detail
    assert report.chain[0]["algorithm"] == "sm2" and report.identity["uscc"] == BIDDER_USCC  # type: ignore[index]
    assert (await checker.validate(revoked.cert)).subindication == "REVOKED"
    impostor = Sm2DemoCA.create("Fujian SM2 CA")  # same name, another key
    forged = impostor.issue("Forged", uscc=BIDDER_USCC)
    unrelated = await checker.validate(forged.cert)
    assert unrelated.indication is not Indication.TOTAL_PASSED


async def test_each_ca_says_where_it_writes_the_credit_code() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    from ca_interop.demo_pki import new_key

    ca = DemoCA.create("Old Style CA", "rsa")

    def leaf(*attributes: x509.NameAttribute) -> asn1_x509.Certificate:
        key = new_key("ecdsa")
        cert = (
            x509.CertificateBuilder().subject_name(x509.Name(list(attributes))).issuer_name(ca.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(utcnow() - dt.timedelta(hours=1)).not_valid_after(utcnow() + dt.timedelta(days=30))
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(ca.crl_url)], None, None, None)]), critical=False)
            .sign(ca.key, hashes.SHA256())
        )
        return load_certificate(cert.public_bytes(Encoding.DER))

    in_ou = leaf(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"USCC:{BIDDER_USCC}"),
                 x509.NameAttribute(NameOID.COMMON_NAME, "Minjiang"))
    rule = {"credit_code_in": "organizational_unit", "pattern": r"USCC:(\w{18})"}
    report = await validator(ca, network_with_crl(ca), identity_rule=rule).validate(in_ou)
    assert report.passed and report.identity == {"name": "Minjiang", "uscc": BIDDER_USCC}

    in_serial = leaf(x509.NameAttribute(NameOID.SERIAL_NUMBER, BIDDER_USCC),
                     x509.NameAttribute(NameOID.COMMON_NAME, "Minjiang"))
    report = await validator(ca, network_with_crl(ca), identity_rule={"credit_code_in": "serial_number"}
                             ).validate(in_serial)
    assert report.identity == {"name": "Minjiang", "uscc": BIDDER_USCC}

    in_cn = leaf(x509.NameAttribute(NameOID.COMMON_NAME, f"Minjiang({BIDDER_USCC[:-1]}X)"))
    rule = {"credit_code_in": "common_name", "pattern": r"\((\w{18})\)"}
    report = await validator(ca, network_with_crl(ca), identity_rule=rule).validate(in_cn)
    assert report.passed and report.identity is None and "check character" in report.warnings[0]


async def test_an_intermediate_recognised_on_its_own() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    root = DemoCA.create("Unlisted Root", "ecdsa")
    sub = DemoCA.create("Listed Sub CA", "ecdsa")
    sub.cert = (
        x509.CertificateBuilder().subject_name(sub.cert.subject).issuer_name(root.cert.subject)
        .public_key(sub.key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(utcnow() - dt.timedelta(days=1)).not_valid_after(utcnow() + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(sub.key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), critical=False)
        .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(root.crl_url)], None, None, None)]), critical=False)
        .sign(root.key, hashes.SHA256())
    )
    leaf = sub.issue("Deep Co", uscc=BIDDER_USCC)
    transport = StaticRevocationTransport(documents={sub.crl_url: sub.crl_der(), root.crl_url: root.crl_der()})
    checker = CertificateValidator([TrustAnchor("Listed Sub CA", asn1(sub))], RevocationSource(transport))
    with_root = await checker.validate(asn1(leaf), extra_certs=[asn1(root)])
    assert with_root.passed, with_root.detail
    assert with_root.ca == "Listed Sub CA" and len(with_root.chain) == 3
    without_root = await checker.validate(asn1(leaf))
    assert without_root.subindication == "NO_CERTIFICATE_CHAIN_FOUND"
    impostor_root = DemoCA.create("Unlisted Root", "ecdsa")  # same name, another key
    forged = await checker.validate(asn1(leaf), extra_certs=[asn1(impostor_root)])
    assert not forged.passed
