"""Electronic seals (GB/T 38540-2020 v4, GM/T 0031-2014 v1): making, signing, verifying,
.docx sealing, and an independent check of the SM2 signatures with OpenSSL 3.0.

Every key, certificate, picture and document is generated here; nothing is stored.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import core, pem

from ca_interop import gm
from ca_interop.demo_pki import DemoCA, Usage
from ca_interop.demo_pki_sm2 import Sm2DemoCA, Sm2Issued
from ca_interop.eseal import (
    ESealError,
    ESealFormatError,
    make_seal,
    make_seal_v1,
    read_seal,
    read_signature,
    seal_docx,
    sign_document,
    sign_document_v1,
    verify_signature,
)
from ca_interop.eseal import structures as s
from ca_interop.eseal.common import MAX_SIGNATURE_SIZE, element_count
from ca_interop.eseal.making import plan_signing, sign_planned
from ca_interop.revocation import RevocationSource, StaticRevocationTransport
from ca_interop.timestamps import TimestampAuthority
from ca_interop.validation import CertificateValidator, TrustAnchor
from core.clock import utcnow

USCC = "91110000100000000X"
SEAL_NAME = "Minjiang 合同专用章"
DOCUMENT = b"%PDF-1.7 bid document for lot 3\n" * 40
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command line is not installed")


def tiny_png(width: int = 8, height: int = 8) -> bytes:
    """A valid red RGB PNG, made with zlib and struct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xcc\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG = tiny_png()


@pytest.fixture(scope="module")
def ca() -> Sm2DemoCA:
    return Sm2DemoCA.create("Fujian SM2")


@pytest.fixture(scope="module")
def maker(ca: Sm2DemoCA) -> Sm2Issued:
    return ca.issue("seal issuer", uscc=USCC, organization="Fujian Seal Office")


@pytest.fixture(scope="module")
def signer(ca: Sm2DemoCA) -> Sm2Issued:
    return ca.issue("Minjiang Construction", uscc="91350100M000100Y43")


@pytest.fixture(scope="module")
def stranger(ca: Sm2DemoCA) -> Sm2Issued:
    return ca.issue("Someone Else", uscc="91350100M000100Y43")


def new_seal(maker: Sm2Issued, signers: list[Any], **options: Any) -> bytes:
    now = utcnow()
    arguments: dict[str, Any] = dict(
        name=SEAL_NAME, picture_png=PNG, width_mm=42, height_mm=40, signer_certs=signers,
        valid_start=now - dt.timedelta(days=1), valid_end=now + dt.timedelta(days=365))
    arguments.update(options)
    return make_seal(maker.key, maker.cert, **arguments)


@pytest.fixture(scope="module")
def seal(maker: Sm2Issued, signer: Sm2Issued) -> bytes:
    return new_seal(maker, [signer.cert])


@pytest.fixture(scope="module")
def signature(seal: bytes, signer: Sm2Issued) -> bytes:
    return sign_document(DOCUMENT, seal, signer.key, signer.cert, property_info="bid:lot-3")


def validator_for(ca: Sm2DemoCA) -> CertificateValidator:
    """Trusts the SM2 demo CA; its CRL (made now, so with any revocation) on its fake site."""
    transport = StaticRevocationTransport(documents={ca.crl_url: ca.crl().dump()})
    return CertificateValidator([TrustAnchor("Fujian SM2 CA", ca.cert)], RevocationSource(transport))


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(item for item in report["checks"] if item["check"] == name)


