"""Getting revocation information: CRLs from distribution points, OCSP from the AIA.

The CA's network is reached through a :class:`RevocationTransport` (HTTP in production, an
in-memory fake in tests). CRLs are cached until their nextUpdate, so a warm cache answers
without the network. Each fetched CRL is parsed and indexed once (:class:`IndexedCrl`: its
revoked serials in a dict, its DER digest, its update times), so that a validation looks a
serial up instead of walking the list.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp, x509

from core.clock import utcnow

MAX_REVOCATION_BYTES = 32 * 1024 * 1024
OCSP_CACHE_SECONDS = 300


class RevocationUnavailable(Exception):
    """The CA's server could not be reached or answered nonsense; the message says which."""


class RevocationTransport(Protocol):
    async def get(self, url: str) -> bytes: ...

    async def post(self, url: str, body: bytes, content_type: str) -> bytes: ...


class HttpRevocationTransport:
    """The real network, with a short timeout: a slow CA must not hold up a bid opening."""

    def __init__(self, timeout_seconds: float = 10.0) -> None:
        self.timeout_seconds = timeout_seconds

    async def get(self, url: str) -> bytes:
        return await self._request("GET", url)

    async def post(self, url: str, body: bytes, content_type: str) -> bytes:
        return await self._request("POST", url, content=body, headers={"content-type": content_type})

    async def _request(self, method: str, url: str, **options: object) -> bytes:
        import httpx

        if not url.startswith(("http://", "https://")):
            raise RevocationUnavailable(f"{url} is not an http(s) address")
        try:
            async with httpx.AsyncClient(timeout=self.timeout_seconds) as client:
                response = await client.request(method, url, **options)  # type: ignore[arg-type]
        except httpx.HTTPError as error:
            raise RevocationUnavailable(f"{url}: {type(error).__name__}: {error}") from None
        if response.status_code != 200:
            raise RevocationUnavailable(f"{url} answered HTTP {response.status_code}")
        if len(response.content) > MAX_REVOCATION_BYTES:
            raise RevocationUnavailable(f"{url} sent more than {MAX_REVOCATION_BYTES} bytes")
        return response.content


@dataclass
class MirrorRevocationTransport:
    """CRLs from a local mirror first (``<dir>/<host>/<path>``), then the network.

    Air-gapped centres copy their CAs' CRLs onto the platform; the demo publishes its demo
    CAs' CRLs this way. OCSP always goes to the network.
    """

    directory: Path
    fallback: RevocationTransport

    async def get(self, url: str) -> bytes:
        from ca_interop.demo_pki_set import crl_mirror_path

        local = crl_mirror_path(self.directory, url)
        if local.is_file():
            return local.read_bytes()
        return await self.fallback.get(url)

    async def post(self, url: str, body: bytes, content_type: str) -> bytes:
        return await self.fallback.post(url, body, content_type)


@dataclass
class StaticRevocationTransport:
    """A CA's network in memory: URL -> bytes for CRLs, URL -> responder for OCSP."""

    documents: dict[str, bytes] = field(default_factory=dict)
    responders: dict[str, object] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)

    async def get(self, url: str) -> bytes:
        self.requests.append(url)
        if url in self.unreachable or url not in self.documents:
            raise RevocationUnavailable(f"{url} is unreachable")
        return self.documents[url]

    async def post(self, url: str, body: bytes, content_type: str) -> bytes:
        self.requests.append(url)
        responder = self.responders.get(url)
        if url in self.unreachable or responder is None:
            raise RevocationUnavailable(f"{url} is unreachable")
        return responder(body)  # type: ignore[operator, no-any-return]


@dataclass(frozen=True)
class RevokedEntry:
    revoked_at: datetime
    reason: str


@dataclass(frozen=True)
class IndexedCrl:
    """One fetched CRL, parsed and indexed once; read-only, shared by every validation.

    ``revoked`` maps each listed serial number to its entry, or is None when an entry could
    not be read (then only the full path validation, which reports the problem, uses it).
    ``digest`` (SHA-256 of the DER) names this very CRL: a refetched CRL has another one.
    """

    url: str
    parsed: asn1_crl.CertificateList
    digest: bytes
    this_update: datetime
    next_update: datetime | None
    revoked: Mapping[int, RevokedEntry] | None

    def lists(self, serial: int) -> bool:
        """Whether ``serial`` is on this CRL (an unreadable CRL lists everything)."""
        return self.revoked is None or serial in self.revoked


@dataclass
class _Cached:
    value: bytes
    valid_until: datetime
    parsed: asn1_crl.CertificateList | None = None  # read-only: shared by every validation
    index: IndexedCrl | None = None


