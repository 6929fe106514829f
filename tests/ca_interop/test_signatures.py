"""Detached CMS signatures, checked against the OpenSSL command line as the other party."""

from __future__ import annotations

import datetime as dt
import io
import random
import shutil
import subprocess
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from ca_interop.demo_pki import DemoCA, Issued
from ca_interop.signatures import (
    SIGNATURE_SCHEMES,
    SignatureFormatError,
    SignatureScheme,
    UnsupportedSignatureError,
    sign_detached,
    verify_detached,
)

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")

CONTENT = b"Bid for section 3: 1,234,567.89 CNY\n" * 500
OTHER_CONTENT = CONTENT.replace(b"567", b"568", 1)


@dataclass
class Pki:
    ca: DemoCA
    signer: Issued
    directory: Path

    @property
    def ca_pem(self) -> Path:
        return self._write("ca.pem", self.ca.cert_pem)

    @property
    def cert_pem(self) -> Path:
        return self._write("signer.pem", self.signer.cert_pem)

    @property
    def key_pem(self) -> Path:
        return self._write("signer.key", self.signer.key_pem)

    def _write(self, name: str, data: bytes) -> Path:
        path = self.directory / name
        if not path.exists():
            path.write_bytes(data)
        return path


def _p384_signer(ca: DemoCA) -> Issued:
    """demo_pki issues P-256 keys only; a P-384 end-entity certificate from the same CA."""
    template = ca.issue("P-384 signer", uscc="91350100M000100Y43")
    key = ec.generate_private_key(ec.SECP384R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(template.cert.subject)
        .issuer_name(template.cert.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(template.cert.not_valid_before_utc)
        .not_valid_after(template.cert.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(template.cert.extensions.get_extension_for_class(x509.KeyUsage).value, critical=True)
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(key=key, cert=cert)


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pki]:
    rsa_ca = DemoCA.create("Signature Test RSA", "rsa")
    ec_ca = DemoCA.create("Signature Test EC", "ecdsa")
    made = {
        "rsa": Pki(rsa_ca, rsa_ca.issue("Alice", uscc="91350100M000100Y43"), tmp_path_factory.mktemp("rsa")),
        "ecdsa": Pki(ec_ca, ec_ca.issue("Bob", person_id="110101199003071234"), tmp_path_factory.mktemp("ec")),
        "ecdsa384": Pki(ec_ca, _p384_signer(ec_ca), tmp_path_factory.mktemp("ec384")),
    }
    return made


@pytest.fixture(scope="module")
def content_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("content") / "bid.bin"
    path.write_bytes(CONTENT)
    return path


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=30)


def openssl_sign(pki: Pki, content: Path, *options: str) -> bytes:
    out = pki.directory / "theirs.p7s"
    result = openssl(
        "cms", "-sign", "-binary", "-outform", "DER", "-in", content,
        "-signer", pki.cert_pem, "-inkey", pki.key_pem, "-out", out, *options,
    )
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


def openssl_verify(pki: Pki, signature: bytes, content: Path) -> subprocess.CompletedProcess[str]:
    sig = pki.directory / "ours.p7s"
    sig.write_bytes(signature)
    return openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", content,
        "-CAfile", pki.ca_pem, "-out", "/dev/null",
    )


# --- our signatures, OpenSSL verifies --------------------------------------------------


@needs_openssl
@pytest.mark.parametrize(("name", "options"), [
    ("rsa", {}),
    ("rsa", {"digest_algorithm": "sha512"}),
    ("rsa", {"rsa_pss": True}),
    ("ecdsa", {}),
    ("ecdsa", {"digest_algorithm": "sha384"}),
    ("ecdsa384", {}),
])
def test_openssl_verifies_our_signature(pkis, content_file, name, options):
    pki = pkis[name]
    signature = sign_detached(CONTENT, pki.signer.key, pki.signer.cert, chain=[pki.ca.cert], **options)
    result = openssl_verify(pki, signature, content_file)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    assert verify_detached(CONTENT, signature).valid


@needs_openssl
def test_openssl_rejects_our_signature_over_other_content(pkis, tmp_path):
    pki = pkis["rsa"]
    other = tmp_path / "other.bin"
    other.write_bytes(OTHER_CONTENT)
    signature = sign_detached(CONTENT, pki.signer.key, pki.signer.cert)
    result = openssl_verify(pki, signature, other)
    assert result.returncode != 0
    assert "content verify error" in result.stderr