def forge(seal_der: bytes, key: gm.Sm2PrivateKey, cert_der: bytes, *, document: bytes = DOCUMENT,
          time: dt.datetime | None = None, timestamp: bytes | None = None) -> bytes:
    """A v4 SES_Signature built by hand, without sign_document's refusals."""
    tbs = s.TBSSign({
        "version": 4,
        "eseal": s.SESeal.load(seal_der),
        "timeInfo": (time or utcnow()).replace(microsecond=0),
        "dataHash": gm.sm3(document),
        "propertyInfo": "",
    })
    fields: dict[str, Any] = {"toSign": tbs, "cert": cert_der, "signatureAlgID": gm.OID_SM2_WITH_SM3,
                              "signature": gm.sm2_sign(key, tbs.dump())}
    if timestamp is not None:
        fields["timeStamp"] = timestamp
    return bytes(s.SESSignature(fields).dump())


# ------------------------------------------------------------------ the structures


def test_the_seal_is_a_gbt_38540_sealed_structure(seal: bytes, maker: Sm2Issued, signer: Sm2Issued) -> None:
    parsed = s.SESeal.load(seal, strict=True)
    info = parsed["eSealInfo"]
    assert info["header"].native == {"id": "ES", "version": 4, "vid": "bidhall"}
    prop = info["property"]
    assert prop["name"].native == SEAL_NAME and prop["type"].native == 1
    assert prop["certListType"].native == 1
    assert prop["certList"].parse(s.CertInfoList).native == [signer.cert_der]
    for name in ("createDate", "validStart", "validEnd"):
        assert prop[name].dump()[0] == 0x18  # GeneralizedTime
    assert info["picture"].native == {"type": "PNG", "data": PNG, "width": 42, "height": 40}
    assert parsed["cert"].native == maker.cert_der
    assert parsed["signAlgID"].dotted == "1.2.156.10197.1.501"
    key = gm.sm2_public_key_from_spki(maker.cert.public_key)
    assert gm.sm2_verify(key, info.dump(), parsed["signedValue"].native)

    model = read_seal(seal)
    assert (model.version, model.name, model.width_mm, model.height_mm) == (4, SEAL_NAME, 42, 40)
    assert model.es_id.startswith("ES") and model.valid_start < model.valid_end


def test_the_signature_is_a_gbt_38540_ses_signature(signature: bytes, seal: bytes, signer: Sm2Issued) -> None:
    parsed = s.SESSignature.load(signature, strict=True)
    tbs = parsed["toSign"]
    assert tbs["version"].native == 4
    assert tbs["eseal"].dump() == seal  # the seal is embedded byte for byte
    assert tbs["timeInfo"].dump()[0] == 0x18
    assert tbs["dataHash"].native == gm.sm3(DOCUMENT)
    assert tbs["propertyInfo"].native == "bid:lot-3"
    assert parsed["cert"].native == signer.cert_der
    assert parsed["signatureAlgID"].dotted == "1.2.156.10197.1.501"
    assert isinstance(parsed["timeStamp"], core.Void)
    assert gm.sm2_verify(signer.key.public_key, tbs.dump(), parsed["signature"].native)
    assert read_signature(signature).property_info == "bid:lot-3"


# ------------------------------------------------------------------- verification


async def test_a_sealed_document_verifies(ca: Sm2DemoCA, signature: bytes) -> None:
    report = await verify_signature(DOCUMENT, signature, validator=validator_for(ca))
    assert report["indication"] == "TOTAL_PASSED", report["detail"]
    assert report["subindication"] is None
    assert all(item["passed"] for item in report["checks"])
    assert {item["check"] for item in report["checks"]} >= {
        "format", "document_hash", "signature", "seal_signature", "signer_bound", "seal_validity",
        "signer_certificate", "seal_issuer_certificate"}
    assert report["format"] == "GB/T 38540-2020 (v4)"
    assert report["seal"]["name"] == SEAL_NAME and report["seal"]["version"] == 4
    assert "seal issuer" in report["seal"]["issuer"]["subject"]
    assert report["signer"]["identity"]["uscc"] == "91350100M000100Y43"
    assert report["certificate"]["indication"] == "TOTAL_PASSED"
    assert report["seal_issuer_certificate"]["indication"] == "TOTAL_PASSED"
    assert report["timestamp"] is None
    json.dumps(report)  # plain data, ready to store