@dataclass
class RevocationSource:
    """Fetches and caches CRLs and OCSP responses for the certificates of a chain."""

    transport: RevocationTransport
    crl_cache: dict[str, _Cached] = field(default_factory=dict)
    ocsp_cache: dict[tuple[str, int], _Cached] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def crl(self, url: str) -> asn1_crl.CertificateList:
        """The CRL at ``url``, from the cache while its nextUpdate has not passed."""
        return (await self.indexed_crl(url)).parsed

    async def indexed_crl(self, url: str) -> IndexedCrl:
        """The CRL at ``url`` with its index, from the cache while its nextUpdate has not
        passed; fetched, parsed and indexed once per fetch."""
        cached = self.crl_cache.get(url)
        if cached is not None and cached.valid_until > utcnow() and cached.index is not None:
            return cached.index
        async with self.locks.setdefault(url, asyncio.Lock()):
            cached = self.crl_cache.get(url)
            if cached is not None and cached.valid_until > utcnow() and cached.index is not None:
                return cached.index
            data = await self.transport.get(url)
            index = _index_crl(url, data, _parse_crl(url, data))
            self.crl_cache[url] = _Cached(data, index.next_update or utcnow(), index.parsed, index)
            return index

    async def ocsp(self, url: str, certificate: x509.Certificate, issuer: x509.Certificate) -> ocsp.OCSPResponse:
        key = (url, certificate.serial_number)
        cached = self.ocsp_cache.get(key)
        if cached is not None and cached.valid_until > utcnow():
            return ocsp.OCSPResponse.load(cached.value)
        request = build_ocsp_request(certificate, issuer)
        data = await self.transport.post(url, request.dump(), "application/ocsp-request")
        try:
            response = ocsp.OCSPResponse.load(data, strict=True)
            status = response["response_status"].native
        except (ValueError, TypeError) as error:
            raise RevocationUnavailable(f"{url} did not send an OCSP response: {error}") from None
        if status != "successful":
            raise RevocationUnavailable(f"{url} answered OCSP status {status}")
        self.ocsp_cache[key] = _Cached(data, utcnow() + timedelta(seconds=OCSP_CACHE_SECONDS))
        return response


def _parse_crl(url: str, data: bytes) -> asn1_crl.CertificateList:
    try:
        parsed = asn1_crl.CertificateList.load(data, strict=True)
        _ = parsed["tbs_cert_list"]["next_update"].native, parsed.issuer
    except (ValueError, TypeError, KeyError) as error:
        raise RevocationUnavailable(f"{url} did not send a DER CRL: {error}") from None
    return parsed


def _index_crl(url: str, data: bytes, parsed: asn1_crl.CertificateList) -> IndexedCrl:
    tbs = parsed["tbs_cert_list"]
    try:
        this_update = tbs["this_update"].native
    except (ValueError, TypeError) as error:
        raise RevocationUnavailable(f"{url} sent a CRL without a readable thisUpdate: {error}") from None
    return IndexedCrl(url=url, parsed=parsed, digest=hashlib.sha256(data).digest(), this_update=this_update,
                      next_update=tbs["next_update"].native, revoked=_revoked_serials(tbs))


def _revoked_serials(tbs: asn1_crl.TbsCertList) -> dict[int, RevokedEntry] | None:
    """Serial -> entry for every revoked certificate; None if any entry cannot be read."""
    revoked: dict[int, RevokedEntry] = {}
    try:
        for entry in tbs["revoked_certificates"]:
            reason = entry.crl_reason_value
            revoked[entry["user_certificate"].native] = RevokedEntry(
                entry["revocation_date"].native, reason.native if reason is not None else "unspecified")
    except (ValueError, TypeError, KeyError):
        return None
    return revoked


def build_ocsp_request(certificate: x509.Certificate, issuer: x509.Certificate) -> ocsp.OCSPRequest:
    """An RFC 6960 request for one certificate, identified with SHA-1 hashes as CAs expect."""
    cert_id = ocsp.CertId({
        "hash_algorithm": {"algorithm": "sha1"},
        "issuer_name_hash": certificate.issuer.sha1,
        "issuer_key_hash": issuer.public_key.sha1,
        "serial_number": certificate.serial_number,
    })
    return ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}})


def distribution_points(certificate: x509.Certificate) -> list[str]:
    return [point.url for point in certificate.crl_distribution_points if point.url]


def ocsp_urls(certificate: x509.Certificate) -> list[str]:
    return list(certificate.ocsp_urls)
