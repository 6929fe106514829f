"""Sealing, opening and checking envelopes (the structure is in the package docstring)."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final, Union

from cryptography import x509

from core.errors import InvalidInput

from . import _der
from ._certs import CertificateLike, CertView, load_private_key, view
from ._content import (
    AES_256_GCM,
    CONTENT_CIPHERS,
    ContentCipher,
    StreamDecryptor,
    content_cipher_for,
    content_cipher_named,
)
from ._der import (
    CONTEXT,
    SEQUENCE,
    T_SEQUENCE,
    UNIVERSAL,
    DerError,
    DerTruncated,
    Element,
    Header,
    StreamReader,
)
from ._errors import (
    EnvelopeError,
    EnvelopeFormatError,
    EnvelopeTampered,
    NotARecipient,
    RecipientRefused,
)
from ._recipients import Recipient, RecipientScheme, parse_recipient_infos, scheme_for

CHUNK_SIZE: Final = 1 << 20
"""Bytes encrypted or decrypted per step; memory use is about twice this."""

MAX_RECIPIENT_INFOS: Final = 1 << 20
MAX_ORIGINATOR_INFO: Final = 1 << 20
MAX_ATTRIBUTES: Final = 1 << 20
MAX_SMALL: Final = 1 << 16
SNIFF_SIZE: Final = 64
"""Bytes :func:`why_not_sealed` needs to recognise an envelope (our prologue is ~25)."""

ID_DATA: Final = "1.2.840.113549.1.7.1"
ID_AUTH_ENVELOPED_DATA: Final = "1.2.840.113549.1.9.16.1.23"

_OTHER_CONTENT_TYPES: Final = {
    "1.2.840.113549.1.7.1": "CMS Data, which is not encrypted",
    "1.2.840.113549.1.7.2": "CMS SignedData: signed but not encrypted, readable by anyone",
    "1.2.840.113549.1.7.3": "CMS EnvelopedData without authentication (e.g. AES-CBC); seal with "
                            "AES-256-GCM (AuthEnvelopedData: openssl cms -encrypt -aes-256-gcm)",
    "1.2.840.113549.1.7.5": "CMS DigestedData, which is not encrypted",
    "1.2.840.113549.1.7.6": "CMS EncryptedData (a pre-shared key, no recipients)",
    "1.2.840.113549.1.9.16.1.2": "CMS AuthenticatedData: authenticated but not encrypted",
    "1.2.840.113549.1.9.16.1.9": "CMS CompressedData, which is not encrypted",
    "1.2.156.10197.6.1.4.2.2": "GM/T 0010 SM2 SignedData: signed but not encrypted",
    "1.2.156.10197.6.1.4.2.3": "a GM/T 0010 SM2 EnvelopedData, which is not supported yet",
    "1.2.156.10197.6.1.4.2.4": "a GM/T 0010 SM2 SignedAndEnvelopedData, which is not supported yet",
}

_MAGIC: Final = [
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (Office, OFD or zip file)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Microsoft Office document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip file"),
    (b"{\\rtf", "an RTF document"),
    (b"<?xml", "an XML document"),
    (b"\xef\xbb\xbf", "a UTF-8 text file"),
]

SourceLike = Union[str, os.PathLike[str], bytes, bytearray, memoryview, BinaryIO]
"""A path, the bytes themselves, or a binary file object (read from its current position)."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class EnvelopeInfo:
    """What an envelope says about itself, read without decrypting."""

    content_type: str  # "data" or the dotted OID of the encrypted content's type
    content_algorithm: str  # "aes-256-gcm"
    content_algorithm_oid: str
    content_parameters: dict[str, Any]
    content_size: int  # bytes of encrypted content (= plaintext bytes for GCM)
    envelope_size: int  # bytes of the whole envelope
    recipients: tuple[Recipient, ...]
    encoding: str  # "DER" (definite lengths) or "BER" (indefinite lengths or segmented content)
    mac: bytes = field(repr=False, default=b"")

    def as_dict(self) -> dict[str, Any]:
        return {
            "content_type": self.content_type,
            "content_algorithm": self.content_algorithm,
            "content_parameters": self.content_parameters,
            "content_size": self.content_size,
            "envelope_size": self.envelope_size,
            "encoding": self.encoding,
            "recipients": [recipient.as_dict() for recipient in self.recipients],
        }

    def recipient_for(self, cert: CertificateLike) -> Recipient | None:
        certificate = view(cert)
        return next((r for r in self.recipients if r.matches(certificate)), None)


# --------------------------------------------------------------------------- errors helpers


