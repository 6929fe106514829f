"""China's commercial cryptography (SM2, SM3, SM4), interoperable with OpenSSL 3.0.

Bid documents, e-seals, CA certificates and CRLs from Chinese CAs are signed with SM2
over SM3 and encrypted with SM2 + SM4, and pyca/cryptography has no SM2. The work is
split between two libraries:

- SM2 point arithmetic (sign, verify, encrypt, decrypt, key generation) is done by
  ``gmssl-pyx``, a maintained binding to the GmSSL 3 C library with wheels for CPython
  3.11-3.13 (about 3,400 signatures/s and 1,400 verifications/s on one core, 20-50
  times the pure-Python ``gmssl``). We compute Z and e = SM3(Z || M) ourselves and hand
  GmSSL only the digest, so the signer ID is always explicit and any ID (including the
  empty one OpenSSL uses by default) can be checked.
- SM3 and SM4 come from pyca/cryptography (already a dependency), because only it offers
  them as streaming objects (update/finalize), which large bid files need.

Inputs an attacker controls (signatures, ciphertexts, key files) are parsed and checked
here, in Python, before they reach C: malformed data gives :class:`GmError` (or False
from a verify function), never a crash. GmSSL prints a short trace to stderr when a
well-formed signature does not verify or a decryption fails; that is noise, not an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Final

import gmssl_pyx
from asn1crypto import core, pem
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SM2_DEFAULT_USER_ID: Final = b"1234567812345678"
"""The signer ID of GM/T 0009 section 10, used by certificates, CMS and e-seals."""

OID_EC_PUBLIC_KEY: Final = "1.2.840.10045.2.1"
OID_SM2_CURVE: Final = "1.2.156.10197.1.301"
OID_SM2_WITH_SM3: Final = "1.2.156.10197.1.501"
OID_SM3: Final = "1.2.156.10197.1.401"
OID_SM2_ENCRYPTION: Final = "1.2.156.10197.1.301.3"
OID_SM4_CBC: Final = "1.2.156.10197.1.104.2"
OID_SM4_GCM: Final = "1.2.156.10197.1.104.8"

SM3_DIGEST_SIZE: Final = 32
SM4_KEY_SIZE: Final = 16
SM4_BLOCK_SIZE: Final = 16
SM4_GCM_TAG_SIZE: Final = 16
SM2_MAX_ENCRYPT_SIZE: Final = 255
"""GmSSL encrypts at most 255 bytes with SM2: enough for a content key, which is all SM2
encryption is for (envelopes encrypt the content with SM4)."""

# The recommended curve of GB/T 32918.5 (GM/T 0003.5).
P: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B: Final = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX: Final = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY: Final = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

_MAX_USER_ID_SIZE: Final = 8191  # ENTL is the ID's length in bits, in two bytes


class GmError(ValueError):
    """Bad SM2/SM3/SM4 input: a malformed key, signature or ciphertext, a wrong length, a
    failed decryption. The message names what is wrong; it never contains key material."""


# --------------------------------------------------------------------------- SM3


class Sm3Hasher:
    """Incremental SM3, so a large file can be hashed without loading it whole."""

    def __init__(self, data: bytes = b"") -> None:
        self._hash = hashes.Hash(hashes.SM3())
        if data:
            self._hash.update(data)

    def update(self, data: bytes) -> Sm3Hasher:
        self._hash.update(data)
        return self

    def copy(self) -> Sm3Hasher:
        clone = Sm3Hasher.__new__(Sm3Hasher)
        clone._hash = self._hash.copy()
        return clone

    def digest(self) -> bytes:
        """The digest so far; the hasher stays usable (we finalise a copy)."""
        return self._hash.copy().finalize()

    def hexdigest(self) -> str:
        return self.digest().hex()


def sm3(data: bytes) -> bytes:
    return Sm3Hasher(data).digest()


# ------------------------------------------------------------------ curve arithmetic
# Pure Python, used only to derive a public key from a private scalar (key files that
# lack the public key, test vectors). It is not constant-time; signing never uses it.

_Jacobian = tuple[int, int, int]
_INFINITY: Final[_Jacobian] = (1, 1, 0)


def _on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def _double(point: _Jacobian) -> _Jacobian:
    x, y, z = point
    if z == 0 or y == 0:
        return _INFINITY
    s = 4 * x * y * y % P
    m = (3 * x * x + A * pow(z, 4, P)) % P
    x3 = (m * m - 2 * s) % P
    return x3, (m * (s - x3) - 8 * pow(y, 4, P)) % P, 2 * y * z % P


def _add(p1: _Jacobian, p2: _Jacobian) -> _Jacobian:
    if p1[2] == 0:
        return p2
    if p2[2] == 0:
        return p1
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    u1, u2 = x1 * z2 * z2 % P, x2 * z1 * z1 % P
    s1, s2 = y1 * pow(z2, 3, P) % P, y2 * pow(z1, 3, P) % P
    if u1 == u2:
        return _double(p1) if s1 == s2 else _INFINITY
    h, r = (u2 - u1) % P, (s2 - s1) % P
    h2 = h * h % P
    h3 = h * h2 % P
    x3 = (r * r - h3 - 2 * u1 * h2) % P
    return x3, (r * (u1 * h2 - x3) - s1 * h3) % P, h * z1 * z2 % P


def _base_multiply(scalar: int) -> tuple[int, int]:
    result, addend = _INFINITY, (GX, GY, 1)
    while scalar:
        if scalar & 1:
            result = _add(result, addend)
        addend = _double(addend)
        scalar >>= 1
    x, y, z = result
    z_inv = pow(z, -1, P)
    return x * z_inv * z_inv % P, y * pow(z_inv, 3, P) % P


def _sqrt_mod_p(value: int) -> int | None:
    root = pow(value, (P + 1) // 4, P)  # P = 3 (mod 4)
    return root if root * root % P == value % P else None


# ------------------------------------------------------------------------ ASN.1


class _AlgorithmIdentifier(core.Sequence):  # type: ignore[misc]
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _SubjectPublicKeyInfo(core.Sequence):  # type: ignore[misc]
    _fields = [("algorithm", _AlgorithmIdentifier), ("public_key", core.OctetBitString)]


class _EcPrivateKey(core.Sequence):  # type: ignore[misc]
    """SEC1 ECPrivateKey (RFC 5915), with the curve given by name only."""

    _fields = [
        ("version", core.Integer),
        ("private_key", core.OctetString),
        ("parameters", core.ObjectIdentifier, {"explicit": 0, "optional": True}),
        ("public_key", core.OctetBitString, {"explicit": 1, "optional": True}),
    ]


class _PrivateKeyInfo(core.Sequence):  # type: ignore[misc]
    """PKCS#8 PrivateKeyInfo (RFC 5208)."""

    _fields = [
        ("version", core.Integer),
        ("private_key_algorithm", _AlgorithmIdentifier),
        ("private_key", core.OctetString),
        ("attributes", core.Any, {"implicit": 0, "optional": True}),
    ]


