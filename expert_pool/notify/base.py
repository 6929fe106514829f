"""The provider interface for telling drawn experts where and when to come, and hearing their answer.

A drawn expert gets a voice call (text-to-speech, "press 1 to accept, 2 to decline") and an SMS.
The answer comes back asynchronously: a keypress report from the voice provider, or an SMS reply.
No answer within the reply time counts as a decline; deciding that is the caller's job, not the
provider's.

Confidentiality (DOMAIN.md, "Expert pool"): a notification gives the time and the place of the
evaluation and nothing else. :class:`Invitation` therefore has no field that could name the project,
the lot, the tenderer or the bidders, and :class:`MessageTemplates` refuses any placeholder other
than ``{time}``, ``{place}`` and ``{deadline}``.

Everything here is pure data and text; no network, no settings, no database. The concrete providers
are :mod:`expert_pool.notify.aliyun`, :mod:`expert_pool.notify.tencent` and
:mod:`expert_pool.notify.simulator`.

Callback contract for the HTTP endpoint written on top of this interface::

    try:
        events = provider.parse_callback(request.headers, body, path=target, remote_addr=client_ip)
    except CallbackRejected as exc:
        return 403 (log exc.reason; the provider will retry a few times, then give up)
    persist events, deduplicated by event.dedup_key (providers re-push on timeouts)
    status, headers, body = provider.callback_ack(events)   # only after the events are stored
    (on a storage failure answer 5xx instead: the provider pushes again later)

``target`` is the request path *with* its query string, because the shared secret of a provider that
cannot sign its pushes travels in the URL registered with that provider (see :class:`CallbackAuth`).
"""

from __future__ import annotations

import hmac
import json
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

Channel = Literal["sms", "call"]
EventKind = Literal["answer", "delivery"]
AnswerValue = Literal["accepted", "declined"]

#: Largest callback body accepted; provider pushes are small JSON arrays.
MAX_CALLBACK_BYTES = 1 << 20

#: Shortest shared secret accepted for callback authentication.
MIN_TOKEN_LENGTH = 16


# --------------------------------------------------------------------------------------------------
# errors


class ProviderError(Exception):
    """A provider refused a request, answered something unreadable, or could not be reached.

    ``code`` and ``message`` are the provider's own (Aliyun ``Code``/``Message``, Tencent
    ``Error.Code``/``Error.Message`` or the per-number ``SendStatus.Code``); ``NETWORK`` and
    ``HTTP_<status>`` / ``BAD_RESPONSE`` are ours. ``retryable`` says a later retry may succeed;
    ``maybe_sent`` says the request may have reached the provider anyway (a timeout after the
    request was written), so a blind retry can notify the expert twice: neither provider
    deduplicates sends.
    """

    def __init__(self, provider: str, code: str, message: str, *, request_id: str | None = None,
                 http_status: int | None = None, retryable: bool = False, maybe_sent: bool = False) -> None:
        super().__init__(f"{provider}: {code}: {message}" + (f" (request {request_id})" if request_id else ""))
        self.provider = provider
        self.code = code
        self.message = message
        self.request_id = request_id
        self.http_status = http_status
        self.retryable = retryable
        self.maybe_sent = maybe_sent


class ChannelNotSupported(ProviderError):
    """The provider has no such channel (Tencent Cloud SMS places no calls)."""

    def __init__(self, provider: str, channel: str) -> None:
        super().__init__(provider, "CHANNEL_NOT_SUPPORTED", f"{provider} cannot send {channel}")