@contextlib.contextmanager
def _format_errors() -> Iterator[None]:
    """Any parsing failure leaves as an EnvelopeFormatError with its message."""
    try:
        yield
    except EnvelopeError:
        raise
    except DerError as error:
        raise EnvelopeFormatError(f"malformed envelope: {error}") from None
    except (IndexError, OverflowError, UnicodeError, ValueError) as error:
        raise EnvelopeFormatError(f"malformed envelope: {error}") from None


def why_not_sealed(first_bytes: bytes) -> str | None:
    """None if ``first_bytes`` (the start of a file; 64 bytes are enough) begins like a
    CMS AuthEnvelopedData, else why not, in words for the uploader."""
    data = bytes(first_bytes[:4096])
    reason = _looks_like_plaintext(data)
    if reason is not None:
        return reason
    reader = StreamReader(io.BytesIO(data), None)
    try:
        _read_content_type(reader)
        outer = reader.read_header("content")
        if not outer.is_(CONTEXT, 0, constructed=True):
            return _not_cms("the ContentInfo content is not [0]")
        body = reader.read_header("AuthEnvelopedData")
        if not body.is_(UNIVERSAL, T_SEQUENCE, constructed=True):
            return _not_cms("AuthEnvelopedData is not a SEQUENCE")
        if reader.read_element("version", max_size=16).as_int() != 0:
            return _not_cms("AuthEnvelopedData version is not 0")
        following = reader.read_header("recipientInfos")
        if not (following.is_(UNIVERSAL, _der.T_SET, constructed=True) or following.is_(CONTEXT, 0)):
            return _not_cms("no recipientInfos")
    except EnvelopeFormatError as error:
        return str(error)
    except DerTruncated:
        return f"not a sealed envelope: too short to recognise ({len(data)} bytes; give at least {SNIFF_SIZE})"
    except (IndexError, OverflowError, ValueError) as error:
        return _not_cms(str(error))
    return None


def is_sealed(first_bytes: bytes) -> bool:
    """True if ``first_bytes`` start like an AuthEnvelopedData (see :func:`why_not_sealed`)."""
    return why_not_sealed(first_bytes) is None


def _not_cms(detail: str) -> str:
    return (
        "not a sealed envelope: not a DER-encoded CMS AuthEnvelopedData "
        f"({detail}); an unencrypted file is refused"
    )


def _looks_like_plaintext(data: bytes) -> str | None:
    if not data:
        return "not a sealed envelope: the file is empty"
    stripped = data.lstrip()
    if stripped.startswith(b"-----BEGIN"):
        if stripped.startswith((b"-----BEGIN CMS", b"-----BEGIN PKCS7")):
            return ("not a sealed envelope: a PEM-armoured CMS structure; upload the binary DER form "
                    "(openssl cms -outform DER)")
        return "not a sealed envelope: a PEM text file; an unencrypted file is refused"
    if stripped[:40].lower().startswith((b"mime-version", b"content-type")):
        return "not a sealed envelope: an S/MIME or MIME message; upload the binary DER envelope"
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return f"not a sealed envelope: this is {what}; an unencrypted file is refused"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:  # a character cut at the end of the sample is fine
        text = data[:error.start].decode("utf-8") if error.start > len(data) - 4 else ""
    if text and sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text) >= 0.95 * len(text):
        return "not a sealed envelope: this is plain text; an unencrypted file is refused"
    return None


def _read_content_type(reader: StreamReader) -> Header:
    """The ContentInfo header, once its contentType shows an AuthEnvelopedData; the outer
    length is checked against the input's size only then, so that random bytes are called
    "not an envelope" rather than "truncated"."""
    try:
        head = reader.read_header("envelope", check=False)
        if not head.is_(UNIVERSAL, T_SEQUENCE, constructed=True):
            raise EnvelopeFormatError(_not_cms(f"it starts with {head.identifier}, not a SEQUENCE"))
        content_type = reader.read_element("contentType", max_size=MAX_SMALL, bound=head.end).as_oid("contentType")
    except DerTruncated:
        raise
    except DerError as error:
        raise EnvelopeFormatError(_not_cms(str(error))) from None
    if content_type != ID_AUTH_ENVELOPED_DATA:
        what = _OTHER_CONTENT_TYPES.get(content_type, f"CMS content type {content_type}")
        raise EnvelopeFormatError(
            f"not a sealed envelope: {what}; only AuthEnvelopedData (AES-256-GCM, or SM4-GCM for SM2 "
            "certificates) is accepted"
        )
    reader.check_fits(head, "envelope")
    return head


# --------------------------------------------------------------------------- reading


@dataclass
class _Frame:
    name: str
    end: int | None  # None: indefinite length, ends at end-of-contents


@dataclass
class _Prologue:
    recipients: tuple[Recipient, ...]
    cipher: ContentCipher
    parameters: Any
    content_type: str
    content_head: Header


@dataclass
class _Epilogue:
    mac: bytes


