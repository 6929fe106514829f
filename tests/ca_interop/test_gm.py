"""SM2/SM3/SM4: published known answers, OpenSSL 3.0 command-line interop, bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ca_interop import gm

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command line is not installed")
DISTID = "distid:1234567812345678"


def openssl(*args: str | Path, cwd: Path, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *map(str, args)], cwd=cwd, input=input, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def openssl_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with key.pem (genpkey, PKCS#8), pub.pem, key.der and sec1.pem (`openssl ec`)."""
    if OPENSSL is None:
        pytest.skip("the openssl command line is not installed")
    work = tmp_path_factory.mktemp("openssl-sm2")
    assert openssl("genpkey", "-algorithm", "SM2", "-out", "key.pem", cwd=work).returncode == 0
    assert openssl("pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem", cwd=work).returncode == 0
    assert openssl("pkey", "-in", "key.pem", "-outform", "DER", "-out", "key.der", cwd=work).returncode == 0
    assert openssl("ec", "-in", "key.pem", "-out", "sec1.pem", cwd=work).returncode == 0
    return work


# ------------------------------------------------------------------------ SM3


@pytest.mark.parametrize(("message", "digest"), [
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    (b"", "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"),
])
def test_sm3_known_answers(message: bytes, digest: str) -> None:
    assert gm.sm3(message).hex() == digest


def test_sm3_hasher_streams_and_digest_does_not_end_it() -> None:
    data = os.urandom(100_003)
    hasher = gm.Sm3Hasher()
    for start in range(0, len(data), 4096):
        hasher.update(data[start:start + 4096])
    assert hasher.digest() == gm.sm3(data)
    fork = hasher.copy().update(b"more")
    assert hasher.hexdigest() == gm.sm3(data).hex()
    assert fork.digest() == gm.sm3(data + b"more")


# ------------------------------------------------------- SM2 published example
# GB/T 32918.5-2017 / GM/T 0003.5-2012 Annex A: recommended curve, ID "1234567812345678".

KAT_SECRET = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
KAT_X = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
KAT_Y = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
KAT_Z = "b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3"
KAT_E = "f0b43e94ba45accaace692ed534382eb17e6ab5a19ce7b31f4486fdfc0d28640"
KAT_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
KAT_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
# The same annex encrypts "encryption standard" with k = 59276E27...BC21.
KAT_CIPHERTEXT = bytes.fromhex(
    "307c022004ebfc718e8d1798620432268e77feb6415e2ede0e073c0f4f640ecd2e149a73"
    "022100e858f9d81e5430a57b36daab8f950a3c64e6ee6a63094d99283aff767e124df0"
    "042059983c18f809e262923c53aec295d30383b54e39d609d160afcb1908d0bd8766"
    "041321886ca989ca9c7d58087307ca93092d651efa"
)


def test_sm2_published_example() -> None:
    key = gm.Sm2PrivateKey.from_secret(KAT_SECRET)
    assert (key.public_key.x, key.public_key.y) == (KAT_X, KAT_Y)
    assert gm.sm2_z(key.public_key).hex() == KAT_Z
    assert gm.sm2_digest(key.public_key, b"message digest").hex() == KAT_E
    signature = gm.sm2_signature_from_rs(KAT_R, KAT_S)
    assert gm.sm2_verify(key.public_key, b"message digest", signature)
    assert not gm.sm2_verify(key.public_key, b"message digest!", signature)
    assert not gm.sm2_verify(key.public_key, b"message digest", signature, user_id=b"")
    assert gm.sm2_decrypt(key, KAT_CIPHERTEXT) == b"encryption standard"


def test_curve_constants_are_consistent() -> None:
    """G is on the curve (the constructor checks), 1*G = G and (n-1)*G = -G, so G has order n."""
    assert gm.Sm2PrivateKey.from_secret(1).public_key == gm.Sm2PublicKey(gm.GX, gm.GY)
    assert gm._base_multiply(gm.N - 1) == (gm.GX, gm.P - gm.GY)


