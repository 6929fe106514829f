"""What an expert (or a bidder, or centre staff) runs to take part in an evaluation session.

    client = await connect("https://bidhall.example", token, session_id)
    await client.sign_in("main hall", key, cert)          # signs the sign-in statement here
    await client.declare()
    entry = await client.wait_for("evaluation.stage_changed")
    reply = await client.score(bid_id, {"technical": "27.5"})
    await client.sign_report(key, cert)                    # downloads the report, signs it here
    await client.close()

The client keeps one websocket to ``/ws/evaluations/{id}`` and survives drops: it
reconnects from the entry after the last one received (``entries`` holds each entry once,
in order, deduplicated by ``seq``), and sends again every message still waiting for its
reply *with the same id*, so the server applies it once and answers with the first reply.
A message refused as rate-limited is sent again (same id) after the delay the server
names. Private keys never leave this process: the server receives signatures only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import websockets

from ca_interop.signatures import sign_detached

RECONNECT_DELAY = 0.2
"""Seconds between a dropped connection and the next attempt."""
REPLY_TIMEOUT = 60.0
"""Seconds :meth:`ExpertClient.send` waits for a reply (across reconnects)."""

Entry = dict[str, Any]
Match = Callable[[Entry], bool] | str


class EvaluationRefused(Exception):
    """The platform refused the connection or a step; ``problem`` is its RFC 9457 document."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title") or "refused")
        self.problem = problem


def expect_ok(reply: dict[str, Any]) -> dict[str, Any]:
    """The result of an accepted message; a refused one raises :class:`EvaluationRefused`."""
    if not reply.get("ok"):
        raise EvaluationRefused(reply.get("problem") or {"detail": "refused"})
    return dict(reply.get("result") or {})


def channel_url(base_url: str, session_id: int, from_seq: int) -> str:
    scheme, _, rest = base_url.partition("://")
    ws = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    return f"{ws}://{rest.rstrip('/')}/ws/evaluations/{session_id}?from={from_seq}"


def sign_in_statement(session_id: int, user_id: int, venue: str) -> bytes:
    """What an expert signs to sign in at a venue."""
    return f"bidhall-evaluation-sign-in\n{session_id}\n{user_id}\n{venue}\n".encode()