class _Walker:
    """Walks an envelope from a stream: prologue, encrypted content, epilogue."""

    def __init__(self, reader: StreamReader) -> None:
        self.reader = reader
        self.frames: list[_Frame] = []
        self.ber = False

    # -- frame bookkeeping

    def _bound(self) -> int | None:
        return next((frame.end for frame in reversed(self.frames) if frame.end is not None), None)

    def header(self, what: str) -> Header:
        head = self.reader.read_header(what, bound=self._bound())
        if head.length is None:
            self.ber = True
        return head

    def open(self, head: Header, name: str) -> None:
        self.frames.append(_Frame(name, head.end))

    def next_in_frame(self, what: str) -> Header | None:
        """The next element's header inside the innermost frame, or None (frame closed)."""
        frame = self.frames[-1]
        if frame.end is not None:
            if self.reader.offset == frame.end:
                self.frames.pop()
                return None
            if self.reader.offset > frame.end:
                raise DerError(f"{frame.name}: elements overrun its declared length")
            return self.header(what)
        head = self.header(what)
        if head.is_end_of_contents:
            self.frames.pop()
            return None
        return head

    def close(self, what: str) -> None:
        head = self.next_in_frame(what)
        if head is not None:
            raise EnvelopeFormatError(f"malformed envelope: unexpected {head.identifier} at byte {head.offset} "
                                      f"({what})")

    def element(self, head: Header, what: str, max_size: int) -> Element:
        element = self.reader.read_element(what, max_size=max_size, bound=self._bound(), head=head)
        if element.indefinite:
            self.ber = True
        return element

    # -- the three parts

    def prologue(self) -> _Prologue:
        reason = _looks_like_plaintext(self.reader.peek(SNIFF_SIZE))
        if reason is not None:
            raise EnvelopeFormatError(reason)
        head = _read_content_type(self.reader)
        self.ber |= head.length is None
        self.open(head, "ContentInfo")
        explicit = self.header("ContentInfo content")
        if not explicit.is_(CONTEXT, 0, constructed=True):
            raise EnvelopeFormatError(f"malformed envelope: ContentInfo content is {explicit.identifier}, not [0]")
        self.open(explicit, "ContentInfo content")
        body = self.header("AuthEnvelopedData")
        if not body.is_(UNIVERSAL, T_SEQUENCE, constructed=True):
            raise EnvelopeFormatError("malformed envelope: AuthEnvelopedData is not a SEQUENCE")
        self.open(body, "AuthEnvelopedData")
        version = self._required("AuthEnvelopedData version", MAX_SMALL).as_int("AuthEnvelopedData version")
        if version != 0:
            raise EnvelopeFormatError(f"AuthEnvelopedData version {version} is not supported (must be 0)")
        head = self._required_header("recipientInfos")
        if head.is_(CONTEXT, 0, constructed=True):  # originatorInfo: certificates we do not need
            self.element(head, "originatorInfo", MAX_ORIGINATOR_INFO)
            head = self._required_header("recipientInfos")
        if not head.is_(UNIVERSAL, _der.T_SET, constructed=True):
            raise EnvelopeFormatError(f"malformed envelope: expected recipientInfos (SET), found {head.identifier}")
        recipients = parse_recipient_infos(self.element(head, "recipientInfos", MAX_RECIPIENT_INFOS))
        head = self._required_header("authEncryptedContentInfo")
        if not head.is_(UNIVERSAL, T_SEQUENCE, constructed=True):
            raise EnvelopeFormatError("malformed envelope: authEncryptedContentInfo is not a SEQUENCE")
        self.open(head, "authEncryptedContentInfo")
        content_type = self._required("contentType", MAX_SMALL).as_oid("encrypted contentType")
        cipher, parameters = content_cipher_for(self._required("contentEncryptionAlgorithm", MAX_SMALL))
        content = self.next_in_frame("encryptedContent")
        if content is None:
            raise EnvelopeFormatError("the envelope has no encrypted content (detached content is not supported)")
        if not content.is_(CONTEXT, 0):
            raise EnvelopeFormatError(f"malformed envelope: encryptedContent is {content.identifier}, not [0]")
        if content.constructed:
            self.ber = True
        return _Prologue(tuple(recipients), cipher, parameters,
                         "data" if content_type == ID_DATA else content_type, content)

    def content_runs(self, head: Header) -> Iterator[int]:
        """Lengths of the ciphertext runs, in order; the caller consumes each run from the
        reader before asking for the next."""
        if not head.constructed:
            assert head.length is not None
            if head.length:
                yield head.length
            return
        yield from self._segments(head, depth=0)

    def _segments(self, head: Header, depth: int) -> Iterator[int]:
        if depth > 4:
            raise DerError("encryptedContent: constructed strings nested too deeply")
        self.open(head, "encryptedContent")
        while (segment := self.next_in_frame("encryptedContent segment")) is not None:
            if not segment.is_(UNIVERSAL, _der.OCTET_STRING):
                raise EnvelopeFormatError(
                    f"malformed envelope: encryptedContent segment is {segment.identifier}, not OCTET STRING"
                )
            if segment.constructed:
                yield from self._segments(segment, depth + 1)
            elif segment.length:
                yield segment.length

    def skip_content(self, head: Header) -> int:
        total = 0
        for run in self.content_runs(head):
            self.reader.skip(run, "encryptedContent")
            total += run
        return total

    def epilogue(self) -> _Epilogue:
        self.close("after the encrypted content")  # authEncryptedContentInfo
        head = self._required_header("mac")
        if head.is_(CONTEXT, 1):
            raise EnvelopeFormatError("authenticated attributes (authAttrs) are not supported")
        if not head.is_(UNIVERSAL, _der.OCTET_STRING):
            raise EnvelopeFormatError(f"malformed envelope: expected the mac (OCTET STRING), found {head.identifier}")
        mac = self.element(head, "mac", MAX_SMALL).as_octets("mac")
        head = self.next_in_frame("unauthAttrs")
        if head is not None:
            if not head.is_(CONTEXT, 2, constructed=True):
                raise EnvelopeFormatError(f"malformed envelope: unexpected {head.identifier} after the mac")
            self.element(head, "unauthAttrs", MAX_ATTRIBUTES)
            self.close("after unauthAttrs")
        self.close("after AuthEnvelopedData")  # [0]
        self.close("after the content")  # ContentInfo
        if not self.reader.at_end():
            extra = self.reader.remaining()
            raise EnvelopeFormatError(
                "malformed envelope: "
                + (f"{extra} bytes" if extra is not None else "data")
                + " after the end of the envelope"
            )
        return _Epilogue(mac)

    def _required_header(self, what: str) -> Header:
        head = self.next_in_frame(what)
        if head is None:
            raise EnvelopeFormatError(f"malformed envelope: {what} is missing")
        return head

    def _required(self, what: str, max_size: int) -> Element:
        return self.element(self._required_header(what), what, max_size)

    def info(self, prologue: _Prologue, content_size: int, epilogue: _Epilogue,
             envelope_size: int | None = None) -> EnvelopeInfo:
        return EnvelopeInfo(
            content_type=prologue.content_type,
            content_algorithm=prologue.cipher.name,
            content_algorithm_oid=prologue.cipher.oid,
            content_parameters=prologue.cipher.describe(prologue.parameters),
            content_size=content_size,
            envelope_size=self.reader.offset if envelope_size is None else envelope_size,
            recipients=prologue.recipients,
            encoding="BER" if self.ber else "DER",
            mac=epilogue.mac,
        )


