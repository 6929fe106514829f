"""Tests for ca_interop.envelopes, with the OpenSSL 3 command line as the independent party:
our envelopes open in ``openssl cms -decrypt``, OpenSSL's open in ours; tampering,
wrong keys, plaintext and malformed input are refused with clear errors; and sealing
and opening stream in bounded memory."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import random
import shutil
import subprocess
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ca_interop.demo_pki import DemoCA, Issued, Usage
from ca_interop.envelopes import (
    EnvelopeError,
    EnvelopeFormatError,
    EnvelopeTampered,
    NotARecipient,
    RecipientRefused,
    SourceChanged,
    _der,
    check_envelope,
    envelope_prefix,
    inspect_envelope,
    is_sealed,
    open_envelope,
    seal,
    why_not_sealed,
)

MiB = 1 << 20
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")


# --------------------------------------------------------------------------- PKI fixtures


@dataclass
class Party:
    name: str
    issued: Issued
    cert_path: Path
    key_path: Path

    @property
    def cert(self) -> x509.Certificate:
        return self.issued.cert

    @property
    def key(self):  # noqa: ANN201
        return self.issued.key


def _p384_encryption_cert(ca: DemoCA, name: str) -> Issued:
    """demo_pki makes P-256 keys only; a P-384 key-agreement certificate from the same CA."""
    key = ec.generate_private_key(ec.SECP384R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.KeyUsage(False, False, False, False, True, False, False, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(key=key, cert=cert)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Party]:
    directory = tmp_path_factory.mktemp("pki")
    rsa_ca = DemoCA.create("Envelope RSA CA", "rsa")
    ec_ca = DemoCA.create("Envelope EC CA", "ecdsa")
    issued = {
        "rsa": rsa_ca.issue("Bidder RSA encryption", usage=Usage.ENCRYPTION, uscc="91350100M000100Y43"),
        "ec": ec_ca.issue("Bidder EC encryption", usage=Usage.ENCRYPTION),
        "ec384": _p384_encryption_cert(ec_ca, "Lot opening key P-384"),
        "lot": rsa_ca.issue("Lot 7 opening key", usage=Usage.ENCRYPTION),
        "stranger": rsa_ca.issue("Someone else", usage=Usage.ENCRYPTION),
        "rsa_signing": rsa_ca.issue("Bidder RSA signing", usage=Usage.SIGNING),
        "ec_signing": ec_ca.issue("Bidder EC signing", usage=Usage.SIGNING),
    }
    parties = {}
    for name, item in issued.items():
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        cert_path.write_bytes(item.cert_pem)
        key_path.write_bytes(item.key_pem)
        parties[name] = Party(name, item, cert_path, key_path)
    return parties


@pytest.fixture(scope="module")
def plaintext() -> bytes:
    return os.urandom(100_000) + b"bid price: 1,234,567.89 CNY\n"


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    result = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(map(str, args))} failed: {result.stderr.decode(errors='replace')}")
    return result


def openssl_decrypt(envelope: Path, party: Party, out: Path, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", envelope,
                   "-recip", party.cert_path, "-inkey", party.key_path, "-out", out, check=check)


def openssl_encrypt(source: Path, parties: list[Party], out: Path, *options: str) -> Path:
    """``options`` are global, except ``-keyopt`` pairs, which follow each ``-recip``."""
    keyopts = [option for index, option in enumerate(options)
               if option == "-keyopt" or (index and options[index - 1] == "-keyopt")]
    others = [option for option in options if option not in keyopts]
    recipients: list[str | Path] = []
    for party in parties:
        recipients += ["-recip", party.cert_path, *keyopts]
    openssl("cms", "-encrypt", "-binary", "-aes-256-gcm", "-outform", "DER", "-in", source, "-out", out,
            *others, *recipients)
    return out


def sealed(tmp_path: Path, pki: dict[str, Party], names: list[str], data: bytes, name: str = "env.der") -> Path:
    source = tmp_path / "plain.bin"
    source.write_bytes(data)
    destination = tmp_path / name
    seal(source, [pki[n].cert for n in names], destination)
    return destination


class Pipe(io.RawIOBase):
    """A non-seekable stream over bytes or a file, like a socket or a pipe; it delivers
    odd-sized pieces (at most 65,521 bytes), so cipher blocks straddle reads."""

    def __init__(self, source: bytes | Path) -> None:
        self._inner = open(source, "rb") if isinstance(source, Path) else io.BytesIO(source)  # noqa: SIM115

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001
        return self._inner.readinto(memoryview(buffer)[:65_521])

    def close(self) -> None:
        self._inner.close()
        super().close()


def files_in(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


# --------------------------------------------------------------------------- ours -> OpenSSL


@needs_openssl
@pytest.mark.parametrize("names", [["rsa"], ["ec"], ["ec384"], ["rsa", "ec"], ["ec", "lot", "ec384"]],
                         ids=lambda names: "+".join(names))
def test_our_envelope_opens_in_openssl(tmp_path: Path, pki: dict[str, Party], plaintext: bytes,
                                       names: list[str]) -> None:
    envelope = sealed(tmp_path, pki, names, plaintext)
    for name in names:
        out = tmp_path / f"out-{name}.bin"
        openssl_decrypt(envelope, pki[name], out)
        assert out.read_bytes() == plaintext


@needs_openssl
@pytest.mark.parametrize("data", [b"", b"x", os.urandom(127), os.urandom(65_536 + 3)],
                         ids=["empty", "one-byte", "127-bytes", "64k+3"])
def test_sizes_at_length_encoding_boundaries(tmp_path: Path, pki: dict[str, Party], data: bytes) -> None:
    envelope = sealed(tmp_path, pki, ["rsa", "ec"], data)
    out = tmp_path / "out.bin"
    openssl_decrypt(envelope, pki["ec"], out)
    assert out.read_bytes() == data
    open_envelope(envelope, pki["rsa"].key, pki["rsa"].cert, tmp_path / "ours.bin")
    assert (tmp_path / "ours.bin").read_bytes() == data
    assert inspect_envelope(envelope).content_size == len(data)


@needs_openssl
def test_structure_is_definite_der_with_the_documented_algorithms(tmp_path: Path, pki: dict[str, Party]) -> None:
    envelope = sealed(tmp_path, pki, ["rsa", "ec"], b"sealed bid")
    dump = openssl("asn1parse", "-inform", "DER", "-in", envelope, "-i").stdout.decode()
    assert "l=inf" not in dump  # DER: no indefinite lengths
    for name in ("id-smime-ct-authEnvelopedData", "rsaesOaep", "sha256", "mgf1", "id-ecPublicKey",
                 "dhSinglePass-stdDH-sha256kdf-scheme", "id-aes256-wrap", "pkcs7-data", "aes-256-gcm"):
        assert name in dump, name
    info = inspect_envelope(envelope)
    assert info.encoding == "DER"
    assert info.envelope_size == envelope.stat().st_size
    assert info.content_parameters["tag_size"] == 16 and len(bytes.fromhex(info.content_parameters["nonce"])) == 12
    # The whole file re-encodes to itself: every length is minimal and definite.
    element = _der.parse(envelope.read_bytes())
    assert not element.indefinite


@pytest.mark.parametrize("content_size", [0, 127, 128, 65_536, 2**31, 5 * 2**30])
def test_lengths_computed_up_front_nest_exactly(content_size: int) -> None:
    """2 GB and larger inputs: every definite length in the prefix accounts for the content
    and the 16-byte tag that follow it."""
    recipient_info = _der.sequence(_der.integer(0), _der.octet_string(b"k" * 300))
    algorithm = _der.algorithm_identifier("2.16.840.1.101.3.4.1.46",
                                          _der.sequence(_der.octet_string(bytes(12)), _der.integer(16)))
    prefix = envelope_prefix([recipient_info], algorithm, content_size, 16)
    total = len(prefix) + content_size + 2 + 16
    reader = _der.StreamReader(io.BytesIO(prefix), None)
    assert reader.read_header("ContentInfo").end == total
    reader.read_element("contentType", max_size=64)
    assert reader.read_header("[0]").end == total
    assert reader.read_header("AuthEnvelopedData").end == total
    reader.read_element("version", max_size=8)
    assert reader.read_element("recipientInfos", max_size=4096).encoded == _der.set_of(recipient_info)
    assert reader.read_header("authEncryptedContentInfo").end == total - 18
    reader.read_element("contentType", max_size=64)
    assert reader.read_element("algorithm", max_size=64).encoded == algorithm
    content = reader.read_header("encryptedContent")
    assert (content.length, content.end, reader.offset) == (content_size, total - 18, len(prefix))


# --------------------------------------------------------------------------- OpenSSL -> ours


OPENSSL_VARIANTS = {
    "rsa-pkcs1v15-default": (["rsa"], []),
    "rsa-oaep-default-sha1": (["rsa"], ["-keyopt", "rsa_padding_mode:oaep"]),
    "rsa-oaep-sha256": (["rsa"], ["-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256",
                                  "-keyopt", "rsa_mgf1_md:sha256"]),
    "ec-default-sha1kdf": (["ec"], []),
    "ec-sha256kdf": (["ec"], ["-keyopt", "ecdh_kdf_md:sha256"]),
    "ec-p384": (["ec384"], []),
    "rsa-and-ec": (["rsa", "ec"], []),
    "subject-key-identifier": (["rsa", "ec"], ["-keyid"]),
    "ber-stream": (["rsa", "ec"], ["-stream"]),
}


@needs_openssl
@pytest.mark.parametrize("variant", list(OPENSSL_VARIANTS))
def test_openssl_envelope_opens_in_ours(tmp_path: Path, pki: dict[str, Party], plaintext: bytes,
                                        variant: str) -> None:
    names, options = OPENSSL_VARIANTS[variant]
    source = tmp_path / "plain.bin"
    source.write_bytes(plaintext)
    envelope = openssl_encrypt(source, [pki[n] for n in names], tmp_path / "env.der", *options)
    assert is_sealed(envelope.read_bytes()[:64])
    info = check_envelope(envelope, required_recipients=[pki[names[-1]].cert])
    assert info.content_size == len(plaintext)
    assert info.encoding == ("BER" if variant == "ber-stream" else "DER")
    for name in names:
        out = tmp_path / f"out-{name}.bin"
        opened = open_envelope(envelope, pki[name].key, pki[name].cert, out)
        assert out.read_bytes() == plaintext
        assert opened.content_size == len(plaintext)
    # The same through a non-seekable stream (one pass: the tag is read after the content).
    with Pipe(envelope) as stream:
        open_envelope(stream, pki[names[0]].key_path, pki[names[0]].cert_path, tmp_path / "piped.bin")
    assert (tmp_path / "piped.bin").read_bytes() == plaintext


@needs_openssl
def test_openssl_aes_cbc_enveloped_data_is_refused(tmp_path: Path, pki: dict[str, Party]) -> None:
    source = tmp_path / "plain.bin"
    source.write_bytes(b"a bid")
    envelope = tmp_path / "cbc.der"
    openssl("cms", "-encrypt", "-binary", "-aes-256-cbc", "-outform", "DER", "-in", source, "-out", envelope,
            "-recip", pki["rsa"].cert_path)
    with pytest.raises(EnvelopeFormatError, match="EnvelopedData without authentication"):
        open_envelope(envelope, pki["rsa"].key, pki["rsa"].cert, tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()
    assert not is_sealed(envelope.read_bytes())


# --------------------------------------------------------------------------- inspect / check


def test_inspect_lists_recipients_without_decrypting(tmp_path: Path, pki: dict[str, Party]) -> None:
    envelope = sealed(tmp_path, pki, ["rsa", "lot", "ec"], b"x" * 5000)
    info = inspect_envelope(envelope)
    assert info.content_algorithm == "aes-256-gcm"
    assert info.content_type == "data"
    assert info.content_size == 5000
    assert info.envelope_size == envelope.stat().st_size
    listed = {(r.issuer, r.serial) for r in info.recipients}
    assert listed == {
        ("C=CN, O=Envelope RSA CA, CN=Envelope RSA CA Root CA", pki["rsa"].cert.serial_number),
        ("C=CN, O=Envelope RSA CA, CN=Envelope RSA CA Root CA", pki["lot"].cert.serial_number),
        ("C=CN, O=Envelope EC CA, CN=Envelope EC CA Root CA", pki["ec"].cert.serial_number),
    }
    kinds = {r.serial: r.key_encryption_name for r in info.recipients}
    assert kinds[pki["rsa"].cert.serial_number] == "RSAES-OAEP (SHA-256, MGF1-SHA-256)"
    assert "sha256kdf" in kinds[pki["ec"].cert.serial_number]
    assert info.recipient_for(pki["lot"].cert) is not None
    assert info.recipient_for(pki["stranger"].cert) is None
    assert info.as_dict()["recipients"][0]["kind"] in ("key transport", "key agreement")
    # The same from a non-seekable stream, and from bytes.
    with Pipe(envelope) as stream:
        assert inspect_envelope(stream).recipients == info.recipients
    assert inspect_envelope(envelope.read_bytes()).content_size == 5000


def test_check_envelope_requires_the_lots_opening_certificate(tmp_path: Path, pki: dict[str, Party]) -> None:
    envelope = sealed(tmp_path, pki, ["rsa", "lot"], b"bid")
    assert check_envelope(envelope, required_recipients=[pki["lot"].cert_path]).content_size == 3
    with pytest.raises(NotARecipient, match="not sealed to certificate 'C=CN, CN=Someone else'"):
        check_envelope(envelope, required_recipients=[pki["stranger"].cert])


def test_is_sealed_on_first_bytes(tmp_path: Path, pki: dict[str, Party]) -> None:
    envelope = sealed(tmp_path, pki, ["ec"], b"bid" * 1000).read_bytes()
    assert is_sealed(envelope[:64])
    assert why_not_sealed(envelope[:4096]) is None
    assert "too short" in (why_not_sealed(envelope[:8]) or "")
    assert not is_sealed(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")


# --------------------------------------------------------------------------- tampering


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("seekable", [True, False], ids=["file", "pipe"])
@pytest.mark.parametrize("where", ["first-content-byte", "middle-of-content", "last-content-byte", "tag"])
def test_tampered_envelope_is_refused_and_leaves_no_plaintext(tmp_path: Path, pki: dict[str, Party],
                                                             where: str, seekable: bool) -> None:
    data = os.urandom(3 * MiB + 17)  # several chunks, so plaintext was written before the tag check
    envelope = sealed(tmp_path, pki, ["rsa", "ec"], data)
    size = envelope.stat().st_size
    content_start = size - 18 - len(data)
    offset = {"first-content-byte": content_start, "middle-of-content": content_start + len(data) // 2,
              "last-content-byte": size - 19, "tag": size - 1}[where]
    _flip(envelope, offset)
    out_dir = tmp_path / "opened"
    out_dir.mkdir()
    for name in ("rsa", "ec"):
        source = envelope if seekable else Pipe(envelope)
        with pytest.raises(EnvelopeTampered, match="authentication tag does not verify"):
            open_envelope(source, pki[name].key, pki[name].cert, out_dir / "bid.bin")
        assert files_in(out_dir) == set()  # no output, no partial temporary file


def test_failed_open_keeps_an_existing_destination(tmp_path: Path, pki: dict[str, Party]) -> None:
    envelope = sealed(tmp_path, pki, ["rsa"], b"new bid")
    _flip(envelope, envelope.stat().st_size - 1)
    destination = tmp_path / "bid.bin"
    destination.write_bytes(b"earlier, verified content")
    with pytest.raises(EnvelopeTampered):
        open_envelope(envelope, pki["rsa"].key, pki["rsa"].cert, destination)
    assert destination.read_bytes() == b"earlier, verified content"


def _recipient_key_offset(envelope: Path, serial: int) -> int:
    """Where the encryptedKey of the recipient with ``serial`` ends (its last byte)."""
    data = envelope.read_bytes()
    info = inspect_envelope(envelope)
    recipient = next(r for r in info.recipients if r.serial == serial)
    return data.index(recipient.encrypted_key) + len(recipient.encrypted_key) - 1


@pytest.mark.parametrize("name", ["rsa", "ec"])
def test_tampered_encrypted_key_is_refused(tmp_path: Path, pki: dict[str, Party], name: str) -> None:
    envelope = sealed(tmp_path, pki, [name], b"bid")
    _flip(envelope, _recipient_key_offset(envelope, pki[name].cert.serial_number))
    with pytest.raises(EnvelopeTampered):
        open_envelope(envelope, pki[name].key, pki[name].cert, tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()


@needs_openssl
def test_tampered_pkcs1v15_key_fails_like_any_tampering(tmp_path: Path, pki: dict[str, Party]) -> None:
    """No padding oracle: a bad PKCS#1 v1.5 block shows up only as a tag mismatch."""
    source = tmp_path / "plain.bin"
    source.write_bytes(b"bid")
    envelope = openssl_encrypt(source, [pki["rsa"]], tmp_path / "env.der")
    _flip(envelope, _recipient_key_offset(envelope, pki["rsa"].cert.serial_number))
    with pytest.raises(EnvelopeTampered, match="authentication tag does not verify"):
        open_envelope(envelope, pki["rsa"].key, pki["rsa"].cert, tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()


# --------------------------------------------------------------------------- wrong keys


def test_certificate_not_among_recipients(tmp_path: Path, pki: dict[str, Party]) -> None:
    envelope = sealed(tmp_path, pki, ["rsa", "ec"], b"bid")
    with pytest.raises(NotARecipient, match="not sealed to certificate 'C=CN, CN=Someone else'") as caught:
        open_envelope(envelope, pki["stranger"].key, pki["stranger"].cert, tmp_path / "out.bin")
    for name in ("rsa", "ec"):  # the message lists who the envelope is sealed to
        assert f"serial {pki[name].cert.serial_number:#x}" in str(caught.value)
    assert not (tmp_path / "out.bin").exists()


@pytest.mark.parametrize("key_of", ["stranger", "ec"])
def test_key_that_is_not_the_certificates(tmp_path: Path, pki: dict[str, Party], key_of: str) -> None:
    envelope = sealed(tmp_path, pki, ["rsa"], b"bid")
    with pytest.raises(NotARecipient, match="private key given is not the key of"):
        open_envelope(envelope, pki[key_of].key, pki["rsa"].cert, tmp_path / "out.bin")
    assert files_in(tmp_path) == {"plain.bin", "env.der"}


# --------------------------------------------------------------------------- recipients refused


@pytest.mark.parametrize(("name", "needed"), [("rsa_signing", "keyEncipherment"), ("ec_signing", "keyAgreement")])
def test_signing_certificate_is_refused_as_recipient(tmp_path: Path, pki: dict[str, Party], name: str,
                                                     needed: str) -> None:
    source = tmp_path / "plain.bin"
    source.write_bytes(b"bid")
    with pytest.raises(RecipientRefused, match=f"does not include {needed}.*not a signing certificate"):
        seal(source, [pki["lot"].cert, pki[name].cert], tmp_path / "env.der")
    assert files_in(tmp_path) == {"plain.bin"}


def test_sm2_certificate_is_refused_until_an_sm2_scheme_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SM2 scheme is registered by default (tests/ca_interop/test_envelopes_sm2.py);
    # without it, dispatch still names SM2 keys and the built-in ECDH does not claim them.
    pytest.importorskip("gmssl_pyx")
    from ca_interop.demo_pki_sm2 import Sm2DemoCA
    from ca_interop.envelopes import _recipients

    monkeypatch.setattr(_recipients, "RECIPIENT_SCHEMES",
                        [s for s in _recipients.RECIPIENT_SCHEMES if s.name != "sm2"])
    issued = Sm2DemoCA.create("Envelope SM2 CA").issue("SM2 bidder", usage=Usage.ENCRYPTION)
    with pytest.raises(RecipientRefused, match="envelopes for SM2 keys are not supported"):
        seal(b"bid", [issued.cert_pem], io.BytesIO())


def test_no_recipients_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecipientRefused, match="at least one recipient"):
        seal(b"bid", [], io.BytesIO())


