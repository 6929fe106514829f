"""The bidder's side of bidding, run on the bidder's own machine.

    client = BidderClient("https://bidhall.example")
    await client.bind_certificate(username, password, credentials)     # once per certificate
    await client.sign_in(credentials)                                   # certificate sign-in
    envelope = client.seal_bid(Path("bid.zip"), lot)                    # lot: GET /projects/{id} lots[i]
    upload = await client.upload(lot["id"], envelope)                   # resumes after a dropped line
    submitted = await client.submit(lot, upload)                        # the bid and its receipt
    assert await client.verify_receipt(submitted["receipt"]) == []

Keys never leave this process: sealing and signing happen here, and only the sealed
envelope and signatures travel. The receipt is checked with the platform's TSA
certificate and tree-head key, which a careful bidder pins (``pin_receipt_keys``) instead
of fetching them from the server it is checking.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import xxhash
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca_interop.envelopes import seal
from trading.bid_receipts import verify_receipt as verify_receipt_offline
from trading.bids import bid_statement
from web.client import sign_challenge

# 16 MiB: each chunk carries a fixed cost (a request, its admission and answer, the turn
# back to the next one) of over a millisecond on a fast link, which 8 MiB chunks paid twice
# as often (a loopback upload went from ~870 to ~1,000 MiB/s); on a slow link a dropped
# connection still costs at most one chunk. Larger chunks gain little more, and from 32 MiB
# each read is a fresh mapping of memory for the client.
DEFAULT_CHUNK = 16 * 1024 * 1024
RETRIES = 5
# Chunks kept on their way at once, unless the caller says: the server answers a chunk as
# soon as it has checked its hash (the record and the last bytes' write follow the answer),
# so on a short round trip the wire is hardly ever idle between chunks and one at a time is
# enough. On a long one (a bidder far from the trading center, a busy server) two keep it
# busy while the answer to the previous chunk travels back. The server takes them in order,
# and more than a few would only queue there.
CHUNKS_IN_FLIGHT = 1  # on a short round trip
CHUNKS_IN_FLIGHT_FAR = 2  # on a round trip of LONG_ROUND_TRIP_SECONDS or more
LONG_ROUND_TRIP_SECONDS = 0.02
MAX_CHUNKS_IN_FLIGHT = 4


def chunks_in_flight_for(round_trip: float) -> int:
    """How many chunks to keep on their way, given how long a small request took."""
    return CHUNKS_IN_FLIGHT_FAR if round_trip >= LONG_ROUND_TRIP_SECONDS else CHUNKS_IN_FLIGHT


class BidderError(Exception):
    """The platform refused something; ``problem`` is its RFC 9457 document."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status}: {problem.get('detail') or problem.get('title')}")
        self.status = status
        self.problem = problem


@dataclass(frozen=True)
class BidderCredentials:
    """What the bidder's USB key holds: a signing key and certificate (PEM, chain after the
    certificate) and the encryption certificate bids are also sealed to. An encrypted
    signing key (RSA or EC) comes with its password; SM2 keys must be unencrypted."""

    signing_key_pem: bytes
    signing_cert_pem: bytes
    encryption_cert_pem: bytes
    signing_key_password: bytes | None = None


