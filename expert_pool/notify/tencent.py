"""Tencent Cloud SMS, API version 2021-01-11: ``SendSms`` signed with TC3-HMAC-SHA256 (signature v3).

Signature (:func:`tc3_sign`)::

    CanonicalRequest = "POST\\n/\\n\\n"
                       + "content-type:application/json; charset=utf-8\\nhost:<host>\\n" + "\\n"
                       + "content-type;host\\n"
                       + hex(SHA256(payload))
    StringToSign     = "TC3-HMAC-SHA256\\n" + <timestamp> + "\\n" + <UTC date>/<service>/tc3_request + "\\n"
                       + hex(SHA256(CanonicalRequest))
    SecretDate       = HMAC-SHA256("TC3" + SecretKey, <UTC date>)
    SecretService    = HMAC-SHA256(SecretDate, <service>)
    SecretSigning    = HMAC-SHA256(SecretService, "tc3_request")
    Signature        = hex(HMAC-SHA256(SecretSigning, StringToSign))
    Authorization    = "TC3-HMAC-SHA256 Credential=<SecretId>/<date>/<service>/tc3_request, "
                       "SignedHeaders=content-type;host, Signature=<Signature>"

sent with ``X-TC-Action: SendSms``, ``X-TC-Version: 2021-01-11``, ``X-TC-Timestamp``,
``X-TC-Region`` (and ``X-TC-Token`` for temporary credentials). The payload hashed is the exact
bytes sent. The test suite checks :func:`tc3_sign` against the worked example in Tencent's
signature v3 documentation (CVM DescribeInstances, timestamp 1551113065).

Tencent Cloud SMS has no voice here: :meth:`TencentSmsProvider.place_call` raises
:class:`~expert_pool.notify.base.ChannelNotSupported`; pair it with Aliyun voice if needed.

Callbacks (configured in the SMS console, 事件回调配置): the delivery report is a JSON array of
``{user_receive_time, nationcode, mobile, report_status: SUCCESS|FAIL, errmsg, description, sid}``
(``sid`` is the ``SerialNo`` from SendSms); the reply (上行) callback is one object
``{extend, mobile, nationcode, sign, text, time}``. Neither carries our ``SessionContext`` nor any
signature: match delivery reports on ``sid`` and replies on the phone, and authenticate by the shared
secret in the registered URL (:class:`~expert_pool.notify.base.CallbackAuth`) plus an optional
source check. Tencent expects ``{"result": 0, "errmsg": "OK"}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from expert_pool.notify.base import (
    DEFAULT_REPLY_WORDS,
    DEFAULT_TEMPLATES,
    AnswerValue,
    CallbackAuth,
    CallbackEvent,
    CallbackRejected,
    ChannelNotSupported,
    Invitation,
    MessageTemplates,
    ProviderError,
    ProviderReceipt,
    callback_phone,
    e164,
    json_reply,
    load_json_body,
    parse_reply_text,
    shanghai_time,
    unix_time,
)
from expert_pool.notify.http import HttpClientOwner

HOST = "sms.tencentcloudapi.com"
SERVICE = "sms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"

ACK = {"result": 0, "errmsg": "OK"}

RETRYABLE_PREFIXES = ("InternalError", "RequestLimitExceeded", "ResourceUnavailable")


# --------------------------------------------------------------------------------------------------
# TC3-HMAC-SHA256


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def canonical_request(host: str, payload: bytes, *, method: str = "POST", content_type: str = CONTENT_TYPE) -> str:
    canonical_headers = f"content-type:{content_type.strip().lower()}\nhost:{host.strip().lower()}\n"
    return "\n".join([method, "/", "", canonical_headers, SIGNED_HEADERS, _sha256_hex(payload)])


def utc_date(unix_seconds: int) -> str:
    return datetime.fromtimestamp(unix_seconds, tz=UTC).strftime("%Y-%m-%d")


def string_to_sign(unix_seconds: int, service: str, canonical: str) -> str:
    scope = f"{utc_date(unix_seconds)}/{service}/tc3_request"
    return "\n".join([ALGORITHM, str(unix_seconds), scope, _sha256_hex(canonical.encode("utf-8"))])


def tc3_signature(secret_key: str, unix_seconds: int, service: str, to_sign: str) -> str:
    secret_date = _hmac(f"TC3{secret_key}".encode(), utc_date(unix_seconds))
    secret_service = _hmac(secret_date, service)
    secret_signing = _hmac(secret_service, "tc3_request")
    return hmac.new(secret_signing, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def tc3_sign(*, secret_id: str, secret_key: str, host: str, service: str, payload: bytes,
             unix_seconds: int, content_type: str = CONTENT_TYPE) -> str:
    """The ``Authorization`` header value for a POST of ``payload`` to ``https://<host>/``."""
    canonical = canonical_request(host, payload, content_type=content_type)
    signature = tc3_signature(secret_key, unix_seconds, service, string_to_sign(unix_seconds, service, canonical))
    scope = f"{utc_date(unix_seconds)}/{service}/tc3_request"
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"