@contextlib.contextmanager
def _source(source: SourceLike) -> Iterator[tuple[BinaryIO, int | None]]:
    """The source as a binary stream and the bytes left in it (None when unknown)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as stream:
            yield stream, os.fstat(stream.fileno()).st_size
        return
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(source), len(source)
        return
    if not hasattr(source, "read"):
        raise TypeError(f"expected a path, bytes or a binary file object, not {type(source).__name__}")
    size = None
    try:
        if source.seekable():
            position = source.tell()
            size = source.seek(0, io.SEEK_END) - position
            source.seek(position)
    except (AttributeError, OSError, ValueError):
        size = None
    yield source, size


# --------------------------------------------------------------------------- inspect / check


def inspect_envelope(source: SourceLike) -> EnvelopeInfo:
    """Read the whole envelope's structure without decrypting (seeking over the content when
    the source can seek): recipients, content algorithm, sizes. Raises
    :class:`EnvelopeFormatError` for anything that is not a well-formed envelope we accept."""
    with _source(source) as (stream, size), _format_errors():
        walker = _Walker(StreamReader(stream, size))
        prologue = walker.prologue()
        content_size = walker.skip_content(prologue.content_head)
        return walker.info(prologue, content_size, walker.epilogue())


def check_envelope(source: SourceLike, *, required_recipients: Iterable[CertificateLike] = ()) -> EnvelopeInfo:
    """Accept an upload only if it IS a sealed envelope: :func:`inspect_envelope` plus the
    platform's checks — the tag has the cipher's size, and each certificate in
    ``required_recipients`` (say the lot's opening certificate) is among the recipients
    (else :class:`NotARecipient`). Plaintext is refused with :class:`EnvelopeFormatError`."""
    info = inspect_envelope(source)
    cipher = CONTENT_CIPHERS[info.content_algorithm_oid]
    if len(info.mac) != cipher.tag_size:
        raise EnvelopeFormatError(f"the mac is {len(info.mac)} bytes; {cipher.name} needs {cipher.tag_size}")
    for required in required_recipients:
        certificate = view(required)
        if info.recipient_for(certificate.certificate) is None:
            raise NotARecipient(f"the envelope is not sealed to {certificate.describe()}")
    return info


# --------------------------------------------------------------------------- sealing


def _recipient_plan(recipients: Sequence[CertificateLike]) -> list[tuple[CertView, RecipientScheme]]:
    if isinstance(recipients, (bytes, str, os.PathLike, x509.Certificate)):
        raise TypeError("recipients must be a list of certificates")
    if not recipients:
        raise RecipientRefused("an envelope needs at least one recipient certificate")
    plan: list[tuple[CertView, RecipientScheme]] = []
    seen: set[tuple[bytes, int]] = set()
    for recipient in recipients:
        certificate = view(recipient)
        if (certificate.issuer_der, certificate.serial) in seen:
            continue
        seen.add((certificate.issuer_der, certificate.serial))
        scheme = scheme_for(certificate)
        scheme.check_recipient(certificate)
        plan.append((certificate, scheme))
    return plan


def _choose_cipher(plan: list[tuple[CertView, RecipientScheme]],
                   cipher: ContentCipher | str | None) -> ContentCipher:
    """The cipher asked for, else the one the recipients' schemes prefer (SM4-GCM when any
    is SM2), else AES-256-GCM; refused if a scheme may not be sealed with it."""
    if isinstance(cipher, str):
        cipher = content_cipher_named(cipher)
    if cipher is None:
        preferred = {id(c): c for _, scheme in plan if (c := getattr(scheme, "content_cipher", None)) is not None}
        if len(preferred) > 1:
            raise RecipientRefused(
                "the recipients need different content ciphers ("
                + ", ".join(sorted(c.name for c in preferred.values())) + "); seal separately"
            )
        cipher = next(iter(preferred.values()), AES_256_GCM)
    for certificate, scheme in plan:
        allowed = getattr(scheme, "content_ciphers", None)
        if allowed is not None and cipher.oid not in allowed:
            names = ", ".join(sorted(c.name for c in CONTENT_CIPHERS.values() if c.oid in allowed)) or "none"
            raise RecipientRefused(
                f"{certificate.describe()} ({scheme.name}) can only receive envelopes sealed with {names}, "
                f"not {cipher.name}"
            )
    return cipher


def envelope_prefix(recipient_infos: Sequence[bytes], algorithm: bytes, content_size: int, tag_size: int) -> bytes:
    """Everything before the encrypted content, with every length computed up front."""
    content_header = _der.header(_der.context(0, constructed=False), content_size)
    content_info = _der.oid(ID_DATA) + algorithm + content_header
    encrypted_content_info_size = len(content_info) + content_size
    encrypted_content_info = _der.header(SEQUENCE, encrypted_content_info_size) + content_info
    mac_size = len(_der.header(_der.OCTET_STRING, tag_size)) + tag_size
    head = _der.integer(0) + _der.set_of(*recipient_infos) + encrypted_content_info
    body_size = len(head) + content_size + mac_size
    body = _der.header(SEQUENCE, body_size) + head
    explicit_size = len(body) + content_size + mac_size
    explicit = _der.header(_der.context(0, constructed=True), explicit_size) + body
    content_type = _der.oid(ID_AUTH_ENVELOPED_DATA)
    outer_size = len(content_type) + len(explicit) + content_size + mac_size
    return _der.header(SEQUENCE, outer_size) + content_type + explicit


def _readinto(stream: BinaryIO, buffer: memoryview) -> int:
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return readinto(buffer) or 0
    data = stream.read(len(buffer))
    buffer[:len(data)] = data
    return len(data)


class SourceChanged(EnvelopeError):
    """The input's size changed while it was being sealed."""

    code = "envelope-source-changed"
    title = "The file changed while it was being sealed"