class BidderClient:
    def __init__(self, base_url: str, *, http: httpx.AsyncClient | None = None) -> None:
        self.http = http or httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(60, connect=10))
        self.credentials: BidderCredentials | None = None
        self._token: str | None = None
        self._receipt_keys: tuple[x509.Certificate, str] | None = None

    async def aclose(self) -> None:
        await self.http.aclose()

    @property
    def token(self) -> str:
        """The session token of the signed-in bidder (for the opening client and downloads)."""
        if self._token is None:
            raise RuntimeError("sign in first (bind_certificate or sign_in)")
        return self._token

    # --- signing in -----------------------------------------------------------------------

    async def bind_certificate(self, username: str, password: str, credentials: BidderCredentials) -> dict[str, Any]:
        """Prove the signing key once, signed in by password, so it can sign in from now on."""
        login = await self._json("POST", "/auth/login", json={"username": username, "password": password},
                                 authenticated=False)
        self._token = login["token"]
        return await self._json("POST", "/auth/certificates", json=await self._proof(credentials))

    async def sign_in(self, credentials: BidderCredentials) -> None:
        """Sign in with the signing certificate (bound beforehand)."""
        token = await self._json("POST", "/auth/certificate/login", json=await self._proof(credentials),
                                 authenticated=False)
        self._token = token["token"]
        self.credentials = credentials

    def use_session(self, token: str, credentials: BidderCredentials) -> None:
        """Act with a session token obtained elsewhere (an API token, another client)."""
        self._token, self.credentials = token, credentials

    async def _proof(self, credentials: BidderCredentials) -> dict[str, str]:
        challenge = await self._json("POST", "/auth/certificate/challenge", authenticated=False)
        signature = sign_challenge(challenge["to_sign"], credentials.signing_key_pem, credentials.signing_cert_pem,
                                   credentials.signing_key_password)
        return {"nonce": challenge["nonce"], "signature": signature}

    # --- sealing and uploading ------------------------------------------------------------

    def seal_bid(self, content_path: Path, lot: Mapping[str, Any], *, destination: Path | None = None,
                 expected_fingerprint: str | None = None) -> Path:
        """Seal ``content_path`` to the bidder's encryption certificate and the lot's opening
        certificate, after checking that certificate is the one the lot published
        (``expected_fingerprint``: from the tender notice, when the caller has it)."""
        credentials = self._require_credentials()
        recipients: list[bytes] = [credentials.encryption_cert_pem]
        pem = lot.get("opening_certificate_pem")
        if pem:
            certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
            fingerprint = hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()
            for published in (lot.get("opening_certificate_fingerprint"), expected_fingerprint):
                if published is not None and published != fingerprint:
                    raise ValueError(f"the lot's opening certificate has fingerprint {fingerprint}, not the "
                                     f"published {published}: do not seal to it")
            recipients.append(pem.encode("ascii"))
        destination = destination or content_path.with_name(content_path.name + ".p7m")
        seal(content_path, recipients, destination)
        return destination

    async def upload(self, lot_id: int, path: Path, chunk_size: int = DEFAULT_CHUNK, *,
                     sha256: str | None = None, in_flight: int | None = None) -> dict[str, Any]:
        """Send the envelope in chunks, ``in_flight`` at a time (by default as many as the
        round trip calls for, see :func:`chunks_in_flight_for`); after a dropped connection
        ask where the server stands and go on from there. Returns the completed upload.
        ``sha256``: the file's, when already known (else it is computed first)."""
        if sha256 is None:
            size, sha256 = await asyncio.to_thread(_size_and_hash, path)
        else:
            size = path.stat().st_size
        upload = await self._json("POST", f"/lots/{lot_id}/uploads", json={"size": size, "sha256": sha256})
        return await self.resume_upload(upload["id"], path, chunk_size=chunk_size, in_flight=in_flight)

    async def resume_upload(self, upload_id: str, path: Path, chunk_size: int = DEFAULT_CHUNK, *,
                            in_flight: int | None = None) -> dict[str, Any]:
        """Send what the server still lacks of ``path``, ``in_flight`` chunks at a time (by
        default as many as the round trip of the first question calls for); after a dropped
        connection or a refused chunk, ask where the server stands and go on from there."""
        asked = time.perf_counter()
        upload = await self._json("GET", f"/uploads/{upload_id}")
        if in_flight is None:
            in_flight = chunks_in_flight_for(time.perf_counter() - asked)
        failures = 0

        async def put(offset: int, chunk: bytes, digest: str) -> dict[str, Any]:
            return await self._json("PUT", f"/uploads/{upload_id}", params={"offset": offset}, content=chunk,
                                    headers={reader.header: digest, "content-type": "application/octet-stream"})

        async with ChunkReader(path, chunk_size) as reader:
            while upload["status"] == "receiving":
                try:
                    upload = await send_chunks(reader, upload["received"], upload["size"], put, in_flight)
                    failures = 0
                except (httpx.TransportError, BidderError) as error:
                    retriable = isinstance(error, httpx.TransportError) or error.status in (409, 400)
                    if isinstance(error, BidderError) and error.status == 409:
                        # The chunks may have reached different server processes, which
                        # refuse a second chunk of an upload at once: go on one at a time.
                        in_flight = 1
                    failures += 1
                    if not retriable or failures > RETRIES:
                        raise
                    await asyncio.sleep(min(0.2 * 2 ** failures, 5))
                    upload = await self._json("GET", f"/uploads/{upload_id}")
        return upload

    # --- bids -----------------------------------------------------------------------------

    def sign_bid(self, lot_code: str, envelope_sha256: str) -> str:
        credentials = self._require_credentials()
        return sign_challenge(bid_statement(lot_code, envelope_sha256).decode("utf-8"),
                              credentials.signing_key_pem, credentials.signing_cert_pem,
                              credentials.signing_key_password)

    async def submit(self, lot: Mapping[str, Any], upload: Mapping[str, Any]) -> dict[str, Any]:
        """Submit a completed upload as the party's bid: ``{"bid": ..., "receipt": ...}``."""
        body = {"upload_id": upload["id"], "signature": self.sign_bid(lot["code"], upload["sha256"])}
        return await self._json("POST", f"/lots/{lot['id']}/bids", json=body)

    async def replace(self, bid_id: int, lot: Mapping[str, Any], upload: Mapping[str, Any]) -> dict[str, Any]:
        body = {"upload_id": upload["id"], "signature": self.sign_bid(lot["code"], upload["sha256"])}
        return await self._json("POST", f"/bids/{bid_id}/replace", json=body)

    async def withdraw(self, bid_id: int, reason: str = "withdrawn by the bidder") -> dict[str, Any]:
        return await self._json("POST", f"/bids/{bid_id}/withdraw", json={"reason": reason})

    async def bid(self, bid_id: int) -> dict[str, Any]:
        return await self._json("GET", f"/bids/{bid_id}")

    async def receipt(self, bid_id: int) -> dict[str, Any]:
        return await self._json("GET", f"/bids/{bid_id}/receipt")

    async def record_bond(self, lot_id: int, form: str, reference: str, amount: str) -> dict[str, Any]:
        return await self._json("POST", f"/lots/{lot_id}/bond",
                                json={"form": form, "reference": reference, "amount": amount})

    def pin_receipt_keys(self, tsa_certificate: x509.Certificate, platform_public_key: str) -> None:
        """Check receipts with these keys (obtained out of band) instead of asking the server."""
        self._receipt_keys = (tsa_certificate, platform_public_key)

    async def verify_receipt(self, receipt: Mapping[str, Any]) -> list[str]:
        """Problems with ``receipt`` (none: it proves the submission), checked locally."""
        if self._receipt_keys is None:
            keys = await self._json("GET", "/receipt-keys", authenticated=False)
            self._receipt_keys = (x509.load_pem_x509_certificate(keys["tsa_certificate"].encode("ascii")),
                                  keys["platform_public_key"])
        tsa_certificate, platform_key = self._receipt_keys
        return verify_receipt_offline(dict(receipt), tsa_certificate=tsa_certificate, platform_public_key=platform_key)

    # --- plumbing -------------------------------------------------------------------------

    def _require_credentials(self) -> BidderCredentials:
        if self.credentials is None:
            raise RuntimeError("sign in with the bidder's certificates first (sign_in)")
        return self.credentials

    async def request(self, method: str, url: str, *, authenticated: bool = True, **options: Any) -> Any:
        """Any API call as this client's session: the JSON answer, or :class:`BidderError`
        carrying the server's problem (for what the methods above do not cover)."""
        return await self._json(method, url, authenticated=authenticated, **options)

    async def _json(self, method: str, url: str, *, authenticated: bool = True, headers: dict[str, str] | None = None,
                    **options: Any) -> Any:
        headers = dict(headers or {})
        if authenticated:
            if self._token is None:
                raise RuntimeError("sign in first")
            headers["authorization"] = f"Bearer {self._token}"
        response = await self.http.request(method, url, headers=headers, **options)
        if response.is_error:
            try:
                problem = response.json()
            except ValueError:
                problem = {"title": response.reason_phrase, "detail": response.text[:500]}
            raise BidderError(response.status_code, problem)
        return response.json() if response.content else None


