"""SM2 + SM4-GCM envelopes (ca_interop.envelopes with SM2 certificates).

No third-party tool opens these envelopes yet, so the primitives are checked against
the OpenSSL 3 command line one by one: ``openssl pkeyutl`` decrypts the SM2 key-transport
blob (and makes one we open), and the SM4-GCM content is decrypted with SM4-CTR from
``openssl enc`` plus a GHASH written here — independent of pyca/cryptography, which both
the envelope code and ``ca_interop.gm`` use for SM4.
"""

from __future__ import annotations

import io
import os
import random
import time
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ca_interop import gm
from ca_interop.demo_pki import DemoCA, Usage
from ca_interop.demo_pki_sm2 import Sm2DemoCA, Sm2Issued
from ca_interop.envelopes import (
    AES_256_GCM,
    SM4_GCM,
    EnvelopeError,
    EnvelopeFormatError,
    EnvelopeTampered,
    NotARecipient,
    RecipientRefused,
    _der,
    check_envelope,
    envelope_prefix,
    inspect_envelope,
    open_envelope,
    seal,
)
from tests.ca_interop.test_envelopes import (
    MiB,
    Pipe,
    _flip,
    _sha256_file,
    files_in,
    needs_openssl,
    openssl,
    traced_peak,
)

SM4_GCM_OID = "1.2.156.10197.1.104.8"
SM2_ENCRYPTION_OID = "1.2.156.10197.1.301.3"


# --------------------------------------------------------------------------- fixtures


class Sm2Party:
    def __init__(self, issued: Sm2Issued, directory: Path, name: str) -> None:
        self.issued = issued
        self.cert_path = directory / f"{name}.pem"
        self.key_path = directory / f"{name}.key"  # PKCS#8 "PRIVATE KEY"
        self.sec1_key_path = directory / f"{name}-sec1.key"  # "EC PRIVATE KEY"
        self.cert_path.write_bytes(issued.cert_pem)
        self.key_path.write_bytes(issued.key_pem)
        self.sec1_key_path.write_bytes(issued.key.to_sec1_pem())

    @property
    def cert(self):  # noqa: ANN201 - an asn1crypto certificate, as the SM2 demo CA makes it
        return self.issued.cert

    @property
    def key(self) -> gm.Sm2PrivateKey:
        return self.issued.key

    @property
    def serial(self) -> int:
        return int(self.cert.serial_number)


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> dict:
    directory = tmp_path_factory.mktemp("sm2pki")
    sm2_ca = Sm2DemoCA.create("Envelope SM2 CA")
    result: dict = {
        name: Sm2Party(sm2_ca.issue(cn, usage=usage), directory, name)
        for name, cn, usage in [
            ("sm2", "Bidder SM2 encryption", Usage.ENCRYPTION),
            ("sm2_lot", "Lot 7 SM2 opening key", Usage.ENCRYPTION),
            ("sm2_stranger", "Someone else SM2", Usage.ENCRYPTION),
            ("sm2_signing", "Bidder SM2 signing", Usage.SIGNING),
        ]
    }
    for name, algorithm in (("rsa", "rsa"), ("ec", "ecdsa")):
        issued = DemoCA.create(f"Envelope {name} CA", algorithm).issue(f"Bidder {name}", usage=Usage.ENCRYPTION)
        (directory / f"{name}.pem").write_bytes(issued.cert_pem)
        (directory / f"{name}.key").write_bytes(issued.key_pem)
        result[name] = issued
    return result


def sealed(tmp_path: Path, recipients: list, data: bytes, name: str = "env.der", **options) -> Path:  # noqa: ANN003
    source = tmp_path / "plain.bin"
    source.write_bytes(data)
    destination = tmp_path / name
    seal(source, recipients, destination, **options)
    source.unlink()
    return destination


# --------------------------------------------------------------------------- round trips


