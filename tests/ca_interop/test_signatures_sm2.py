"""Detached CMS signatures with SM2/SM3 (GM/T 0010), checked against OpenSSL 3.0.

OpenSSL 3.0 cannot make or verify SM2 CMS signatures (``openssl cms`` checks SM2 with
the empty signer ID), but it parses our SignedData and its ``dgst`` command signs and
verifies SM2-with-SM3 under an explicit ID. So the independent checks work on the
pieces: the DER of the signed attributes (a SET OF) and the signature over them, with
``-sigopt distid:1234567812345678``.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import shutil
import subprocess
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import algos, cms
from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding

from ca_interop import gm
from ca_interop.demo_pki import DemoCA
from ca_interop.demo_pki_sm2 import Sm2DemoCA, Sm2Issued
from ca_interop.revocation import RevocationSource, StaticRevocationTransport
from ca_interop.signature_reports import validate_detached_signature
from ca_interop.signatures import (
    GM_DATA,
    GM_SIGNED_DATA,
    ID_DATA,
    ID_SIGNED_DATA,
    OID_SM2_SIGN,
    SignatureFormatError,
    UnsupportedSignatureError,
    load_signing_key,
    sign_detached,
    verify_detached,
)
from ca_interop.validation import CertificateValidator, TrustAnchor

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")
DISTID = "distid:1234567812345678"
USCC = "91350100M000100Y43"

CONTENT = "投标文件 section 3: 1,234,567.89 CNY\n".encode() * 500
OTHER_CONTENT = CONTENT.replace(b"567", b"568", 1)
CONTENT_DIGEST_ERROR = "the content does not match the signed digest"
SIGNATURE_ERROR = "the signature does not verify with the signer's certificate"


@dataclass
class Sm2Pki:
    ca: Sm2DemoCA
    signer: Sm2Issued
    directory: Path

    def write(self, name: str, data: bytes) -> Path:
        path = self.directory / name
        path.write_bytes(data)
        return path

    @property
    def cert_pem(self) -> Path:
        return self.write("signer.pem", self.signer.cert_pem)

    @property
    def key_pem(self) -> Path:
        return self.write("signer.key", self.signer.key_pem)

    @property
    def crypto_cert(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.signer.cert_der)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Sm2Pki:
    ca = Sm2DemoCA.create("Signature Test SM2")
    return Sm2Pki(ca, ca.issue("Minjiang Construction", uscc=USCC), tmp_path_factory.mktemp("sm2"))


def openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *map(str, args)], cwd=cwd, capture_output=True, timeout=60)


def _signer_info(signature: bytes) -> cms.SignerInfo:
    return cms.ContentInfo.load(signature)["content"]["signer_infos"][0]


# --- round trips --------------------------------------------------------------------------


def test_sm2_round_trip_and_structure(pki):
    moment = dt.datetime(2025, 3, 1, 8, 30, 15, 654321, tzinfo=dt.timezone.utc)
    signature = sign_detached(CONTENT, pki.signer.key, pki.signer.cert, chain=[pki.ca.cert], signing_time=moment)

    info = cms.ContentInfo.load(signature, strict=True)
    assert info["content_type"].dotted == ID_SIGNED_DATA  # RFC 5652 OIDs, not GM/T 0010's
    signed = info["content"]
    assert signed["encap_content_info"]["content_type"].dotted == ID_DATA
    assert signed["encap_content_info"]["content"].native is None  # detached
    assert [a["algorithm"].dotted for a in signed["digest_algorithms"]] == [gm.OID_SM3]
    signer_info = signed["signer_infos"][0]
    assert signer_info["digest_algorithm"]["algorithm"].dotted == gm.OID_SM3
    assert signer_info["signature_algorithm"]["algorithm"].dotted == gm.OID_SM2_WITH_SM3
    assert signer_info["signature_algorithm"].dump() == bytes.fromhex("300a06082a811ccf55018375")  # no parameters
    assert signer_info["sid"].chosen["serial_number"].native == pki.signer.cert.serial_number
    attributes = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attributes["content_type"].dotted == ID_DATA
    assert attributes["message_digest"].native == gm.sm3(CONTENT)
    # The signature is SM2 over the attributes' DER SET OF, Z from the default ID.
    to_sign = signer_info["signed_attrs"].untag().dump()
    assert to_sign[0] == 0x31
    assert gm.sm2_verify(pki.signer.key.public_key, to_sign, signer_info["signature"].native)
    assert not gm.sm2_verify(pki.signer.key.public_key, to_sign, signer_info["signature"].native, b"")

    check = verify_detached(CONTENT, signature)
    assert check.valid and check.reason is None
    assert (check.digest_algorithm, check.signature_algorithm) == ("sm3", "sm2")
    assert check.content_digest == gm.sm3(CONTENT)
    assert check.signing_time == moment.replace(microsecond=0)
    # The certificates come back as pyca/cryptography certificates, SM2 included ...
    assert check.signer_cert == pki.crypto_cert
    assert check.other_certs == (x509.load_der_x509_certificate(pki.ca.cert_der),)
    # ... which cannot give the SM2 key, but convert losslessly to asn1crypto for the validator.
    with pytest.raises(UnsupportedAlgorithm):
        check.signer_cert.public_key()
    assert check.signer_cert.public_bytes(Encoding.DER) == pki.signer.cert_der


def test_sm3_is_registered_as_digest_algorithm(pki):
    """GB/T 32905 example 1: SM3("abc"), independently of the gm module."""
    signature = sign_detached(b"abc", pki.signer.key, pki.signer.cert)
    attributes = {a["type"].native: a["values"][0].native for a in _signer_info(signature)["signed_attrs"]}
    assert attributes["message_digest"] == bytes.fromhex(
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
    assert verify_detached(b"abc", signature).content_digest == attributes["message_digest"]


@pytest.mark.parametrize("form", ["asn1crypto", "cryptography", "der", "pem"])
def test_sm2_certificate_in_every_form(pki, form):
    cert = {"asn1crypto": pki.signer.cert, "cryptography": pki.crypto_cert,
            "der": pki.signer.cert_der, "pem": pki.signer.cert_pem}[form]
    chain = {"asn1crypto": [pki.ca.cert], "cryptography": [x509.load_der_x509_certificate(pki.ca.cert_der)],
             "der": [pki.ca.cert_der], "pem": [pki.ca.cert_pem]}[form]
    signature = sign_detached(CONTENT, pki.signer.key, cert, chain=chain)
    check = verify_detached(io.BytesIO(CONTENT), signature)
    assert check.valid, check.reason
    assert len(check.other_certs) == 1


def test_signature_without_certificates_needs_them_passed(pki):
    info = cms.ContentInfo.load(sign_detached(CONTENT, pki.signer.key, pki.signer.cert))
    del info["content"]["certificates"]
    signature = info.dump(force=True)
    with pytest.raises(SignatureFormatError, match="not in the signature"):
        verify_detached(CONTENT, signature)
    assert verify_detached(CONTENT, signature, certificates=[pki.signer.cert_pem]).valid


def test_sm2_keys_load_from_key_files(pki):
    assert load_signing_key(pki.signer.key_pem) == pki.signer.key  # PKCS#8 PEM
    assert load_signing_key(pki.signer.key.to_pkcs8_der()) == pki.signer.key
    assert load_signing_key(pki.signer.key.to_sec1_pem()) == pki.signer.key  # "EC PRIVATE KEY"
    openssl_label = pki.signer.key.to_sec1_pem().replace(b"EC PRIVATE KEY", b"SM2 PRIVATE KEY")
    assert load_signing_key(openssl_label) == pki.signer.key
    key = load_signing_key(pki.signer.key_pem)
    assert verify_detached(CONTENT, sign_detached(CONTENT, key, pki.signer.cert_pem)).valid
    ec_ca = DemoCA.create("Signature Test EC", "ecdsa")
    ec_signer = ec_ca.issue("Bob")
    assert load_signing_key(ec_signer.key_pem).public_key() == ec_signer.key.public_key()
    with pytest.raises(ValueError):
        load_signing_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


class _PatternStream(io.RawIOBase):
    """``size`` bytes of a repeated pattern, made on the fly: a big file that is nowhere."""

    def __init__(self, size: int, pattern: bytes, *, last: bytes = b"") -> None:
        self.remaining = size
        self.pattern = pattern
        self.last = last  # replaces the final bytes, to make a different stream of the same size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), len(self.pattern), self.remaining)
        buffer[:count] = self.pattern[:count]
        self.remaining -= count
        if count and self.remaining == 0 and self.last:
            buffer[count - len(self.last) : count] = self.last
        return count


def test_50_mb_stream_round_trip(pki):
    chunk = random.Random(3).randbytes(1 << 20)
    size = 50 * len(chunk)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        signature = sign_detached(_PatternStream(size, chunk), pki.signer.key, pki.signer.cert)
        check = verify_detached(_PatternStream(size, chunk), signature)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert check.valid, check.reason
    assert peak < 4 << 20, f"peak {peak} bytes while streaming {size} bytes"
    expected = gm.Sm3Hasher()
    for _ in range(50):
        expected.update(chunk)
    assert check.content_digest == expected.digest()

    altered = verify_detached(_PatternStream(size, chunk, last=b"!"), signature)
    assert not altered.valid and altered.reason == CONTENT_DIGEST_ERROR


# --- invalid signatures ---------------------------------------------------------------------


def test_tampered_content_is_a_hash_failure(pki, tmp_path):
    signature = sign_detached(CONTENT, pki.signer.key, pki.signer.cert)
    check = verify_detached(OTHER_CONTENT, signature)
    assert not check.valid
    assert check.reason == CONTENT_DIGEST_ERROR
    assert check.content_digest == gm.sm3(OTHER_CONTENT)
    path = tmp_path / "bid.bin"
    path.write_bytes(OTHER_CONTENT)
    assert verify_detached(path, signature).reason == CONTENT_DIGEST_ERROR


async def test_the_signature_report_judges_sm2_signatures_end_to_end(pki):
    """signature_reports + the certificate validator, as `bidhall verify` runs them."""
    transport = StaticRevocationTransport(documents={pki.ca.crl_url: pki.ca.crl().dump()})
    validator = CertificateValidator([TrustAnchor("Test SM2", pki.ca.cert)], RevocationSource(transport))
    signature = sign_detached(CONTENT, pki.signer.key, pki.signer.cert_pem, chain=[pki.ca.cert_pem])

    good = await validate_detached_signature(CONTENT, signature, validator)
    assert good["indication"] == "TOTAL_PASSED", good["detail"]
    assert good["signature"]["signature_algorithm"] == "sm2"
    assert good["signature"]["digest_algorithm"] == "sm3"

    tampered = await validate_detached_signature(OTHER_CONTENT, signature, validator)
    assert (tampered["indication"], tampered["subindication"]) == ("TOTAL_FAILED", "HASH_FAILURE")

    forged = _with_signature(signature, gm.sm2_sign(gm.generate_sm2_key(), _to_sign(signature)))
    report = await validate_detached_signature(CONTENT, forged, validator)
    assert (report["indication"], report["subindication"]) == ("TOTAL_FAILED", "SIG_CRYPTO_FAILURE")


def _to_sign(signature: bytes) -> bytes:
    return _signer_info(signature)["signed_attrs"].untag().dump()


def _with_signature(signature: bytes, value: bytes) -> bytes:
    info = cms.ContentInfo.load(signature)
    info["content"]["signer_infos"][0]["signature"] = value
    return info.dump(force=True)


def test_signature_by_another_sm2_key_with_the_right_certificate(pki):
    signature = sign_detached(CONTENT, pki.signer.key, pki.signer.cert)
    impostor = pki.ca.issue("Mallory").key
    forged = _with_signature(signature, gm.sm2_sign(impostor, _to_sign(signature)))
    check = verify_detached(CONTENT, forged)
    assert not check.valid
    assert check.reason == SIGNATURE_ERROR
    assert check.content_digest is None  # the content was not read
    assert check.signer_cert == pki.crypto_cert


def test_signature_with_another_signer_id_or_altered_attributes_is_invalid(pki):
    signature = sign_detached(CONTENT, pki.signer.key, pki.signer.cert)
    empty_id = _with_signature(signature, gm.sm2_sign(pki.signer.key, _to_sign(signature), b""))
    assert verify_detached(CONTENT, empty_id).reason == SIGNATURE_ERROR

    info = cms.ContentInfo.load(signature)
    attributes = info["content"]["signer_infos"][0]["signed_attrs"]
    for attribute in attributes:
        if attribute["type"].native == "signing_time":
            attribute["values"] = [cms.Time({"utc_time": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)})]
    assert verify_detached(CONTENT, info.dump(force=True)).reason == SIGNATURE_ERROR


def test_sm2_needs_sm3(pki):
    info = cms.ContentInfo.load(sign_detached(CONTENT, pki.signer.key, pki.signer.cert))
    info["content"]["signer_infos"][0]["digest_algorithm"] = {"algorithm": "sha256"}
    check = verify_detached(CONTENT, info.dump(force=True))
    assert not check.valid
    assert check.reason == (
        "the signature algorithm sm2_with_sm3 (1.2.156.10197.1.501) uses sm3 but the digest algorithm is sha256")
    with pytest.raises(ValueError, match="SM2 key signs with SM3"):
        sign_detached(CONTENT, pki.signer.key, pki.signer.cert, digest_algorithm="sha256")
    assert verify_detached(CONTENT, sign_detached(CONTENT, pki.signer.key, pki.signer.cert,
                                                  digest_algorithm="SM3")).valid


def test_sm2_parameters_are_refused(pki):
    info = cms.ContentInfo.load(sign_detached(CONTENT, pki.signer.key, pki.signer.cert))
    info["content"]["signer_infos"][0]["signature_algorithm"] = algos.SignedDigestAlgorithm(
        {"algorithm": gm.OID_SM2_WITH_SM3, "parameters": algos.DigestAlgorithm({"algorithm": "sha256"})})
    check = verify_detached(CONTENT, info.dump(force=True))
    assert not check.valid and "has parameters" in check.reason
    # NULL parameters are harmless and accepted
    info["content"]["signer_infos"][0]["signature_algorithm"] = algos.SignedDigestAlgorithm(
        {"algorithm": gm.OID_SM2_WITH_SM3, "parameters": asn1_core.Null()})
    with_null = info.dump(force=True)
    assert bytes.fromhex("300c06082a811ccf550183750500") in with_null
    assert verify_detached(CONTENT, with_null).valid


def test_keys_and_certificates_of_different_families_do_not_mix(pki):
    ec_ca = DemoCA.create("Signature Test EC", "ecdsa")
    ec_signer = ec_ca.issue("Bob")
    rsa_signer = DemoCA.create("Signature Test RSA", "rsa").issue("Carol")
    with pytest.raises(ValueError, match="does not belong"):
        sign_detached(CONTENT, pki.signer.key, ec_signer.cert)
    with pytest.raises(ValueError, match="does not belong"):
        sign_detached(CONTENT, pki.signer.key, rsa_signer.cert)
    with pytest.raises(ValueError, match="does not belong"):
        sign_detached(CONTENT, ec_signer.key, pki.signer.cert)
    with pytest.raises(ValueError, match="does not belong"):
        sign_detached(CONTENT, pki.ca.key, pki.signer.cert)  # SM2, but another key
    with pytest.raises(ValueError, match="sha256, sha384 or sha512"):
        sign_detached(CONTENT, ec_signer.key, ec_signer.cert, digest_algorithm="sm3")

    # An SM2 signatureAlgorithm on an ECDSA (P-256) or RSA signer's signature
    for signer, message in ((ec_signer, "cannot be used for SM2"),
                            (rsa_signer, "an SM2 signature cannot come from the signer's rsa key")):
        info = cms.ContentInfo.load(sign_detached(CONTENT, signer.key, signer.cert))
        signer_info = info["content"]["signer_infos"][0]
        signer_info["signature_algorithm"] = {"algorithm": gm.OID_SM2_WITH_SM3}
        signer_info["digest_algorithm"] = {"algorithm": gm.OID_SM3}
        check = verify_detached(CONTENT, info.dump(force=True))
        assert not check.valid and message in check.reason, check.reason
    # An ECDSA signatureAlgorithm on an SM2 signer's signature
    info = cms.ContentInfo.load(sign_detached(CONTENT, pki.signer.key, pki.signer.cert))
    info["content"]["signer_infos"][0]["signature_algorithm"] = {"algorithm": "sha256_ecdsa"}
    info["content"]["signer_infos"][0]["digest_algorithm"] = {"algorithm": "sha256"}
    check = verify_detached(CONTENT, info.dump(force=True))
    assert not check.valid and "cannot be used" in check.reason


# --- GM/T 0010 content types -----------------------------------------------------------------


def _gm_variant(signature: bytes, *, outer: str, inner: str, attribute: str | None = None,
                algorithm: str | None = None, signer: gm.Sm2PrivateKey | None = None) -> bytes:
    """Our signature with other content type OIDs (re-signed when the attributes change)."""
    info = cms.ContentInfo.load(signature)
    signed = info["content"]
    signed["encap_content_info"] = {"content_type": inner}
    signer_info = signed["signer_infos"][0]
    if attribute is not None:
        for item in signer_info["signed_attrs"]:
            if item["type"].native == "content_type":
                item["values"] = [attribute]
    if algorithm is not None:
        signer_info["signature_algorithm"] = {"algorithm": algorithm}
    if signer is not None:
        signer_info["signature"] = gm.sm2_sign(signer, signer_info["signed_attrs"].untag().dump(force=True))
    info["content_type"] = outer
    return info.dump(force=True)


@pytest.mark.parametrize("algorithm", [gm.OID_SM2_WITH_SM3, OID_SM2_SIGN])
def test_gmt_0010_oids_are_accepted(pki, algorithm):
    signature = sign_detached(CONTENT, pki.signer.key, pki.signer.cert, chain=[pki.ca.cert])
    gm_signature = _gm_variant(signature, outer=GM_SIGNED_DATA, inner=GM_DATA, attribute=GM_DATA,
                               algorithm=algorithm, signer=pki.signer.key)
    info = cms.ContentInfo.load(gm_signature, strict=True)
    assert info["content_type"].dotted == GM_SIGNED_DATA
    check = verify_detached(CONTENT, gm_signature)
    assert check.valid, check.reason
    assert check.signature_algorithm == "sm2" and check.signer_cert == pki.crypto_cert
    assert len(check.other_certs) == 1
    assert verify_detached(OTHER_CONTENT, gm_signature).reason == CONTENT_DIGEST_ERROR


def test_gmt_0010_content_types_mix_with_rfc_5652_ones(pki):
    signature = sign_detached(CONTENT, pki.signer.key, pki.signer.cert)
    # The outer type only names the structure: GM's outer OID around a standard inside is fine.
    assert verify_detached(CONTENT, _gm_variant(signature, outer=GM_SIGNED_DATA, inner=ID_DATA)).valid
    # The contentType attribute must name the encapsulated type, whichever OIDs are used.
    mismatch = verify_detached(CONTENT, _gm_variant(signature, outer=ID_SIGNED_DATA, inner=GM_DATA))
    assert not mismatch.valid
    assert mismatch.reason == (
        "the signed contentType attribute Data (1.2.840.113549.1.7.1) differs from the encapsulated "
        "content type GM/T 0010 Data (1.2.156.10197.6.1.4.2.1)")
    # Other GM/T 0010 content types are still refused.
    with pytest.raises(UnsupportedSignatureError, match="only Data is accepted"):
        verify_detached(CONTENT, _gm_variant(signature, outer=GM_SIGNED_DATA, inner="1.2.156.10197.6.1.4.2.3"))
    with pytest.raises(SignatureFormatError, match=r"is a CMS 1.2.156.10197.6.1.4.2.3, not a SignedData"):
        verify_detached(CONTENT, _gm_variant(signature, outer="1.2.156.10197.6.1.4.2.3", inner=ID_DATA))


def test_malformed_gmt_0010_signed_data_is_a_format_error(pki):
    body = bytes.fromhex("060a2a811ccf550601040202") + bytes.fromhex("a0053003020101")
    with pytest.raises(SignatureFormatError, match=r"malformed \(reading the SignedData\)"):
        verify_detached(CONTENT, b"\x30" + bytes([len(body)]) + body)


# --- OpenSSL as the other party --------------------------------------------------------------


@needs_openssl
def test_openssl_reads_our_sm2_certificate_and_cms(pki):
    text = openssl("x509", "-in", pki.cert_pem, "-noout", "-text", cwd=pki.directory)
    assert text.returncode == 0, text.stderr
    assert b"SM2-with-SM3" in text.stdout and b"ASN1 OID: SM2" in text.stdout
    pki.write("ours.p7s", sign_detached(CONTENT, pki.signer.key, pki.signer.cert, chain=[pki.ca.cert]))
    printed = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", "ours.p7s", cwd=pki.directory)
    assert printed.returncode == 0, printed.stderr
    assert b"contentType: pkcs7-signedData" in printed.stdout
    assert b"sm3 (1.2.156.10197.1.401)" in printed.stdout
    assert b"SM2-with-SM3 (1.2.156.10197.1.501)" in printed.stdout


@needs_openssl
def test_openssl_verifies_our_sm2_signature_over_the_signed_attributes(pki):
    directory = pki.directory
    signature = sign_detached(CONTENT, pki.signer.key, pki.signer.cert_pem)
    signer_info = _signer_info(signature)
    pki.write("signedattrs.der", signer_info["signed_attrs"].untag().dump())
    pki.write("sig.der", signer_info["signature"].native)
    pubkey = openssl("x509", "-in", pki.cert_pem, "-pubkey", "-noout", cwd=directory)
    assert pubkey.returncode == 0, pubkey.stderr
    pki.write("pub.pem", pubkey.stdout)
    assert gm.load_sm2_public_key(pubkey.stdout) == pki.signer.key.public_key

    verified = openssl("dgst", "-sm3", "-verify", "pub.pem", "-sigopt", DISTID,
                       "-signature", "sig.der", "signedattrs.der", cwd=directory)
    assert verified.returncode == 0, verified.stderr
    assert b"Verified OK" in verified.stdout
    # Z really comes from "1234567812345678": OpenSSL's default, the empty ID, fails.
    empty_id = openssl("dgst", "-sm3", "-verify", "pub.pem", "-signature", "sig.der", "signedattrs.der",
                       cwd=directory)
    assert empty_id.returncode != 0
    # And the messageDigest attribute is OpenSSL's SM3 of the content.
    pki.write("content.bin", CONTENT)
    digest = openssl("dgst", "-sm3", "-binary", "content.bin", cwd=directory)
    attributes = {a["type"].native: a["values"][0].native for a in signer_info["signed_attrs"]}
    assert attributes["message_digest"] == digest.stdout


def _openssl_signed_data(pki: Sm2Pki, sign: Callable[[bytes], bytes], *, outer: str, inner: str,
                         algorithm: str) -> bytes:
    """A detached SignedData built here, field by field, with the SM3 of the content and
    the SM2 signature over the signed attributes both made by ``sign``'s party."""
    pki.write("content.bin", CONTENT)
    digest = openssl("dgst", "-sm3", "-binary", "content.bin", cwd=pki.directory)
    assert digest.returncode == 0, digest.stderr
    signed_attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": [inner]}),
        cms.CMSAttribute({"type": "signing_time",
                          "values": [cms.Time({"utc_time": dt.datetime.now(dt.timezone.utc).replace(microsecond=0)})]}),
        cms.CMSAttribute({"type": "message_digest", "values": [digest.stdout]}),
    ])
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": {"issuer_and_serial_number": {"issuer": pki.signer.cert.issuer,
                                             "serial_number": pki.signer.cert.serial_number}},
        "digest_algorithm": {"algorithm": gm.OID_SM3},
        "signed_attrs": signed_attrs,
        "signature_algorithm": {"algorithm": algorithm},
        "signature": sign(signed_attrs.dump(force=True)),
    })
    signed_data = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [{"algorithm": gm.OID_SM3}],
        "encap_content_info": {"content_type": inner},
        "certificates": [pki.signer.cert, pki.ca.cert],
        "signer_infos": [signer_info],
    })
    info = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    info["content_type"] = outer
    return info.dump(force=True)