# --------------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class TencentSmsConfig:
    """Everything the Tencent Cloud SMS provider needs; nothing is read from the environment.

    ``secret_id``/``secret_key`` (a CAM key allowed ``sms:SendSms``; ``session_token`` for
    temporary credentials), ``sdk_app_id`` (SmsSdkAppId, ``1400...``), ``sign_name`` (approved
    签名), ``template_id`` (approved template whose parameters, in order, are ``template_params``),
    ``region`` (``ap-guangzhou`` for mainland SMS), optional ``extend_code`` (only when enabled for
    the account). Callbacks: ``callback_token``, optional ``callback_token_header`` and
    ``source_check``.
    """

    secret_id: str
    secret_key: str = field(repr=False)
    sdk_app_id: str
    sign_name: str
    template_id: str
    callback_token: str | Sequence[str] = field(repr=False)
    template_params: Sequence[str] = ("time", "place")
    region: str = "ap-guangzhou"
    host: str = HOST
    extend_code: str | None = None
    session_token: str | None = field(repr=False, default=None)
    timeout_seconds: float = 10.0
    callback_token_header: str = "X-Callback-Token"
    source_check: Callable[[str | None], bool] | None = None
    templates: MessageTemplates = DEFAULT_TEMPLATES
    reply_words: Mapping[str, AnswerValue] = field(default_factory=lambda: dict(DEFAULT_REPLY_WORDS))

    def __post_init__(self) -> None:
        for name in ("secret_id", "secret_key", "sdk_app_id", "sign_name", "template_id"):
            if not getattr(self, name):
                raise ValueError(f"tencent: {name} is required")
        unknown = [name for name in self.template_params if name not in ("time", "place", "deadline")]
        if unknown:
            raise ValueError(f"tencent: unknown template parameter(s) {unknown}")
        CallbackAuth.of(self.callback_token, header=self.callback_token_header)  # validates the secret


# --------------------------------------------------------------------------------------------------
# the provider