def test_sm2_envelope_round_trip_with_every_key_form(tmp_path: Path, parties: dict) -> None:
    data = os.urandom(2 * MiB + 333) + b"bid price: 1,234,567.89 CNY\n"  # several chunks
    sm2 = parties["sm2"]
    envelope = tmp_path / "bid.der"
    info = seal(data, [sm2.cert], envelope)  # an asn1crypto certificate, as the SM2 CA gives it
    assert info.content_algorithm == "sm4-gcm" and info.content_algorithm_oid == SM4_GCM_OID
    assert info.content_size == len(data) and info.envelope_size == envelope.stat().st_size
    forms = [  # (key, certificate) in the forms callers have them
        (sm2.key, sm2.cert),  # gm.Sm2PrivateKey, asn1crypto certificate
        (sm2.issued.key_pem, sm2.issued.cert_pem),  # PKCS#8 PEM, PEM
        (sm2.key.to_sec1_pem(), sm2.issued.cert_der),  # SEC1 "EC PRIVATE KEY", DER
        (sm2.key.to_pkcs8_der(), sm2.cert_path),  # PKCS#8 DER, path
        (sm2.key_path, str(sm2.cert_path)),  # paths
        (str(sm2.sec1_key_path), sm2.cert),
    ]
    out = tmp_path / "out" / "bid.bin"
    out.parent.mkdir()
    for index, (key, cert) in enumerate(forms):
        for source in (envelope, Pipe(envelope)):
            opened = open_envelope(source, key, cert, out)
            assert out.read_bytes() == data, index
            assert opened.content_algorithm == "sm4-gcm" and opened.mac == info.mac
            out.unlink()


def test_structure_is_the_documented_one(tmp_path: Path, parties: dict) -> None:
    """Read back with asn1crypto, a parser independent of ours."""
    sm2 = parties["sm2"]
    envelope = sealed(tmp_path, [sm2.cert], b"bid")
    data = envelope.read_bytes()
    parsed = cms.ContentInfo.load(data, strict=True)
    assert parsed["content_type"].native == "authenticated_enveloped_data"
    body = parsed["content"]
    assert body["version"].native == "v0"
    content = body["auth_encrypted_content_info"]
    assert content["content_type"].native == "data"
    algorithm = content["content_encryption_algorithm"]
    assert algorithm["algorithm"].dotted == SM4_GCM_OID
    nonce, icv_length = _der.parse(algorithm["parameters"].dump()).children()
    assert len(nonce.as_octets()) == 12 and icv_length.as_int() == 16
    assert len(content["encrypted_content"].native) == 3 and len(body["mac"].native) == 16
    (recipient,) = body["recipient_infos"]
    ktri = recipient.chosen
    assert isinstance(ktri, cms.KeyTransRecipientInfo) and ktri["version"].native == "v0"
    rid = ktri["rid"].chosen
    assert rid["serial_number"].native == sm2.serial
    assert rid["issuer"].dump() == sm2.cert["tbs_certificate"]["issuer"].dump()
    # AlgorithmIdentifier { sm2encrypt } with the parameters absent, as GmSSL writes it
    assert ktri["key_encryption_algorithm"].dump() == _der.sequence(_der.oid(SM2_ENCRYPTION_OID))
    blob = ktri["encrypted_key"].native
    x, y, c3, c2 = _der.parse(blob).children()  # GM/T 0009 SM2Cipher, C1C3C2
    assert len(c3.as_octets()) == 32 and len(c2.as_octets()) == 16  # the 16-byte SM4 key
    assert gm.sm2_decrypt(sm2.key, blob) and x.as_int() and y.as_int()


def test_inspect_and_check_list_sm2_recipients(tmp_path: Path, parties: dict) -> None:
    envelope = sealed(tmp_path, [parties["sm2"].cert_path, parties["sm2_lot"].cert, parties["rsa"].cert], b"bid")
    info = inspect_envelope(envelope)
    assert info.content_algorithm == "sm4-gcm"
    described = info.as_dict()
    assert described["content_algorithm"] == "sm4-gcm"
    by_serial = {r.serial: r for r in info.recipients}
    for name in ("sm2", "sm2_lot"):
        recipient = by_serial[parties[name].serial]
        assert recipient.kind == "ktri" and recipient.key_encryption == SM2_ENCRYPTION_OID
        assert recipient.key_encryption_name == "SM2 encryption (GM/T 0003.4, C1C3C2)"
        assert "CN=Envelope SM2 CA Root CA" in recipient.issuer
        assert info.recipient_for(parties[name].cert) is recipient
    assert "SM2 encryption" in str(described["recipients"])
    assert check_envelope(envelope, required_recipients=[parties["sm2_lot"].issued.cert_pem]).content_size == 3
    with pytest.raises(NotARecipient, match="not sealed to certificate 'C=CN, CN=Someone else SM2'"):
        check_envelope(envelope, required_recipients=[parties["sm2_stranger"].cert])