def seal(
    source: SourceLike,
    recipients: Sequence[CertificateLike],
    destination: str | os.PathLike[str] | BinaryIO,
    *,
    size: int | None = None,
    cipher: ContentCipher | str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> EnvelopeInfo:
    """Encrypt ``source`` for every certificate in ``recipients`` into ``destination``.

    Streams in ``chunk_size`` steps. The DER has definite lengths computed from the input
    size: from the file when the source can seek (or is a path or bytes), from ``size``
    when given, and otherwise by spooling the ciphertext to a temporary file first. A
    destination path is written through a temporary file and renamed when complete; a
    file object is written from its current position and left open.

    ``cipher`` (a :class:`ContentCipher`, or a registered cipher's name or OID) defaults
    to SM4-GCM when any recipient is an SM2 certificate and to AES-256-GCM otherwise; SM2
    recipients can only be sealed with SM4-GCM, RSA and EC recipients with either.

    Raises :class:`RecipientRefused` before reading anything if a certificate cannot
    receive (a signing certificate, an unsupported key, an SM2 certificate with a cipher
    other than SM4-GCM) and :class:`SourceChanged` if the input does not have the size it
    announced.
    """
    plan = _recipient_plan(recipients)
    cipher = _choose_cipher(plan, cipher)
    content_key = os.urandom(cipher.key_size)
    recipient_infos = [scheme.recipient_info(certificate, content_key) for certificate, scheme in plan]
    parameters = cipher.new_parameters()
    algorithm = cipher.algorithm_identifier(parameters)
    encryptor = cipher.encryptor(content_key, parameters)
    buffer = bytearray(chunk_size)
    output = bytearray(chunk_size + cipher.overhead)
    spool_dir = Path(destination).parent if isinstance(destination, (str, os.PathLike)) else None

    def encrypt(stream: BinaryIO, sink: BinaryIO, count: int | None) -> int:
        """Encrypt ``count`` bytes (all, if None) from ``stream`` into ``sink``."""
        data, out = memoryview(buffer), memoryview(output)
        done = 0
        while count is None or done < count:
            want = chunk_size if count is None else min(chunk_size, count - done)
            got = _readinto(stream, data[:want])
            if not got:
                if count is None:
                    break
                raise SourceChanged(f"the input ended after {done} of the {count} bytes announced")
            sink.write(out[:encryptor.update_into(data[:got], out)])
            done += got
        if count is not None and stream.read(1):
            raise SourceChanged(f"the input has more than the {count} bytes announced")
        return done

    with _source(source) as (stream, known), _sink(destination) as sink:
        total = size if size is not None else known
        if total is not None:
            sink.write(envelope_prefix(recipient_infos, algorithm, cipher.ciphertext_size(total), cipher.tag_size))
            encrypt(stream, sink, total)
        else:
            with tempfile.TemporaryFile(dir=spool_dir, prefix=".seal-spool-") as spool:
                total = encrypt(stream, spool, None)
                spool.seek(0)
                sink.write(envelope_prefix(recipient_infos, algorithm, cipher.ciphertext_size(total),
                                           cipher.tag_size))
                data = memoryview(buffer)
                while got := _readinto(spool, data):
                    sink.write(data[:got])
        tag = encryptor.finish()
        sink.write(_der.octet_string(tag))
        written = sink.tell()
    with _format_errors():
        recipients_read = parse_recipient_infos(_der.parse(_der.set_of(*recipient_infos)))
    return EnvelopeInfo(
        content_type="data", content_algorithm=cipher.name, content_algorithm_oid=cipher.oid,
        content_parameters=cipher.describe(parameters), content_size=cipher.ciphertext_size(total),
        envelope_size=written, recipients=tuple(recipients_read), encoding="DER", mac=tag,
    )


class _CountingSink:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._count = 0

    def write(self, data: bytes | memoryview) -> int:
        written = self._stream.write(data)
        if written is None or written != len(data):  # raw streams may write short
            view_ = memoryview(data)[written or 0:]
            while view_:
                more = self._stream.write(view_)
                view_ = view_[more or 0:]
        self._count += len(data)
        return len(data)

    def tell(self) -> int:
        return self._count


@contextlib.contextmanager
def _sink(destination: str | os.PathLike[str] | BinaryIO) -> Iterator[_CountingSink]:
    if not isinstance(destination, (str, os.PathLike)):
        if not hasattr(destination, "write"):
            raise TypeError(f"expected a path or a binary file object, not {type(destination).__name__}")
        yield _CountingSink(destination)
        return
    final = Path(destination)
    descriptor, temporary = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            yield _CountingSink(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


# --------------------------------------------------------------------------- opening


UNVERIFIED_SUFFIX: Final = ".unverified"
"""Suffix of the temporary plaintext files; one left behind by a killed process (never by
an exception) holds unverified plaintext and can be swept."""


class _PendingPlaintext:
    """Plaintext being decrypted into a 0600 temporary file ``.NAME.XXXX.unverified`` next
    to the destination (same filesystem, so the final rename is atomic); it is renamed
    over the destination by :meth:`commit` and deleted on any failure."""

    def __init__(self, destination: str | os.PathLike[str]) -> None:
        self.destination = Path(destination)
        self.directory = self.destination.parent
        self.committed = False

    def __enter__(self) -> _PendingPlaintext:
        descriptor, name = tempfile.mkstemp(dir=self.directory, prefix=f".{self.destination.name}.",
                                            suffix=UNVERIFIED_SUFFIX)
        self.temporary = Path(name)
        self.file = os.fdopen(descriptor, "wb")
        return self

    def write(self, data: memoryview) -> None:
        self.file.write(data)

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.temporary, self.destination)
        self.committed = True
        _fsync_directory(self.directory)

    def __exit__(self, *exc: object) -> None:
        if not self.file.closed:
            self.file.close()
        if not self.committed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temporary)


