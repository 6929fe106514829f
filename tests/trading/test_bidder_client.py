"""The bidder's client end to end: against the app in process, and once against a real
uvicorn server where a connection really drops in the middle of a chunk."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from ca_interop.demo_pki_set import crl_mirror_path
from core.database import Database
from tests.factories import PASSWORD
from tests.trading.bid_factories import demo_tsa, prepare_runtime
from tests.trading.factories import Bidder, OpenLot, make_bidder, open_lot, trusted_ca
from web.bidder_client import BidderClient, BidderCredentials, BidderError
from web.runtime import Runtime


def _credentials(bidder: Bidder) -> BidderCredentials:
    return BidderCredentials(signing_key_pem=bidder.signing.key_pem, signing_cert_pem=bidder.signing.cert_pem,
                             encryption_cert_pem=bidder.encryption.cert_pem)


def _lot_view(made: OpenLot) -> dict:
    """What GET /projects/{id} shows of a lot, as far as bidding needs."""
    assert made.opening_key is not None
    return {"id": made.lot.id, "code": made.lot.code,
            "opening_certificate_pem": made.opening_key.certificate_pem.decode(),
            "opening_certificate_fingerprint": made.lot.opening_certificate_fingerprint}


class DropOnce(httpx.AsyncBaseTransport):
    """Loses the connection once, on the n-th chunk: before the server sees it, or after
    the server took it but before its answer arrives."""

    def __init__(self, inner: httpx.AsyncBaseTransport, on_chunk: int, after: bool) -> None:
        self.inner, self.on_chunk, self.after, self.chunks = inner, on_chunk, after, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            self.chunks += 1
            if self.chunks == self.on_chunk:
                if self.after:
                    await self.inner.handle_async_request(request)
                raise httpx.ReadError("connection reset by peer")
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize("after", [False, True])
async def test_seal_upload_submit_and_verify(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path,
                                             after: bool) -> None:
    async with runtime.database.transaction() as session:
        ca = await trusted_ca(session)
        bidder = await make_bidder(session, ca)
        made = await open_lot(session)
    prepare_runtime(runtime, ca)
    dropping = httpx.AsyncClient(transport=DropOnce(client._transport, on_chunk=3, after=after),
                                 base_url="http://testserver")
    bidder_client = BidderClient("http://testserver", http=dropping)
    await bidder_client.bind_certificate(bidder.user.username, PASSWORD, _credentials(bidder))
    await bidder_client.sign_in(_credentials(bidder))
    content = tmp_path / "bid.zip"
    content.write_bytes(os.urandom(300_000))
    lot = _lot_view(made)
    with pytest.raises(ValueError, match="not the published"):
        bidder_client.seal_bid(content, {**lot, "opening_certificate_fingerprint": "0" * 64})
    envelope = bidder_client.seal_bid(content, lot)
    upload = await bidder_client.upload(made.lot.id, envelope, chunk_size=64 * 1024)
    assert upload["status"] == "complete" and upload["sha256"] == hashlib.sha256(envelope.read_bytes()).hexdigest()
    submitted = await bidder_client.submit(lot, upload)
    assert await bidder_client.verify_receipt(submitted["receipt"]) == []
    receipt = await bidder_client.receipt(submitted["bid"]["id"])
    assert await bidder_client.verify_receipt(receipt) == []
    with pytest.raises(BidderError) as duplicate:
        await bidder_client.submit(lot, await bidder_client.upload(made.lot.id, bidder_client.seal_bid(content, lot)))
    assert duplicate.value.status == 409
    second = await bidder_client.upload(made.lot.id, bidder_client.seal_bid(content, lot))
    replaced = await bidder_client.replace(submitted["bid"]["id"], lot, second)
    assert replaced["bid"]["replaces_bid_id"] == submitted["bid"]["id"]
    withdrawn = await bidder_client.withdraw(replaced["bid"]["id"], "price error")
    assert withdrawn["status"] == "withdrawn"


# --- a real server ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(database: Database, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``uvicorn`` serving the app on the test database, with a demo TSA and CRL mirror."""
    data = tmp_path / "server"
    tsa = demo_tsa()
    (data / "tsa").mkdir(parents=True)
    (data / "tsa" / "tsa.key").write_bytes(tsa.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    (data / "tsa" / "chain.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in (tsa.cert, *tsa.chain)))
    port = _free_port()
    env = {**os.environ, "BIDHALL_DATABASE_URL": database.engine.url.render_as_string(hide_password=False),
           "BIDHALL_DATA_DIR": str(data), "BIDHALL_TSA_KEY_FILE": str(data / "tsa" / "tsa.key"),
           "BIDHALL_TSA_CERT_FILE": str(data / "tsa" / "chain.pem"), "BIDHALL_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "web.app:app_from_environment",
                                "--port", str(port), "--log-level", "warning"], env=env,
                               cwd=Path(__file__).parents[2], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("the server did not start")
        yield url, data
    finally:
        process.terminate()
        process.wait(timeout=20)


def _cut_off_chunk(url: str, token: str, upload_id: str, chunk: bytes) -> None:
    """Send half a chunk's body over a raw socket, then hang up."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as raw:
        head = (f"PUT /uploads/{upload_id}?offset=0 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                f"X-Chunk-SHA256: {hashlib.sha256(chunk).hexdigest()}\r\nContent-Length: {len(chunk)}\r\n\r\n")
        raw.sendall(head.encode() + chunk[:len(chunk) // 2])
        time.sleep(0.3)
    time.sleep(0.5)


async def test_against_a_real_server_with_a_dropped_connection(
    database: Database, served: tuple[str, Path], tmp_path: Path
) -> None:
    url, data = served
    async with database.transaction() as session:
        ca = await trusted_ca(session)
        bidder = await make_bidder(session, ca)
        made = await open_lot(session)
    mirror = crl_mirror_path(data / "pki" / "crl", ca.ca.crl_url)
    mirror.parent.mkdir(parents=True, exist_ok=True)
    mirror.write_bytes(ca.ca.crl_der())
    bidder_client = BidderClient(url)
    try:
        await bidder_client.bind_certificate(bidder.user.username, PASSWORD, _credentials(bidder))
        await bidder_client.sign_in(_credentials(bidder))
        content = tmp_path / "bid.zip"
        content.write_bytes(os.urandom(3_000_000))
        lot = _lot_view(made)
        envelope = bidder_client.seal_bid(content, lot)
        size = envelope.stat().st_size
        created = await bidder_client._json("POST", f"/lots/{made.lot.id}/uploads", json={
            "size": size, "sha256": hashlib.sha256(envelope.read_bytes()).hexdigest()})
        _cut_off_chunk(url, bidder_client._token, created["id"], envelope.read_bytes()[:2_000_000])  # type: ignore[arg-type]
        state = await bidder_client._json("GET", f"/uploads/{created['id']}")
        assert state["received"] == 0 and state["status"] == "receiving"
        assert (data / "uploads" / f"{created['id']}.part").stat().st_size == 0, "no garbage beyond received"
        upload = await bidder_client.resume_upload(created["id"], envelope, chunk_size=1_000_000)
        assert upload["status"] == "complete"
        submitted = await bidder_client.submit(lot, upload)
        assert await bidder_client.verify_receipt(submitted["receipt"]) == []
    finally:
        await bidder_client.aclose()


class NoSharedLines(dict):  # type: ignore[type-arg]
    """As if every chunk reached a server process of its own: no line is shared."""

    def __setitem__(self, key: str, value: object) -> None:
        pass

    def __delitem__(self, key: str) -> None:
        pass


async def _sealed_over(runtime: Runtime, transport: httpx.AsyncBaseTransport, tmp_path: Path,
                       size: int) -> tuple[BidderClient, OpenLot, Path]:
    """A signed-in bidder whose requests go through ``transport``, an open lot, and a
    sealed bid of ``size`` random bytes for it."""
    async with runtime.database.transaction() as session:
        ca = await trusted_ca(session)
        bidder = await make_bidder(session, ca)
        made = await open_lot(session)
    prepare_runtime(runtime, ca)
    bidder_client = BidderClient("http://testserver", http=httpx.AsyncClient(transport=transport,
                                                                           base_url="http://testserver"))
    await bidder_client.bind_certificate(bidder.user.username, PASSWORD, _credentials(bidder))
    await bidder_client.sign_in(_credentials(bidder))
    content = tmp_path / "bid.zip"
    content.write_bytes(os.urandom(size))
    return bidder_client, made, bidder_client.seal_bid(content, _lot_view(made))


async def test_chunks_in_flight_fall_back_to_one_when_processes_refuse_the_second(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trading import upload_lines

    monkeypatch.setattr(upload_lines, "_lines", NoSharedLines())
    refused: list[str] = []

    class Watch(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await client._transport.handle_async_request(request)
            if request.method == "PUT" and response.status_code == 409:
                refused.append(request.url.params["offset"])
            return response

    bidder_client, made, envelope = await _sealed_over(runtime, Watch(), tmp_path, 400_000)
    upload = await bidder_client.upload(made.lot.id, envelope, chunk_size=32 * 1024, in_flight=2)
    assert upload["status"] == "complete" and upload["received"] == envelope.stat().st_size
    assert len(refused) <= 2, f"one round of refusals, then one chunk at a time: {refused}"


# (the threshold, the added latency): what the client measures must be above (or far
# below) the threshold whatever else the machine is doing
@pytest.mark.parametrize(("long_round_trip", "latency", "expected_at_once"), [(10.0, 0.0, 1), (0.02, 0.05, 2)])
async def test_the_client_keeps_two_chunks_on_their_way_on_a_long_round_trip(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        long_round_trip: float, latency: float, expected_at_once: int) -> None:
    import asyncio

    from web import bidder_client as module

    monkeypatch.setattr(module, "LONG_ROUND_TRIP_SECONDS", long_round_trip)
    open_now, most_at_once = 0, 0

    class Link(httpx.AsyncBaseTransport):
        """The platform ``latency`` seconds away, counting the chunks on their way at once."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal open_now, most_at_once
            putting = request.method == "PUT"
            open_now += putting
            most_at_once = max(most_at_once, open_now)
            try:
                await asyncio.sleep(latency)
                return await client._transport.handle_async_request(request)
            finally:
                open_now -= putting

    bidder_client, made, envelope = await _sealed_over(runtime, Link(), tmp_path, 200_000)
    upload = await bidder_client.upload(made.lot.id, envelope, chunk_size=32 * 1024)
    assert upload["status"] == "complete" and upload["received"] == envelope.stat().st_size
    assert most_at_once == expected_at_once