# ------------------------------------------------------------- SM2 signatures


def test_sign_and_verify_round_trip_with_any_user_id() -> None:
    key = gm.generate_sm2_key()
    for user_id in (gm.SM2_DEFAULT_USER_ID, b"", b"ALICE123@YAHOO.COM"):
        signature = gm.sm2_sign(key, b"bid", user_id)
        assert gm.sm2_verify(key.public_key, b"bid", signature, user_id)
        assert not gm.sm2_verify(key.public_key, b"bid2", signature, user_id)
        assert not gm.sm2_verify(key.public_key, b"bid", signature, user_id + b"x")
    assert not gm.sm2_verify(gm.generate_sm2_key().public_key, b"bid", gm.sm2_sign(key, b"bid"))


def test_streaming_and_digest_signatures_match_message_signatures() -> None:
    key = gm.generate_sm2_key()
    hasher = gm.sm2_message_hasher(key.public_key)
    for chunk in (b"part one, ", b"part two"):
        hasher.update(chunk)
    digest = hasher.digest()
    assert digest == gm.sm2_digest(key.public_key, b"part one, part two")
    assert gm.sm2_verify(key.public_key, b"part one, part two", gm.sm2_sign_digest(key, digest))
    assert gm.sm2_verify_digest(key.public_key, digest, gm.sm2_sign(key, b"part one, part two"))
    with pytest.raises(gm.GmError, match="32 bytes"):
        gm.sm2_sign_digest(key, b"short")


def test_signature_rs_conversion() -> None:
    key = gm.generate_sm2_key()
    signature = gm.sm2_sign(key, b"x")
    assert gm.sm2_signature_from_rs(*gm.sm2_signature_to_rs(signature)) == signature
    with pytest.raises(gm.GmError):
        gm.sm2_signature_from_rs(0, 1)
    with pytest.raises(gm.GmError):
        gm.sm2_signature_to_rs(b"\x30\x00")


def _der_integer(value: int) -> bytes:
    """Minimal two's-complement DER INTEGER."""
    body = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return b"\x02" + bytes([len(body)]) + body


def _der_sequence(body: bytes) -> bytes:
    return b"\x30" + bytes([len(body)]) + body


def _bad_signatures(good: bytes) -> list[bytes]:
    r, s = gm.sm2_signature_to_rs(good)
    padded_r = _der_integer(r)
    padded_r = b"\x02" + bytes([padded_r[1] + 1]) + b"\x00" + padded_r[2:]  # redundant leading zero
    return [
        b"", b"\x00", b"\x30", b"\x30\x00", b"garbage" * 10, good[:-1], good + b"\x00", good[:10],
        _der_sequence(padded_r + _der_integer(s)),           # valid BER, not DER
        _der_sequence(_der_integer(0) + _der_integer(s)),    # r = 0
        _der_sequence(_der_integer(r) + _der_integer(-s)),   # s negative
        _der_sequence(_der_integer(r) + _der_integer(s + gm.N)),  # s >= n
        b"\x31" + good[1:],                                  # SET, not SEQUENCE
        gm.sm2_signature_from_rs(gm.N - 1, gm.N - 1),         # well-formed, wrong
        bytes(64),                                            # raw r||s, not DER
    ]


def test_verify_returns_false_for_malformed_signatures() -> None:
    key = gm.generate_sm2_key()
    good = gm.sm2_sign(key, b"m")
    for bad in _bad_signatures(good):
        assert gm.sm2_verify(key.public_key, b"m", bad) is False, bad.hex()
    assert gm.sm2_verify(key.public_key, b"m", "not bytes") is False  # type: ignore[arg-type]


