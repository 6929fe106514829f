"""Just enough DER for CMS envelopes: an encoder for what we write and a strict, bounded
parser for what we read.

Small elements (recipient infos, algorithm identifiers, names) are parsed in memory by
:func:`parse`; the envelope's outer structure, whose encrypted content may be gigabytes,
is walked header by header from a stream by :class:`StreamReader`. Both accept BER's
indefinite lengths and constructed strings (``openssl cms -stream`` writes them) and both
raise only :class:`DerError`, with a message naming what was being read and where.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Final

MAX_DEPTH: Final = 32
"""Nesting limit for in-memory parsing: CMS needs about a dozen levels."""


class DerError(ValueError):
    """Malformed, truncated or oversized DER/BER; the message says where."""


class DerTruncated(DerError):
    """The input ended in the middle of an element."""


# --------------------------------------------------------------------------- tags

UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3

INTEGER: Final = 0x02
BIT_STRING: Final = 0x03
OCTET_STRING: Final = 0x04
NULL: Final = 0x05
OID: Final = 0x06
SEQUENCE: Final = 0x30  # identifier bytes (constructed), for encoding
SET: Final = 0x31
T_SEQUENCE: Final = 16  # tag numbers, for matching parsed elements
T_SET: Final = 17


def context(number: int, *, constructed: bool) -> int:
    """The one-byte identifier of ``[number]`` (low tag numbers only, which is all CMS needs)."""
    if not 0 <= number < 31:
        raise ValueError("only low tag numbers are supported")
    return 0x80 | (0x20 if constructed else 0) | number


# --------------------------------------------------------------------------- encoding


def encode_length(length: int) -> bytes:
    if length < 0:
        raise ValueError("negative length")
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def header(tag: int, length: int) -> bytes:
    return bytes([tag]) + encode_length(length)


def tlv(tag: int, content: bytes) -> bytes:
    return header(tag, len(content)) + content


def sequence(*parts: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    """DER SET OF: the elements sorted by their encodings (X.690 11.6)."""
    return tlv(SET, b"".join(sorted(parts)))


def integer(value: int) -> bytes:
    size = max(1, (value.bit_length() + 8) // 8)  # room for the sign bit
    return tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def bit_string(value: bytes) -> bytes:
    return tlv(BIT_STRING, b"\x00" + value)


def oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39):
        raise ValueError(f"invalid object identifier {dotted!r}")
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(OID, bytes(body))


def explicit(number: int, content: bytes) -> bytes:
    return tlv(context(number, constructed=True), content)


def algorithm_identifier(dotted: str, parameters: bytes | None = None) -> bytes:
    """AlgorithmIdentifier with the parameters absent unless given (already encoded)."""
    return sequence(oid(dotted), parameters or b"")


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Element:
    """One parsed TLV. ``encoded`` is the whole element as it appeared (for hashing,
    matching and AAD); ``content`` the bytes inside (between header and end-of-contents)."""

    tag_class: int
    constructed: bool
    number: int
    content: bytes
    encoded: bytes
    indefinite: bool = False

    def is_(self, tag_class: int, number: int, *, constructed: bool | None = None) -> bool:
        return (
            self.tag_class == tag_class
            and self.number == number
            and (constructed is None or self.constructed == constructed)
        )

    @property
    def identifier(self) -> str:
        return describe_tag(self.tag_class, self.constructed, self.number)

    def children(self, what: str = "element") -> list[Element]:
        if not self.constructed:
            raise DerError(f"{what}: expected a constructed element, found {self.identifier}")
        return parse_all(self.content, what, _depth=1)

    # typed views; ``what`` names the field in error messages

    def expect(self, tag_class: int, number: int, what: str) -> Element:
        if not self.is_(tag_class, number):
            raise DerError(f"{what}: expected {describe_tag(tag_class, None, number)}, found {self.identifier}")
        return self

    def as_oid(self, what: str = "object identifier") -> str:
        self.expect(UNIVERSAL, OID, what)
        return decode_oid(self.content, what)

    def as_int(self, what: str = "integer") -> int:
        self.expect(UNIVERSAL, INTEGER, what)
        if self.constructed or not self.content:
            raise DerError(f"{what}: empty or constructed INTEGER")
        if len(self.content) > 64:
            raise DerError(f"{what}: INTEGER of {len(self.content)} bytes is too long")
        return int.from_bytes(self.content, "big", signed=True)

    def as_octets(self, what: str = "octet string", *, tag_class: int = UNIVERSAL,
                  number: int = OCTET_STRING) -> bytes:
        """The string's bytes, joining BER constructed segments."""
        self.expect(tag_class, number, what)
        if not self.constructed:
            return self.content
        return b"".join(child.as_octets(what) for child in self.children(what))

    def as_bits(self, what: str = "bit string") -> bytes:
        self.expect(UNIVERSAL, BIT_STRING, what)
        if self.constructed or not self.content or self.content[0] != 0:
            raise DerError(f"{what}: only primitive BIT STRINGs of whole bytes are supported")
        return self.content[1:]