class _Sm2Signature(core.Sequence):  # type: ignore[misc]
    _fields = [("r", core.Integer), ("s", core.Integer)]


class _Sm2Ciphertext(core.Sequence):  # type: ignore[misc]
    """GM/T 0009 SM2Cipher: C1 as (x, y), C3 the SM3 check value, C2 the ciphertext."""

    _fields = [
        ("x", core.Integer),
        ("y", core.Integer),
        ("hash", core.OctetString),
        ("ciphertext", core.OctetString),
    ]


def _load_der(spec: type[core.Sequence], der: bytes, what: str) -> core.Sequence:
    """Parse strictly and touch every field, so lazy parse errors surface here."""
    try:
        value = spec.load(der, strict=True)
        value.native  # noqa: B018 - forces parsing of nested values
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise GmError(f"{what} is not valid DER: {exc}") from exc
    return value


def _unarmor(data: bytes, labels: tuple[str, ...], what: str) -> bytes:
    """DER as is, or the body of a PEM block whose label is one of ``labels``."""
    if not pem.detect(data):
        return data
    try:
        label, headers, der = pem.unarmor(data)
    except (ValueError, TypeError) as exc:
        raise GmError(f"{what} PEM is malformed: {exc}") from exc
    if label == "ENCRYPTED PRIVATE KEY" or "DEK-Info" in headers:
        raise GmError(f"{what} is password-protected; decrypt it first (openssl pkey -in key.pem)")
    if label not in labels:
        raise GmError(f"{what} PEM has label {label!r}, expected one of {', '.join(labels)}")
    return bytes(der)