def _openssl_sm2_signer(pki: Sm2Pki, user_id: str = DISTID) -> Callable[[bytes], bytes]:
    def sign(message: bytes) -> bytes:
        pki.write("tbs.der", message)
        options = ["-sigopt", user_id] if user_id else []
        result = openssl("dgst", "-sm3", "-sign", pki.key_pem, *options, "-out", "theirs.sig", "tbs.der",
                         cwd=pki.directory)
        assert result.returncode == 0, result.stderr
        return (pki.directory / "theirs.sig").read_bytes()

    return sign


@needs_openssl
@pytest.mark.parametrize(("outer", "inner", "algorithm"), [
    (ID_SIGNED_DATA, ID_DATA, gm.OID_SM2_WITH_SM3),
    (GM_SIGNED_DATA, GM_DATA, OID_SM2_SIGN),
    (GM_SIGNED_DATA, GM_DATA, gm.OID_SM2_WITH_SM3),
])
def test_we_verify_a_signed_data_signed_by_openssl(pki, outer, inner, algorithm):
    signature = _openssl_signed_data(pki, _openssl_sm2_signer(pki), outer=outer, inner=inner, algorithm=algorithm)
    with (pki.directory / "content.bin").open("rb") as stream:
        check = verify_detached(stream, signature)
    assert check.valid, check.reason
    assert (check.digest_algorithm, check.signature_algorithm) == ("sm3", "sm2")
    assert check.signer_cert == pki.crypto_cert
    assert verify_detached(OTHER_CONTENT, signature).reason == CONTENT_DIGEST_ERROR


@needs_openssl
def test_openssl_signature_with_the_empty_id_is_refused(pki):
    """What OpenSSL 3.0 makes without -sigopt distid: not a GM/T 0010 signature."""
    signature = _openssl_signed_data(pki, _openssl_sm2_signer(pki, user_id=""), outer=ID_SIGNED_DATA,
                                     inner=ID_DATA, algorithm=gm.OID_SM2_WITH_SM3)
    check = verify_detached(CONTENT, signature)
    assert not check.valid and check.reason == SIGNATURE_ERROR