# --------------------------------------------------------------------------- cipher choice, mixing


def test_mixed_recipients_share_one_sm4_gcm_content_key(tmp_path: Path, parties: dict) -> None:
    """SM2, RSA and EC recipients in one envelope: the content is SM4-GCM for all; RSA-OAEP
    and ECDH + AES key wrap carry the 16-byte SM4 key."""
    data = os.urandom(70_000)
    envelope = sealed(tmp_path, [parties["rsa"].cert, parties["sm2"].cert, parties["ec"].cert], data)
    info = inspect_envelope(envelope)
    assert info.content_algorithm == "sm4-gcm"
    assert sorted(r.key_encryption_name.split(" ")[0] for r in info.recipients) == ["ECDH", "RSAES-OAEP", "SM2"]
    for name, key in (("rsa", parties["rsa"].key), ("ec", parties["ec"].key), ("sm2", parties["sm2"].key)):
        cert = parties[name].cert
        open_envelope(Pipe(envelope), key, cert, tmp_path / f"{name}.bin")
        assert (tmp_path / f"{name}.bin").read_bytes() == data


@needs_openssl
def test_openssl_3_cannot_open_it(tmp_path: Path, parties: dict) -> None:
    """Documented limitation: OpenSSL 3.0 has no SM4-GCM, so even its RSA recipient fails
    (cleanly); nothing is written."""
    envelope = sealed(tmp_path, [parties["rsa"].cert, parties["sm2"].cert], b"bid")
    out = tmp_path / "out.bin"
    result = openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", envelope,
                     "-recip", _write(tmp_path, "rsa.pem", parties["rsa"].cert_pem),
                     "-inkey", _write(tmp_path, "rsa.key", parties["rsa"].key_pem), "-out", out, check=False)
    assert result.returncode != 0, "OpenSSL opened an SM4-GCM envelope: update the package docstring"
    assert not out.exists() or out.stat().st_size == 0


def _write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


def test_cipher_choice(tmp_path: Path, parties: dict) -> None:
    rsa, sm2 = parties["rsa"], parties["sm2"]
    assert seal(b"x", [rsa.cert], io.BytesIO()).content_algorithm == "aes-256-gcm"  # unchanged default
    for asked in (SM4_GCM, "sm4-gcm", SM4_GCM_OID):  # SM4-GCM on request, also for RSA/EC only
        info = seal(b"bid", [rsa.cert, parties["ec"].cert], tmp_path / "sm4.der", cipher=asked)
        assert info.content_algorithm == "sm4-gcm"
        open_envelope(tmp_path / "sm4.der", parties["ec"].key, parties["ec"].cert, tmp_path / "out.bin")
        assert (tmp_path / "out.bin").read_bytes() == b"bid"
    assert seal(b"x", [sm2.cert, rsa.cert], io.BytesIO(), cipher="sm4-gcm").content_algorithm == "sm4-gcm"
    for refused in (AES_256_GCM, "aes-256-gcm"):  # never an SM2 key next to a non-SM cipher
        with pytest.raises(RecipientRefused, match=r"SM2 CA.*\(sm2\) can only receive envelopes sealed "
                                                   r"with sm4-gcm, not aes-256-gcm"):
            seal(b"x", [rsa.cert, sm2.cert], tmp_path / "refused.der", cipher=refused)
    with pytest.raises(ValueError, match="unknown content cipher 'sm4-cbc'"):
        seal(b"x", [sm2.cert], io.BytesIO(), cipher="sm4-cbc")
    assert files_in(tmp_path) == {"sm4.der", "out.bin"}