def test_verify_never_raises_on_flipped_bytes() -> None:
    key = gm.generate_sm2_key()
    good = gm.sm2_sign(key, b"m")
    for position in range(len(good)):
        for bit in (0x01, 0x80):
            mutated = bytearray(good)
            mutated[position] ^= bit
            assert gm.sm2_verify(key.public_key, b"m", bytes(mutated)) is False


def test_user_id_too_long_is_refused() -> None:
    key = gm.generate_sm2_key()
    with pytest.raises(gm.GmError, match="user ID"):
        gm.sm2_sign(key, b"m", b"x" * 8192)


@needs_openssl
def test_python_signature_verifies_in_openssl_only_with_the_distid(tmp_path: Path) -> None:
    key = gm.generate_sm2_key()
    (tmp_path / "pub.pem").write_bytes(key.public_key.to_spki_pem())
    (tmp_path / "msg").write_bytes(b"tender document" * 100)
    (tmp_path / "sig").write_bytes(gm.sm2_sign(key, b"tender document" * 100))
    verify = ("dgst", "-sm3", "-verify", "pub.pem", "-signature", "sig")
    accepted = openssl(*verify, "-sigopt", DISTID, "msg", cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stderr
    assert b"Verified OK" in accepted.stdout
    # OpenSSL's default is the EMPTY ID, so without -sigopt the same signature fails.
    assert openssl(*verify, "msg", cwd=tmp_path).returncode != 0


@needs_openssl
def test_openssl_signature_verifies_in_python(openssl_key: Path, tmp_path: Path) -> None:
    (tmp_path / "msg").write_bytes(b"bid opening record")
    key_path = openssl_key / "key.pem"
    assert openssl("dgst", "-sm3", "-sign", key_path, "-sigopt", DISTID, "-out", "sig", "msg",
                   cwd=tmp_path).returncode == 0
    assert openssl("dgst", "-sm3", "-sign", key_path, "-out", "sig-empty-id", "msg", cwd=tmp_path).returncode == 0
    public_key = gm.load_sm2_public_key((openssl_key / "pub.pem").read_bytes())
    signature, empty_id_signature = (tmp_path / "sig").read_bytes(), (tmp_path / "sig-empty-id").read_bytes()
    assert gm.sm2_verify(public_key, b"bid opening record", signature)
    assert not gm.sm2_verify(public_key, b"bid opening record", signature, user_id=b"")
    assert not gm.sm2_verify(public_key, b"bid opening record", empty_id_signature)
    assert gm.sm2_verify(public_key, b"bid opening record", empty_id_signature, user_id=b"")


# ----------------------------------------------------------------------- keys


@needs_openssl
def test_openssl_keys_load_in_every_format(openssl_key: Path) -> None:
    public_key = gm.load_sm2_public_key((openssl_key / "pub.pem").read_bytes())
    pkcs8 = gm.load_sm2_private_key((openssl_key / "key.pem").read_bytes())
    assert pkcs8.public_key == public_key
    assert gm.load_sm2_private_key((openssl_key / "key.der").read_bytes()) == pkcs8
    sec1_pem = (openssl_key / "sec1.pem").read_bytes()
    assert sec1_pem.startswith(b"-----BEGIN SM2 PRIVATE KEY-----")  # OpenSSL 3.0's label for SEC1 SM2
    assert gm.load_sm2_private_key(sec1_pem) == pkcs8
    # What we write is byte-for-byte what OpenSSL writes.
    assert pkcs8.to_pkcs8_pem() == (openssl_key / "key.pem").read_bytes()
    assert public_key.to_spki_pem() == (openssl_key / "pub.pem").read_bytes()


@needs_openssl
@pytest.mark.parametrize("form", ["pkcs8_pem", "pkcs8_der", "sec1_pem", "sec1_der"])
def test_python_keys_load_and_sign_in_openssl(form: str, tmp_path: Path) -> None:
    key = gm.generate_sm2_key()
    data = {"pkcs8_pem": key.to_pkcs8_pem, "pkcs8_der": key.to_pkcs8_der,
            "sec1_pem": key.to_sec1_pem, "sec1_der": key.to_sec1_der}[form]()
    (tmp_path / "key").write_bytes(data)
    (tmp_path / "msg").write_bytes(b"m")
    inform = "DER" if form.endswith("der") else "PEM"
    exported = openssl("pkey", "-inform", inform, "-in", "key", "-pubout", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == key.public_key.to_spki_pem()
    signed = openssl("dgst", "-sm3", "-keyform", inform, "-sign", "key", "-sigopt", DISTID, "-out", "sig", "msg",
                     cwd=tmp_path)
    assert signed.returncode == 0, signed.stderr
    assert gm.sm2_verify(key.public_key, b"m", (tmp_path / "sig").read_bytes())


def test_keys_round_trip_and_repr_hides_the_secret() -> None:
    key = gm.generate_sm2_key()
    for data in (key.to_pkcs8_pem(), key.to_pkcs8_der(), key.to_sec1_pem(), key.to_sec1_der()):
        assert gm.load_sm2_private_key(data) == key
    assert gm.load_sm2_public_key(key.public_key.to_spki_der()) == key.public_key
    assert f"{key.secret:064x}" not in repr(key)
    assert gm.is_sm2_spki(key.public_key.to_spki_der())


def test_compressed_and_raw_points() -> None:
    public_key = gm.generate_sm2_key().public_key
    prefix = b"\x03" if public_key.y & 1 else b"\x02"
    assert gm.Sm2PublicKey.from_point(prefix + public_key.x.to_bytes(32, "big")) == public_key
    assert gm.Sm2PublicKey.from_point(public_key.raw) == public_key
    assert gm.Sm2PublicKey.from_point(public_key.to_point()) == public_key


def _p256_and_rsa_keys() -> tuple[bytes, bytes, bytes]:
    p256 = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pkcs8 = serialization.PrivateFormat.PKCS8
    none = serialization.NoEncryption()
    return (p256.private_bytes(serialization.Encoding.PEM, pkcs8, none),
            rsa_key.private_bytes(serialization.Encoding.PEM, pkcs8, none),
            p256.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo))


def test_wrong_keys_give_clear_errors() -> None:
    p256_pem, rsa_pem, p256_public_pem = _p256_and_rsa_keys()
    key = gm.generate_sm2_key()
    other = gm.generate_sm2_key()
    mismatched = gm.Sm2PrivateKey(key.secret, other.public_key).to_sec1_der()
    pem = key.to_pkcs8_pem()
    cases: list[tuple[bytes, str]] = [
        (b"", "not valid DER"),
        (b"garbage", "not valid DER"),
        (pem[: len(pem) // 2], "PEM is malformed"),
        (key.to_pkcs8_der()[:-3], "not valid DER"),
        (pem.replace(b"PRIVATE KEY", b"CERTIFICATE"), "label 'CERTIFICATE'"),
        (p256_pem, "curve 1.2.840.10045.3.1.7, not SM2"),
        (rsa_pem, "not an EC key"),
        (pem.replace(b"PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"), "password-protected"),
        (mismatched, "does not match"),
    ]
    for data, message in cases:
        with pytest.raises(gm.GmError, match=message):
            gm.load_sm2_private_key(data)
    with pytest.raises(gm.GmError, match="not SM2"):
        gm.load_sm2_public_key(p256_public_pem)
    assert not gm.is_sm2_spki(p256_public_pem)
    with pytest.raises(gm.GmError, match="not a point"):
        gm.Sm2PublicKey(1, 2)
    with pytest.raises(gm.GmError, match="65"):
        gm.Sm2PublicKey.from_point(b"\x04" + bytes(10))
    with pytest.raises(gm.GmError, match="out of range"):
        gm.Sm2PrivateKey.from_secret(0)
    with pytest.raises(gm.GmError, match="out of range"):
        gm.Sm2PrivateKey.from_secret(gm.N - 1)
    assert isinstance(gm.GmError("x"), ValueError)


# ------------------------------------------------------------- SM2 encryption


def test_sm2_encryption_round_trip_and_failures() -> None:
    key = gm.generate_sm2_key()
    content_key = gm.new_sm4_key()
    ciphertext = gm.sm2_encrypt(key.public_key, content_key)
    assert ciphertext[0] == 0x30  # GM/T 0009 SEQUENCE { x, y, hash, ciphertext }
    assert gm.sm2_decrypt(key, ciphertext) == content_key
    with pytest.raises(gm.GmError, match="decryption failed"):
        gm.sm2_decrypt(gm.generate_sm2_key(), ciphertext)
    tampered = ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])
    with pytest.raises(gm.GmError, match="decryption failed"):
        gm.sm2_decrypt(key, tampered)
    for garbage in (b"", b"junk", ciphertext[:-5], ciphertext + b"\x00"):
        with pytest.raises(gm.GmError):
            gm.sm2_decrypt(key, garbage)
    for size in (0, 256):
        with pytest.raises(gm.GmError, match="1 to 255"):
            gm.sm2_encrypt(key.public_key, bytes(size))


@needs_openssl
def test_sm2_encryption_interoperates_with_openssl_pkeyutl(openssl_key: Path, tmp_path: Path) -> None:
    key = gm.load_sm2_private_key((openssl_key / "key.pem").read_bytes())
    (tmp_path / "ck").write_bytes(b"0123456789abcdef")
    encrypted = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", openssl_key / "pub.pem", "-in", "ck",
                        "-out", "ck.enc", cwd=tmp_path)
    assert encrypted.returncode == 0, encrypted.stderr
    assert gm.sm2_decrypt(key, (tmp_path / "ck.enc").read_bytes()) == b"0123456789abcdef"
    (tmp_path / "ours.enc").write_bytes(gm.sm2_encrypt(key.public_key, b"fedcba9876543210"))
    decrypted = openssl("pkeyutl", "-decrypt", "-inkey", openssl_key / "key.pem", "-in", "ours.enc", cwd=tmp_path)
    assert decrypted.returncode == 0, decrypted.stderr
    assert decrypted.stdout == b"fedcba9876543210"


