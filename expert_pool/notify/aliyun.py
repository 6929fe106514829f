"""Aliyun (Alibaba Cloud) SMS and voice: ``SendSms`` on dysmsapi, ``IvrCall`` / ``SingleCallByTts``
on dyvmsapi, both RPC-style APIs version 2017-05-25 signed with HMAC-SHA1 "SignatureVersion 1.0".

Signature (implemented by :func:`percent_encode`, :func:`canonical_query_string`,
:func:`string_to_sign`, :func:`sign`):

- every parameter (common ones included, ``Signature`` excluded) is percent-encoded by RFC 3986
  (unreserved ``A-Z a-z 0-9 - _ . ~`` kept, everything else UTF-8 then ``%XY`` upper-case; so space
  is ``%20``, ``*`` is ``%2A``, ``~`` stays);
- pairs sorted by parameter name, joined ``k=v`` with ``&``: the canonicalized query string;
- ``StringToSign = METHOD + "&" + percent_encode("/") + "&" + percent_encode(canonicalized)``;
- ``Signature = base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))``.

Requests go as POST with the signed parameters in an ``application/x-www-form-urlencoded`` body
(so phone numbers stay out of URLs and proxy logs); ``http_method="GET"`` puts them in the query
string instead, as in Aliyun's worked example.

Voice: ``voice_mode="ivr"`` (default) uses ``IvrCall``: the start prompt is a TTS template with the
time and place, ``MenuKeyMap`` maps key 1 and key 2 (each to an optional confirmation prompt), and
the pressed key comes back as ``dtmf`` in the VoiceReport / VoiceCallReport receipts.
``voice_mode="tts"`` uses ``SingleCallByTts``, a plain read-out: Aliyun documents no key collection
for it, so the answer is expected by SMS reply; a ``dtmf`` in its report would still be honoured.

Callbacks: Aliyun "HTTP batch push" (HTTP批量推送) POSTs a JSON array to the URL set in the
console, one URL per message type; the pushes carry no signature, so they are authenticated with a
shared secret in that URL (:class:`~expert_pool.notify.base.CallbackAuth`). Shapes recognised,
per item:

- SmsReport: ``phone_number, success, biz_id, out_id, err_code, err_msg, send_time, report_time``;
- SmsUp (reply): ``phone_number, content, send_time, dest_code, sequence_id`` (no ``out_id``: match
  the reply by phone);
- VoiceReport: ``call_id, status_code, status_msg, out_id, dtmf, callee, start_time, end_time``...;
- VoiceCallReport: ``call_id, status_code, dtmf, status_time, out_id`` (``status_code`` 300000
  carries a keypress).

The reply Aliyun expects is HTTP 200 with ``{"code": 0, "msg": "..."}`` (it checks only that
``code`` is a number); anything else, or no answer within 700 ms, makes it push again (1, 5 and 10
minutes later).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from expert_pool.notify.base import (
    DEFAULT_REPLY_WORDS,
    DEFAULT_TEMPLATES,
    AnswerValue,
    CallbackAuth,
    CallbackEvent,
    CallbackRejected,
    Invitation,
    MessageTemplates,
    ProviderError,
    ProviderReceipt,
    callback_phone,
    json_array_of_objects,
    json_reply,
    load_json_body,
    normalize_phone,
    parse_dtmf,
    parse_reply_text,
    select_params,
    shanghai_time,
)
from expert_pool.notify.http import HttpClientOwner

SMS_ENDPOINT = "https://dysmsapi.aliyuncs.com/"
VOICE_ENDPOINT = "https://dyvmsapi.aliyuncs.com/"
SMS_VERSION = "2017-05-25"
VOICE_VERSION = "2017-05-25"

#: ``OutId`` of IvrCall and SingleCallByTts is "1~15 bytes" per Aliyun's API reference.
VOICE_OUT_ID_MAX_BYTES = 15

#: VoiceReport status codes that mean the callee picked up (heard it, hung up early, or let the
#: key prompt time out); everything else without a dtmf is a failed call.
VOICE_CONNECTED = frozenset({"200000", "200001", "200008"})
#: VoiceCallReport intermediate states.
VOICE_PROGRESS = frozenset({"200101", "200201", "200102", "200100"})
VOICE_DTMF_STATUS = "300000"

#: Codes worth retrying later (Aliyun side trouble or throttling), not configuration mistakes.
RETRYABLE_CODES = frozenset({"isp.SYSTEM_ERROR", "ServiceUnavailable", "InternalError", "Throttling",
                             "Throttling.User", "Throttling.Api", "SignatureNonceUsed"})

ACK = {"code": 0, "msg": "成功"}

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


# --------------------------------------------------------------------------------------------------
# signature version 1.0


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding as Aliyun's RPC signature wants it (see the module docstring)."""
    out = []
    for byte in str(value).encode("utf-8"):
        out.append(chr(byte) if byte in _UNRESERVED else f"%{byte:02X}")
    return "".join(out)