async def test_streams_and_paths_are_documents(ca: Sm2DemoCA, seal: bytes, signer: Sm2Issued,
                                               tmp_path: Path) -> None:
    signed = sign_document(io.BytesIO(DOCUMENT), seal, signer.key_pem, signer.cert_pem)
    path = tmp_path / "bid.pdf"
    path.write_bytes(DOCUMENT)
    report = await verify_signature(path, signed, validator=validator_for(ca))
    assert report["indication"] == "TOTAL_PASSED", report["detail"]


async def test_without_a_validator_the_result_is_indeterminate(signature: bytes) -> None:
    report = await verify_signature(DOCUMENT, signature)
    assert (report["indication"], report["subindication"]) == ("INDETERMINATE", "CERTIFICATE_NOT_VALIDATED")
    assert all(item["passed"] for item in report["checks"] if item["check"] != "signer_certificate")


async def test_a_changed_document_fails_the_hash(ca: Sm2DemoCA, signature: bytes) -> None:
    report = await verify_signature(DOCUMENT + b" ", signature, validator=validator_for(ca))
    assert (report["indication"], report["subindication"]) == ("TOTAL_FAILED", "HASH_FAILURE")
    assert check(report, "document_hash")["passed"] is False
    assert check(report, "signature")["passed"] is True


async def test_a_changed_signature_fails(ca: Sm2DemoCA, signature: bytes) -> None:
    spliced = bytearray(signature)
    tbs_time = s.SESSignature.load(signature)["toSign"]["timeInfo"].dump()
    at = bytes(spliced).index(tbs_time)
    spliced[at + 5] ^= 0x01  # a digit of the signing time
    report = await verify_signature(DOCUMENT, bytes(spliced), validator=validator_for(ca))
    assert (report["indication"], report["subindication"]) == ("TOTAL_FAILED", "SIG_CRYPTO_FAILURE")
    assert check(report, "signature")["passed"] is False


# ------------------------------------------------------------ binding and validity


def test_a_signer_not_bound_to_the_seal_is_refused(seal: bytes, stranger: Sm2Issued) -> None:
    with pytest.raises(ESealError, match="not bound to seal"):
        sign_document(DOCUMENT, seal, stranger.key, stranger.cert)


def test_a_key_that_is_not_the_certificates_is_refused(seal: bytes, signer: Sm2Issued, stranger: Sm2Issued) -> None:
    with pytest.raises(ESealError, match="does not belong"):
        sign_document(DOCUMENT, seal, stranger.key, signer.cert)


async def test_a_forged_signature_by_an_unbound_certificate_fails(ca: Sm2DemoCA, seal: bytes,
                                                                  stranger: Sm2Issued, signer: Sm2Issued) -> None:
    forged = forge(seal, stranger.key, stranger.cert_der)
    report = await verify_signature(DOCUMENT, forged, validator=validator_for(ca))
    assert (report["indication"], report["subindication"]) == ("TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE")
    assert check(report, "signer_bound")["passed"] is False
    assert check(report, "signature")["passed"] is True  # a valid signature, by the wrong person

    # the bound signer's certificate with the stranger's signature: the signature fails
    swapped = forge(seal, stranger.key, signer.cert_der)
    report = await verify_signature(DOCUMENT, swapped, validator=validator_for(ca))
    assert (report["indication"], report["subindication"]) == ("TOTAL_FAILED", "SIG_CRYPTO_FAILURE")


def test_signing_outside_the_seal_window_is_refused(seal: bytes, signer: Sm2Issued) -> None:
    model = read_seal(seal)
    with pytest.raises(ESealError, match="after the seal's validity"):
        sign_document(DOCUMENT, seal, signer.key, signer.cert, time=model.valid_end + dt.timedelta(seconds=1))
    with pytest.raises(ESealError, match="before the seal's validity"):
        sign_document(DOCUMENT, seal, signer.key, signer.cert, time=model.valid_start - dt.timedelta(seconds=1))