# ------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class Sm2PublicKey:
    """A point on the SM2 curve, checked on construction."""

    x: int
    y: int

    def __post_init__(self) -> None:
        if not _on_curve(self.x, self.y):
            raise GmError("SM2 public key is not a point on the SM2 curve")

    @classmethod
    def from_point(cls, point: bytes) -> Sm2PublicKey:
        """From an SEC1 point (04||x||y, or compressed 02/03||x) or bare 64-byte x||y."""
        if len(point) == 65 and point[0] == 4:
            point = point[1:]
        if len(point) == 64:
            return cls(int.from_bytes(point[:32], "big"), int.from_bytes(point[32:], "big"))
        if len(point) == 33 and point[0] in (2, 3):
            return cls._decompress(int.from_bytes(point[1:], "big"), odd=point[0] == 3)
        raise GmError(f"SM2 public key point has {len(point)} bytes; expected 65 (04||x||y), 64 or 33")

    @classmethod
    def _decompress(cls, x: int, *, odd: bool) -> Sm2PublicKey:
        y = _sqrt_mod_p(x * x * x + A * x + B) if x < P else None
        if y is None:
            raise GmError("SM2 compressed public key is not a point on the SM2 curve")
        return cls(x, y if (y & 1) == odd else P - y)

    @property
    def raw(self) -> bytes:
        """x||y, 64 bytes: the form GmSSL takes and Z hashes."""
        return self.x.to_bytes(32, "big") + self.y.to_bytes(32, "big")

    def to_point(self) -> bytes:
        """Uncompressed SEC1 point, as certificates and OpenSSL carry it."""
        return b"\x04" + self.raw

    def to_spki_der(self) -> bytes:
        """SubjectPublicKeyInfo as OpenSSL writes it: id-ecPublicKey with the SM2 curve."""
        return bytes(_SubjectPublicKeyInfo({
            "algorithm": {"algorithm": OID_EC_PUBLIC_KEY, "parameters": core.ObjectIdentifier(OID_SM2_CURVE)},
            "public_key": self.to_point(),
        }).dump())

    def to_spki_pem(self) -> bytes:
        return bytes(pem.armor("PUBLIC KEY", self.to_spki_der()))