def canonical_query_string(params: Mapping[str, str]) -> str:
    pairs = sorted((percent_encode(key), percent_encode(value)) for key, value in params.items()
                   if key != "Signature")
    return "&".join(f"{key}={value}" for key, value in pairs)


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query_string(params))}"


def sign(params: Mapping[str, str], access_key_secret: str, method: str = "POST") -> str:
    digest = hmac.new(f"{access_key_secret}&".encode(),
                      string_to_sign(method, params).encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def timestamp(moment: datetime) -> str:
    """ISO 8601 UTC, ``YYYY-MM-DDThh:mm:ssZ``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_params(action_params: Mapping[str, str], *, action: str, version: str, access_key_id: str,
                  access_key_secret: str, nonce: str, moment: datetime, method: str = "POST",
                  region_id: str | None = None) -> dict[str, str]:
    """The action parameters plus the common ones and ``Signature``."""
    params = {
        "Action": action,
        "Version": version,
        "Format": "JSON",
        "AccessKeyId": access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": nonce,
        "SignatureVersion": "1.0",
        "Timestamp": timestamp(moment),
    }
    if region_id:
        params["RegionId"] = region_id
    for key, value in action_params.items():
        if value is not None:
            params[key] = str(value)
    params["Signature"] = sign(params, access_key_secret, method)
    return params


def encoded_form(params: Mapping[str, str]) -> str:
    """``Signature=...&<canonical query string>``, the wire form for both the body and the URL."""
    return f"Signature={percent_encode(params['Signature'])}&{canonical_query_string(params)}"


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class AliyunConfig:
    """Everything the Aliyun provider needs; nothing is read from the environment.

    SMS: ``sms_sign_name`` (approved 签名) and ``sms_template_code`` (approved template, e.g.
    ``SMS_123``) whose variables are named by ``sms_params`` (ours -> template's).
    Voice: ``called_show_number`` (a purchased number; required for IvrCall, optional for
    SingleCallByTts in public mode), ``tts_code`` (the TTS template: IvrCall ``StartCode`` or
    SingleCallByTts ``TtsCode``) with variables ``voice_params``; for IVR also optional
    ``ivr_accept_code`` / ``ivr_decline_code`` (prompts played after key 1 / key 2),
    ``ivr_bye_code``, ``ivr_timeout_ms`` (wait for a key).
    Callbacks: ``callback_token`` (one secret or several during rotation), optional
    ``callback_token_header`` and ``source_check``.
    """

    access_key_id: str
    access_key_secret: str = field(repr=False)
    callback_token: str | Sequence[str] = field(repr=False)
    sms_sign_name: str | None = None
    sms_template_code: str | None = None
    sms_params: Mapping[str, str] = field(default_factory=lambda: {"time": "time", "place": "place"})
    voice_mode: Literal["ivr", "tts"] = "ivr"
    called_show_number: str | None = None
    tts_code: str | None = None
    voice_params: Mapping[str, str] = field(default_factory=lambda: {"time": "time", "place": "place"})
    ivr_accept_code: str | None = None
    ivr_decline_code: str | None = None
    ivr_bye_code: str | None = None
    ivr_timeout_ms: int | None = 10_000
    play_times: int | None = 2
    region_id: str | None = "cn-hangzhou"
    sms_endpoint: str = SMS_ENDPOINT
    voice_endpoint: str = VOICE_ENDPOINT
    http_method: Literal["POST", "GET"] = "POST"
    timeout_seconds: float = 10.0
    callback_token_header: str = "X-Callback-Token"
    source_check: Callable[[str | None], bool] | None = None
    templates: MessageTemplates = DEFAULT_TEMPLATES
    reply_words: Mapping[str, AnswerValue] = field(default_factory=lambda: dict(DEFAULT_REPLY_WORDS))

    def __post_init__(self) -> None:
        if not self.access_key_id or not self.access_key_secret:
            raise ValueError("aliyun: access_key_id and access_key_secret are required")
        if self.voice_mode not in ("ivr", "tts"):
            raise ValueError(f"aliyun: voice_mode must be 'ivr' or 'tts', not {self.voice_mode!r}")
        if self.http_method not in ("POST", "GET"):
            raise ValueError(f"aliyun: http_method must be POST or GET, not {self.http_method!r}")
        if self.play_times is not None and not 1 <= self.play_times <= 3:
            raise ValueError("aliyun: play_times must be 1..3")
        for names in (self.sms_params, self.voice_params):
            select_params({"time": "", "place": "", "deadline": ""}, names)  # validates the names
        CallbackAuth.of(self.callback_token, header=self.callback_token_header)  # validates the secret


# --------------------------------------------------------------------------------------------------
# the provider


class AliyunProvider(HttpClientOwner):
    """Aliyun SMS (dysmsapi) and voice (dyvmsapi) behind :class:`NotificationProvider`.

    All HTTP goes through ``client`` (an ``httpx.AsyncClient``; tests inject one with a
    ``MockTransport``). Without one the provider makes its own and :meth:`aclose` closes it.
    ``clock`` and ``nonce`` are injectable for reproducible signatures.
    """

    name = "aliyun"
    channels = frozenset({"sms", "call"})

    def __init__(self, config: AliyunConfig, *, client: httpx.AsyncClient | None = None,
                 clock: Callable[[], datetime] | None = None, nonce: Callable[[], str] | None = None) -> None:
        self.config = config
        self._use_client(client)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._nonce = nonce or (lambda: str(uuid.uuid4()))
        self._auth = CallbackAuth.of(config.callback_token, header=config.callback_token_header,
                                     source_check=config.source_check)

    # -- sending -----------------------------------------------------------------------------------

    async def send_sms(self, invitation: Invitation) -> ProviderReceipt:
        config = self.config
        if not config.sms_sign_name or not config.sms_template_code:
            raise ValueError("aliyun: sms_sign_name and sms_template_code must be configured to send SMS")
        params = select_params(config.templates.params(invitation), config.sms_params)
        data = await self._call(config.sms_endpoint, "SendSms", SMS_VERSION, {
            "PhoneNumbers": aliyun_phone(invitation.phone),
            "SignName": config.sms_sign_name,
            "TemplateCode": config.sms_template_code,
            "TemplateParam": _compact_json(params),
            "OutId": invitation.reference,
        })
        biz_id = data.get("BizId")
        if not biz_id:
            raise ProviderError(self.name, "BAD_RESPONSE", "SendSms answered OK without a BizId",
                                request_id=data.get("RequestId"))
        return ProviderReceipt(self.name, "sms", str(biz_id), data.get("RequestId"), invitation.reference)

    async def place_call(self, invitation: Invitation) -> ProviderReceipt:
        config = self.config
        if not config.tts_code:
            raise ValueError("aliyun: tts_code must be configured to place calls")
        if len(invitation.reference.encode("utf-8")) > VOICE_OUT_ID_MAX_BYTES:
            raise ValueError(f"aliyun voice OutId is limited to {VOICE_OUT_ID_MAX_BYTES} bytes; "
                             f"reference {invitation.reference!r} is longer")
        tts_param = _compact_json(select_params(config.templates.params(invitation), config.voice_params))
        called = aliyun_phone(invitation.phone)
        if config.voice_mode == "ivr":
            if not config.called_show_number:
                raise ValueError("aliyun: IvrCall needs called_show_number (a purchased number)")
            action = "IvrCall"
            params: dict[str, str | None] = {
                "CalledShowNumber": config.called_show_number,
                "CalledNumber": called,
                "StartCode": config.tts_code,
                "StartTtsParams": tts_param,
                "MenuKeyMap.1.Key": "1",
                "MenuKeyMap.1.Code": config.ivr_accept_code,
                "MenuKeyMap.2.Key": "2",
                "MenuKeyMap.2.Code": config.ivr_decline_code,
                "ByeCode": config.ivr_bye_code,
                "Timeout": str(config.ivr_timeout_ms) if config.ivr_timeout_ms else None,
                "PlayTimes": str(config.play_times) if config.play_times else None,
                "OutId": invitation.reference,
            }
        else:
            action = "SingleCallByTts"
            params = {
                "CalledShowNumber": config.called_show_number,
                "CalledNumber": called,
                "TtsCode": config.tts_code,
                "TtsParam": tts_param,
                "PlayTimes": str(config.play_times) if config.play_times else None,
                "OutId": invitation.reference,
            }
        data = await self._call(config.voice_endpoint, action, VOICE_VERSION, params)
        call_id = data.get("CallId")
        if not call_id:
            raise ProviderError(self.name, "BAD_RESPONSE", f"{action} answered OK without a CallId",
                                request_id=data.get("RequestId"))
        return ProviderReceipt(self.name, "call", str(call_id), data.get("RequestId"), invitation.reference)

    def build_request(self, endpoint: str, action: str, version: str,
                      action_params: Mapping[str, str | None]) -> httpx.Request:
        """The exact signed request (exposed for tests and for debugging a signature mismatch)."""
        method = self.config.http_method
        params = signed_params({k: v for k, v in action_params.items() if v is not None}, action=action,
                               version=version, access_key_id=self.config.access_key_id,
                               access_key_secret=self.config.access_key_secret, nonce=self._nonce(),
                               moment=self._clock(), method=method, region_id=self.config.region_id)
        wire = encoded_form(params)
        base = endpoint if endpoint.endswith("/") else endpoint + "/"
        if method == "GET":
            return httpx.Request("GET", f"{base}?{wire}", headers={"Accept": "application/json"})
        return httpx.Request("POST", base, content=wire.encode("ascii"), headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Accept": "application/json",
        })

    async def _call(self, endpoint: str, action: str, version: str,
                    action_params: Mapping[str, str | None]) -> dict[str, Any]:
        request = self.build_request(endpoint, action, version, action_params)
        try:
            response = await self.client.send(request)
        except httpx.TimeoutException as exc:
            # A read timeout may come after Aliyun took the request.
            raise ProviderError(self.name, "NETWORK", f"{action}: {type(exc).__name__}: {exc}", retryable=True,
                                maybe_sent=not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))) from exc
        except httpx.HTTPError as exc:
            raise ProviderError(self.name, "NETWORK", f"{action}: {type(exc).__name__}: {exc}", retryable=True,
                                maybe_sent=not isinstance(exc, httpx.ConnectError)) from exc
        return self._read_response(action, response)

    def _read_response(self, action: str, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProviderError(self.name, f"HTTP_{response.status_code}",
                                f"{action}: unreadable answer {response.text[:200]!r}",
                                http_status=response.status_code, retryable=response.status_code >= 500)
        code = str(data.get("Code", ""))
        request_id = data.get("RequestId")
        if code != "OK" or response.status_code >= 400:
            retryable = code in RETRYABLE_CODES or code.startswith("Throttling") or response.status_code >= 500
            raise ProviderError(self.name, code or f"HTTP_{response.status_code}",
                                str(data.get("Message", "")), request_id=request_id,
                                http_status=response.status_code, retryable=retryable)
        return data

    # -- callbacks ---------------------------------------------------------------------------------

    def parse_callback(self, headers: Mapping[str, str], body: bytes, *, path: str,
                       remote_addr: str | None = None) -> list[CallbackEvent]:
        """Authenticate an Aliyun HTTP push and normalize it (see the module docstring)."""
        self._auth.verify(headers, path, remote_addr)
        items = json_array_of_objects(load_json_body(body), f"{self.name} callback")
        return [parse_aliyun_item(item, index, provider=self.name, reply_words=self.config.reply_words)
                for index, item in enumerate(items)]

    def callback_ack(self, events: Sequence[CallbackEvent]) -> tuple[int, dict[str, str], bytes]:
        return json_reply(200, ACK)


def aliyun_phone(phone: str) -> str:
    """Mainland numbers as 11 digits; others as country code + number without ``+``."""
    normalized = normalize_phone(phone)
    return normalized.removeprefix("+")


def _text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None or value == "":
        return None
    return str(value)


def parse_aliyun_item(item: Mapping[str, Any], index: int, *, provider: str,
                      reply_words: Mapping[str, AnswerValue] = DEFAULT_REPLY_WORDS) -> CallbackEvent:
    """One item of an Aliyun push -> event. Raises CallbackRejected on a shape Aliyun does not send."""
    raw = dict(item)
    if "call_id" in item and "status_code" in item:
        call_id = _text(item, "call_id")
        status = _text(item, "status_code") or ""
        if not call_id:
            raise CallbackRejected(f"{provider} voice report item {index}: empty call_id")
        dtmf = _text(item, "dtmf")
        occurred = (shanghai_time(item.get("status_time")) or shanghai_time(item.get("end_time"))
                    or shanghai_time(item.get("start_time")))
        common: dict[str, Any] = {
            "provider": provider, "provider_id": call_id, "our_reference": _text(item, "out_id"), "raw": raw,
            "channel": "call", "phone": callback_phone(_text(item, "callee")), "status": status,
            "occurred_at": occurred,
        }
        if dtmf is not None:
            return CallbackEvent(kind="answer", answer=parse_dtmf(dtmf), delivered=True, **common)
        if status in VOICE_PROGRESS or status == VOICE_DTMF_STATUS:
            delivered: bool | None = True if status == "200102" else None
        else:
            delivered = status in VOICE_CONNECTED
        return CallbackEvent(kind="delivery", answer=None, delivered=delivered, **common)
    if "biz_id" in item and "success" in item:
        biz_id = _text(item, "biz_id")
        if not biz_id:
            raise CallbackRejected(f"{provider} SMS report item {index}: empty biz_id")
        success = item.get("success")
        if isinstance(success, str) and success.strip().lower() in ("true", "false"):
            success = success.strip().lower() == "true"
        if not isinstance(success, bool):
            raise CallbackRejected(f"{provider} SMS report item {index}: success is {success!r}")
        return CallbackEvent(provider=provider, provider_id=biz_id, our_reference=_text(item, "out_id"),
                             kind="delivery", answer=None, delivered=success, raw=raw, channel="sms",
                             phone=callback_phone(_text(item, "phone_number")),
                             status=_text(item, "err_code") or ("DELIVERED" if success else "FAILED"),
                             occurred_at=shanghai_time(item.get("report_time")))
    if "content" in item and "phone_number" in item:
        phone = callback_phone(_text(item, "phone_number"))
        sequence = _text(item, "sequence_id")
        if not phone:
            raise CallbackRejected(f"{provider} SMS reply item {index}: empty phone_number")
        # SmsUp carries no out_id; sequence_id identifies the uplink message.
        provider_id = f"up:{sequence}" if sequence else f"up:{phone}:{item.get('send_time', '')}"
        return CallbackEvent(provider=provider, provider_id=provider_id, our_reference=None, kind="answer",
                             answer=parse_reply_text(_text(item, "content"), reply_words), delivered=None,
                             raw=raw, channel="sms", phone=phone, status="SmsUp",
                             occurred_at=shanghai_time(item.get("send_time")))
    raise CallbackRejected(f"{provider} callback item {index}: unknown shape with keys {sorted(item)[:12]}")