def test_signature_structure(pkis):
    pki = pkis["rsa"]
    moment = dt.datetime(2025, 3, 1, 8, 30, 15, 123456, tzinfo=dt.timezone.utc)
    signature = sign_detached(CONTENT, pki.signer.key, pki.signer.cert, chain=[pki.ca.cert], signing_time=moment)
    info = cms.ContentInfo.load(signature, strict=True)
    assert info["content_type"].native == "signed_data"
    signed = info["content"]
    assert signed["encap_content_info"]["content_type"].native == "data"
    assert signed["encap_content_info"]["content"].native is None  # detached
    assert len(signed["certificates"]) == 2
    signer_info = signed["signer_infos"][0]
    assert signer_info["sid"].name == "issuer_and_serial_number"
    assert signer_info["sid"].chosen["serial_number"].native == pki.signer.cert.serial_number
    attributes = signer_info["signed_attrs"]
    assert {a["type"].native for a in attributes} == {"content_type", "message_digest", "signing_time"}
    encodings = [a.dump() for a in attributes]
    assert encodings == sorted(encodings)  # DER orders a SET OF by encoding
    check = verify_detached(CONTENT, signature)
    assert check.valid and check.reason is None
    assert check.signing_time == moment.replace(microsecond=0)
    assert check.signer_cert == pki.signer.cert
    assert check.other_certs == (pki.ca.cert,)
    assert (check.digest_algorithm, check.signature_algorithm) == ("sha256", "rsassa_pkcs1v15")


def test_signing_refuses_a_key_that_does_not_match_the_certificate(pkis):
    with pytest.raises(ValueError, match="does not belong"):
        sign_detached(CONTENT, pkis["ecdsa"].signer.key, pkis["rsa"].signer.cert)


# --- OpenSSL signs, we verify ----------------------------------------------------------


@needs_openssl
@pytest.mark.parametrize(("name", "options", "digest", "algorithm"), [
    ("rsa", (), "sha256", "rsassa_pkcs1v15"),
    ("rsa", ("-md", "sha384"), "sha384", "rsassa_pkcs1v15"),
    ("rsa", ("-keyopt", "rsa_padding_mode:pss"), "sha256", "rsassa_pss"),
    ("rsa", ("-md", "sha512", "-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:20"),
     "sha512", "rsassa_pss"),
    ("ecdsa", (), "sha256", "ecdsa"),
    ("ecdsa", ("-md", "sha384"), "sha384", "ecdsa"),
    ("ecdsa384", ("-md", "sha512"), "sha512", "ecdsa"),
])
def test_we_verify_openssl_signatures(pkis, content_file, name, options, digest, algorithm):
    pki = pkis[name]
    signature = openssl_sign(pki, content_file, *options)
    with content_file.open("rb") as stream:
        check = verify_detached(stream, signature)
    assert check.valid, check.reason
    assert check.signer_cert == pki.signer.cert
    assert (check.digest_algorithm, check.signature_algorithm) == (digest, algorithm)
    assert check.signing_time is not None
    assert abs(check.signing_time - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=5)

    wrong = verify_detached(OTHER_CONTENT, signature)
    assert not wrong.valid
    assert wrong.reason == "the content does not match the signed digest"


@needs_openssl
def test_openssl_chain_and_key_identifier(pkis, content_file):
    pki = pkis["ecdsa"]
    with_chain = verify_detached(content_file, openssl_sign(pki, content_file, "-certfile", str(pki.ca_pem)))
    assert with_chain.valid and with_chain.other_certs == (pki.ca.cert,)
    by_key_id = verify_detached(content_file, openssl_sign(pki, content_file, "-keyid"))
    assert by_key_id.valid and by_key_id.signer_cert == pki.signer.cert


@needs_openssl
def test_signature_without_certificates_needs_them_passed(pkis, content_file):
    pki = pkis["rsa"]
    signature = openssl_sign(pki, content_file, "-nocerts")
    with pytest.raises(SignatureFormatError, match="signer's certificate .* is not in the signature"):
        verify_detached(CONTENT, signature)
    check = verify_detached(CONTENT, signature, certificates=[pki.signer.cert_pem])
    assert check.valid and check.other_certs == ()


@needs_openssl
@pytest.mark.parametrize(("options", "message"), [
    (("-md", "sha1"), "digest algorithm sha1 .* is not accepted"),
    (("-noattr",), "no signed attributes"),
])
def test_unsupported_openssl_signatures(pkis, content_file, options, message):
    signature = openssl_sign(pkis["rsa"], content_file, *options)
    with pytest.raises(UnsupportedSignatureError, match=message):
        verify_detached(CONTENT, signature)


# --- invalid signatures ----------------------------------------------------------------


def test_signature_over_other_content(pkis):
    pki = pkis["ecdsa"]
    check = verify_detached(OTHER_CONTENT, sign_detached(CONTENT, pki.signer.key, pki.signer.cert))
    assert not check.valid
    assert check.reason == "the content does not match the signed digest"
    assert check.signer_cert == pki.signer.cert
    assert check.content_digest is not None