async def test_a_signature_made_after_the_seal_expired_fails(ca: Sm2DemoCA, maker: Sm2Issued,
                                                             signer: Sm2Issued) -> None:
    now = utcnow()
    expired = new_seal(maker, [signer.cert], created=now - dt.timedelta(hours=3),
                       valid_start=now - dt.timedelta(hours=3), valid_end=now - dt.timedelta(minutes=10))
    with pytest.raises(ESealError, match="after the seal's validity"):
        sign_document(DOCUMENT, expired, signer.key, signer.cert)
    late = forge(expired, signer.key, signer.cert_der, time=now)
    report = await verify_signature(DOCUMENT, late, validator=validator_for(ca))
    assert (report["indication"], report["subindication"]) == ("TOTAL_FAILED", "SIG_CONSTRAINTS_FAILURE")
    assert check(report, "seal_validity")["passed"] is False
    # the same claimed inside the window (the signing time is the signer's claim) passes
    early = sign_planned(plan_signing(expired, signer.key, signer.cert, time=now - dt.timedelta(minutes=30)),
                         gm.sm3(DOCUMENT))
    report = await verify_signature(DOCUMENT, early, validator=validator_for(ca))
    assert report["indication"] == "TOTAL_PASSED", report["detail"]


async def test_a_tampered_seal_fails(ca: Sm2DemoCA, seal: bytes, signer: Sm2Issued) -> None:
    original, evil = SEAL_NAME.encode(), "Minjiang 授权委托章".encode()
    assert len(original) == len(evil) and seal.count(original) == 1
    tampered = seal.replace(original, evil)
    with pytest.raises(ESealError, match="not intact"):
        sign_document(DOCUMENT, tampered, signer.key, signer.cert)
    forged = forge(tampered, signer.key, signer.cert_der)
    report = await verify_signature(DOCUMENT, forged, validator=validator_for(ca))
    assert (report["indication"], report["subindication"]) == ("TOTAL_FAILED", "SIG_CRYPTO_FAILURE")
    assert check(report, "seal_signature")["passed"] is False
    assert check(report, "signature")["passed"] is True
    assert report["seal"]["name"] == "Minjiang 授权委托章"


async def test_a_seal_made_by_an_unrecognised_maker_is_not_trusted(ca: Sm2DemoCA, signer: Sm2Issued) -> None:
    rogue_ca = Sm2DemoCA.create("Rogue")
    rogue_maker = rogue_ca.issue("seal issuer")
    rogue_seal = new_seal(rogue_maker, [signer.cert])
    signed = sign_document(DOCUMENT, rogue_seal, signer.key, signer.cert)
    report = await verify_signature(DOCUMENT, signed, validator=validator_for(ca))
    assert (report["indication"], report["subindication"]) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    assert check(report, "seal_issuer_certificate")["passed"] is False
    assert check(report, "signer_certificate")["passed"] is True


async def test_a_revoked_signer_certificate_fails(ca: Sm2DemoCA, maker: Sm2Issued) -> None:
    revoked = ca.issue("Revoked Signer", uscc="91350100M000100Y43")
    sealed = sign_document(DOCUMENT, new_seal(maker, [revoked.cert]), revoked.key, revoked.cert)
    ca.revoke(revoked, when=utcnow() - dt.timedelta(minutes=10))
    report = await verify_signature(DOCUMENT, sealed, validator=validator_for(ca))
    assert (report["indication"], report["subindication"]) == ("TOTAL_FAILED", "REVOKED")
    assert report["certificate"]["subindication"] == "REVOKED"
    assert check(report, "signature")["passed"] is True