# The chunk hashes the server accepts: header -> hex digest of a chunk. XXH3-128 runs at
# memory speed and only has to catch a damaged chunk (the whole file is checked against its
# SHA-256 at completion); X-Chunk-SHA256 is accepted as well.
CHUNK_HASHES: dict[str, Callable[[bytes], str]] = {
    "X-Chunk-XXH3-128": xxhash.xxh3_128_hexdigest,
    "X-Chunk-SHA256": lambda chunk: hashlib.sha256(chunk).hexdigest(),
}


class ChunkReader:
    """The chunks of a file with their hash, each read and hashed in a thread while the
    one before it is on the wire: the next chunk is read ahead as soon as one is handed out.

    A read-ahead that turns out useless (the server asked to resume elsewhere) is waited
    for and dropped. Use as ``async with ChunkReader(path, size) as reader``; send each
    chunk's digest in the header ``reader.header``."""

    def __init__(self, path: Path, chunk_size: int, header: str = "X-Chunk-XXH3-128") -> None:
        self.path = path
        self.chunk_size = chunk_size
        self.header = header
        self._digest = CHUNK_HASHES[header]
        self._fd = -1
        self._ahead: tuple[int, asyncio.Future[tuple[bytes, str]]] | None = None

    async def __aenter__(self) -> ChunkReader:
        self._fd = os.open(self.path, os.O_RDONLY)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._drop_ahead()
        os.close(self._fd)

    async def chunk_at(self, offset: int) -> tuple[bytes, str]:
        """The chunk starting at ``offset`` and its hex SHA-256 (empty at the end)."""
        if self._ahead is not None and self._ahead[0] == offset:
            read = self._ahead[1]
            self._ahead = None
        else:
            await self._drop_ahead()
            read = self._read(offset)
        chunk, digest = await read
        if chunk:
            self._ahead = (offset + len(chunk), self._read(offset + len(chunk)))
        return chunk, digest

    def _read(self, offset: int) -> asyncio.Future[tuple[bytes, str]]:
        return asyncio.ensure_future(asyncio.to_thread(self._read_and_hash, offset))

    def _read_and_hash(self, offset: int) -> tuple[bytes, str]:
        chunk = os.pread(self._fd, self.chunk_size, offset)
        return chunk, self._digest(chunk)

    async def _drop_ahead(self) -> None:
        if self._ahead is not None:
            read, self._ahead = self._ahead[1], None
            with contextlib.suppress(Exception):
                await read