# --------------------------------------------------------------------------- not an envelope


def _length_bomb_outer(envelope: bytes) -> bytes:
    """The ContentInfo claims 2**62 bytes; the rest is a real envelope."""
    assert envelope[:2] == b"\x30\x82"
    return b"\x30\x88" + (1 << 62).to_bytes(8, "big") + envelope[4:]


def _length_bomb_inner(envelope: bytes) -> bytes:
    """The recipientInfos SET claims 2**40 bytes (the outer lengths unchanged)."""
    start = envelope.index(b"\x02\x01\x00", 20) + 3  # after the version
    assert envelope[start] == 0x31
    head_size = 2 if envelope[start + 1] < 0x80 else 2 + (envelope[start + 1] & 0x7F)
    return envelope[:start] + b"\x31\x85\x01\x00\x00\x00\x00" + envelope[start + head_size:]


NOT_ENVELOPES = {
    "plain-text": (lambda env: "投标报价：壹佰万元整\nbid price 1,000,000\n".encode() * 20, "plain text"),
    "pdf": (lambda env: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "PDF document"),
    "zip-docx": (lambda env: b"PK\x03\x04\x14\x00\x06\x00" + os.urandom(200), "ZIP archive"),
    "random": (lambda env: b"\x9a" + random.Random(7).randbytes(4095), "not a DER-encoded CMS"),
    "random-starting-like-der": (lambda env: b"\x30\x82\x10\x00" + random.Random(8).randbytes(4092),
                                 "not a DER-encoded CMS"),
    "empty": (lambda env: b"", "empty"),
    "pem-armoured": (lambda env: b"-----BEGIN CMS-----\nMIAGCyqGSIb3DQEJEAEXoIAwgAIBADGC\n-----END CMS-----\n",
                     "upload the binary DER"),
    "signed-data": (lambda env: _der.sequence(_der.oid("1.2.840.113549.1.7.2"), _der.explicit(0, b"\x30\x00")),
                    "signed but not encrypted"),
    "truncated-10-bytes": (lambda env: env[:10], "truncated"),
    "truncated-in-recipients": (lambda env: env[:300], "truncated"),
    "truncated-in-content": (lambda env: env[:len(env) // 2], "truncated"),
    "truncated-last-byte": (lambda env: env[:-1], "truncated"),
    "trailing-garbage": (lambda env: env + b"\x00junk", "after the end of the envelope"),
    # A declared length beyond the input fails at once when the size is known ("truncated,
    # or a bogus length"), and as "truncated" when the stream runs out; nothing is allocated.
    "length-bomb-outer": (_length_bomb_outer, "truncated"),
    "length-bomb-recipients": (_length_bomb_inner, "truncated"),
}


SMALL_PLAINTEXT = random.Random(5).randbytes(2000)


@pytest.fixture(scope="module")
def small_envelope(pki: dict[str, Party], tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return sealed(tmp_path_factory.mktemp("small"), pki, ["rsa", "ec"], SMALL_PLAINTEXT).read_bytes()


@pytest.mark.parametrize("case", list(NOT_ENVELOPES))
def test_not_an_envelope_is_refused_with_a_clear_reason(tmp_path: Path, pki: dict[str, Party], small_envelope: bytes,
                                                        case: str) -> None:
    make, reason = NOT_ENVELOPES[case]
    data = make(small_envelope)
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    for attempt in (
        lambda: check_envelope(path),
        lambda: inspect_envelope(path),
        lambda: inspect_envelope(Pipe(data)),
        lambda: open_envelope(path, pki["rsa"].key, pki["rsa"].cert, tmp_path / "out.bin"),
    ):
        with pytest.raises(EnvelopeFormatError) as caught:
            attempt()
        assert reason in str(caught.value), str(caught.value)
        assert isinstance(caught.value, ValueError)
    assert files_in(tmp_path) == {"upload.bin"}
    if not case.startswith(("truncated", "trailing", "length-bomb")):  # these start like envelopes
        assert not is_sealed(data[:4096])
        assert why_not_sealed(data[:4096])


def test_unencrypted_upload_message_says_it_is_refused(tmp_path: Path) -> None:
    for data in (b"%PDF-1.4\n", b"plain bid text\n", b"\x05" + os.urandom(100)):
        with pytest.raises(EnvelopeFormatError, match="an unencrypted file is refused"):
            check_envelope(data)


def test_every_truncation_and_byte_flip_gives_a_clean_error(tmp_path: Path, pki: dict[str, Party],
                                                            small_envelope: bytes) -> None:
    """Never a traceback from inside a parser: any damage yields an EnvelopeError (or, for
    bytes that nothing checks such as another recipient's info, a correct result)."""
    header_size = len(small_envelope) - len(SMALL_PLAINTEXT) - 18
    for cut in range(len(small_envelope)):
        with pytest.raises(EnvelopeFormatError):
            inspect_envelope(small_envelope[:cut])
    rng = random.Random(2024)
    out = tmp_path / "out.bin"
    outcomes: set[str] = set()
    for _ in range(300):
        damaged = bytearray(small_envelope)
        damaged[rng.randrange(header_size)] ^= 1 << rng.randrange(8)
        try:
            open_envelope(bytes(damaged), pki["ec"].key, pki["ec"].cert, out)
            assert out.read_bytes() == SMALL_PLAINTEXT  # only bytes the tag does not cover changed
            outcomes.add("opened")
        except EnvelopeError as error:
            outcomes.add(type(error).__name__)
    assert "EnvelopeFormatError" in outcomes
    assert files_in(tmp_path) <= {"out.bin"}


# --------------------------------------------------------------------------- sources and sinks


@needs_openssl
def test_non_seekable_source_is_spooled_or_sized(tmp_path: Path, pki: dict[str, Party], plaintext: bytes) -> None:
    spooled = tmp_path / "spooled.der"
    seal(Pipe(plaintext), [pki["ec"].cert], spooled)
    sized = io.BytesIO()
    seal(Pipe(plaintext), [pki["ec"].cert], sized, size=len(plaintext))
    (tmp_path / "sized.der").write_bytes(sized.getvalue())
    for envelope in (spooled, tmp_path / "sized.der"):
        openssl_decrypt(envelope, pki["ec"], tmp_path / "out.bin")
        assert (tmp_path / "out.bin").read_bytes() == plaintext
    assert not [name for name in files_in(tmp_path) if name.startswith(".")]  # no spool or partial files


def test_source_shorter_or_longer_than_announced(tmp_path: Path, pki: dict[str, Party]) -> None:
    with pytest.raises(SourceChanged, match="ended after 10 of the 11 bytes"):
        seal(Pipe(b"0123456789"), [pki["rsa"].cert], tmp_path / "a.der", size=11)
    with pytest.raises(SourceChanged, match="more than the 9 bytes"):
        seal(Pipe(b"0123456789"), [pki["rsa"].cert], tmp_path / "b.der", size=9)
    assert files_in(tmp_path) == set()


def test_file_object_destination_and_bytes_source(pki: dict[str, Party], tmp_path: Path) -> None:
    sink = io.BytesIO(b"prefix:")
    sink.seek(7)
    info = seal(b"bid bytes", [pki["rsa"].cert_path], sink)
    envelope = sink.getvalue()[7:]
    assert info.envelope_size == len(envelope)
    stream = io.BytesIO(b"prefix:" + envelope)
    stream.seek(7)  # read from the current position
    open_envelope(stream, pki["rsa"].key_path.read_bytes(), pki["rsa"].cert_path, tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == b"bid bytes"


# --------------------------------------------------------------------------- streaming memory


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(MiB):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def traced_peak() -> Iterator[list[int]]:
    result: list[int] = []
    tracemalloc.start()
    try:
        yield result
    finally:
        result.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


STREAM_SIZE = 300 * MiB


def test_streaming_300_mb_in_bounded_memory(tmp_path: Path, pki: dict[str, Party]) -> None:
    source = tmp_path / "big.bin"
    block = os.urandom(MiB)
    with open(source, "wb") as stream:
        for index in range(STREAM_SIZE // MiB):
            stream.write(block[index:] + block[:index])
    expected = _sha256_file(source)
    envelope, opened = tmp_path / "big.der", tmp_path / "big.out"

    started = time.perf_counter()
    with traced_peak() as seal_peak:
        info = seal(source, [pki["rsa"].cert, pki["ec"].cert], envelope)
    sealed_in = time.perf_counter() - started
    assert info.content_size == STREAM_SIZE and info.envelope_size == envelope.stat().st_size
    assert seal_peak[0] < 4 * MiB, f"seal peak {seal_peak[0]} bytes"

    timings = {}
    for how in ("file", "pipe"):  # seekable (structure checked first) and single pass
        started = time.perf_counter()
        with traced_peak() as open_peak:
            open_envelope(envelope if how == "file" else Pipe(envelope), pki["ec"].key, pki["ec"].cert, opened)
        timings[how] = time.perf_counter() - started
        assert open_peak[0] < 4 * MiB, f"open ({how}) peak {open_peak[0]} bytes"
        assert _sha256_file(opened) == expected
        opened.unlink()
    print(f"seal {STREAM_SIZE / MiB / sealed_in:.0f} MiB/s (peak {seal_peak[0] / MiB:.2f} MiB), "
          + ", ".join(f"open from {how} {STREAM_SIZE / MiB / t:.0f} MiB/s" for how, t in timings.items()))