class TencentSmsProvider(HttpClientOwner):
    """Tencent Cloud SMS behind :class:`NotificationProvider` (SMS only)."""

    name = "tencent"
    channels = frozenset({"sms"})

    def __init__(self, config: TencentSmsConfig, *, client: httpx.AsyncClient | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self._use_client(client)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._auth = CallbackAuth.of(config.callback_token, header=config.callback_token_header,
                                     source_check=config.source_check)

    # -- sending -----------------------------------------------------------------------------------

    def payload(self, invitation: Invitation) -> dict[str, Any]:
        config = self.config
        params = config.templates.params(invitation)
        body: dict[str, Any] = {
            "PhoneNumberSet": [e164(invitation.phone)],
            "SmsSdkAppId": config.sdk_app_id,
            "SignName": config.sign_name,
            "TemplateId": config.template_id,
            "TemplateParamSet": [params[name] for name in config.template_params],
            "SessionContext": invitation.reference,
        }
        if config.extend_code:
            body["ExtendCode"] = config.extend_code
        return body

    def build_request(self, invitation: Invitation) -> httpx.Request:
        """The exact signed request (exposed for tests and for debugging a signature mismatch)."""
        config = self.config
        payload = json.dumps(self.payload(invitation), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        unix_seconds = int(self._clock().timestamp())
        headers = {
            "Authorization": tc3_sign(secret_id=config.secret_id, secret_key=config.secret_key, host=config.host,
                                      service=SERVICE, payload=payload, unix_seconds=unix_seconds),
            "Content-Type": CONTENT_TYPE,
            "Host": config.host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(unix_seconds),
            "X-TC-Region": config.region,
        }
        if config.session_token:
            headers["X-TC-Token"] = config.session_token
        return httpx.Request("POST", f"https://{config.host}/", content=payload, headers=headers)

    async def send_sms(self, invitation: Invitation) -> ProviderReceipt:
        request = self.build_request(invitation)
        try:
            response = await self.client.send(request)
        except httpx.TimeoutException as exc:
            raise ProviderError(self.name, "NETWORK", f"SendSms: {type(exc).__name__}: {exc}", retryable=True,
                                maybe_sent=not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))) from exc
        except httpx.HTTPError as exc:
            raise ProviderError(self.name, "NETWORK", f"SendSms: {type(exc).__name__}: {exc}", retryable=True,
                                maybe_sent=not isinstance(exc, httpx.ConnectError)) from exc
        return self._read_response(invitation, response)

    def _read_response(self, invitation: Invitation, response: httpx.Response) -> ProviderReceipt:
        try:
            data = response.json()
        except ValueError:
            data = None
        body = data.get("Response") if isinstance(data, dict) else None
        if not isinstance(body, dict):
            raise ProviderError(self.name, f"HTTP_{response.status_code}",
                                f"SendSms: unreadable answer {response.text[:200]!r}",
                                http_status=response.status_code, retryable=response.status_code >= 500)
        request_id = body.get("RequestId")
        error = body.get("Error")
        if isinstance(error, dict):
            code = str(error.get("Code", "UnknownError"))
            raise ProviderError(self.name, code, str(error.get("Message", "")), request_id=request_id,
                                http_status=response.status_code, retryable=code.startswith(RETRYABLE_PREFIXES))
        statuses = body.get("SendStatusSet")
        if not isinstance(statuses, list) or not statuses or not isinstance(statuses[0], dict):
            raise ProviderError(self.name, "BAD_RESPONSE", "SendSms answered without a SendStatusSet",
                                request_id=request_id, http_status=response.status_code)
        status = statuses[0]
        code = str(status.get("Code", ""))
        if code != "Ok":
            raise ProviderError(self.name, code or "UnknownError", str(status.get("Message", "")),
                                request_id=request_id, http_status=response.status_code,
                                retryable=code.startswith(RETRYABLE_PREFIXES))
        serial = status.get("SerialNo")
        if not serial:
            raise ProviderError(self.name, "BAD_RESPONSE", "SendSms answered Ok without a SerialNo",
                                request_id=request_id)
        return ProviderReceipt(self.name, "sms", str(serial), request_id, invitation.reference)

    async def place_call(self, invitation: Invitation) -> ProviderReceipt:
        raise ChannelNotSupported(self.name, "call")

    # -- callbacks ---------------------------------------------------------------------------------

    def parse_callback(self, headers: Mapping[str, str], body: bytes, *, path: str,
                       remote_addr: str | None = None) -> list[CallbackEvent]:
        """Authenticate a Tencent SMS callback (delivery report array or reply object) and
        normalize it."""
        self._auth.verify(headers, path, remote_addr)
        data = load_json_body(body)
        items = data if isinstance(data, list) else [data]
        events = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise CallbackRejected(f"tencent callback item {index} is {type(item).__name__}, not an object")
            events.append(self._parse_item(item, index))
        return events

    def _parse_item(self, item: Mapping[str, Any], index: int) -> CallbackEvent:
        raw = dict(item)
        if "sid" in item and "report_status" in item:
            sid = str(item.get("sid") or "")
            status = str(item.get("report_status") or "")
            if not sid or status not in ("SUCCESS", "FAIL"):
                raise CallbackRejected(f"tencent delivery report item {index}: sid {sid!r}, report_status {status!r}")
            return CallbackEvent(provider=self.name, provider_id=sid, our_reference=None, kind="delivery",
                                 answer=None, delivered=status == "SUCCESS", raw=raw, channel="sms",
                                 phone=callback_phone(item.get("mobile"), item.get("nationcode")),
                                 status=str(item.get("errmsg") or status),
                                 occurred_at=shanghai_time(item.get("user_receive_time")))
        if "text" in item and "mobile" in item:
            phone = callback_phone(item.get("mobile"), item.get("nationcode"))
            if not phone:
                raise CallbackRejected(f"tencent reply item {index}: empty mobile")
            # No id in a reply push: phone, the reply's own timestamp and its text identify it stably.
            text_digest = hashlib.sha256(str(item.get("text", "")).encode("utf-8")).hexdigest()[:12]
            provider_id = f"reply:{phone}:{item.get('time', '')}:{text_digest}"
            return CallbackEvent(provider=self.name, provider_id=provider_id, our_reference=None, kind="answer",
                                 answer=parse_reply_text(item.get("text"), self.config.reply_words),
                                 delivered=None, raw=raw, channel="sms", phone=phone, status="reply",
                                 occurred_at=unix_time(item.get("time")))
        raise CallbackRejected(f"tencent callback item {index}: unknown shape with keys {sorted(item)[:12]}")

    def callback_ack(self, events: Sequence[CallbackEvent]) -> tuple[int, dict[str, str], bytes]:
        return json_reply(200, ACK)