# ------------------------------------------------------------------------ SM4

SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")


def test_sm4_block_known_answer() -> None:
    """GB/T 32907 example: E(K, K) = 681edf34...; CBC with a zero IV shows the raw block."""
    assert gm.sm4_cbc_encrypt(SM4_KEY, bytes(16), SM4_KEY)[:16].hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_gcm_rfc8998_known_answer() -> None:
    nonce = bytes.fromhex("00001234567800000000abcd")
    aad = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    plaintext = bytes.fromhex("aa" * 8 + "bb" * 8 + "cc" * 8 + "dd" * 8 + "ee" * 8 + "ff" * 8 + "ee" * 8 + "aa" * 8)
    expected = (
        "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735"
        "d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d"
        "83de3541e4c2b58177e065a9bf7b62ec"
    )
    assert gm.sm4_gcm_encrypt(SM4_KEY, nonce, plaintext, aad).hex() == expected
    assert gm.sm4_gcm_decrypt(SM4_KEY, nonce, bytes.fromhex(expected), aad) == plaintext
    with pytest.raises(gm.GmError, match="authentication failed"):
        gm.sm4_gcm_decrypt(SM4_KEY, nonce, bytes.fromhex(expected), aad + b"!")


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_sm4_streams_match_one_shot() -> None:
    data, iv, nonce = os.urandom(70_001), os.urandom(16), os.urandom(12)
    encryptor = gm.sm4_cbc_encryptor(SM4_KEY, iv)
    cbc = b"".join(encryptor.update(chunk) for chunk in _chunks(data, 1000)) + encryptor.finalize()
    assert cbc == gm.sm4_cbc_encrypt(SM4_KEY, iv, data)
    decryptor = gm.sm4_cbc_decryptor(SM4_KEY, iv)
    assert b"".join(decryptor.update(chunk) for chunk in _chunks(cbc, 777)) + decryptor.finalize() == data

    gcm = gm.sm4_gcm_encryptor(SM4_KEY, nonce, b"header")
    body = b"".join(gcm.update(chunk) for chunk in _chunks(data, 4096)) + gcm.finalize()
    assert body + gcm.tag == gm.sm4_gcm_encrypt(SM4_KEY, nonce, data, b"header")
    opener = gm.sm4_gcm_decryptor(SM4_KEY, nonce, gcm.tag, b"header")
    assert b"".join(opener.update(chunk) for chunk in _chunks(body, 999)) + opener.finalize() == data
    with pytest.raises(gm.GmError, match="already finalised"):
        opener.update(b"x")