def test_sm2_signing_certificate_is_refused(tmp_path: Path, parties: dict) -> None:
    with pytest.raises(RecipientRefused, match="does not include keyEncipherment.*not a signing certificate"):
        seal(b"bid", [parties["sm2"].cert, parties["sm2_signing"].cert], tmp_path / "env.der")
    assert files_in(tmp_path) == set()


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize("seekable", [True, False], ids=["file", "pipe"])
@pytest.mark.parametrize("where", ["first-content-byte", "last-content-byte", "tag"])
def test_tampered_sm4_gcm_envelope_leaves_no_plaintext(tmp_path: Path, parties: dict, where: str,
                                                       seekable: bool) -> None:
    data = os.urandom(2 * MiB + 5)  # plaintext is written before the tag is checked
    envelope = sealed(tmp_path, [parties["sm2"].cert, parties["sm2_lot"].cert], data)
    size = envelope.stat().st_size
    offset = {"first-content-byte": size - 18 - len(data), "last-content-byte": size - 19, "tag": size - 1}[where]
    _flip(envelope, offset)
    out_dir = tmp_path / "opened"
    out_dir.mkdir()
    for name in ("sm2", "sm2_lot"):
        with pytest.raises(EnvelopeTampered, match="authentication tag does not verify"):
            open_envelope(envelope if seekable else Pipe(envelope), parties[name].key, parties[name].cert,
                          out_dir / "bid.bin")
        assert files_in(out_dir) == set()


def test_tampered_sm2_encrypted_key_is_refused(tmp_path: Path, parties: dict) -> None:
    sm2 = parties["sm2"]
    envelope = sealed(tmp_path, [sm2.cert], b"bid")
    original = envelope.read_bytes()
    blob = inspect_envelope(envelope).recipients[0].encrypted_key
    start = original.index(blob)
    # in C1's x coordinate (not a curve point), C3 (check value) and C2 (the key itself)
    for offset in (start + 5, start + len(blob) - 20, start + len(blob) - 1):
        damaged = bytearray(original)
        damaged[offset] ^= 0x04
        envelope.write_bytes(bytes(damaged))
        with pytest.raises(EnvelopeTampered, match="content key for certificate .* does not decrypt"):
            open_envelope(envelope, sm2.key, sm2.cert, tmp_path / "out.bin")
        assert not (tmp_path / "out.bin").exists()


def test_wrong_keys_and_certificates(tmp_path: Path, parties: dict) -> None:
    sm2, stranger, rsa = parties["sm2"], parties["sm2_stranger"], parties["rsa"]
    envelope = sealed(tmp_path, [sm2.cert, rsa.cert], b"bid")
    out = tmp_path / "out.bin"
    for key, cert in [(stranger.key, sm2.cert),  # another SM2 key
                      (stranger.issued.key_pem, sm2.cert_path),
                      (rsa.key, sm2.cert),  # an RSA key for the SM2 certificate
                      (sm2.key, rsa.cert),  # the SM2 key for the RSA certificate
                      (sm2.issued.key_pem, rsa.cert)]:
        with pytest.raises(NotARecipient, match="private key given is not the key of"):
            open_envelope(envelope, key, cert, out)
    with pytest.raises(NotARecipient, match="not sealed to certificate 'C=CN, CN=Someone else SM2'") as caught:
        open_envelope(envelope, stranger.key, stranger.cert, out)
    assert f"serial {sm2.serial:#x}" in str(caught.value) and "SM2 encryption" in str(caught.value)
    for garbage in (b"not a key", b"-----BEGIN SM2 PRIVATE KEY-----\nAAAA\n-----END SM2 PRIVATE KEY-----\n"):
        with pytest.raises(EnvelopeError, match="not a readable unencrypted private key"):
            open_envelope(envelope, garbage, sm2.cert, out)
    assert files_in(tmp_path) == {"env.der"}


def test_every_truncation_and_byte_flip_gives_a_clean_error(tmp_path: Path, parties: dict) -> None:
    plaintext = random.Random(7).randbytes(1500)
    envelope = sealed(tmp_path, [parties["sm2"].cert, parties["rsa"].cert], plaintext).read_bytes()
    header_size = len(envelope) - len(plaintext) - 18
    for cut in range(0, len(envelope), 7):
        with pytest.raises(EnvelopeFormatError):
            inspect_envelope(envelope[:cut])
    rng = random.Random(2025)
    out = tmp_path / "out.bin"
    outcomes: set[str] = set()
    for _ in range(200):
        damaged = bytearray(envelope)
        damaged[rng.randrange(header_size)] ^= 1 << rng.randrange(8)
        try:
            open_envelope(bytes(damaged), parties["sm2"].key, parties["sm2"].cert, out)
            assert out.read_bytes() == plaintext  # only bytes the tag does not cover changed
            outcomes.add("opened")
        except EnvelopeError as error:
            outcomes.add(type(error).__name__)
    assert {"EnvelopeFormatError", "EnvelopeTampered"} <= outcomes
    assert files_in(tmp_path) <= {"env.der", "out.bin"}