@pytest.mark.parametrize("name", ["rsa", "ecdsa"])
def test_signature_by_another_key_with_the_right_certificate(pkis, name):
    pki = pkis[name]
    signature = sign_detached(CONTENT, pki.signer.key, pki.signer.cert)
    info = cms.ContentInfo.load(signature)
    signer_info = info["content"]["signer_infos"][0]
    to_sign = signer_info["signed_attrs"].untag().dump()
    impostor = pki.ca.issue("Mallory").key
    if name == "rsa":
        forged = impostor.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
    else:
        forged = impostor.sign(to_sign, ec.ECDSA(hashes.SHA256()))
    signer_info["signature"] = forged
    check = verify_detached(CONTENT, info.dump(force=True))
    assert not check.valid
    assert check.reason == "the signature does not verify with the signer's certificate"
    assert check.content_digest is None  # the content was not read


def test_signature_algorithm_must_fit_the_key(pkis):
    pki = pkis["ecdsa"]
    info = cms.ContentInfo.load(sign_detached(CONTENT, pki.signer.key, pki.signer.cert))
    info["content"]["signer_infos"][0]["signature_algorithm"] = {"algorithm": "rsassa_pkcs1v15"}
    check = verify_detached(CONTENT, info.dump(force=True))
    assert not check.valid
    assert check.reason == "an RSA signature cannot come from the signer's ec key"


def test_signature_schemes_are_pluggable(pkis, monkeypatch):
    """How a new algorithm comes in (as SM2 did): a scheme registered for its signatureAlgorithm OID."""
    unregistered = "1.3.6.1.4.1.55555.1.2"  # a private-arc OID nobody signs with
    pki = pkis["ecdsa"]
    info = cms.ContentInfo.load(sign_detached(CONTENT, pki.signer.key, pki.signer.cert))
    signer_info = info["content"]["signer_infos"][0]
    signer_info["signature_algorithm"] = {"algorithm": unregistered}
    signature = info.dump(force=True)
    with pytest.raises(UnsupportedSignatureError, match=f"signature algorithm {unregistered} is not accepted"):
        verify_detached(CONTENT, signature)

    calls = []

    def verify(public_key, signature, message, digest, parameters):
        calls.append((public_key["algorithm"]["algorithm"].native, message, digest.name))

    monkeypatch.setitem(SIGNATURE_SCHEMES, unregistered, SignatureScheme("newscheme", verify))
    check = verify_detached(CONTENT, signature)
    assert check.valid and check.signature_algorithm == "newscheme"
    assert calls == [("ec", signer_info["signed_attrs"].untag().dump(), "sha256")]


# --- malformed input -------------------------------------------------------------------


def _valid_signature(pkis) -> bytes:
    pki = pkis["ecdsa"]
    return sign_detached(CONTENT, pki.signer.key, pki.signer.cert)


def _indefinite(signature: bytes) -> bytes:
    """The same ContentInfo with its outer SEQUENCE re-encoded with BER indefinite length."""
    assert signature[0] == 0x30 and signature[1] & 0x80
    header = 2 + (signature[1] & 0x7F)
    return b"\x30\x80" + signature[header:] + b"\x00\x00"


def test_ber_indefinite_length_is_accepted(pkis):
    assert verify_detached(CONTENT, _indefinite(_valid_signature(pkis))).valid


def test_pem_is_refused(pkis):
    import base64

    pem = b"-----BEGIN CMS-----\n" + base64.encodebytes(_valid_signature(pkis)) + b"-----END CMS-----\n"
    with pytest.raises(SignatureFormatError, match="PEM text, not DER"):
        verify_detached(CONTENT, pem)