def test_sm4_bad_input_gives_clear_errors() -> None:
    iv = bytes(range(16))
    ciphertext = gm.sm4_cbc_encrypt(SM4_KEY, iv, b"sixteen byte msg" * 3)
    with pytest.raises(gm.GmError, match="key must be 16 bytes"):
        gm.sm4_cbc_encryptor(b"short", iv)
    with pytest.raises(gm.GmError, match="CBC IV"):
        gm.sm4_cbc_encryptor(SM4_KEY, b"short")
    with pytest.raises(gm.GmError, match="truncated or its padding"):
        gm.sm4_cbc_decrypt(SM4_KEY, iv, ciphertext[:-3])
    with pytest.raises(gm.GmError, match="truncated or its padding"):
        gm.sm4_cbc_decrypt(bytes(16), iv, ciphertext)  # this wrong key gives bad padding
    with pytest.raises(gm.GmError, match="tag"):
        gm.sm4_gcm_decrypt(SM4_KEY, bytes(12), b"short")
    with pytest.raises(gm.GmError, match="after finalize"):
        gm.sm4_gcm_encryptor(SM4_KEY, bytes(12)).tag  # noqa: B018


@needs_openssl
def test_sm4_cbc_interoperates_with_openssl_enc(tmp_path: Path) -> None:
    key, iv = os.urandom(16), os.urandom(16)
    data = os.urandom(200_000 + 7)
    (tmp_path / "plain").write_bytes(data)
    (tmp_path / "ours").write_bytes(gm.sm4_cbc_encrypt(key, iv, data))
    hex_args = ("-K", key.hex(), "-iv", iv.hex())
    decrypted = openssl("enc", "-d", "-sm4-cbc", *hex_args, "-in", "ours", cwd=tmp_path)
    assert decrypted.returncode == 0, decrypted.stderr
    assert decrypted.stdout == data
    encrypted = openssl("enc", "-sm4-cbc", *hex_args, "-in", "plain", cwd=tmp_path)
    assert encrypted.returncode == 0, encrypted.stderr
    stream = gm.sm4_cbc_decryptor(key, iv)
    plain = b"".join(stream.update(chunk) for chunk in _chunks(encrypted.stdout, 65536)) + stream.finalize()
    assert plain == data


def test_x509_verifier_plug_takes_a_spki_and_refuses_other_keys() -> None:
    key = gm.generate_sm2_key()
    signature = gm.sm2_sign(key, b"tbs")
    assert gm.verify_sm2_with_sm3(key.public_key.to_spki_der(), signature, b"tbs")
    assert not gm.verify_sm2_with_sm3(key.public_key.to_spki_der(), signature, b"tbs2")
    assert not gm.verify_sm2_with_sm3(_p256_and_rsa_keys()[2].replace(b"-", b""), signature, b"tbs")
    p256_spki = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert not gm.verify_sm2_with_sm3(p256_spki, signature, b"tbs")