def clarification_statement(clarification_id: int, answer: str) -> bytes:
    """What a bidder signs to answer a clarification request."""
    return f"bidhall-evaluation-clarification\n{clarification_id}\n".encode() + answer.encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class ExpertClient:
    """One participant's live connection to one session (see the module docstring)."""

    def __init__(self, base_url: str, token: str, session_id: int, *, from_seq: int = 0,
                 retry_rate_limited: bool = True, reply_timeout: float = REPLY_TIMEOUT,
                 on_entry: Callable[[Entry], None] | None = None) -> None:
        self.base_url = base_url
        self.token = token
        self.session_id = session_id
        self.entries: list[Entry] = []
        self.last_seq = from_seq - 1
        self.retry_rate_limited = retry_rate_limited
        self.reply_timeout = reply_timeout
        self.connections = 0
        self.on_entry = on_entry
        self._pending: dict[str, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._arrived = asyncio.Condition()
        self._socket: Any = None
        self._runner: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._fatal: EvaluationRefused | None = None
        self._user_id: int | None = None
        self._closing = False

    # --- the connection -----------------------------------------------------------------------

    async def start(self) -> ExpertClient:
        """Connect (and keep reconnecting in the background); returns once the first
        connection is ready, or raises :class:`EvaluationRefused`."""
        self._ready = asyncio.get_running_loop().create_future()
        self._runner = asyncio.ensure_future(self._run())
        await self._ready
        return self

    async def close(self) -> None:
        self._closing = True
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()  # a clean close (1000), not a cancelled read
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        self._fail_pending(EvaluationRefused({"detail": "the client was closed"}))

    async def __aenter__(self) -> ExpertClient:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def drop(self) -> None:
        """Close the current connection as a network failure would (the client reconnects)."""
        if self._socket is not None:
            await self._socket.close()

    async def _run(self) -> None:
        while True:
            try:
                await self._one_connection()
            except EvaluationRefused as refused:
                self._fatal = refused
                self._fail_pending(refused)
                if self._ready is not None and not self._ready.done():
                    self._ready.set_exception(refused)
                async with self._arrived:
                    self._arrived.notify_all()
                return
            except (OSError, websockets.ConnectionClosed, asyncio.TimeoutError, websockets.InvalidHandshake) as error:
                if self.connections == 0 and self._ready is not None and not self._ready.done():
                    self._ready.set_exception(error)  # never connected: the caller hears why
                    return
            finally:
                self._socket = None
            if self._closing:
                return
            await asyncio.sleep(RECONNECT_DELAY)

    async def _one_connection(self) -> None:
        url = channel_url(self.base_url, self.session_id, self.last_seq + 1)
        async with websockets.connect(url, max_size=None, open_timeout=30) as socket:
            await socket.send(json.dumps({"type": "auth", "token": self.token}))
            first = json.loads(await socket.recv())
            if first.get("type") == "error":
                raise EvaluationRefused(first.get("problem") or {})
            self._socket = socket
            self.connections += 1
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            for text, _future in list(self._pending.values()):  # unanswered: again, same id
                await socket.send(text)
            async for raw in socket:
                await self._received(json.loads(raw))

    async def _received(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "error":
            raise EvaluationRefused(message.get("problem") or {})
        if kind == "entry":
            entry = message["entry"]
            if int(entry["seq"]) > self.last_seq:  # a resent entry is dropped
                self.last_seq = int(entry["seq"])
                self.entries.append(entry)
                if self.on_entry is not None:
                    self.on_entry(entry)
                async with self._arrived:
                    self._arrived.notify_all()
        elif kind == "reply":
            await self._replied(message)

    async def _replied(self, reply: dict[str, Any]) -> None:
        waiting = self._pending.get(str(reply.get("id")))
        if waiting is None:  # a second reply to a message sent twice, or a malformed one's
            return
        text, future = waiting
        problem = reply.get("problem") or {}
        if not reply.get("ok") and problem.get("status") == 429 and self.retry_rate_limited:
            asyncio.get_running_loop().call_later(int(problem.get("retry_after_ms", 100)) / 1000,
                                                  self._resend, text)
            return
        self._pending.pop(str(reply.get("id")), None)
        if not future.done():
            future.set_result(reply)

    def _resend(self, text: str) -> None:
        if self._socket is not None:
            asyncio.ensure_future(self._socket.send(text))

    def _fail_pending(self, error: Exception) -> None:
        for _text, future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()

    # --- messages and entries -----------------------------------------------------------------

    async def send(self, kind: str, *, message_id: str | None = None, **fields: Any) -> dict[str, Any]:
        """Send one message and wait for its reply (``{"ok": ..., "result" | "problem"}``).

        Across a reconnect the message goes again with the same id; the reply is the first one."""
        if self._fatal is not None:
            raise self._fatal
        message_id = message_id or uuid.uuid4().hex
        text = json.dumps({"id": message_id, "type": kind, **fields}, default=_json_default)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = (text, future)
        if self._socket is not None:
            with contextlib.suppress(websockets.ConnectionClosed):  # resent on the next connection
                await self._socket.send(text)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.reply_timeout)
        finally:
            if not future.done():
                self._pending.pop(message_id, None)

    async def wait_for(self, match: Match, timeout: float = 30.0, *, after_seq: int = -1) -> Entry:
        """The first entry received (or to come) with ``seq > after_seq`` that matches: an
        event type, or a predicate over the entry."""
        def wanted(entry: Entry) -> bool:
            return entry["type"] == match if isinstance(match, str) else bool(match(entry))

        def found() -> Entry | None:
            return next((e for e in self.entries if e["seq"] > after_seq and wanted(e)), None)

        async def waiting() -> Entry:
            async with self._arrived:
                await self._arrived.wait_for(lambda: found() is not None or self._fatal is not None)
            if self._fatal is not None and found() is None:
                raise self._fatal
            return found()  # type: ignore[return-value]

        try:
            return await asyncio.wait_for(waiting(), timeout)
        except asyncio.TimeoutError:
            seen = [e["type"] for e in self.entries[-5:]]
            raise asyncio.TimeoutError(f"no matching entry within {timeout} s; the last ones: {seen}") from None

    # --- HTTP beside the channel ----------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=120,
                                 headers={"authorization": f"Bearer {self.token}"})

    async def _get(self, path: str) -> httpx.Response:
        async with self._http() as http:
            response = await http.get(path)
        if response.status_code >= 400:
            try:
                raise EvaluationRefused(response.json())
            except ValueError:
                raise EvaluationRefused({"status": response.status_code, "detail": response.text}) from None
        return response

    async def user_id(self) -> int:
        if self._user_id is None:
            self._user_id = int((await self._get("/auth/me")).json()["id"])
        return self._user_id

    async def session(self) -> dict[str, Any]:
        """The session as this participant may see it."""
        return dict((await self._get(f"/evaluations/{self.session_id}")).json())

    async def report(self) -> bytes:
        """The report's exact bytes (what members sign)."""
        return (await self._get(f"/evaluations/{self.session_id}/report")).content

    # --- what an expert does ---------------------------------------------------------------------

    async def sign_in(self, venue: str, key: Any, cert: Any, *, chain: list[Any] | None = None,
                      message_id: str | None = None) -> dict[str, Any]:
        statement = sign_in_statement(self.session_id, await self.user_id(), venue)
        signature = sign_detached(statement, key, cert, chain=chain or [])
        return await self.send("sign_in", message_id=message_id, venue=venue, signature=_b64(signature))

    async def declare(self, **options: Any) -> dict[str, Any]:
        return await self.send("declare", **options)

    async def recuse(self, reason: str, **options: Any) -> dict[str, Any]:
        return await self.send("recuse", reason=reason, **options)

    async def vote_chair(self, member_id: int, **options: Any) -> dict[str, Any]:
        return await self.send("vote_chair", member_id=member_id, **options)

    async def review(self, bid_id: int, marks: dict[str, dict[str, Any]], **options: Any) -> dict[str, Any]:
        """``marks``: ``{criterion: {"passed": bool, "reason": str | None}}`` (a fail needs a reason)."""
        return await self.send("review", bid_id=bid_id, marks=marks, **options)

    async def score(self, bid_id: int, scores: dict[str, Decimal | str | int], **options: Any) -> dict[str, Any]:
        return await self.send("score", bid_id=bid_id, scores={k: str(v) for k, v in scores.items()}, **options)

    async def confirm_score(self, bid_id: int, factor: str, reason: str, **options: Any) -> dict[str, Any]:
        return await self.send("confirm_score", bid_id=bid_id, factor=factor, reason=reason, **options)

    async def request_rescore(self, bid_id: int, factor: str, reason: str, **options: Any) -> dict[str, Any]:
        return await self.send("request_rescore", bid_id=bid_id, factor=factor, reason=reason, **options)

    async def ask_clarification(self, bid_id: int, question: str, minutes: int, **options: Any) -> dict[str, Any]:
        return await self.send("ask_clarification", bid_id=bid_id, question=question, minutes=minutes, **options)

    async def accept_results(self, **options: Any) -> dict[str, Any]:
        return await self.send("accept_results", **options)

    async def dissent(self, text: str, bid_id: int | None = None, **options: Any) -> dict[str, Any]:
        return await self.send("dissent", text=text, bid_id=bid_id, **options)

    async def sign_report(self, key: Any, cert: Any, report_bytes: bytes | None = None, *,
                          chain: list[Any] | None = None, **options: Any) -> dict[str, Any]:
        """Sign the report (downloaded now unless given) here and send the signature."""
        report = report_bytes if report_bytes is not None else await self.report()
        signature = sign_detached(report, key, cert, chain=chain or [])
        return await self.send("sign_report", signature=_b64(signature), **options)

    # --- what centre staff and bidders do ---------------------------------------------------------

    async def staff_check_in(self, venue: str, **options: Any) -> dict[str, Any]:
        """Go on duty at one venue of the session (staff confirm the experts of their own venue)."""
        return await self.send("staff_check_in", venue=venue, **options)

    async def confirm_identity(self, member_id: int, **options: Any) -> dict[str, Any]:
        return await self.send("confirm_identity", member_id=member_id, **options)

    async def answer_clarification(self, clarification_id: int, answer: str, key: Any, cert: Any, *,
                                   chain: list[Any] | None = None, **options: Any) -> dict[str, Any]:
        signature = sign_detached(clarification_statement(clarification_id, answer), key, cert, chain=chain or [])
        return await self.send("answer_clarification", clarification_id=clarification_id, answer=answer,
                               signature=_b64(signature), **options)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


async def connect(base_url: str, token: str, session_id: int, from_seq: int = 0, **options: Any) -> ExpertClient:
    """A connected :class:`ExpertClient` (close it with ``await client.close()``)."""
    return await ExpertClient(base_url, token, session_id, from_seq=from_seq, **options).start()