def _fsync_directory(path: Path) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def open_envelope(
    source: SourceLike,
    key: Any,
    cert: CertificateLike,
    destination_path: str | os.PathLike[str],
    *,
    chunk_size: int = CHUNK_SIZE,
) -> EnvelopeInfo:
    """Decrypt the envelope with ``key`` (the private key of ``cert``) into
    ``destination_path``, which appears — replacing any file there — only once the
    authentication tag has verified.

    Raises :class:`NotARecipient` if ``cert`` is not among the recipients or ``key`` is
    not ``cert``'s key, :class:`EnvelopeTampered` if the content key does not unwrap or the
    tag does not verify (no plaintext file is left, not even a partial one), and
    :class:`EnvelopeFormatError` for anything that is not a well-formed envelope.
    """
    certificate, private_key, scheme = _recipient_key(key, cert)

    def decryptor_for(prologue: _Prologue) -> StreamDecryptor:
        candidates = _candidates(prologue, scheme, certificate)
        return _unwrap(scheme, candidates, private_key, certificate, prologue)

    return _open_into(source, destination_path, chunk_size, decryptor_for)


def _recipient_key(key: Any, cert: CertificateLike) -> tuple[CertView, Any, RecipientScheme]:
    certificate = view(cert)
    private_key = load_private_key(key)
    scheme = scheme_for(certificate)
    if not scheme.key_matches(private_key, certificate):
        raise NotARecipient(f"the private key given is not the key of {certificate.describe()}")
    return certificate, private_key, scheme