async def test_certificate_digests_bind_signers(ca: Sm2DemoCA, maker: Sm2Issued, signer: Sm2Issued,
                                                stranger: Sm2Issued) -> None:
    for algorithm in ("SM3", "SHA256"):
        digest_seal = new_seal(maker, [signer.cert], cert_list_type=2, digest_algorithm=algorithm)
        model = read_seal(digest_seal)
        assert model.cert_list_type == 2 and model.certs == () and model.cert_digests[0][0] == algorithm
        signed = sign_document(DOCUMENT, digest_seal, signer.key, signer.cert)
        report = await verify_signature(DOCUMENT, signed, validator=validator_for(ca))
        assert report["indication"] == "TOTAL_PASSED", report["detail"]
        assert "digest" in check(report, "signer_bound")["detail"]
        with pytest.raises(ESealError, match="not bound"):
            sign_document(DOCUMENT, digest_seal, stranger.key, stranger.cert)


# -------------------------------------------------------------------- time stamps


@pytest.fixture(scope="module")
def tsa_ca() -> DemoCA:
    return DemoCA.create("Platform TSA", "ecdsa")


@pytest.fixture(scope="module")
def tsa(tsa_ca: DemoCA) -> TimestampAuthority:
    issued = tsa_ca.issue("Platform Time Stamping", usage=Usage.TIMESTAMPING)
    return TimestampAuthority(issued.key, issued.cert)


async def test_an_embedded_time_stamp_is_verified(ca: Sm2DemoCA, seal: bytes, signer: Sm2Issued,
                                                  tsa: TimestampAuthority, tsa_ca: DemoCA) -> None:
    from ca_interop.certificates import load_certificate

    signed = sign_document(DOCUMENT, seal, signer.key, signer.cert, timestamp_token=tsa)
    parsed = s.SESSignature.load(signed)
    token = parsed["timeStamp"].native
    assert token[:1] == b"\x30"
    tsa_validator = CertificateValidator(
        [TrustAnchor("Platform TSA", load_certificate(tsa_ca.cert_pem))],
        RevocationSource(StaticRevocationTransport(documents={tsa_ca.crl_url: tsa_ca.crl_der()})))
    report = await verify_signature(DOCUMENT, signed, validator=validator_for(ca), tsa_validator=tsa_validator)
    assert report["indication"] == "TOTAL_PASSED", report["detail"]
    assert report["timestamp"]["valid"] is True and report["timestamp"]["hash_algorithm"] == "sha256"
    assert report["timestamp"]["certificate"]["indication"] == "TOTAL_PASSED"
    assert check(report, "timestamp")["passed"] and check(report, "timestamp_order")["passed"]
    assert report["warnings"] == []

    # a callable stamper works the same
    stamped = sign_document(DOCUMENT, seal, signer.key, signer.cert, timestamp_token=lambda sig: tsa.stamp_data(sig))
    assert (await verify_signature(DOCUMENT, stamped, validator=validator_for(ca)))["indication"] == "TOTAL_PASSED"


async def test_a_time_stamp_over_something_else_fails(ca: Sm2DemoCA, seal: bytes, signer: Sm2Issued,
                                                      tsa: TimestampAuthority) -> None:
    with pytest.raises(ESealError, match="does not cover the signature"):
        sign_document(DOCUMENT, seal, signer.key, signer.cert, timestamp_token=lambda sig: tsa.stamp_data(b"other"))
    forged = forge(seal, signer.key, signer.cert_der, timestamp=tsa.stamp_data(b"other"))
    report = await verify_signature(DOCUMENT, forged, validator=validator_for(ca))
    assert (report["indication"], report["subindication"]) == ("TOTAL_FAILED", "SIG_CRYPTO_FAILURE")
    assert check(report, "timestamp")["passed"] is False
    assert "imprint" in check(report, "timestamp")["detail"]


