"""What a bidder (or a custodian) runs on its own machine at a remote opening.

    client = OpeningClient("https://bidhall.example", token)
    async for entry in follow_opening("https://bidhall.example", token, lot_id):
        ...                                          # the opening, live, resumed after drops
    client.hand_over_key(lot_id, bid_id, enc_key, enc_cert)   # unwrapped here, key handed over
    client.confirm_record(lot_id, sign_key, sign_cert, chain)  # a detached CMS signature
    client.hand_over_share(lot_id, custodian_key, custodian_cert)  # a custodian's share

Private keys never leave this process: the platform receives a content key (good for
this one envelope, and only once the opening has begun), a decrypted key share, or a
signature.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from ca_interop.envelopes import SourceLike, load_certificate, unwrap_content_key
from ca_interop.opening_keys import OpeningKeyRecord, decrypt_share
from ca_interop.signatures import sign_detached

RECONNECT_DELAY = 0.5


class OpeningRefused(Exception):
    """The platform refused a step; ``problem`` is its RFC 9457 problem document."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title") or "refused")
        self.problem = problem


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {"status": response.status_code, "detail": response.text}
        raise OpeningRefused(body)
    return response


class OpeningClient:
    """The HTTP side of the opening, for a signed-in user (``token``)."""

    def __init__(self, base_url: str, token: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, transport=transport, timeout=120,
                                 headers={"authorization": f"Bearer {token}"})

    def close(self) -> None:
        self.http.close()

    def opening(self, lot_id: int) -> dict[str, Any]:
        return dict(_checked(self.http.get(f"/lots/{lot_id}/opening")).json())

    def envelope_head(self, lot_id: int, bid_id: int) -> bytes:
        """The recipient infos of one's own envelope (a few hundred bytes)."""
        return _checked(self.http.get(f"/lots/{lot_id}/opening/bids/{bid_id}/envelope-head")).content

    def hand_over_key(self, lot_id: int, bid_id: int, key: Any, cert: Any, *,
                      envelope: SourceLike | None = None) -> dict[str, Any]:
        """Unwrap the bid's content key here with the bidder's encryption key (from the
        local envelope, or from its head fetched from the platform) and hand it over."""
        source = envelope if envelope is not None else self.envelope_head(lot_id, bid_id)
        content_key = unwrap_content_key(source, key, cert)
        body = {"bid_id": bid_id, "content_key": base64.b64encode(content_key).decode("ascii")}
        return dict(_checked(self.http.post(f"/lots/{lot_id}/opening/keys", json=body)).json())

    def record(self, lot_id: int) -> bytes:
        """The opening record's canonical bytes (what is signed)."""
        return _checked(self.http.get(f"/lots/{lot_id}/opening/record")).content

    def confirm_record(self, lot_id: int, key: Any, cert: Any, chain: list[Any] | None = None) -> dict[str, Any]:
        """Sign the record as it is now with the bidder's signing key, and send the signature."""
        signature = sign_detached(self.record(lot_id), key, cert, chain=chain or [])
        body = {"signature": base64.b64encode(signature).decode("ascii")}
        return dict(_checked(self.http.post(f"/lots/{lot_id}/opening/confirmations", json=body)).json())

    def raise_objection(self, lot_id: int, text: str) -> dict[str, Any]:
        return dict(_checked(self.http.post(f"/lots/{lot_id}/opening/objections", json={"text": text})).json())

    def hand_over_share(self, lot_id: int, custodian_key: Any, custodian_cert: Any) -> dict[str, Any]:
        """A custodian's step: decrypt one's own share of the lot's opening key here, hand
        the share over."""
        record = OpeningKeyRecord.from_dict(_checked(self.http.get(f"/lots/{lot_id}/opening/key-record")).json())
        certificate = load_certificate(custodian_cert)
        share = decrypt_share(record.share_for(certificate), custodian_key, certificate)
        body = {"index": share.index, "value": base64.b64encode(share.value).decode("ascii"),
                "custodian_certificate": _pem(certificate)}
        return dict(_checked(self.http.post(f"/lots/{lot_id}/opening/shares", json=body)).json())


def _pem(certificate: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    return str(certificate.public_bytes(Encoding.PEM).decode("ascii"))


def channel_url(base_url: str, lot_id: int, from_seq: int) -> str:
    scheme, _, rest = base_url.partition("://")
    ws = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    return f"{ws}://{rest.rstrip('/')}/ws/openings/{lot_id}?from={from_seq}"


async def follow_opening(base_url: str, token: str, lot_id: int, *, from_seq: int = 0,
                         reconnect: bool = True) -> AsyncIterator[dict[str, Any]]:
    """Every entry of the opening, in order, from ``from_seq`` on; after a dropped
    connection it reconnects from the entry after the last one received, so none is
    missed or repeated."""
    import websockets

    position = from_seq
    while True:
        try:
            async with websockets.connect(channel_url(base_url, lot_id, position), max_size=None) as socket:
                await socket.send(json.dumps({"type": "auth", "token": token}))
                async for raw in socket:
                    message = json.loads(raw)
                    if message["type"] == "error":
                        raise OpeningRefused(message["problem"])
                    if message["type"] == "entry":
                        position = int(message["entry"]["seq"]) + 1
                        yield message["entry"]
        except (OSError, websockets.ConnectionClosed):
            if not reconnect:
                raise
        await asyncio.sleep(RECONNECT_DELAY)


class OpeningChannel:
    """Messages over the live channel: each carries an id, so sending it again (after a
    dropped connection, say) is answered with the first reply and applied once."""

    def __init__(self, base_url: str, token: str, lot_id: int, *, from_seq: int = 0) -> None:
        self.url = channel_url(base_url, lot_id, from_seq)
        self.token = token
        self.entries: list[dict[str, Any]] = []
        self._socket: Any = None

    async def __aenter__(self) -> OpeningChannel:
        import websockets

        self._socket = await websockets.connect(self.url, max_size=None)
        await self._socket.send(json.dumps({"type": "auth", "token": self.token}))
        ready = json.loads(await self._socket.recv())
        if ready["type"] != "ready":
            raise OpeningRefused(ready.get("problem", {}))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._socket.close()

    async def send(self, kind: str, *, message_id: str | None = None, **fields: Any) -> dict[str, Any]:
        """Send one message and wait for its reply (entries arriving meanwhile are kept in
        ``entries``)."""
        message_id = message_id or uuid.uuid4().hex
        await self._socket.send(json.dumps({"id": message_id, "type": kind, **fields}))
        while True:
            message = json.loads(await self._socket.recv())
            if message["type"] == "entry":
                self.entries.append(message["entry"])
            elif message["type"] == "reply" and message.get("id") == message_id:
                return dict(message)

    async def hand_over_key(self, bid_id: int, envelope: SourceLike | Path, key: Any, cert: Any, *,
                            message_id: str | None = None) -> dict[str, Any]:
        content_key = unwrap_content_key(envelope, key, cert)
        return await self.send("hand_over_key", message_id=message_id, bid_id=bid_id,
                               content_key=base64.b64encode(content_key).decode("ascii"))