def _candidates(prologue: _Prologue, scheme: RecipientScheme, certificate: CertView) -> list[Recipient]:
    candidates = [r for r in prologue.recipients if r.kind in scheme.kinds and r.matches(certificate)]
    if not candidates:
        listed = "; ".join(r.describe() for r in prologue.recipients[:10])
        raise NotARecipient(f"the envelope is not sealed to {certificate.describe()}; it is sealed to: {listed}")
    return candidates


def _open_into(source: SourceLike, destination_path: str | os.PathLike[str], chunk_size: int,
               decryptor_for: Callable[[_Prologue], StreamDecryptor]) -> EnvelopeInfo:
    """The streaming decryption both openings share: the structure is checked (when the
    source can seek) before any byte is decrypted, the plaintext goes to a temporary file
    renamed over ``destination_path`` only once the tag verifies."""
    with _source(source) as (stream, size), _format_errors():
        walker = _Walker(StreamReader(stream, size))
        prologue = walker.prologue()
        epilogue: _Epilogue | None = None
        if walker.reader.seekable():
            # Check the whole structure (and find the tag) before decrypting anything.
            frames = [_Frame(f.name, f.end) for f in walker.frames]
            start = walker.reader.offset
            content_size = walker.skip_content(prologue.content_head)
            epilogue = walker.epilogue()
            envelope_size = walker.reader.offset
            walker.reader.seek(start)
            walker.frames = frames
        decryptor = decryptor_for(prologue)
        with _PendingPlaintext(destination_path) as pending:
            decrypted = _decrypt(walker, prologue, decryptor, pending, chunk_size)
            if epilogue is None:
                epilogue = walker.epilogue()
                envelope_size = walker.reader.offset
            elif decrypted != content_size:
                raise EnvelopeFormatError("the envelope changed while it was being opened")
            decryptor.verify(epilogue.mac)
            pending.commit()
        return walker.info(prologue, decrypted, epilogue, envelope_size)


def _unwrap(scheme: RecipientScheme, candidates: list[Recipient], key: Any, certificate: CertView,
            prologue: _Prologue) -> StreamDecryptor:
    failure: EnvelopeError | None = None
    for recipient in candidates:
        try:
            content_key = scheme.unwrap(recipient, key, certificate, prologue.cipher.key_size)
            return prologue.cipher.decryptor(content_key, prologue.parameters)
        except EnvelopeError as error:
            failure = error
    assert failure is not None
    raise failure


def _decrypt(walker: _Walker, prologue: _Prologue, decryptor: StreamDecryptor, pending: _PendingPlaintext,
             chunk_size: int) -> int:
    buffer = bytearray(chunk_size)
    output = bytearray(chunk_size + prologue.cipher.overhead)
    data, out = memoryview(buffer), memoryview(output)
    total = 0
    for run in walker.content_runs(prologue.content_head):
        while run:
            got = walker.reader.readinto(data[:min(run, chunk_size)])
            if not got:
                raise DerTruncated(f"encryptedContent: the envelope ends early at byte {walker.reader.offset} (truncated)")
            pending.write(out[:decryptor.update_into(data[:got], out)])
            run -= got
            total += got
    return total