async def test_a_signing_time_after_the_time_stamp_is_flagged(ca: Sm2DemoCA, seal: bytes, signer: Sm2Issued,
                                                              tsa: TimestampAuthority) -> None:
    tbs = s.TBSSign({"version": 4, "eseal": s.SESeal.load(seal),
                     "timeInfo": (utcnow() + dt.timedelta(hours=2)).replace(microsecond=0),
                     "dataHash": gm.sm3(DOCUMENT), "propertyInfo": ""})
    value = gm.sm2_sign(signer.key, tbs.dump())
    future = s.SESSignature({"toSign": tbs, "cert": signer.cert_der, "signatureAlgID": gm.OID_SM2_WITH_SM3,
                             "signature": value, "timeStamp": tsa.stamp_data(value)}).dump()
    report = await verify_signature(DOCUMENT, future)
    assert check(report, "timestamp")["passed"] is True
    assert check(report, "timestamp_order")["passed"] is False


# ------------------------------------------------------------------------- v1


async def test_a_gmt_0031_v1_seal_and_signature_are_read_and_verified(ca: Sm2DemoCA, maker: Sm2Issued,
                                                                      signer: Sm2Issued) -> None:
    now = utcnow()
    seal_v1 = make_seal_v1(maker.key, maker.cert, name=SEAL_NAME, picture_png=PNG, width_mm=40, height_mm=40,
                           signer_certs=[signer.cert], valid_start=now - dt.timedelta(days=1),
                           valid_end=now + dt.timedelta(days=30))
    parsed = s.SESealV1.load(seal_v1, strict=True)
    assert element_count(seal_v1, "seal") == 2
    assert parsed["esealInfo"]["property"]["validStart"].chosen.dump()[0] == 0x17  # UTCTime
    assert parsed["esealInfo"]["property"]["certList"].native == [signer.cert_der]

    signed = sign_document_v1(DOCUMENT, seal_v1, signer.key, signer.cert, property_info="v1")
    assert element_count(signed, "signature") == 2
    report = await verify_signature(DOCUMENT, signed, validator=validator_for(ca))
    assert report["indication"] == "TOTAL_PASSED", report["detail"]
    assert report["format"] == "GM/T 0031-2014 (v1)"
    assert "ofdrw" in report["signer"]["time_source"]
    assert abs(dt.datetime.fromisoformat(report["signing_time"].replace("Z", "+00:00")) - now) < dt.timedelta(minutes=1)
    assert "SEQUENCE{esealInfo, cert, signatureAlgorithm}" in check(report, "seal_signature")["detail"]

    tampered = await verify_signature(DOCUMENT[:-1], signed, validator=validator_for(ca))
    assert (tampered["indication"], tampered["subindication"]) == ("TOTAL_FAILED", "HASH_FAILURE")
    with pytest.raises(ESealError, match="v1"):
        sign_document(DOCUMENT, seal_v1, signer.key, signer.cert)


async def test_v1_variants_from_the_wild_are_read(ca: Sm2DemoCA, maker: Sm2Issued, signer: Sm2Issued) -> None:
    """A v1 seal signed over DER(esealInfo) only, wrapped in an OCTET STRING inside TBS_Sign,
    with timeInfo a DER UTCTime in the bits and dataHash an OCTET STRING."""
    now = utcnow().replace(microsecond=0)
    seal_v1 = s.SESealV1.load(make_seal_v1(
        maker.key, maker.cert, name=SEAL_NAME, picture_png=PNG, width_mm=40, height_mm=40,
        signer_certs=[signer.cert], valid_start=now - dt.timedelta(days=1), valid_end=now + dt.timedelta(days=30),
        header_version=2))
    info = seal_v1["esealInfo"]
    resealed = s.SESealV1({"esealInfo": info, "signInfo": {
        "cert": maker.cert_der, "signatureAlgorithm": gm.OID_SM2_WITH_SM3,
        "signData": gm.sm2_sign(maker.key, info.dump())}})
    tbs = s.TBSSignV1({
        "version": 2,
        "eseal": s.SealFieldV1(name="wrapped", value=resealed.dump()),
        "timeInfo": s.TimeInfoV1(name="bits", value=core.UTCTime(now).dump()),
        "dataHash": s.BitsOrOctets(name="octets", value=gm.sm3(DOCUMENT)),
        "propertyInfo": "",
        "cert": signer.cert_der,
        "signatureAlgorithm": gm.OID_SM2_WITH_SM3,
    })
    signed = s.SESSignatureV1({"toSign": tbs, "signature": gm.sm2_sign(signer.key, tbs.dump())}).dump()
    report = await verify_signature(DOCUMENT, signed, validator=validator_for(ca))
    assert report["indication"] == "TOTAL_PASSED", report["detail"]
    assert report["signing_time"] == now.isoformat().replace("+00:00", "Z")
    assert "non-standard" in check(report, "seal_signature")["detail"]
    assert any("non-standard" in warning for warning in report["warnings"])