# --------------------------------------------------------------------------- OpenSSL checks of the primitives


def _ghash(h: bytes, aad: bytes, ciphertext: bytes) -> bytes:
    """GHASH of NIST SP 800-38D, bit by bit (slow; for small inputs)."""
    h_int = int.from_bytes(h, "big")

    def multiply(x: int) -> int:
        z, v = 0, h_int
        for bit in range(127, -1, -1):
            if (x >> bit) & 1:
                z ^= v
            v = (v >> 1) ^ (0xE1 << 120) if v & 1 else v >> 1
        return z

    def blocks(data: bytes) -> list[bytes]:
        padded = data + b"\0" * (-len(data) % 16)
        return [padded[i:i + 16] for i in range(0, len(padded), 16)]

    y = 0
    lengths = (len(aad) * 8).to_bytes(8, "big") + (len(ciphertext) * 8).to_bytes(8, "big")
    for block in blocks(aad) + blocks(ciphertext) + [lengths]:
        y = multiply(y ^ int.from_bytes(block, "big"))
    return y.to_bytes(16, "big")


def _openssl_sm4(tmp_path: Path, mode: str, key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    source, out = tmp_path / "sm4-in.bin", tmp_path / "sm4-out.bin"
    source.write_bytes(data)
    options = ["-iv", iv.hex()] if iv is not None else []
    openssl("enc", "-e", f"-sm4-{mode}", "-nopad", "-K", key.hex(), *options, "-in", source, "-out", out)
    result = out.read_bytes()
    source.unlink()
    out.unlink()
    return result


def _envelope_parts(envelope: Path) -> tuple[bytes, bytes, bytes, bytes]:
    """(SM2 encryptedKey, nonce, ciphertext, tag), read with asn1crypto."""
    body = cms.ContentInfo.load(envelope.read_bytes(), strict=True)["content"]
    content = body["auth_encrypted_content_info"]
    nonce = _der.parse(content["content_encryption_algorithm"]["parameters"].dump()).children()[0].as_octets()
    (recipient,) = body["recipient_infos"]
    return recipient.chosen["encrypted_key"].native, nonce, content["encrypted_content"].native, body["mac"].native


@needs_openssl
@pytest.mark.parametrize("key_form", ["pkcs8", "sec1"])
def test_openssl_recovers_the_key_and_the_content(tmp_path: Path, parties: dict, key_form: str) -> None:
    sm2 = parties["sm2"]
    plaintext = os.urandom(4000) + b"bid price: 1,234,567.89 CNY\n"
    envelope = sealed(tmp_path, [sm2.cert], plaintext)
    blob, nonce, ciphertext, tag = _envelope_parts(envelope)

    # 1. SM2: OpenSSL decrypts our key-transport blob (GmSSL made it) with the holder's key.
    wrapped = _write(tmp_path, "wrapped.bin", blob)
    key_file = sm2.key_path if key_form == "pkcs8" else sm2.sec1_key_path
    openssl("pkeyutl", "-decrypt", "-inkey", key_file, "-in", wrapped, "-out", tmp_path / "cek.bin")
    content_key = (tmp_path / "cek.bin").read_bytes()
    assert len(content_key) == 16

    # 2. SM4-GCM from OpenSSL's SM4 and a GHASH of our own, independent of pyca/cryptography.
    j0 = nonce + b"\0\0\0\1"
    h = _openssl_sm4(tmp_path, "ecb", content_key, b"\0" * 16)
    mask = _openssl_sm4(tmp_path, "ecb", content_key, j0)
    assert bytes(a ^ b for a, b in zip(_ghash(h, b"", ciphertext), mask)) == tag
    counter = nonce + b"\0\0\0\2"  # inc32(J0); no 32-bit wrap for a few kilobytes
    assert _openssl_sm4(tmp_path, "ctr", content_key, ciphertext, iv=counter) == plaintext

    # 3. And pyca/cryptography's SM4-GCM agrees (the library gm.py also uses for SM4).
    decryptor = Cipher(algorithms.SM4(content_key), modes.GCM(nonce, tag)).decryptor()
    assert decryptor.update(ciphertext) + decryptor.finalize() == plaintext


@needs_openssl
def test_openssl_made_key_transport_opens_in_ours(tmp_path: Path, parties: dict) -> None:
    """An envelope whose SM2 encryptedKey comes from ``openssl pkeyutl -encrypt`` and whose
    structure is assembled here from the documented pieces opens with open_envelope."""
    sm2 = parties["sm2"]
    content_key, nonce, plaintext = os.urandom(16), os.urandom(12), os.urandom(10_000)
    openssl("pkeyutl", "-encrypt", "-certin", "-inkey", sm2.cert_path,
            "-in", _write(tmp_path, "cek.bin", content_key), "-out", tmp_path / "wrapped.bin")
    blob = (tmp_path / "wrapped.bin").read_bytes()
    encryptor = Cipher(algorithms.SM4(content_key), modes.GCM(nonce)).encryptor()
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    tbs = sm2.cert["tbs_certificate"]
    ktri = _der.sequence(
        _der.integer(0),
        _der.sequence(tbs["issuer"].dump(), _der.integer(sm2.serial)),
        _der.sequence(_der.oid(SM2_ENCRYPTION_OID)),
        _der.octet_string(blob),
    )
    algorithm = _der.sequence(_der.oid(SM4_GCM_OID), _der.sequence(_der.octet_string(nonce), _der.integer(16)))
    envelope = envelope_prefix([ktri], algorithm, len(ciphertext), 16) + ciphertext + _der.octet_string(encryptor.tag)
    info = open_envelope(envelope, sm2.key_path, sm2.cert_path, tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == plaintext and info.encoding == "DER"


# --------------------------------------------------------------------------- streaming


STREAM_SIZE = 200 * MiB


def test_streaming_200_mb_in_bounded_memory(tmp_path: Path, parties: dict) -> None:
    sm2 = parties["sm2"]
    source = tmp_path / "big.bin"
    block = os.urandom(MiB)
    with open(source, "wb") as stream:
        for index in range(STREAM_SIZE // MiB):
            stream.write(block[index:] + block[:index])
    expected = _sha256_file(source)
    envelope, opened = tmp_path / "big.der", tmp_path / "big.out"

    started = time.perf_counter()
    with traced_peak() as seal_peak:
        info = seal(source, [sm2.cert, parties["sm2_lot"].cert], envelope)
    timings = {"seal": time.perf_counter() - started}
    assert info.content_algorithm == "sm4-gcm" and info.content_size == STREAM_SIZE
    assert seal_peak[0] < 4 * MiB, f"seal peak {seal_peak[0]} bytes"
    for how in ("file", "pipe"):
        started = time.perf_counter()
        with traced_peak() as open_peak:
            open_envelope(envelope if how == "file" else Pipe(envelope), sm2.key, sm2.cert, opened)
        timings[f"open from {how}"] = time.perf_counter() - started
        assert open_peak[0] < 4 * MiB, f"open ({how}) peak {open_peak[0]} bytes"
        assert _sha256_file(opened) == expected
        opened.unlink()

    # Raw SM4-GCM over the same bytes (read from the same file, nothing written), in the
    # same process: the floor the envelope works against.
    key, nonce = os.urandom(16), os.urandom(12)
    buffer, output = bytearray(MiB), bytearray(MiB + 15)
    for direction in ("encrypt", "decrypt"):
        gcm = Cipher(algorithms.SM4(key), modes.GCM(nonce, None if direction == "encrypt" else b"\0" * 16))
        context = gcm.encryptor() if direction == "encrypt" else gcm.decryptor()
        started = time.perf_counter()
        with open(source, "rb") as stream:
            while got := stream.readinto(buffer):
                context.update_into(memoryview(buffer)[:got], output)
        if direction == "encrypt":
            context.finalize()  # (a decryption's finalize would only check the dummy tag)
        timings[f"raw {direction}"] = time.perf_counter() - started
    print(", ".join(f"{what} {STREAM_SIZE / MiB / seconds:.0f} MiB/s" for what, seconds in timings.items())
          + f" (peak seal {seal_peak[0] / MiB:.2f} MiB)")