# --------------------------------------------------------------------------- remote opening
#
# At a remote opening the two halves of a decryption happen on two machines: the bidder
# unwraps the content-encryption key with its own private key (which never leaves its
# machine) and hands the platform that key alone; the platform decrypts the envelope it
# holds with it. A content key opens one envelope and nothing else, and is worthless once
# the opening has happened.


class WrongContentKey(EnvelopeError, InvalidInput):
    """The content key handed over does not open this envelope: the authentication tag
    does not verify with it (or it has the wrong length). No plaintext is released."""

    code = "envelope-wrong-content-key"
    title = "The content key does not open the sealed envelope"


def unwrap_content_key(source: SourceLike, key: Any, cert: CertificateLike) -> bytes:
    """The bidder's half: the content-encryption key of the envelope, unwrapped with
    ``key`` (the private key of ``cert``, one of the recipients). Only the recipient infos
    are read and nothing is decrypted, so ``source`` may be the whole envelope or just its
    head (:func:`envelope_head`).

    Raises :class:`NotARecipient` (``cert`` is not a recipient, or ``key`` is not its key),
    :class:`EnvelopeTampered` (the wrapped key does not decrypt) and
    :class:`EnvelopeFormatError`. An RSAES-PKCS1-v1_5 recipient never reports a bad
    padding (no oracle): a damaged wrapped key comes back as a random key, which
    :func:`open_with_content_key` then refuses as :class:`WrongContentKey`.
    """
    certificate, private_key, scheme = _recipient_key(key, cert)
    with _source(source) as (stream, _size), _format_errors():
        # The size is not given to the reader: a head without the content is enough.
        prologue = _Walker(StreamReader(stream, None)).prologue()
        failure: EnvelopeError | None = None
        for recipient in _candidates(prologue, scheme, certificate):
            try:
                return scheme.unwrap(recipient, private_key, certificate, prologue.cipher.key_size)
            except EnvelopeError as error:
                failure = error
        assert failure is not None
        raise failure


def envelope_head(source: SourceLike) -> bytes:
    """The bytes of the envelope before its encrypted content: the recipient infos and the
    algorithm, all :func:`unwrap_content_key` needs (a few hundred bytes to hand to a
    bidder instead of the whole envelope)."""
    with _source(source) as (stream, size), _format_errors():
        start = stream.tell() if stream.seekable() else None
        walker = _Walker(StreamReader(stream, size))
        walker.prologue()
        length = walker.reader.offset
        if start is None:
            raise TypeError("envelope_head needs a path, bytes or a seekable file")
        stream.seek(start)
        head = stream.read(length)
        if len(head) != length:
            raise EnvelopeFormatError("the envelope ends inside its head (truncated)")
        return head


def open_with_content_key(
    source: SourceLike,
    content_key: bytes,
    destination_path: str | os.PathLike[str],
    *,
    chunk_size: int = CHUNK_SIZE,
) -> EnvelopeInfo:
    """The platform's half: decrypt the envelope with a content key handed over by a
    recipient into ``destination_path``, which appears only once the authentication tag
    has verified (streaming, as :func:`open_envelope`).

    Raises :class:`WrongContentKey` when the key does not open this envelope (wrong
    length, or the tag does not verify: a wrong key and an altered envelope cannot be told
    apart with GCM), leaving no file behind, and :class:`EnvelopeFormatError` for anything
    that is not a well-formed envelope.
    """
    if not isinstance(content_key, (bytes, bytearray, memoryview)):
        raise TypeError(f"the content key is bytes, not {type(content_key).__name__}")
    content_key = bytes(content_key)

    def decryptor_for(prologue: _Prologue) -> StreamDecryptor:
        if len(content_key) != prologue.cipher.key_size:
            raise WrongContentKey(
                f"the content key is {len(content_key)} bytes; this envelope is sealed with "
                f"{prologue.cipher.name}, whose key is {prologue.cipher.key_size} bytes"
            )
        return _KeyCheckingDecryptor(prologue.cipher.decryptor(content_key, prologue.parameters))

    return _open_into(source, destination_path, chunk_size, decryptor_for)


class _KeyCheckingDecryptor:
    """A decryptor whose tag failure is reported as a wrong content key."""

    def __init__(self, inner: StreamDecryptor) -> None:
        self._inner = inner
        self.update_into = inner.update_into

    def verify(self, mac: bytes) -> None:
        try:
            self._inner.verify(mac)
        except EnvelopeTampered:
            raise WrongContentKey(
                "the content key does not open this envelope: the authentication tag does not verify with it "
                "(a wrong key, or an envelope altered since it was sealed); no plaintext was released"
            ) from None