# ------------------------------------------------------------------ bad input


def _bombs(signature: bytes) -> list[bytes]:
    return [
        b"",
        b"not a seal signature at all",
        b"\x30\x84\x7f\xff\xff\xff" + b"\x00" * 16,  # claims 2 GiB
        b"\x30\x89" + b"\xff" * 9 + b"\x00" * 4,  # a 9-byte length
        b"\x30\x80" * 5000,  # deep indefinite-length nesting
        signature[: len(signature) // 2],
        signature[:-1],
        signature + b"\x00",
        b"\x30\x03\x02\x01\x04",
        b"\x30\x0c" + b"\x02\x01\x01" * 4,
        b"\x30" + b"\x84" + (MAX_SIGNATURE_SIZE + 1).to_bytes(4, "big") + b"\x00" * (MAX_SIGNATURE_SIZE + 1),
    ]


async def test_garbage_truncated_and_length_bombs_are_format_failures(signature: bytes, seal: bytes,
                                                                      signer: Sm2Issued) -> None:
    bad_cert = forge(seal, signer.key, b"\x30\x03\x02\x01\x00")
    for blob in [*_bombs(signature), bad_cert]:
        report = await verify_signature(DOCUMENT, blob)
        assert (report["indication"], report["subindication"]) == ("INDETERMINATE", "FORMAT_FAILURE"), blob[:16]
        assert report["detail"] and len(report["detail"]) < 400
        json.dumps(report)
    with pytest.raises(ESealFormatError):
        read_seal(b"\x30\x84\x7f\xff\xff\xff")


def test_make_seal_checks_its_input(maker: Sm2Issued, signer: Sm2Issued, stranger: Sm2Issued) -> None:
    now = utcnow()
    with pytest.raises(ESealError, match="not a PNG"):
        new_seal(maker, [signer.cert], picture_png=b"GIF89a" + b"\x00" * 32)
    for size in (0, -5, 2.5, True):
        with pytest.raises(ESealError, match="width"):
            new_seal(maker, [signer.cert], width_mm=size)
    with pytest.raises(ESealError, match="height"):
        new_seal(maker, [signer.cert], height_mm=0)
    with pytest.raises(ESealError, match="empty or reversed"):
        new_seal(maker, [signer.cert], valid_start=now + dt.timedelta(days=2), valid_end=now + dt.timedelta(days=1))
    with pytest.raises(ESealError, match="at least one"):
        new_seal(maker, [])
    with pytest.raises(ESealError, match="does not belong"):
        make_seal(stranger.key, maker.cert, name="x", picture_png=PNG, width_mm=40, height_mm=40,
                  signer_certs=[signer.cert], valid_start=now, valid_end=now + dt.timedelta(days=1))
    with pytest.raises(ESealError, match="ASCII"):
        new_seal(maker, [signer.cert], es_id="印章001")
    assert issubclass(ESealError, ValueError)


# ----------------------------------------------------------------------- .docx


def _write_docx(path: Path) -> None:
    docx = pytest.importorskip("docx", reason="python-docx is not installed (it is not yet in pyproject.toml)")

    document = docx.Document()
    document.add_heading("投标函 Bid letter", level=1)
    document.add_paragraph("We offer to carry out the works for lot 3.")
    document.add_paragraph("Bidder: Minjiang Construction")
    document.save(str(path))


async def test_a_docx_is_sealed_and_verified(ca: Sm2DemoCA, seal: bytes, signer: Sm2Issued, tmp_path: Path) -> None:
    docx = pytest.importorskip("docx", reason="python-docx is not installed (it is not yet in pyproject.toml)")
    from docx.shared import Mm

    source, sealed, ses = tmp_path / "bid.docx", tmp_path / "bid-sealed.docx", tmp_path / "bid-sealed.docx.ses"
    _write_docx(source)
    signed = seal_docx(source, seal, signer.key, signer.cert, sealed, ses)
    assert ses.read_bytes() == signed
    opened = docx.Document(str(sealed))
    shapes = opened.inline_shapes
    assert len(shapes) == 1
    assert abs(shapes[0].width - Mm(42)) < Mm(0.1) and abs(shapes[0].height - Mm(40)) < Mm(0.1)
    assert opened.paragraphs[-1].runs[0]._element.xpath(".//pic:pic")  # the picture is in the last paragraph
    assert read_signature(signed).property_info == f"docx:bid-sealed.docx;size={sealed.stat().st_size}"

    report = await verify_signature(sealed, signed, validator=validator_for(ca))
    assert report["indication"] == "TOTAL_PASSED", report["detail"]

    opened.add_paragraph("added after sealing")
    opened.save(str(sealed))
    report = await verify_signature(sealed, signed, validator=validator_for(ca))
    assert (report["indication"], report["subindication"]) == ("TOTAL_FAILED", "HASH_FAILURE")


def test_sealing_a_docx_that_cannot_be_signed_writes_nothing(seal: bytes, stranger: Sm2Issued,
                                                             tmp_path: Path) -> None:
    source, sealed = tmp_path / "bid.docx", tmp_path / "out.docx"
    _write_docx(source)
    with pytest.raises(ESealError, match="not bound"):
        seal_docx(source, seal, stranger.key, stranger.cert, sealed)
    assert not sealed.exists()


# --------------------------------------------------------- independent: OpenSSL


def _openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=30)