@pytest.mark.parametrize(("mangle", "message"), [
    (lambda sig: b"", "is empty"),
    (lambda sig: sig[: len(sig) // 2], "declares .* bytes of content but only .* are present"),
    (lambda sig: sig[:3], "truncated"),
    (lambda sig: sig + b"\x00junk", "5 bytes of trailing data"),
    (lambda sig: random.Random(7).randbytes(2000), "does not start with an ASN.1 SEQUENCE"),
    (lambda sig: b"\x30" + random.Random(7).randbytes(2000), "trailing data|declares|absurd|truncated"),
    # a SEQUENCE header claiming 2**62 bytes
    (lambda sig: b"\x30\x88" + (2**62).to_bytes(8, "big") + b"\x06\x09", "declares 4611686018427387904 bytes"),
    (lambda sig: b"\x30\x89" + b"\x01" * 9 + b"\x00", "9 length octets"),
    # an honest outer header around a SignedData claiming 2**62 bytes
    (lambda sig: _seq(bytes.fromhex("06092a864886f70d010702") + b"\xa0\x88" + (2**62).to_bytes(8, "big")
                      + b"\x30\x00"), r"malformed \(reading the ContentInfo\): Insufficient data"),
    # indefinite lengths nested deeper than the parser allows
    (lambda sig: b"\x30\x80" * 50 + b"\x00\x00" * 50, "malformed .*recursion limit"),
    (lambda sig: _indefinite(sig)[:-2], "malformed"),
    (lambda sig: _seq(b"\x06\x03\x2a\x03\x04"), "is a CMS 1.2.3.4, not a SignedData"),
    (lambda sig: _seq(bytes.fromhex("06092a864886f70d010702") + b"\xa0\x03\x02\x01\x01"), "malformed"),
])
def test_malformed_signatures(pkis, mangle, message):
    with pytest.raises(SignatureFormatError, match=message):
        verify_detached(CONTENT, mangle(_valid_signature(pkis)))


def _seq(contents: bytes) -> bytes:
    assert len(contents) < 0x10000
    return b"\x30\x82" + len(contents).to_bytes(2, "big") + contents


@needs_openssl
def test_attached_signature_is_refused(pkis, content_file):
    signature = openssl_sign(pkis["rsa"], content_file, "-nodetach")
    with pytest.raises(SignatureFormatError, match="attached .* a detached signature is expected"):
        verify_detached(CONTENT, signature)


@needs_openssl
def test_enveloped_data_is_refused(pkis, content_file, tmp_path):
    out = tmp_path / "enveloped.p7m"
    result = openssl("cms", "-encrypt", "-binary", "-outform", "DER", "-in", content_file, "-out", out,
                     pkis["rsa"].cert_pem)
    assert result.returncode == 0, result.stderr
    with pytest.raises(SignatureFormatError, match=r"is a CMS EnvelopedData \(1.2.840.113549.1.7.3\), not a SignedData"):
        verify_detached(CONTENT, out.read_bytes())


def test_oversized_signature_is_refused_before_parsing(pkis):
    with pytest.raises(SignatureFormatError, match="more than the 100 accepted"):
        verify_detached(CONTENT, _valid_signature(pkis), max_size=100)


def test_signature_must_be_bytes(pkis):
    with pytest.raises(TypeError):
        verify_detached(CONTENT, _valid_signature(pkis).decode("latin-1"))  # type: ignore[arg-type]


# --- content inputs and streaming ------------------------------------------------------


def test_content_inputs(pkis, content_file):
    pki = pkis["ecdsa"]
    chunks = [CONTENT[i : i + 999] for i in range(0, len(CONTENT), 999)]
    signature = sign_detached(iter(chunks), pki.signer.key, pki.signer.cert)
    assert verify_detached(CONTENT, signature).valid
    assert verify_detached(content_file, signature).valid
    assert verify_detached(io.BytesIO(CONTENT), signature).valid
    assert verify_detached(memoryview(CONTENT), signature).valid
    assert verify_detached([bytearray(c) for c in chunks], signature).valid
    with content_file.open("rb", buffering=0) as raw:
        assert verify_detached(raw, signature).valid
    with pytest.raises(TypeError, match="text"):
        verify_detached(CONTENT.decode(), signature)
    with content_file.open("r", encoding="latin-1") as text, pytest.raises(TypeError, match="binary mode"):
        verify_detached(text, signature)
    with pytest.raises(TypeError, match="chunks must be bytes"):
        verify_detached(["not bytes"], signature)
    with pytest.raises(TypeError, match="text"):
        sign_detached("text", pki.signer.key, pki.signer.cert)
    with pytest.raises(TypeError, match="text"):  # before the signature is even looked at
        verify_detached("text", b"garbage")


class _PatternStream(io.RawIOBase):
    """``size`` bytes of a repeated pattern, made on the fly: a big file that is nowhere."""

    def __init__(self, size: int, pattern: bytes) -> None:
        self.remaining = size
        self.pattern = pattern

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), len(self.pattern), self.remaining)
        buffer[:count] = self.pattern[:count]
        self.remaining -= count
        return count


def test_large_content_is_streamed(pkis):
    pki = pkis["ecdsa"]
    chunk = random.Random(1).randbytes(1 << 20)
    size = 200 * len(chunk)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        signature = sign_detached((chunk for _ in range(200)), pki.signer.key, pki.signer.cert)
        check = verify_detached(_PatternStream(size, chunk), signature)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert check.valid, check.reason
    assert peak < 4 << 20, f"peak {peak} bytes while streaming {size} bytes"