def describe_tag(tag_class: int, constructed: bool | None, number: int) -> str:
    if tag_class == UNIVERSAL:
        names = {1: "BOOLEAN", 2: "INTEGER", 3: "BIT STRING", 4: "OCTET STRING", 5: "NULL",
                 6: "OBJECT IDENTIFIER", 12: "UTF8String", 16: "SEQUENCE", 17: "SET",
                 19: "PrintableString", 22: "IA5String", 23: "UTCTime", 24: "GeneralizedTime"}
        return names.get(number, f"universal tag {number}")
    prefix = {APPLICATION: "APPLICATION ", CONTEXT: "", PRIVATE: "PRIVATE "}[tag_class]
    return f"[{prefix}{number}]"


def decode_oid(content: bytes, what: str = "object identifier") -> str:
    if not content or content[-1] & 0x80 or len(content) > 64:
        raise DerError(f"{what}: malformed OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for byte in content:
        if value == 0 and byte == 0x80:
            raise DerError(f"{what}: OBJECT IDENTIFIER arc with a leading 0x80")
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(arc) for arc in head + arcs[1:])


def _parse_identifier(data: bytes, pos: int, end: int, what: str) -> tuple[int, bool, int, int]:
    if pos >= end:
        raise DerError(f"{what}: truncated (no tag at offset {pos})")
    first = data[pos]
    pos += 1
    number = first & 0x1F
    if number == 0x1F:
        number = 0
        for count in range(4):
            if pos >= end:
                raise DerError(f"{what}: truncated tag")
            byte = data[pos]
            pos += 1
            number = (number << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        else:
            raise DerError(f"{what}: tag number too large")
    return first >> 6, bool(first & 0x20), number, pos


def _parse_length(data: bytes, pos: int, end: int, what: str) -> tuple[int | None, int]:
    if pos >= end:
        raise DerError(f"{what}: truncated (no length)")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    if first == 0x80:
        return None, pos
    count = first & 0x7F
    if count > 8:
        raise DerError(f"{what}: length of {count} bytes is not plausible")
    if pos + count > end:
        raise DerError(f"{what}: truncated length")
    return int.from_bytes(data[pos:pos + count], "big"), pos + count


def _parse_at(data: bytes, pos: int, end: int, what: str, depth: int) -> tuple[Element, int]:
    if depth > MAX_DEPTH:
        raise DerError(f"{what}: nested more than {MAX_DEPTH} levels deep")
    start = pos
    tag_class, constructed, number, pos = _parse_identifier(data, pos, end, what)
    length, pos = _parse_length(data, pos, end, what)
    if length is not None:
        if length > end - pos:
            raise DerError(
                f"{what}: {describe_tag(tag_class, constructed, number)} declares {length} bytes "
                f"but only {end - pos} remain (truncated or a bogus length)"
            )
        content_end = pos + length
        element = Element(tag_class, constructed, number, bytes(data[pos:content_end]),
                          bytes(data[start:content_end]))
        return element, content_end
    if not constructed:
        raise DerError(f"{what}: indefinite length on a primitive element")
    content_start = pos
    while True:
        if pos + 2 <= end and data[pos] == 0 and data[pos + 1] == 0:
            element = Element(tag_class, constructed, number, bytes(data[content_start:pos]),
                              bytes(data[start:pos + 2]), indefinite=True)
            return element, pos + 2
        _, pos = _parse_at(data, pos, end, what, depth + 1)


def parse(data: bytes, what: str = "element") -> Element:
    """Exactly one element filling ``data``."""
    element, end = _parse_at(data, 0, len(data), what, 0)
    if end != len(data):
        raise DerError(f"{what}: {len(data) - end} unexpected bytes after the element")
    return element


def parse_all(data: bytes, what: str = "element", *, _depth: int = 0) -> list[Element]:
    """The elements filling ``data`` back to back (the inside of a SEQUENCE or SET)."""
    elements = []
    pos = 0
    while pos < len(data):
        element, pos = _parse_at(data, pos, len(data), what, _depth)
        elements.append(element)
    return elements


def parse_oid_value(data: bytes) -> str | None:
    """The dotted OID if ``data`` is exactly an encoded OBJECT IDENTIFIER, else None."""
    try:
        return parse(data).as_oid()
    except DerError:
        return None


# --------------------------------------------------------------------------- streaming


@dataclass(frozen=True)
class Header:
    tag_class: int
    constructed: bool
    number: int
    length: int | None  # None: indefinite
    size: int  # bytes of identifier and length
    offset: int  # where the element starts in the stream

    @property
    def identifier(self) -> str:
        return describe_tag(self.tag_class, self.constructed, self.number)

    @property
    def is_end_of_contents(self) -> bool:
        return self.tag_class == UNIVERSAL and self.number == 0 and not self.constructed and self.length == 0

    def is_(self, tag_class: int, number: int, *, constructed: bool | None = None) -> bool:
        return (
            self.tag_class == tag_class
            and self.number == number
            and (constructed is None or self.constructed == constructed)
        )

    @property
    def end(self) -> int | None:
        return None if self.length is None else self.offset + self.size + self.length


class StreamReader:
    """Reads DER/BER headers and bounded elements from a binary stream, tracking the offset.

    ``size`` (when the stream's total length is known) lets every declared length be checked
    against what is really there before anything is read, so a length bomb fails at once.
    """

    def __init__(self, stream: BinaryIO, size: int | None) -> None:
        self._stream = stream
        self.size = size
        self.offset = 0
        self._pushback = b""
        self._base = stream.tell() if self.seekable() else 0

    def remaining(self) -> int | None:
        return None if self.size is None else self.size - self.offset

    def read(self, count: int, what: str) -> bytes:
        """Exactly ``count`` bytes (``count`` must be small: callers cap it)."""
        parts = []
        if self._pushback:
            part, self._pushback = self._pushback[:count], self._pushback[count:]
            parts.append(part)
            count -= len(part)
        while count > 0:
            part = self._stream.read(count)
            if not part:
                raise DerTruncated(f"{what}: the envelope ends early at byte {self.offset + sum(map(len, parts))} "
                               "(truncated)")
            parts.append(part)
            count -= len(part)
        data = b"".join(parts)
        self.offset += len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        """Up to ``len(buffer)`` bytes into ``buffer``; 0 at the end of the stream."""
        if self._pushback:
            count = min(len(buffer), len(self._pushback))
            buffer[:count] = self._pushback[:count]
            self._pushback = self._pushback[count:]
            self.offset += count
            return count
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:
            count = readinto(buffer) or 0
        else:
            data = self._stream.read(len(buffer))
            count = len(data)
            buffer[:count] = data
        self.offset += count
        return count

    def peek(self, count: int) -> bytes:
        """Up to ``count`` bytes ahead, without consuming them."""
        while len(self._pushback) < count:
            part = self._stream.read(count - len(self._pushback))
            if not part:
                break
            self._pushback += part
        return self._pushback[:count]

    def at_end(self) -> bool:
        if self._pushback:
            return False
        data = self._stream.read(1)
        if not data:
            return True
        self._pushback = data
        return False

    def skip(self, count: int, what: str) -> None:
        """Skip ``count`` bytes, by seeking when the stream can."""
        if count <= 0:
            return
        if self._pushback:
            dropped = min(count, len(self._pushback))
            self._pushback = self._pushback[dropped:]
            self.offset += dropped
            count -= dropped
        if self.seekable():
            remaining = self.remaining()
            if remaining is not None and count > remaining:
                raise DerTruncated(f"{what}: the envelope ends early (truncated)")
            self._stream.seek(count, 1)
            self.offset += count
            return
        buffer = memoryview(bytearray(min(count, 1 << 16)))
        while count:
            got = self.readinto(buffer[:min(count, len(buffer))])
            if not got:
                raise DerTruncated(f"{what}: the envelope ends early at byte {self.offset} (truncated)")
            count -= got

    def seekable(self) -> bool:
        try:
            return bool(self._stream.seekable())
        except (AttributeError, OSError, ValueError):
            return False

    def seek(self, offset: int) -> None:
        """Back to an ``offset`` seen before (seekable streams only)."""
        self._stream.seek(self._base + offset)
        self._pushback = b""
        self.offset = offset

    def read_header(self, what: str, *, bound: int | None = None, check: bool = True) -> Header:
        """The next identifier and length; ``bound`` is the offset the element must end by
        (and the stream's end, when known), unless ``check`` is false: then call
        :meth:`check_fits` later."""
        start = self.offset
        first = self.read(1, what)[0]
        raw = 1
        number = first & 0x1F
        if number == 0x1F:
            number = 0
            for _ in range(4):
                byte = self.read(1, what)[0]
                raw += 1
                number = (number << 7) | (byte & 0x7F)
                if not byte & 0x80:
                    break
            else:
                raise DerError(f"{what}: tag number too large at byte {start}")
        length_byte = self.read(1, what)[0]
        raw += 1
        length: int | None
        if length_byte < 0x80:
            length = length_byte
        elif length_byte == 0x80:
            length = None
            if not first & 0x20:
                raise DerError(f"{what}: indefinite length on a primitive element at byte {start}")
        else:
            count = length_byte & 0x7F
            if count > 8:
                raise DerError(f"{what}: length of {count} bytes at byte {start} is not plausible")
            length = int.from_bytes(self.read(count, what), "big")
            raw += count
        found = Header(first >> 6, bool(first & 0x20), number, length, raw, start)
        if check:
            self.check_fits(found, what, bound=bound)
        return found

    def check_fits(self, head: Header, what: str, *, bound: int | None = None) -> None:
        if head.end is None:
            return
        limits = [limit for limit in (bound, self.size) if limit is not None]
        if limits and head.end > min(limits):
            available = min(limits) - head.offset - head.size
            raise DerError(
                f"{what}: {head.identifier} at byte {head.offset} declares {head.length} bytes but only "
                f"{max(available, 0)} remain (truncated, or a bogus length)"
            )

    def read_element(self, what: str, *, max_size: int, bound: int | None = None,
                     head: Header | None = None) -> Element:
        """A whole small element (at most ``max_size`` bytes), parsed."""
        start = self.offset if head is None else head.offset
        head = head or self.read_header(what, bound=bound)
        if head.length is not None:
            if head.size + head.length > max_size:
                raise DerError(f"{what}: {head.length} bytes is over the {max_size}-byte limit")
            raw = self._raw_header(head) + self.read(head.length, what)
        else:
            raw = self._raw_header(head) + self._read_indefinite(what, max_size - head.size, bound, 1)
        if self.offset - start != len(raw):
            raise DerError(f"{what}: inconsistent element")
        return parse(raw, what)

    def _read_indefinite(self, what: str, budget: int, bound: int | None, depth: int) -> bytes:
        if depth > MAX_DEPTH:
            raise DerError(f"{what}: nested more than {MAX_DEPTH} levels deep")
        parts: list[bytes] = []
        while True:
            child = self.read_header(what, bound=bound)
            raw = self._raw_header(child)
            if child.is_end_of_contents:
                parts.append(raw)
                return b"".join(parts)
            if child.length is not None:
                if len(raw) + child.length > budget:
                    raise DerError(f"{what}: over the {budget}-byte limit")
                raw += self.read(child.length, what)
            else:
                raw += self._read_indefinite(what, budget - len(raw), bound, depth + 1)
            budget -= len(raw)
            if budget < 0:
                raise DerError(f"{what}: over the size limit")
            parts.append(raw)

    @staticmethod
    def _raw_header(head: Header) -> bytes:
        first_byte = (head.tag_class << 6) | (0x20 if head.constructed else 0)
        if head.number < 31:
            identifier = bytes([first_byte | head.number])
        else:
            digits = []
            number = head.number
            while True:
                digits.append(number & 0x7F)
                number >>= 7
                if not number:
                    break
            identifier = bytes([first_byte | 0x1F]) + bytes(
                [digit | 0x80 for digit in reversed(digits[1:])] + [digits[0]]
            )
        if head.length is None:
            return identifier + b"\x80"
        # Re-encoding the length minimally would change BER input; keep its declared width.
        width = head.size - len(identifier) - 1
        if width == 0:
            return identifier + bytes([head.length])
        return identifier + bytes([0x80 | width]) + head.length.to_bytes(width, "big")