async def send_chunks(reader: ChunkReader, start: int, size: int,
                      put: Callable[[int, bytes, str], Awaitable[dict[str, Any]]], in_flight: int) -> dict[str, Any]:
    """PUT the chunks of ``reader`` from ``start`` to ``size``, keeping up to ``in_flight``
    requests open so that a chunk travels while the server records the one before; return
    the answer to the last chunk. A failure is raised once the requests already sent have
    ended (the server's answer to them is its business; the caller asks where it stands)."""
    sending: collections.deque[asyncio.Task[dict[str, Any]]] = collections.deque()
    offset, answer = start, None
    try:
        while offset < size or sending:
            while offset < size and len(sending) < max(in_flight, 1):
                chunk, digest = await reader.chunk_at(offset)
                if not chunk:
                    raise ValueError(f"the file ended at byte {offset}, before the {size} bytes announced")
                sending.append(asyncio.ensure_future(put(offset, chunk, digest)))
                offset += len(chunk)
            answer = await sending.popleft()
    finally:
        if sending:
            await asyncio.gather(*sending, return_exceptions=True)
    assert answer is not None, "nothing left to send"
    return answer


def _size_and_hash(path: Path) -> tuple[int, str]:
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            hasher.update(block)
            size += len(block)
    return size, hasher.hexdigest()