def _openssl_verifies(work: Path, cert_der: bytes, message: bytes, signature: bytes, name: str) -> bool:
    (work / f"{name}.pem").write_bytes(pem.armor("CERTIFICATE", cert_der))
    result = _openssl("x509", "-pubkey", "-noout", "-in", f"{name}.pem", "-out", f"{name}-pub.pem", cwd=work)
    assert result.returncode == 0, result.stderr
    (work / f"{name}-tbs.der").write_bytes(message)
    (work / f"{name}-sig.der").write_bytes(signature)
    result = _openssl("dgst", "-sm3", "-verify", f"{name}-pub.pem", "-sigopt", "distid:1234567812345678",
                      "-signature", f"{name}-sig.der", f"{name}-tbs.der", cwd=work)
    return result.returncode == 0 and "Verified OK" in result.stdout


@needs_openssl
def test_openssl_verifies_the_sm2_signatures(signature: bytes, signer: Sm2Issued, maker: Sm2Issued,
                                             tmp_path: Path) -> None:
    parsed = s.SESSignature.load(signature)
    tbs, value = parsed["toSign"].dump(), parsed["signature"].native
    assert _openssl_verifies(tmp_path, parsed["cert"].native, tbs, value, "signer")
    assert not _openssl_verifies(tmp_path, parsed["cert"].native, tbs[:-1] + bytes([tbs[-1] ^ 1]), value, "bad")

    seal = parsed["toSign"]["eseal"]
    assert seal["cert"].native == maker.cert_der
    assert _openssl_verifies(tmp_path, seal["cert"].native, seal["eSealInfo"].dump(),
                             seal["signedValue"].native, "maker")
