"""Builders for bid tests: a platform TSA, sealed envelopes, signed statements, completed
uploads and submitted bids, through the services (not by writing rows)."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.demo_pki import DemoCA, Usage
from ca_interop.envelopes import seal
from ca_interop.timestamps import TimestampAuthority
from core.actors import Role
from tests.factories import PASSWORD, make_user
from tests.trading.factories import Bidder, OpenLot, TradingCA
from trading import bids, uploads
from trading.bid_models import Bid, Upload
from trading.bid_schemas import BidSubmit, UploadCreate
from web.client import sign_challenge
from web.routes_bids import bid_services
from web.runtime import Runtime


def demo_tsa() -> TimestampAuthority:
    ca = DemoCA.create("Platform TSA CA", "ecdsa")
    issued = ca.issue("Platform TSA", usage=Usage.TIMESTAMPING)
    return TimestampAuthority(issued.key, issued.cert, [ca.cert])


def install_tsa(runtime: Runtime) -> TimestampAuthority:
    """A demo platform TSA in place of the one ``runtime`` would load from its files."""
    runtime._tsa = demo_tsa()
    return runtime._tsa


def prepare_runtime(runtime: Runtime, ca: TradingCA) -> bids.BidServices:
    """Point the runtime at the test CA's revocation data and a demo TSA."""
    runtime.revocation = ca.revocation
    if runtime._tsa is None:
        install_tsa(runtime)
    return bid_services(runtime)


@dataclass
class Envelope:
    path: Path
    sha256: str
    size: int


def sealed_envelope(directory: Path, bidder: Bidder, lot: OpenLot, content: bytes | None = None,
                    name: str = "bid") -> Envelope:
    """Seal ``content`` (default: random bytes) to the bidder and the lot's opening certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    plain = directory / f"{name}.zip"
    plain.write_bytes(content if content is not None else os.urandom(3000))
    recipients = [bidder.encryption.cert]
    if lot.opening_key is not None:
        recipients.append(lot.opening_key.certificate)
    path = directory / f"{name}.p7m"
    seal(plain, recipients, path)
    return file_envelope(path)


def file_envelope(path: Path) -> Envelope:
    data = path.read_bytes()
    return Envelope(path, hashlib.sha256(data).hexdigest(), len(data))


def sign_statement(bidder: Bidder, lot_code: str, sha256: str, signer: object | None = None) -> str:
    issued = signer or bidder.signing
    return sign_challenge(bids.bid_statement(lot_code, sha256).decode(), issued.key_pem, issued.cert_pem)  # type: ignore[attr-defined]


async def _pieces(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def completed_upload(session: AsyncSession, spool: uploads.UploadSpool, bidder: Bidder, lot_id: int,
                           envelope: Envelope, *, max_bytes: int = 1 << 30) -> Upload:
    """An upload through the service functions, all within ``session`` (its spool file is
    made at once: there is no commit here to wait for)."""
    upload = await uploads.create_upload(session, bidder.actor, lot_id,
                                         UploadCreate(size=envelope.size, sha256=envelope.sha256),
                                         max_bytes=max_bytes, spool=spool)
    spool.create(upload.id)
    data = envelope.path.read_bytes()
    with spool.locked(upload.id) as file:
        target = await uploads.prepare_chunk(session, bidder.actor, upload.id, 0, 0)
        claimed = [uploads.ChunkDigest(uploads.CHUNK_HASHES["sha256"], envelope.sha256)]
        received = await uploads.receive_chunk(file, target, _pieces(data), claimed=claimed, content_length=None)
        return await uploads.record_chunk(session, upload.id, 0, received)


async def submitted_bid(session: AsyncSession, services: bids.BidServices, bidder: Bidder, lot: OpenLot,
                        directory: Path) -> Bid:
    envelope = sealed_envelope(directory, bidder, lot, name=f"bid-{bidder.party.id}-{os.urandom(3).hex()}")
    upload = await completed_upload(session, services.spool, bidder, lot.lot.id, envelope)  # type: ignore[arg-type]
    data = BidSubmit(upload_id=upload.id, signature=sign_statement(bidder, lot.lot.code, envelope.sha256))
    return await bids.submit_bid(session, bidder.actor, lot.lot.id, data, services)  # type: ignore[arg-type]


# --- over HTTP ----------------------------------------------------------------------------


async def token_for(session: AsyncSession, bidder: Bidder | None = None, role: Role | None = None) -> str:
    """A session token for the bidder's user (or a new user with ``role``)."""
    from identities import service

    user = bidder.user if bidder else await make_user(session, role or Role.ADMIN)
    _, raw = await service.sign_in(session, user.username, PASSWORD, source_address="127.0.0.1", hours=1)
    return raw


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def http_upload(client: httpx.AsyncClient, token: str, lot_id: int, envelope: Envelope,
                      chunk_size: int = 4096) -> dict:
    created = await client.post(f"/lots/{lot_id}/uploads", json={"size": envelope.size, "sha256": envelope.sha256},
                                headers=auth(token))
    assert created.status_code == 201, created.text
    upload = created.json()
    data = envelope.path.read_bytes()
    for start in range(0, len(data), chunk_size):
        chunk = data[start:start + chunk_size]
        response = await client.put(f"/uploads/{upload['id']}", params={"offset": start}, content=chunk,
                                    headers={**auth(token), "x-chunk-sha256": hashlib.sha256(chunk).hexdigest()})
        assert response.status_code == 200, response.text
        upload = response.json()
    assert upload["status"] == "complete"
    return upload


async def http_submit(client: httpx.AsyncClient, token: str, bidder: Bidder, lot: OpenLot, upload: dict,
                      signer: object | None = None) -> httpx.Response:
    signature = sign_statement(bidder, lot.lot.code, upload["sha256"], signer)
    return await client.post(f"/lots/{lot.lot.id}/bids", json={"upload_id": upload["id"], "signature": signature},
                             headers=auth(token))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()