@dataclass(frozen=True, repr=False)
class Sm2PrivateKey:
    """An SM2 private scalar with its public key. ``repr`` never shows the scalar."""

    secret: int
    public_key: Sm2PublicKey = field(compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.secret <= N - 2:
            raise GmError("SM2 private key is out of range [1, n-2]")

    def __repr__(self) -> str:
        return f"Sm2PrivateKey(public x={self.public_key.x:064x})"

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        public, secret = gmssl_pyx.sm2_key_generate()
        return cls(int.from_bytes(secret, "big"), Sm2PublicKey.from_point(public))

    @classmethod
    def from_secret(cls, secret: int) -> Sm2PrivateKey:
        """Derive the public key (pure Python, a few milliseconds)."""
        if not 1 <= secret <= N - 2:
            raise GmError("SM2 private key is out of range [1, n-2]")
        return cls(secret, Sm2PublicKey(*_base_multiply(secret)))

    @property
    def secret_bytes(self) -> bytes:
        return self.secret.to_bytes(32, "big")

    def to_sec1_der(self, *, with_curve: bool = True) -> bytes:
        """SEC1 ECPrivateKey; inside PKCS#8 the curve is omitted, as OpenSSL does."""
        fields: dict[str, object] = {"version": 1, "private_key": self.secret_bytes}
        if with_curve:
            fields["parameters"] = OID_SM2_CURVE
        fields["public_key"] = self.public_key.to_point()
        return bytes(_EcPrivateKey(fields).dump())

    def to_sec1_pem(self) -> bytes:
        """Labelled "EC PRIVATE KEY", which OpenSSL 3.0 reads (its own `openssl ec`
        writes "SM2 PRIVATE KEY", which fewer tools know)."""
        return bytes(pem.armor("EC PRIVATE KEY", self.to_sec1_der()))

    def to_pkcs8_der(self) -> bytes:
        return bytes(_PrivateKeyInfo({
            "version": 0,
            "private_key_algorithm": {
                "algorithm": OID_EC_PUBLIC_KEY,
                "parameters": core.ObjectIdentifier(OID_SM2_CURVE),
            },
            "private_key": self.to_sec1_der(with_curve=False),
        }).dump())

    def to_pkcs8_pem(self) -> bytes:
        return bytes(pem.armor("PRIVATE KEY", self.to_pkcs8_der()))


def generate_sm2_key() -> Sm2PrivateKey:
    return Sm2PrivateKey.generate()


def load_sm2_private_key(data: bytes) -> Sm2PrivateKey:
    """A private key in any unencrypted form OpenSSL writes: PKCS#8 ("PRIVATE KEY") or
    SEC1 ("EC PRIVATE KEY" / "SM2 PRIVATE KEY"), PEM or DER. The key pair is checked, so
    a file whose public half does not match fails here, not at the verifier's end."""
    der = _unarmor(data, ("PRIVATE KEY", "EC PRIVATE KEY", "SM2 PRIVATE KEY"), "SM2 private key")
    if _looks_like_pkcs8(der):
        return _key_from_pkcs8(der)
    return _key_from_sec1(der)


def _looks_like_pkcs8(der: bytes) -> bool:
    # PrivateKeyInfo starts SEQUENCE { INTEGER 0, SEQUENCE ...; ECPrivateKey with INTEGER 1, OCTET STRING.
    try:
        first = core.Sequence.load(der)
        return len(first) >= 3 and isinstance(first[1], core.Sequence)
    except Exception:  # noqa: BLE001 - asn1crypto raises odd types on garbage
        return False


def _key_from_pkcs8(der: bytes) -> Sm2PrivateKey:
    info = _load_der(_PrivateKeyInfo, der, "PKCS#8 private key")
    if info["version"].native != 0:
        raise GmError("PKCS#8 private key has an unsupported version")
    _require_sm2_algorithm(info["private_key_algorithm"], "PKCS#8 private key")
    return _key_from_sec1(info["private_key"].native)


def _key_from_sec1(der: bytes) -> Sm2PrivateKey:
    key = _load_der(_EcPrivateKey, der, "EC private key")
    if key["version"].native != 1:
        raise GmError("EC private key has an unsupported version (expected 1)")
    curve = key["parameters"]
    if curve.native is not None and curve.dotted != OID_SM2_CURVE:
        raise GmError(f"EC private key is on curve {curve.dotted}, not SM2 ({OID_SM2_CURVE})")
    secret_bytes = key["private_key"].native
    if not 1 <= len(secret_bytes) <= 32:
        raise GmError(f"EC private key scalar has {len(secret_bytes)} bytes, expected 32")
    secret = int.from_bytes(secret_bytes, "big")
    point = key["public_key"].native
    if point is None:
        return Sm2PrivateKey.from_secret(secret)
    private_key = Sm2PrivateKey(secret, Sm2PublicKey.from_point(point))
    _check_key_pair(private_key)
    return private_key


def _check_key_pair(private_key: Sm2PrivateKey) -> None:
    """Sign a random digest and verify it: uses only GmSSL's constant-time code on the
    secret, unlike deriving the public key in Python."""
    digest = os.urandom(SM3_DIGEST_SIZE)
    if not sm2_verify_digest(private_key.public_key, digest, sm2_sign_digest(private_key, digest)):
        raise GmError("SM2 private key does not match the public key stored with it")


def load_sm2_public_key(data: bytes) -> Sm2PublicKey:
    """A SubjectPublicKeyInfo ("PUBLIC KEY"), PEM or DER, holding an SM2 key."""
    return sm2_public_key_from_spki(_unarmor(data, ("PUBLIC KEY",), "SM2 public key"))


def sm2_public_key_from_spki(spki: bytes | core.Asn1Value) -> Sm2PublicKey:
    """The SM2 key in a SubjectPublicKeyInfo, e.g. ``certificate.public_key`` from
    asn1crypto. Accepts id-ecPublicKey with the SM2 curve (standard) and, leniently, the
    SM2 OID itself as the algorithm (some older GM tools)."""
    der = spki if isinstance(spki, bytes) else spki.dump()
    info = _load_der(_SubjectPublicKeyInfo, der, "SubjectPublicKeyInfo")
    _require_sm2_algorithm(info["algorithm"], "SubjectPublicKeyInfo")
    return Sm2PublicKey.from_point(info["public_key"].native)


def is_sm2_spki(spki: bytes | core.Asn1Value) -> bool:
    """Whether a SubjectPublicKeyInfo holds an SM2 key (so SM2 rules apply to it)."""
    try:
        sm2_public_key_from_spki(spki)
    except GmError:
        return False
    return True


def _require_sm2_algorithm(algorithm: core.Sequence, what: str) -> None:
    oid = algorithm["algorithm"].dotted
    if oid == OID_SM2_CURVE:
        return
    if oid != OID_EC_PUBLIC_KEY:
        raise GmError(f"{what} is not an EC key (algorithm {oid})")
    parameters = algorithm["parameters"]
    curve = _curve_oid(parameters.dump()) if parameters.native is not None else None
    if curve != OID_SM2_CURVE:
        raise GmError(f"{what} is an EC key on curve {curve or 'unnamed'}, not SM2 ({OID_SM2_CURVE})")


def _curve_oid(parameters_der: bytes) -> str | None:
    try:
        return str(core.ObjectIdentifier.load(parameters_der, strict=True).dotted)
    except (ValueError, TypeError):
        return None


# ---------------------------------------------------------------- SM2 signatures


def sm2_z(public_key: Sm2PublicKey, user_id: bytes = SM2_DEFAULT_USER_ID) -> bytes:
    """Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA): binds the signer's ID and key."""
    if len(user_id) > _MAX_USER_ID_SIZE:
        raise GmError(f"SM2 user ID has {len(user_id)} bytes; at most {_MAX_USER_ID_SIZE}")
    parts = [(len(user_id) * 8).to_bytes(2, "big"), user_id]
    parts += [value.to_bytes(32, "big") for value in (A, B, GX, GY)]
    return sm3(b"".join(parts) + public_key.raw)


def sm2_message_hasher(public_key: Sm2PublicKey, user_id: bytes = SM2_DEFAULT_USER_ID) -> Sm3Hasher:
    """An SM3 hasher already fed with Z: feed it the message, then sign/verify its digest.
    This is how a large document is signed without holding it in memory."""
    return Sm3Hasher(sm2_z(public_key, user_id))


def sm2_digest(public_key: Sm2PublicKey, message: bytes, user_id: bytes = SM2_DEFAULT_USER_ID) -> bytes:
    """e = SM3(Z || M), the value SM2 actually signs."""
    return sm2_message_hasher(public_key, user_id).update(message).digest()


def sm2_sign(private_key: Sm2PrivateKey, message: bytes, user_id: bytes = SM2_DEFAULT_USER_ID) -> bytes:
    """DER SEQUENCE {r, s}, as OpenSSL `dgst -sm3 -sign -sigopt distid:...` makes it."""
    return sm2_sign_digest(private_key, sm2_digest(private_key.public_key, message, user_id))


def sm2_verify(
    public_key: Sm2PublicKey, message: bytes, signature: bytes, user_id: bytes = SM2_DEFAULT_USER_ID
) -> bool:
    """True only for a valid signature; any malformed signature gives False."""
    return sm2_verify_digest(public_key, sm2_digest(public_key, message, user_id), signature)


def sm2_sign_digest(private_key: Sm2PrivateKey, digest: bytes) -> bytes:
    """Sign e (from :func:`sm2_digest` or :func:`sm2_message_hasher`)."""
    _require_digest(digest)
    try:
        return bytes(gmssl_pyx.sm2_sign_sm3_digest(private_key.secret_bytes, digest))
    except gmssl_pyx.GmsslInnerError as exc:
        raise GmError(f"SM2 signing failed: {exc}") from exc


def sm2_verify_digest(public_key: Sm2PublicKey, digest: bytes, signature: bytes) -> bool:
    """Verify a signature over e. The DER is checked in Python first (canonical encoding,
    1 <= r, s < n), as OpenSSL does, so GmSSL only ever sees well-formed input."""
    _require_digest(digest)
    if not _is_canonical_signature(signature):
        return False
    try:
        return bool(gmssl_pyx.sm2_verify_sm3_digest(public_key.raw, digest, signature))
    except gmssl_pyx.GmsslInnerError:
        return False


def verify_sm2_with_sm3(public_key_info: bytes | core.Asn1Value, signature: bytes, signed_data: bytes) -> bool:
    """SM2-with-SM3 (1.2.156.10197.1.501) as X.509 certificates, CRLs and OCSP responses
    use it: default user ID, key from a SubjectPublicKeyInfo. Shaped for
    ``ca_interop.validation.EXTRA_SIGNATURE_VERIFIERS``; a key that is not SM2 gives False."""
    try:
        public_key = sm2_public_key_from_spki(public_key_info)
    except GmError:
        return False
    return sm2_verify(public_key, signed_data, signature)


def sm2_signature_to_rs(signature: bytes) -> tuple[int, int]:
    """(r, s) from DER, for formats that carry the raw 64-byte r||s (some e-seal tools)."""
    if not _is_canonical_signature(signature):
        raise GmError("SM2 signature is not a DER SEQUENCE of two integers in [1, n-1]")
    parsed = _Sm2Signature.load(signature)
    return int(parsed["r"].native), int(parsed["s"].native)


def sm2_signature_from_rs(r: int, s: int) -> bytes:
    if not (1 <= r < N and 1 <= s < N):
        raise GmError("SM2 signature values r and s must be in [1, n-1]")
    return bytes(_Sm2Signature({"r": r, "s": s}).dump())


def _is_canonical_signature(signature: bytes) -> bool:
    if not isinstance(signature, bytes) or not 8 <= len(signature) <= 72:
        return False
    try:
        parsed = _Sm2Signature.load(signature, strict=True)
        r, s = int(parsed["r"].native), int(parsed["s"].native)
        canonical = bytes(_Sm2Signature({"r": r, "s": s}).dump())
    except Exception:  # noqa: BLE001 - any parse failure means "not a signature"
        return False
    return canonical == signature and 1 <= r < N and 1 <= s < N


def _require_digest(digest: bytes) -> None:
    if len(digest) != SM3_DIGEST_SIZE:
        raise GmError(f"SM2 digest must be {SM3_DIGEST_SIZE} bytes (SM3), got {len(digest)}")


# ---------------------------------------------------------------- SM2 encryption


def sm2_encrypt(public_key: Sm2PublicKey, plaintext: bytes) -> bytes:
    """SM2 public-key encryption (GM/T 0003.4) of a short secret such as an SM4 key.
    Returns the GM/T 0009 ASN.1 form, C1C3C2, which `openssl pkeyutl -decrypt` reads."""
    if not 1 <= len(plaintext) <= SM2_MAX_ENCRYPT_SIZE:
        raise GmError(f"SM2 encrypts 1 to {SM2_MAX_ENCRYPT_SIZE} bytes, got {len(plaintext)}")
    try:
        return bytes(gmssl_pyx.sm2_encrypt(public_key.raw, plaintext))
    except gmssl_pyx.GmsslInnerError as exc:
        raise GmError(f"SM2 encryption failed: {exc}") from exc


def sm2_decrypt(private_key: Sm2PrivateKey, ciphertext: bytes) -> bytes:
    """Inverse of :func:`sm2_encrypt`; also reads `openssl pkeyutl -encrypt` output."""
    parsed = _load_der(_Sm2Ciphertext, ciphertext, "SM2 ciphertext")
    _check_ciphertext_fields(parsed)
    try:
        return bytes(gmssl_pyx.sm2_decrypt(private_key.secret_bytes, parsed.dump()))
    except gmssl_pyx.GmsslInnerError as exc:
        raise GmError("SM2 decryption failed: wrong key, or the ciphertext was altered") from exc


def _check_ciphertext_fields(parsed: core.Sequence) -> None:
    if not _on_curve(parsed["x"].native, parsed["y"].native):
        raise GmError("SM2 ciphertext point C1 is not on the SM2 curve")
    if len(parsed["hash"].native) != SM3_DIGEST_SIZE:
        raise GmError("SM2 ciphertext check value C3 is not 32 bytes")
    if not 1 <= len(parsed["ciphertext"].native) <= SM2_MAX_ENCRYPT_SIZE:
        raise GmError(f"SM2 ciphertext C2 must be 1 to {SM2_MAX_ENCRYPT_SIZE} bytes")


# ------------------------------------------------------------------------- SM4


class Sm4Stream:
    """An SM4 encryption or decryption in progress: call ``update`` per chunk, then
    ``finalize`` once. For GCM, ``tag`` is set after an encryptor's ``finalize``."""

    def __init__(self, feed: _Feed) -> None:
        self._feed = feed
        self._done = False

    @property
    def tag(self) -> bytes:
        return self._feed.tag()

    def update(self, data: bytes) -> bytes:
        if self._done:
            raise GmError("SM4 stream is already finalised")
        return self._feed.update(data)

    def finalize(self) -> bytes:
        if self._done:
            raise GmError("SM4 stream is already finalised")
        self._done = True
        return self._feed.finalize()


class _Feed:
    def update(self, data: bytes) -> bytes:
        raise NotImplementedError

    def finalize(self) -> bytes:
        raise NotImplementedError

    def tag(self) -> bytes:
        raise GmError("only an SM4-GCM encryptor has a tag, after finalize()")


class _CbcEncryptFeed(_Feed):
    def __init__(self, key: bytes, iv: bytes) -> None:
        self._cipher = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
        self._padder = padding.PKCS7(SM4_BLOCK_SIZE * 8).padder()

    def update(self, data: bytes) -> bytes:
        return self._cipher.update(self._padder.update(data))

    def finalize(self) -> bytes:
        return self._cipher.update(self._padder.finalize()) + self._cipher.finalize()


class _CbcDecryptFeed(_Feed):
    def __init__(self, key: bytes, iv: bytes) -> None:
        self._cipher = Cipher(algorithms.SM4(key), modes.CBC(iv)).decryptor()
        self._unpadder = padding.PKCS7(SM4_BLOCK_SIZE * 8).unpadder()

    def update(self, data: bytes) -> bytes:
        return self._unpadder.update(self._cipher.update(data))

    def finalize(self) -> bytes:
        try:
            tail = self._cipher.finalize()
            return self._unpadder.update(tail) + self._unpadder.finalize()
        except ValueError as exc:
            raise GmError("SM4-CBC ciphertext is truncated or its padding is wrong (wrong key?)") from exc


class _GcmEncryptFeed(_Feed):
    def __init__(self, key: bytes, nonce: bytes, aad: bytes) -> None:
        self._cipher = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        self._cipher.authenticate_additional_data(aad)
        self._tag: bytes | None = None

    def update(self, data: bytes) -> bytes:
        return self._cipher.update(data)

    def finalize(self) -> bytes:
        tail = self._cipher.finalize()
        self._tag = self._cipher.tag
        return tail

    def tag(self) -> bytes:
        if self._tag is None:
            raise GmError("SM4-GCM tag is known only after finalize()")
        return self._tag


class _GcmDecryptFeed(_Feed):
    def __init__(self, key: bytes, nonce: bytes, tag: bytes, aad: bytes) -> None:
        if len(tag) != SM4_GCM_TAG_SIZE:
            raise GmError(f"SM4-GCM tag must be {SM4_GCM_TAG_SIZE} bytes, got {len(tag)}")
        self._cipher = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
        self._cipher.authenticate_additional_data(aad)

    def update(self, data: bytes) -> bytes:
        return self._cipher.update(data)

    def finalize(self) -> bytes:
        try:
            return self._cipher.finalize()
        except InvalidTag as exc:
            raise GmError("SM4-GCM authentication failed: wrong key, nonce or data") from exc


def _check_key_iv(key: bytes, iv: bytes, iv_name: str, iv_sizes: range) -> None:
    if len(key) != SM4_KEY_SIZE:
        raise GmError(f"SM4 key must be {SM4_KEY_SIZE} bytes, got {len(key)}")
    if len(iv) not in iv_sizes:
        raise GmError(f"SM4 {iv_name} must be {iv_sizes.start}..{iv_sizes.stop - 1} bytes, got {len(iv)}")


_CBC_IV: Final = range(16, 17)
_GCM_NONCE: Final = range(8, 129)  # 12 is the norm; 8..128 is what the backend accepts


def sm4_cbc_encryptor(key: bytes, iv: bytes) -> Sm4Stream:
    """SM4-CBC with PKCS#7 padding, as `openssl enc -sm4-cbc -K .. -iv ..` does."""
    _check_key_iv(key, iv, "CBC IV", _CBC_IV)
    return Sm4Stream(_CbcEncryptFeed(key, iv))


def sm4_cbc_decryptor(key: bytes, iv: bytes) -> Sm4Stream:
    _check_key_iv(key, iv, "CBC IV", _CBC_IV)
    return Sm4Stream(_CbcDecryptFeed(key, iv))


def sm4_gcm_encryptor(key: bytes, nonce: bytes, aad: bytes = b"") -> Sm4Stream:
    """SM4-GCM (RFC 8998); read ``.tag`` (16 bytes) after ``finalize``."""
    _check_key_iv(key, nonce, "GCM nonce", _GCM_NONCE)
    return Sm4Stream(_GcmEncryptFeed(key, nonce, aad))


def sm4_gcm_decryptor(key: bytes, nonce: bytes, tag: bytes, aad: bytes = b"") -> Sm4Stream:
    """Streaming GCM hands out plaintext before the tag is checked in ``finalize``: write
    it somewhere temporary and use it only once ``finalize`` has returned."""
    _check_key_iv(key, nonce, "GCM nonce", _GCM_NONCE)
    return Sm4Stream(_GcmDecryptFeed(key, nonce, tag, aad))


def sm4_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    stream = sm4_cbc_encryptor(key, iv)
    return stream.update(plaintext) + stream.finalize()


def sm4_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    stream = sm4_cbc_decryptor(key, iv)
    return stream.update(ciphertext) + stream.finalize()


def sm4_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Ciphertext || 16-byte tag."""
    stream = sm4_gcm_encryptor(key, nonce, aad)
    body = stream.update(plaintext) + stream.finalize()
    return body + stream.tag


def sm4_gcm_decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes = b"") -> bytes:
    """Inverse of :func:`sm4_gcm_encrypt` (ciphertext || tag)."""
    if len(data) < SM4_GCM_TAG_SIZE:
        raise GmError("SM4-GCM data is shorter than its tag")
    stream = sm4_gcm_decryptor(key, nonce, data[-SM4_GCM_TAG_SIZE:], aad)
    return stream.update(data[:-SM4_GCM_TAG_SIZE]) + stream.finalize()


def new_sm4_key() -> bytes:
    return os.urandom(SM4_KEY_SIZE)