class CallbackRejected(ValueError):
    """A callback was not accepted: bad or missing shared secret, disallowed source, unreadable
    body or a shape this provider does not send. ``reason`` is for the log, not for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------------
# the data that crosses the interface


@dataclass(frozen=True)
class Invitation:
    """What a drawn expert is told: when and where. Never the project.

    ``reference`` is our id for this call (a draw call id); it travels as Aliyun ``OutId`` /
    Tencent ``SessionContext`` and comes back in the provider's reports where the provider supports
    it. Aliyun voice limits ``OutId`` to 15 bytes, so keep references short (a decimal row id).
    ``evaluation_time`` and ``reply_deadline`` must be timezone-aware; they are shown in
    Asia/Shanghai. ``phone`` is a mainland number (``13800138000``, ``+8613800138000``) or an
    international one with ``+`` and country code.
    """

    reference: str
    phone: str
    evaluation_time: datetime
    place: str
    reply_deadline: datetime
    language: Literal["zh", "en"] = "zh"

    def __post_init__(self) -> None:
        if not self.reference or not self.reference.strip():
            raise ValueError("invitation reference is empty")
        for name in ("evaluation_time", "reply_deadline"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"invitation {name} must be a timezone-aware datetime")
        if not self.place or not self.place.strip():
            raise ValueError("invitation place is empty")
        if self.language not in ("zh", "en"):
            raise ValueError(f"unsupported language {self.language!r}")
        normalize_phone(self.phone)  # raises on garbage


@dataclass(frozen=True)
class ProviderReceipt:
    """What the provider said when it took the request: its id for the message or call (the key of
    its later reports) and the request id to quote to its support."""

    provider: str
    channel: Channel
    provider_id: str
    request_id: str | None
    our_reference: str


@dataclass(frozen=True)
class CallbackEvent:
    """One normalized report from a provider callback.

    - ``kind == "answer"``: the expert responded. ``answer`` is ``"accepted"`` / ``"declined"``, or
      ``None`` when the keypress or reply could not be understood (e.g. key 5, reply "maybe");
      treat that like no answer and perhaps tell staff.
    - ``kind == "delivery"``: a delivery or call-progress report. ``delivered`` is True (SMS reached
      the handset / call was picked up), False (failed / not answered / unreachable) or None
      (intermediate progress only).

    ``provider_id`` is the provider's message/call id (Aliyun ``BizId``/``CallId``, Tencent
    ``SerialNo``) or, for SMS replies, a stable id of the reply. ``our_reference`` is the
    invitation reference when the provider echoes it (Aliyun ``out_id``), else None: then match on
    ``provider_id`` (from the :class:`ProviderReceipt`) or, for SMS replies, on ``phone``. ``phone``
    is normalized by :func:`normalize_phone`. ``status`` is the provider's status code
    (``DELIVERED``, ``200003``, ``SUCCESS``...). ``occurred_at`` is the provider's time for the
    event when it gives one (UTC), which may be well before the push arrives (providers retry).
    """

    provider: str
    provider_id: str
    our_reference: str | None
    kind: EventKind
    answer: AnswerValue | None
    delivered: bool | None
    raw: dict[str, Any] = field(hash=False)
    channel: Channel = "sms"
    phone: str | None = None
    status: str = ""
    occurred_at: datetime | None = None

    @property
    def dedup_key(self) -> str:
        """The same report pushed twice gives the same key. Answers are keyed without the status,
        so an answer reported both by an intermediate and a final voice report collapses into one;
        delivery reports keep the status so progress and the final result stay distinct."""
        if self.kind == "answer":
            return f"{self.provider}:answer:{self.channel}:{self.provider_id}"
        return f"{self.provider}:delivery:{self.channel}:{self.provider_id}:{self.status}"


@runtime_checkable
class NotificationProvider(Protocol):
    """One SMS/voice provider. Implementations: Aliyun (SMS and voice), Tencent Cloud (SMS only)
    and the local simulator."""

    name: str
    channels: frozenset[str]

    async def send_sms(self, invitation: Invitation) -> ProviderReceipt: ...

    async def place_call(self, invitation: Invitation) -> ProviderReceipt: ...

    def parse_callback(self, headers: Mapping[str, str], body: bytes, *, path: str,
                       remote_addr: str | None = None) -> list[CallbackEvent]: ...

    def callback_ack(self, events: Sequence[CallbackEvent]) -> tuple[int, dict[str, str], bytes]: ...


# --------------------------------------------------------------------------------------------------
# message text


_ALLOWED_FIELDS = frozenset({"time", "place", "deadline"})


def _check_template(name: str, text: str) -> None:
    for _literal, field_name, _spec, _conversion in string.Formatter().parse(text):
        if field_name is None:
            continue
        if field_name not in _ALLOWED_FIELDS:
            raise ValueError(
                f"template {name} uses {{{field_name}}}: notifications may only give the time and place "
                f"(allowed: {', '.join(sorted(_ALLOWED_FIELDS))})")


@dataclass(frozen=True)
class MessageTemplates:
    """The texts an expert reads or hears. The real providers send only the parameters
    (:meth:`params`) to a template registered and approved in their console, which must say the
    same thing; the simulator renders these texts so the demo shows what the expert gets.

    Placeholders: ``{time}``, ``{place}`` and, if you want it, ``{deadline}`` (reply-by time).
    Anything else is refused at construction.
    """

    sms_zh: str = "您被抽取参加评标。时间：{time}，地点：{place}。请回复1确认参加，回复2拒绝。"
    voice_zh: str = "您被抽取参加评标。时间：{time}，地点：{place}。按1确认，按2拒绝。"
    sms_en: str = ("You have been selected for a bid evaluation. Time: {time}. Place: {place}. "
                   "Reply 1 to accept or 2 to decline.")
    voice_en: str = ("You have been selected for a bid evaluation. Time: {time}. Place: {place}. "
                     "Press 1 to accept, 2 to decline.")
    time_format_zh: str = "%Y年%m月%d日 %H:%M"
    time_format_en: str = "%Y-%m-%d %H:%M (Beijing time)"

    def __post_init__(self) -> None:
        for name in ("sms_zh", "voice_zh", "sms_en", "voice_en"):
            _check_template(name, getattr(self, name))

    def format_time(self, moment: datetime, language: str = "zh") -> str:
        fmt = self.time_format_en if language == "en" else self.time_format_zh
        return moment.astimezone(SHANGHAI).strftime(fmt)

    def params(self, invitation: Invitation) -> dict[str, str]:
        """Template parameters: ``time``, ``place`` and ``deadline``. Providers send the subset their
        registered template uses (``time`` and ``place`` by default)."""
        return {
            "time": self.format_time(invitation.evaluation_time, invitation.language),
            "place": invitation.place.strip(),
            "deadline": self.format_time(invitation.reply_deadline, invitation.language),
        }

    def render_sms(self, invitation: Invitation) -> str:
        text = self.sms_en if invitation.language == "en" else self.sms_zh
        return text.format(**self.params(invitation))

    def render_voice(self, invitation: Invitation) -> str:
        text = self.voice_en if invitation.language == "en" else self.voice_zh
        return text.format(**self.params(invitation))


DEFAULT_TEMPLATES = MessageTemplates()


def select_params(all_params: Mapping[str, str], names: Mapping[str, str]) -> dict[str, str]:
    """Map our parameter names to the names the registered template uses:
    ``names = {"time": "time", "place": "place"}`` (ours -> theirs)."""
    unknown = set(names) - _ALLOWED_FIELDS
    if unknown:
        raise ValueError(f"unknown template parameter(s) {sorted(unknown)}; allowed: {sorted(_ALLOWED_FIELDS)}")
    return {theirs: all_params[ours] for ours, theirs in names.items()}


# --------------------------------------------------------------------------------------------------
# SMS replies


#: Normalized reply text -> answer. Replies are NFKC-normalized (full-width digits become ASCII),
#: stripped of spaces and trailing punctuation, and upper-cased before lookup.
DEFAULT_REPLY_WORDS: Mapping[str, AnswerValue] = {
    "1": "accepted", "Y": "accepted", "YES": "accepted", "是": "accepted", "确认": "accepted",
    "同意": "accepted", "参加": "accepted", "接受": "accepted",
    "2": "declined", "N": "declined", "NO": "declined", "否": "declined", "拒绝": "declined",
    "不参加": "declined", "不同意": "declined",
}

_TRAILING = "。.!！,，;；~～ "


def parse_reply_text(text: str | None, words: Mapping[str, AnswerValue] = DEFAULT_REPLY_WORDS) -> AnswerValue | None:
    """The answer an SMS reply (or a DTMF string) means, or None when it is not understood."""
    if text is None:
        return None
    normalized = unicodedata.normalize("NFKC", str(text)).strip().strip(_TRAILING).upper()
    normalized = "".join(normalized.split())
    return words.get(normalized)


def parse_dtmf(dtmf: str | None) -> AnswerValue | None:
    """Keypad answer: exactly "1" accepts, exactly "2" declines (trailing ``#`` ignored)."""
    if dtmf is None:
        return None
    key = str(dtmf).strip().rstrip("#")
    return {"1": "accepted", "2": "declined"}.get(key)


# --------------------------------------------------------------------------------------------------
# phones


def normalize_phone(phone: str) -> str:
    """Mainland numbers become their 11 national digits (``+86``/``0086``/``86`` prefixes dropped);
    other numbers keep ``+`` and the country code. Raises ValueError on anything else."""
    text = "".join(str(phone).split()).replace("-", "")
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("86") and len(text) == 13:
        text = text[2:]
    if text.startswith("+"):
        digits = text[1:]
        if not digits.isdigit() or not 6 <= len(digits) <= 15:
            raise ValueError(f"not a phone number: {phone!r}")
        return text
    if not text.isdigit() or not 5 <= len(text) <= 15:
        raise ValueError(f"not a phone number: {phone!r}")
    return text


def e164(phone: str) -> str:
    """``+86...`` form (Tencent ``PhoneNumberSet``)."""
    national = normalize_phone(phone)
    return national if national.startswith("+") else "+86" + national


def callback_phone(number: str | None, nationcode: str | None = None) -> str | None:
    """A phone from a provider push, normalized like :func:`normalize_phone`; None if absent or
    unreadable (masked numbers in examples and the like)."""
    if not number:
        return None
    text = str(number)
    if nationcode and str(nationcode) not in ("", "86") and not text.startswith("+"):
        text = f"+{nationcode}{text}"
    try:
        return normalize_phone(text)
    except ValueError:
        return text


# --------------------------------------------------------------------------------------------------
# callback authentication


@dataclass(frozen=True)
class CallbackAuth:
    """Shared-secret check for provider pushes that carry no signature of their own.

    Neither Aliyun's "HTTP batch push" receipts (SmsReport, SmsUp, VoiceReport, VoiceCallReport)
    nor Tencent Cloud SMS callbacks are signed: the provider simply POSTs JSON to the URL configured
    in its console. So the deployment puts a random secret in that URL and this check demands it:

    - as the value of the ``token`` query parameter: ``https://host/notify/aliyun?token=SECRET``, or
    - as the last path segment: ``https://host/notify/aliyun/SECRET``, or
    - in the header named ``header`` (default ``X-Callback-Token``) when a gateway in front of us
      adds it (or for the simulator).

    Several tokens may be configured at once to rotate the secret without losing pushes. The
    secret ends up in the provider's console and in access logs of anything that logs URLs: keep
    it out of logs, make it long (>= 16 characters; ``secrets.token_urlsafe(32)``), use HTTPS.

    ``source_check`` is an optional extra: a callable given the client address (the
    ``remote_addr`` the endpoint passes to ``parse_callback``, after any trusted-proxy handling)
    that returns False to refuse, for deployments that allow-list the provider's push addresses.
    When it is configured, a missing address is refused.
    """

    tokens: tuple[str, ...]
    header: str = "X-Callback-Token"
    query_param: str = "token"
    source_check: Callable[[str | None], bool] | None = None

    def __post_init__(self) -> None:
        if not self.tokens:
            raise ValueError("a callback token is required (the shared secret in the callback URL)")
        for token in self.tokens:
            if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
                raise ValueError(f"callback tokens must be strings of at least {MIN_TOKEN_LENGTH} characters")

    @classmethod
    def of(cls, token: str | Sequence[str], **options: Any) -> CallbackAuth:
        tokens = (token,) if isinstance(token, str) else tuple(token)
        return cls(tokens=tokens, **options)

    def candidates(self, headers: Mapping[str, str], path: str) -> list[str]:
        found: list[str] = []
        wanted = self.header.lower()
        for key, value in headers.items():
            if key.lower() == wanted and value:
                found.append(value.strip())
        parts = urlsplit(path)
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key == self.query_param and value:
                found.append(value)
        segments = [segment for segment in parts.path.split("/") if segment]
        if segments:
            found.append(unquote(segments[-1]))
        return found

    def verify(self, headers: Mapping[str, str], path: str, remote_addr: str | None) -> None:
        if self.source_check is not None and (remote_addr is None or not self.source_check(remote_addr)):
            raise CallbackRejected(f"callback source {remote_addr!r} is not allowed")
        offered = self.candidates(headers, path)
        if not offered:
            raise CallbackRejected("callback carries no token (expected in the URL or the "
                                   f"{self.header} header)")
        for candidate in offered:
            for token in self.tokens:
                if hmac.compare_digest(candidate.encode(), token.encode()):
                    return
        raise CallbackRejected("callback token does not match")


def load_json_body(body: bytes) -> Any:
    if len(body) > MAX_CALLBACK_BYTES:
        raise CallbackRejected(f"callback body too large ({len(body)} bytes)")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CallbackRejected(f"callback body is not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CallbackRejected(f"callback body is not JSON: {exc}") from None


def json_array_of_objects(data: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise CallbackRejected(f"{what}: expected a JSON array, got {type(data).__name__}")
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise CallbackRejected(f"{what}: item {index} is {type(item).__name__}, not an object")
    return data


def shanghai_time(text: Any) -> datetime | None:
    """``"2017-06-01 10:00:00"`` (Beijing time, as both providers write it) -> UTC; None if absent
    or unreadable: a bad time never rejects a callback."""
    if not text or not isinstance(text, str):
        return None
    try:
        local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return local.replace(tzinfo=SHANGHAI).astimezone(UTC)


def unix_time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def json_reply(status: int, payload: Mapping[str, Any]) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return status, {"Content-Type": "application/json; charset=utf-8"}, body
