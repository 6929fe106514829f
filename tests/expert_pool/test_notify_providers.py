"""Expert notification providers: Aliyun SMS/voice, Tencent Cloud SMS and the simulator.

Signatures are checked two ways: against the worked examples the providers publish (Aliyun's RPC
DescribeRegions example, Tencent's TC3 CVM DescribeInstances example) and by recomputing, with a
separate plain implementation written here, the signature of the exact request the provider put on
the wire (captured with ``httpx.MockTransport``; no test touches the network).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Self
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest

from expert_pool.notify import (
    CallbackEvent,
    CallbackRejected,
    ChannelNotSupported,
    Invitation,
    MessageTemplates,
    NotificationProvider,
    ProviderError,
    aliyun,
    provider_from_settings,
    tencent,
)
from expert_pool.notify.aliyun import AliyunConfig, AliyunProvider
from expert_pool.notify.base import (
    DEFAULT_TEMPLATES,
    CallbackAuth,
    normalize_phone,
    parse_reply_text,
)
from expert_pool.notify.simulator import SimulatedProvider
from expert_pool.notify.tencent import TencentSmsConfig, TencentSmsProvider

TOKEN = "cb-token-0123456789abcdef"
FIXED_NOW = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)
FIXED_NONCE = "3f1c2b9a-5d4e-4c7b-9a8f-0e1d2c3b4a59"
PLACE = "福州市公共资源交易中心 3号评标室"
EVALUATION = datetime(2026, 3, 5, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
DEADLINE = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def invitation(reference: str = "4711", phone: str = "13800138000", **changes: object) -> Invitation:
    values: dict[str, object] = {"reference": reference, "phone": phone, "evaluation_time": EVALUATION,
                                 "place": PLACE, "reply_deadline": DEADLINE}
    values.update(changes)
    return Invitation(**values)  # type: ignore[arg-type]


class Recorder:
    """An httpx client whose transport records each request and answers with ``respond``."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return respond(request)

        self.client = httpx.AsyncClient(transport=httpx.MockTransport(handler))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()


def json_response(payload: object, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=payload)


# ==================================================================================================
# independent reference implementations (deliberately written differently from the providers)


def ref_aliyun_encode(text: str) -> str:
    return quote(text, safe="~")  # quote keeps A-Z a-z 0-9 _ . - (and ~ since 3.7), encodes UTF-8


def ref_aliyun_sign(params: dict[str, str], secret: str, method: str) -> tuple[str, str]:
    canonical = "&".join(f"{ref_aliyun_encode(k)}={ref_aliyun_encode(params[k])}"
                         for k in sorted(params) if k != "Signature")
    to_sign = method + "&" + ref_aliyun_encode("/") + "&" + ref_aliyun_encode(canonical)
    mac = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return canonical, base64.b64encode(mac).decode()


def ref_tc3_authorization(secret_id: str, secret_key: str, host: str, service: str, payload: bytes,
                          ts: int) -> str:
    date = time.strftime("%Y-%m-%d", time.gmtime(ts))
    canonical = ("POST\n/\n\n"
                 f"content-type:application/json; charset=utf-8\nhost:{host}\n\n"
                 "content-type;host\n" + hashlib.sha256(payload).hexdigest())
    to_sign = (f"TC3-HMAC-SHA256\n{ts}\n{date}/{service}/tc3_request\n"
               + hashlib.sha256(canonical.encode()).hexdigest())
    key = ("TC3" + secret_key).encode()
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, "
            f"SignedHeaders=content-type;host, Signature={signature}")


# ==================================================================================================
# the invitation and its texts


def test_invitation_has_time_and_place_and_nothing_about_the_project() -> None:
    names = {f.name for f in dataclasses.fields(Invitation)}
    assert names == {"reference", "phone", "evaluation_time", "place", "reply_deadline", "language"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        invitation().place = "elsewhere"  # type: ignore[misc]


def test_invitation_refuses_naive_times_and_bad_phones() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        invitation(evaluation_time=datetime(2026, 3, 5, 9, 30))
    with pytest.raises(ValueError, match="phone"):
        invitation(phone="call me")
    with pytest.raises(ValueError, match="reference"):
        invitation(reference=" ")


@pytest.mark.parametrize("language", ["zh", "en"])
def test_rendered_texts_contain_only_time_and_place(language: str) -> None:
    inv = invitation(language=language)
    params = DEFAULT_TEMPLATES.params(inv)
    assert params["time"] == ("2026年03月05日 09:30" if language == "zh" else "2026-03-05 09:30 (Beijing time)")
    for render, template in ((DEFAULT_TEMPLATES.render_sms, f"sms_{language}"),
                             (DEFAULT_TEMPLATES.render_voice, f"voice_{language}")):
        text = render(inv)
        assert params["time"] in text and PLACE in text
        # Take the time and place out: what is left is the fixed template text, nothing else.
        skeleton = text.replace(params["time"], "{time}").replace(PLACE, "{place}")
        assert skeleton == getattr(DEFAULT_TEMPLATES, template)
        assert inv.reference not in text and inv.phone not in text


def test_templates_refuse_any_other_placeholder() -> None:
    with pytest.raises(ValueError, match="project"):
        MessageTemplates(sms_zh="项目{project}，时间{time}")
    with pytest.raises(ValueError, match="lot"):
        MessageTemplates(voice_en="{lot.name} at {place}")
    custom = MessageTemplates(sms_zh="请于{deadline}前回复。时间：{time}，地点：{place}")
    assert "2026年03月02日 18:00" in custom.render_sms(invitation())


def test_phone_normalization() -> None:
    assert normalize_phone("+86 138-0013-8000") == "13800138000"
    assert normalize_phone("008613800138000") == "13800138000"
    assert normalize_phone("8613800138000") == "13800138000"
    assert normalize_phone("+85261234567") == "+85261234567"


@pytest.mark.parametrize(("text", "answer"), [
    ("1", "accepted"), (" y ", "accepted"), ("Yes。", "accepted"), ("１", "accepted"), ("确认", "accepted"),
    ("2", "declined"), ("N", "declined"), ("拒绝！", "declined"), ("２", "declined"),
    ("3", None), ("maybe", None), ("", None), (None, None),
])
def test_reply_words(text: str | None, answer: str | None) -> None:
    assert parse_reply_text(text) == answer


# ==================================================================================================
# Aliyun: signature


def test_aliyun_percent_encoding_edge_cases() -> None:
    cases = {
        "a b": "a%20b", "a*b": "a%2Ab", "a~b": "a~b", "/": "%2F", "a+b": "a%2Bb", "a=b&c": "a%3Db%26c",
        "-_.": "-_.", "2016-02-23T12:46:24Z": "2016-02-23T12%3A46%3A24Z", "评标": "%E8%AF%84%E6%A0%87",
        '{"a":1}': "%7B%22a%22%3A1%7D", "%": "%25", "é": "%C3%A9", "!'()": "%21%27%28%29",
    }
    for raw, encoded in cases.items():
        assert aliyun.percent_encode(raw) == encoded
        assert aliyun.percent_encode(raw) == ref_aliyun_encode(raw)


def test_aliyun_signature_reproduces_the_documented_example() -> None:
    # Aliyun's RPC signature documentation: DescribeRegions, AccessKeyId testid, secret testsecret.
    params = {"Timestamp": "2016-02-23T12:46:24Z", "Format": "XML", "AccessKeyId": "testid",
              "Action": "DescribeRegions", "SignatureMethod": "HMAC-SHA1",
              "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "Version": "2014-05-26",
              "SignatureVersion": "1.0"}
    assert aliyun.string_to_sign("GET", params) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
        "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
        "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26")
    assert aliyun.sign(params, "testsecret", "GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_aliyun_canonical_query_string_and_signature_for_fixed_inputs() -> None:
    params = aliyun.signed_params(
        {"PhoneNumbers": "13800138000", "SignName": "评标 通知", "TemplateCode": "SMS_0001",
         "TemplateParam": '{"time":"09:30","place":"Room *3~"}', "OutId": "4711"},
        action="SendSms", version="2017-05-25", access_key_id="LTAIexample", access_key_secret="secret*~ key",
        nonce=FIXED_NONCE, moment=FIXED_NOW, method="POST", region_id="cn-hangzhou")
    expected_canonical = (
        "AccessKeyId=LTAIexample&Action=SendSms&Format=JSON&OutId=4711&PhoneNumbers=13800138000"
        "&RegionId=cn-hangzhou&SignName=%E8%AF%84%E6%A0%87%20%E9%80%9A%E7%9F%A5&SignatureMethod=HMAC-SHA1"
        f"&SignatureNonce={FIXED_NONCE}&SignatureVersion=1.0&TemplateCode=SMS_0001"
        "&TemplateParam=%7B%22time%22%3A%2209%3A30%22%2C%22place%22%3A%22Room%20%2A3~%22%7D"
        "&Timestamp=2026-03-01T08%3A00%3A00Z&Version=2017-05-25")
    assert aliyun.canonical_query_string(params) == expected_canonical
    ref_canonical, ref_signature = ref_aliyun_sign(params, "secret*~ key", "POST")
    assert ref_canonical == expected_canonical
    assert params["Signature"] == ref_signature
    assert params["Timestamp"] == "2026-03-01T08:00:00Z"
    # the method is part of what is signed
    assert aliyun.sign(params, "secret*~ key", "GET") == ref_aliyun_sign(params, "secret*~ key", "GET")[1]
    assert aliyun.sign(params, "secret*~ key", "GET") != params["Signature"]


# ==================================================================================================
# Aliyun: requests


def aliyun_config(**changes: object) -> AliyunConfig:
    values: dict[str, object] = {
        "access_key_id": "LTAIexample", "access_key_secret": "aliyun-secret", "callback_token": TOKEN,
        "sms_sign_name": "评标平台", "sms_template_code": "SMS_0001", "called_show_number": "057188880000",
        "tts_code": "TTS_0001", "ivr_accept_code": "TTS_0002", "ivr_decline_code": "TTS_0003",
    }
    values.update(changes)
    return AliyunConfig(**values)  # type: ignore[arg-type]


def aliyun_provider(recorder: Recorder | None = None, **changes: object) -> AliyunProvider:
    return AliyunProvider(aliyun_config(**changes), client=recorder.client if recorder else None,
                          clock=lambda: FIXED_NOW, nonce=lambda: FIXED_NONCE)


def received_params(request: httpx.Request) -> dict[str, str]:
    text = request.content.decode("ascii") if request.method == "POST" else urlsplit(str(request.url)).query
    pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    params = dict(pairs)
    assert len(params) == len(pairs), "duplicate parameters"
    return params


def assert_aliyun_signature_valid(request: httpx.Request, secret: str = "aliyun-secret") -> dict[str, str]:
    """What Aliyun does on receipt: re-sign the received parameters and compare."""
    params = received_params(request)
    _canonical, expected = ref_aliyun_sign(params, secret, request.method)
    assert params["Signature"] == expected
    assert params["SignatureMethod"] == "HMAC-SHA1" and params["SignatureVersion"] == "1.0"
    assert params["Format"] == "JSON" and params["AccessKeyId"] == "LTAIexample"
    assert params["SignatureNonce"] == FIXED_NONCE and params["Timestamp"] == "2026-03-01T08:00:00Z"
    return params


async def test_aliyun_send_sms_request_and_ok_response() -> None:
    ok = {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "F655A8D5-B967-440B"}
    async with Recorder(json_response(ok)) as recorder:
        receipt = await aliyun_provider(recorder).send_sms(invitation(phone="+86 13800138000"))
    (request,) = recorder.requests
    assert request.method == "POST"
    assert request.url.scheme == "https" and request.url.host == "dysmsapi.aliyuncs.com" and request.url.path == "/"
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert "13800138000" not in str(request.url)  # nothing personal in the URL
    params = assert_aliyun_signature_valid(request)
    assert params["Action"] == "SendSms" and params["Version"] == "2017-05-25"
    assert params["PhoneNumbers"] == "13800138000"
    assert params["SignName"] == "评标平台" and params["TemplateCode"] == "SMS_0001"
    assert json.loads(params["TemplateParam"]) == {"time": "2026年03月05日 09:30", "place": PLACE}
    assert params["OutId"] == "4711" and params["RegionId"] == "cn-hangzhou"
    assert (receipt.provider, receipt.channel, receipt.provider_id, receipt.request_id, receipt.our_reference) == (
        "aliyun", "sms", "900619746936498440^0", "F655A8D5-B967-440B", "4711")


async def test_aliyun_get_mode_puts_the_signed_parameters_in_the_query() -> None:
    ok = {"Code": "OK", "Message": "OK", "BizId": "1^0", "RequestId": "R"}
    async with Recorder(json_response(ok)) as recorder:
        await aliyun_provider(recorder, http_method="GET").send_sms(invitation())
    (request,) = recorder.requests
    assert request.method == "GET" and request.content == b""
    params = assert_aliyun_signature_valid(request)
    assert params["Action"] == "SendSms"


async def test_aliyun_ivr_call_request() -> None:
    ok = {"Code": "OK", "Message": "OK", "CallId": "116012354148^10281378", "RequestId": "D9CB3933"}
    async with Recorder(json_response(ok)) as recorder:
        receipt = await aliyun_provider(recorder).place_call(invitation())
    (request,) = recorder.requests
    assert request.url.host == "dyvmsapi.aliyuncs.com"
    params = assert_aliyun_signature_valid(request)
    assert params["Action"] == "IvrCall" and params["Version"] == "2017-05-25"
    assert params["CalledShowNumber"] == "057188880000" and params["CalledNumber"] == "13800138000"
    assert params["StartCode"] == "TTS_0001"
    assert json.loads(params["StartTtsParams"]) == {"time": "2026年03月05日 09:30", "place": PLACE}
    assert (params["MenuKeyMap.1.Key"], params["MenuKeyMap.1.Code"]) == ("1", "TTS_0002")
    assert (params["MenuKeyMap.2.Key"], params["MenuKeyMap.2.Code"]) == ("2", "TTS_0003")
    assert params["OutId"] == "4711" and params["PlayTimes"] == "2" and params["Timeout"] == "10000"
    assert "ByeCode" not in params
    assert (receipt.channel, receipt.provider_id, receipt.request_id) == ("call", "116012354148^10281378", "D9CB3933")


async def test_aliyun_single_call_by_tts_request() -> None:
    ok = {"Code": "OK", "Message": "OK", "CallId": "1^2", "RequestId": "R2"}
    async with Recorder(json_response(ok)) as recorder:
        await aliyun_provider(recorder, voice_mode="tts", play_times=3).place_call(invitation())
    params = assert_aliyun_signature_valid(recorder.requests[0])
    assert params["Action"] == "SingleCallByTts"
    assert params["TtsCode"] == "TTS_0001" and params["CalledNumber"] == "13800138000"
    assert json.loads(params["TtsParam"]) == {"time": "2026年03月05日 09:30", "place": PLACE}
    assert params["PlayTimes"] == "3" and params["OutId"] == "4711"
    assert not any(key.startswith("MenuKeyMap") for key in params)


async def test_aliyun_voice_refuses_references_longer_than_out_id_allows() -> None:
    async with Recorder(json_response({})) as recorder:
        with pytest.raises(ValueError, match="15 bytes"):
            await aliyun_provider(recorder).place_call(invitation(reference="draw-call-0000000001"))
    assert recorder.requests == []


@pytest.mark.parametrize(("status", "payload", "code", "retryable"), [
    (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1", "RequestId": "R-1"},
     "isv.BUSINESS_LIMIT_CONTROL", False),
    (200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号", "RequestId": "R-1"},
     "isv.MOBILE_NUMBER_ILLEGAL", False),
    (400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched", "RequestId": "R-1"},
     "SignatureDoesNotMatch", False),
    (200, {"Code": "isp.SYSTEM_ERROR", "Message": "系统错误", "RequestId": "R-1"}, "isp.SYSTEM_ERROR", True),
])
async def test_aliyun_error_codes_become_provider_errors(status: int, payload: dict, code: str,
                                                         retryable: bool) -> None:
    async with Recorder(json_response(payload, status)) as recorder:
        with pytest.raises(ProviderError) as caught:
            await aliyun_provider(recorder).send_sms(invitation())
    error = caught.value
    assert (error.provider, error.code, error.message, error.request_id) == ("aliyun", code, payload["Message"], "R-1")
    assert error.http_status == status and error.retryable is retryable


async def test_aliyun_unreadable_answers_and_network_failures() -> None:
    async with Recorder(lambda request: httpx.Response(502, text="<html>bad gateway</html>")) as recorder:
        with pytest.raises(ProviderError) as caught:
            await aliyun_provider(recorder).place_call(invitation())
    assert caught.value.code == "HTTP_502" and caught.value.retryable

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with Recorder(refuse) as recorder:
        with pytest.raises(ProviderError) as caught:
            await aliyun_provider(recorder).send_sms(invitation())
    assert caught.value.code == "NETWORK" and caught.value.retryable and not caught.value.maybe_sent

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with Recorder(slow) as recorder:
        with pytest.raises(ProviderError) as caught:
            await aliyun_provider(recorder).send_sms(invitation())
    assert caught.value.maybe_sent  # Aliyun may have sent it: a blind retry could notify twice

    async with Recorder(json_response({"Code": "OK", "RequestId": "R"})) as recorder:
        with pytest.raises(ProviderError, match="BizId"):
            await aliyun_provider(recorder).send_sms(invitation())


# ==================================================================================================
# Aliyun: callbacks


CALLBACK_PATH = f"/notify/callbacks/aliyun?token={TOKEN}"


def body(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def voice_report(dtmf: str | None, call_id: str = "122628733198^109422061", out_id: str | None = "4711",
                 status_code: str = "200000") -> dict:
    item = {"status_code": status_code, "callee": "13800138000", "ring_time": "2026-03-01 16:02:40",
            "duration": "10", "voice_type": "voice", "originate_time": "2026-03-01 16:02:34",
            "b_start_time": "2026-03-01 16:02:45", "end_time": "2026-03-01 16:03:40", "call_id": call_id,
            "caller": "057188880000", "status_msg": "执行完成", "toll_type": "LOCAL"}
    if out_id is not None:
        item["out_id"] = out_id
    if dtmf is not None:
        item["dtmf"] = dtmf
    return item


def test_aliyun_voice_report_keypress_1_accepts_and_2_declines() -> None:
    provider = aliyun_provider()
    (accept,) = provider.parse_callback({}, body([voice_report("1")]), path=CALLBACK_PATH)
    assert (accept.provider, accept.kind, accept.answer, accept.delivered, accept.channel) == (
        "aliyun", "answer", "accepted", True, "call")
    assert accept.provider_id == "122628733198^109422061" and accept.our_reference == "4711"
    assert accept.phone == "13800138000" and accept.status == "200000"
    assert accept.occurred_at == datetime(2026, 3, 1, 8, 3, 40, tzinfo=UTC)
    assert accept.raw["dtmf"] == "1"
    (decline,) = provider.parse_callback({}, body([voice_report("2", call_id="9^9")]), path=CALLBACK_PATH)
    assert (decline.kind, decline.answer) == ("answer", "declined")
    (other,) = provider.parse_callback({}, body([voice_report("5", call_id="8^8")]), path=CALLBACK_PATH)
    assert (other.kind, other.answer) == ("answer", None)


def test_aliyun_voice_reports_without_a_key_are_delivery_reports() -> None:
    provider = aliyun_provider()
    events = provider.parse_callback({}, body([
        voice_report(None, call_id="1^1", status_code="200003"),   # rang, not answered
        voice_report(None, call_id="2^2", status_code="200000"),   # heard it, pressed nothing
        voice_report("", call_id="3^3", status_code="200010"),     # phone off; empty dtmf
    ]), path=CALLBACK_PATH)
    assert [(e.kind, e.delivered, e.answer, e.status) for e in events] == [
        ("delivery", False, None, "200003"), ("delivery", True, None, "200000"), ("delivery", False, None, "200010")]


def test_aliyun_voice_call_report_dtmf_and_progress() -> None:
    provider = aliyun_provider()
    dtmf, ringing = provider.parse_callback({}, body([
        {"call_id": "5^5", "status_code": "300000", "dtmf": "2", "status_time": "2026-03-01 16:03:00", "out_id": "77"},
        {"call_id": "5^5", "status_code": "200201", "status_time": "2026-03-01 16:02:50", "out_id": "77"},
    ]), path=CALLBACK_PATH)
    assert (dtmf.kind, dtmf.answer, dtmf.our_reference) == ("answer", "declined", "77")
    assert dtmf.occurred_at == datetime(2026, 3, 1, 8, 3, tzinfo=UTC)
    assert (ringing.kind, ringing.delivered) == ("delivery", None)
    # the final VoiceReport repeating the same key is the same answer for deduplication
    (final,) = provider.parse_callback({}, body([voice_report("2", call_id="5^5", out_id="77")]), path=CALLBACK_PATH)
    assert final.dedup_key == dtmf.dedup_key
    assert ringing.dedup_key != dtmf.dedup_key


def test_aliyun_sms_report_and_sms_replies() -> None:
    provider = aliyun_provider()
    delivered, failed = provider.parse_callback({}, body([
        {"phone_number": "13800138000", "send_time": "2026-03-01 16:00:00", "report_time": "2026-03-01 16:00:05",
         "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1",
         "biz_id": "900619746936498440^0", "out_id": "4711"},
        {"phone_number": "13900139000", "send_time": "2026-03-01 16:00:00", "report_time": "2026-03-01 16:00:09",
         "success": False, "err_code": "MK:0001", "err_msg": "失败", "sms_size": "1", "biz_id": "2^0"},
    ]), path=CALLBACK_PATH)
    assert (delivered.kind, delivered.delivered, delivered.our_reference, delivered.provider_id, delivered.status) == (
        "delivery", True, "4711", "900619746936498440^0", "DELIVERED")
    assert (failed.delivered, failed.our_reference, failed.status) == (False, None, "MK:0001")

    replies = provider.parse_callback({}, body([
        {"phone_number": "13800138000", "content": "1", "send_time": "2026-03-01 16:05:00", "dest_code": "1234",
         "sequence_id": 1234567890},
        {"phone_number": "13900139000", "content": "n", "send_time": "2026-03-01 16:06:00", "dest_code": "1234",
         "sequence_id": "1234567891", "sign_name": "评标平台"},
        {"phone_number": "13700137000", "content": "我再想想", "send_time": "2026-03-01 16:07:00",
         "dest_code": "1234", "sequence_id": "1234567892"},
    ]), path=CALLBACK_PATH)
    assert [(e.kind, e.answer, e.phone, e.our_reference, e.channel) for e in replies] == [
        ("answer", "accepted", "13800138000", None, "sms"),
        ("answer", "declined", "13900139000", None, "sms"),
        ("answer", None, "13700137000", None, "sms")]
    assert replies[0].provider_id == "up:1234567890"


def test_aliyun_callback_for_an_unknown_call_has_no_reference() -> None:
    (event,) = aliyun_provider().parse_callback({}, body([voice_report("1", call_id="404^404", out_id=None)]),
                                                path=CALLBACK_PATH)
    assert event.our_reference is None and event.answer == "accepted"  # the caller decides what to do


def test_aliyun_repeated_callbacks_give_identical_events() -> None:
    provider = aliyun_provider()
    reply = {"phone_number": "13800138000", "content": "Y", "send_time": "2026-03-01 16:05:00",
             "dest_code": "1234", "sequence_id": 42}
    payload = body([voice_report("1"), reply])
    first = provider.parse_callback({}, payload, path=CALLBACK_PATH)
    again = provider.parse_callback({}, payload, path=CALLBACK_PATH)
    assert first == again
    assert [e.dedup_key for e in first] == [e.dedup_key for e in again]
    assert len({e.dedup_key for e in first}) == 2
    assert first[0].dedup_key == "aliyun:answer:call:122628733198^109422061"


@pytest.mark.parametrize("where", ["query", "segment", "header"])
def test_aliyun_callback_token_is_accepted_in_url_or_header(where: str) -> None:
    path, headers = {
        "query": (f"/notify/aliyun?token={TOKEN}", {}),
        "segment": (f"/notify/aliyun/{TOKEN}", {}),
        "header": ("/notify/aliyun", {"x-callback-token": TOKEN}),
    }[where]
    (event,) = aliyun_provider().parse_callback(headers, body([voice_report("1")]), path=path)
    assert event.answer == "accepted"


@pytest.mark.parametrize(("headers", "path", "reason"), [
    ({}, "/notify/aliyun?token=wrong-token-0000000000", "does not match"),
    ({}, "/notify/aliyun", "does not match"),
    ({"X-Callback-Token": "x" * 24}, "/notify/aliyun", "does not match"),
    ({}, "/", "no token"),
])
def test_aliyun_callback_with_a_bad_token_is_rejected(headers: dict, path: str, reason: str) -> None:
    with pytest.raises(CallbackRejected, match=reason):
        aliyun_provider().parse_callback(headers, body([voice_report("1")]), path=path)


def test_aliyun_token_rotation_and_source_check() -> None:
    old, new = "old-token-0123456789abcdef", "new-token-0123456789abcdef"
    provider = aliyun_provider(callback_token=[old, new], source_check=lambda addr: addr == "140.205.1.1")
    payload = body([voice_report("1")])
    for token in (old, new):
        assert provider.parse_callback({}, payload, path=f"/cb?token={token}", remote_addr="140.205.1.1")
    with pytest.raises(CallbackRejected, match="source"):
        provider.parse_callback({}, payload, path=f"/cb?token={new}", remote_addr="10.0.0.9")
    with pytest.raises(CallbackRejected, match="source"):
        provider.parse_callback({}, payload, path=f"/cb?token={new}")
    with pytest.raises(ValueError, match="at least 16"):
        aliyun_config(callback_token="short")


@pytest.mark.parametrize(("payload", "reason"), [
    (b"[{\"call_id\": ", "not JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b'{"call_id": "1^1", "status_code": "200000"}', "expected a JSON array"),
    (b'["just a string"]', "not an object"),
    (b'[{"hello": "world"}]', "unknown shape"),
    (b'[{"biz_id": "1^0", "success": "perhaps"}]', "success"),
    (b'[{"call_id": "", "status_code": "200000"}]', "empty call_id"),
])
def test_aliyun_malformed_callbacks_are_rejected(payload: bytes, reason: str) -> None:
    with pytest.raises(CallbackRejected, match=reason):
        aliyun_provider().parse_callback({}, payload, path=CALLBACK_PATH)


def test_aliyun_callback_ack() -> None:
    status, headers, reply = aliyun_provider().callback_ack([])
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(reply) == {"code": 0, "msg": "成功"}


# ==================================================================================================
# Tencent: TC3-HMAC-SHA256


def test_tc3_signature_reproduces_the_documented_example() -> None:
    # Tencent Cloud API signature v3 documentation: CVM DescribeInstances, timestamp 1551113065,
    # with the documentation's (masked) example keys taken literally.
    payload = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    canonical = tencent.canonical_request("cvm.tencentcloudapi.com", payload)
    assert canonical == ("POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n"
                         "content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
    to_sign = tencent.string_to_sign(1551113065, "cvm", canonical)
    assert to_sign == ("TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
                       "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031")
    authorization = tencent.tc3_sign(secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
                                     secret_key="Gu5t9xGARNpq86cd98joQYCN3*******", host="cvm.tencentcloudapi.com",
                                     service="cvm", payload=payload, unix_seconds=1551113065)
    assert authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c")


def test_tc3_signature_agrees_with_an_independent_implementation() -> None:
    payload = json.dumps({"SignName": "评标平台", "PhoneNumberSet": ["+8613800138000"]}, ensure_ascii=False).encode()
    for ts in (1551113065, 1772352000, 1772438399):  # incl. the last second of a UTC day
        assert tencent.tc3_sign(secret_id="AKIDexample", secret_key="tencent-secret", host="sms.tencentcloudapi.com",
                                service="sms", payload=payload, unix_seconds=ts) == \
            ref_tc3_authorization("AKIDexample", "tencent-secret", "sms.tencentcloudapi.com", "sms", payload, ts)


# ==================================================================================================
# Tencent: requests


def tencent_config(**changes: object) -> TencentSmsConfig:
    values: dict[str, object] = {"secret_id": "AKIDexample", "secret_key": "tencent-secret",
                                 "sdk_app_id": "1400006666", "sign_name": "评标平台", "template_id": "1110",
                                 "callback_token": TOKEN}
    values.update(changes)
    return TencentSmsConfig(**values)  # type: ignore[arg-type]


def tencent_provider(recorder: Recorder | None = None, **changes: object) -> TencentSmsProvider:
    return TencentSmsProvider(tencent_config(**changes), client=recorder.client if recorder else None,
                              clock=lambda: FIXED_NOW)


TENCENT_OK = {"Response": {"SendStatusSet": [{
    "SerialNo": "5000:1045710669157053657849499619", "PhoneNumber": "+8613800138000", "Fee": 1,
    "SessionContext": "4711", "Code": "Ok", "Message": "send success", "IsoCode": "CN"}],
    "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"}}


async def test_tencent_send_sms_request_and_ok_response() -> None:
    async with Recorder(json_response(TENCENT_OK)) as recorder:
        receipt = await tencent_provider(recorder).send_sms(invitation(phone="13800138000"))
    (request,) = recorder.requests
    assert request.method == "POST" and str(request.url) == "https://sms.tencentcloudapi.com/"
    headers = request.headers
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["host"] == "sms.tencentcloudapi.com"
    assert headers["x-tc-action"] == "SendSms" and headers["x-tc-version"] == "2021-01-11"
    assert headers["x-tc-region"] == "ap-guangzhou"
    assert headers["x-tc-timestamp"] == str(int(FIXED_NOW.timestamp())) == "1772352000"
    assert "x-tc-token" not in headers
    # what Tencent does on receipt: recompute the signature over the received bytes
    assert headers["authorization"] == ref_tc3_authorization(
        "AKIDexample", "tencent-secret", "sms.tencentcloudapi.com", "sms", request.content, 1772352000)
    assert headers["authorization"].startswith("TC3-HMAC-SHA256 Credential=AKIDexample/2026-03-01/sms/tc3_request, ")
    sent = json.loads(request.content)
    assert sent == {"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400006666", "SignName": "评标平台",
                    "TemplateId": "1110", "TemplateParamSet": ["2026年03月05日 09:30", PLACE],
                    "SessionContext": "4711"}
    assert (receipt.provider, receipt.channel, receipt.provider_id, receipt.request_id, receipt.our_reference) == (
        "tencent", "sms", "5000:1045710669157053657849499619", "a0aabda6-cf91-4f3e-a81f-9198114a2279", "4711")


async def test_tencent_optional_fields() -> None:
    async with Recorder(json_response(TENCENT_OK)) as recorder:
        await tencent_provider(recorder, extend_code="01", session_token="temp-token", region="ap-beijing",
                               template_params=("place", "time")).send_sms(invitation(phone="+85261234567"))
    request = recorder.requests[0]
    sent = json.loads(request.content)
    assert sent["ExtendCode"] == "01" and sent["PhoneNumberSet"] == ["+85261234567"]
    assert sent["TemplateParamSet"] == [PLACE, "2026年03月05日 09:30"]
    assert request.headers["x-tc-token"] == "temp-token" and request.headers["x-tc-region"] == "ap-beijing"


CREDENTIALS_REFUSED = "The provided credentials could not be validated."
DAILY_LIMIT = "the number of sms messages sent from a single mobile number every day exceeds the upper limit"


@pytest.mark.parametrize(("payload", "code", "message", "retryable"), [
    ({"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": CREDENTIALS_REFUSED},
                   "RequestId": "req-1"}}, "AuthFailure.SignatureFailure", CREDENTIALS_REFUSED, False),
    ({"Response": {"Error": {"Code": "InternalError.Timeout", "Message": "timeout"}, "RequestId": "req-1"}},
     "InternalError.Timeout", "timeout", True),
    ({"Response": {"SendStatusSet": [{"SerialNo": "", "PhoneNumber": "+8613800138000", "Fee": 0,
                                      "SessionContext": "4711", "Code": "LimitExceeded.PhoneNumberDailyLimit",
                                      "Message": DAILY_LIMIT, "IsoCode": "CN"}], "RequestId": "req-1"}},
     "LimitExceeded.PhoneNumberDailyLimit", DAILY_LIMIT, False),
])
async def test_tencent_errors_become_provider_errors(payload: dict, code: str, message: str, retryable: bool) -> None:
    async with Recorder(json_response(payload)) as recorder:
        with pytest.raises(ProviderError) as caught:
            await tencent_provider(recorder).send_sms(invitation())
    error = caught.value
    assert (error.provider, error.code, error.message, error.request_id, error.retryable) == (
        "tencent", code, message, "req-1", retryable)


async def test_tencent_unreadable_answer_and_no_voice() -> None:
    async with Recorder(lambda request: httpx.Response(500, text="oops")) as recorder:
        with pytest.raises(ProviderError) as caught:
            await tencent_provider(recorder).send_sms(invitation())
    assert caught.value.code == "HTTP_500" and caught.value.retryable
    with pytest.raises(ChannelNotSupported):
        await tencent_provider().place_call(invitation())


# ==================================================================================================
# Tencent: callbacks


TENCENT_PATH = f"/notify/callbacks/tencent/{TOKEN}"


def test_tencent_delivery_callback() -> None:
    delivered, failed = tencent_provider().parse_callback({}, body([
        {"user_receive_time": "2026-03-01 16:00:04", "nationcode": "86", "mobile": "13800138000",
         "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "用户短信送达成功",
         "sid": "5000:1045710669157053657849499619"},
        {"user_receive_time": "2026-03-01 16:00:09", "nationcode": "86", "mobile": "13900139000",
         "report_status": "FAIL", "errmsg": "MK:0001", "description": "失败", "sid": "5000:2"},
    ]), path=TENCENT_PATH)
    assert (delivered.kind, delivered.delivered, delivered.provider_id, delivered.phone, delivered.status) == (
        "delivery", True, "5000:1045710669157053657849499619", "13800138000", "DELIVRD")
    assert delivered.our_reference is None
    assert delivered.occurred_at == datetime(2026, 3, 1, 8, 0, 4, tzinfo=UTC)
    assert (failed.delivered, failed.status) == (False, "MK:0001")


def test_tencent_reply_callback() -> None:
    provider = tencent_provider()
    reply = {"extend": "", "mobile": "13800138000", "nationcode": "86", "sign": "评标平台", "text": "1",
             "time": 1772352300}
    (accept,) = provider.parse_callback({}, body(reply), path=TENCENT_PATH)
    assert (accept.kind, accept.answer, accept.phone, accept.channel, accept.our_reference) == (
        "answer", "accepted", "13800138000", "sms", None)
    assert accept.occurred_at == datetime(2026, 3, 1, 8, 5, tzinfo=UTC)
    (decline,) = provider.parse_callback({}, body({**reply, "text": "拒绝", "time": 1772352400}), path=TENCENT_PATH)
    assert decline.answer == "declined"
    again = provider.parse_callback({}, body(reply), path=TENCENT_PATH)
    assert again == [accept] and again[0].dedup_key == accept.dedup_key != decline.dedup_key


@pytest.mark.parametrize(("headers", "path", "payload", "reason"), [
    ({}, "/notify/callbacks/tencent/not-the-secret-at-all", [{"sid": "1", "report_status": "SUCCESS"}],
     "does not match"),
    ({"X-Callback-Token": "wrong-wrong-wrong-wrong"}, "/notify/callbacks/tencent", {"text": "1", "mobile": "138"},
     "does not match"),
    ({}, TENCENT_PATH, [{"sid": "1", "report_status": "MAYBE"}], "report_status"),
    ({}, TENCENT_PATH, [{"foo": "bar"}], "unknown shape"),
    ({}, TENCENT_PATH, ["x"], "not an object"),
])
def test_tencent_bad_callbacks_are_rejected(headers: dict, path: str, payload: object, reason: str) -> None:
    with pytest.raises(CallbackRejected, match=reason):
        tencent_provider().parse_callback(headers, body(payload), path=path)
    with pytest.raises(CallbackRejected, match="not JSON"):
        tencent_provider().parse_callback({}, b"result=0", path=TENCENT_PATH)


def test_tencent_callback_ack() -> None:
    status, _headers, reply = tencent_provider().callback_ack([])
    assert status == 200 and json.loads(reply) == {"result": 0, "errmsg": "OK"}


# ==================================================================================================
# the simulator


SIM_NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_simulator_accept_decline_and_no_answer_by_keypress() -> None:
    clock = Clock(SIM_NOW)
    sim = SimulatedProvider({"13800000001": "accept", "13800000002": "decline", "13800000003": "no_answer",
                             "13800000004": "unreachable"}, default="no_answer", delay_seconds=30, clock=clock)
    receipts = {}
    for n in range(1, 6):
        inv = invitation(reference=str(n), phone=f"1380000000{n}")
        await sim.send_sms(inv)
        receipts[n] = await sim.place_call(inv)
    assert len(sim.sent_sms) == 5 and len(sim.placed_calls) == 5
    assert sim.placed_calls[0].text == DEFAULT_TEMPLATES.render_voice(invitation(reference="1", phone="13800000001"))

    sms_reports = sim.events_due()  # delivery reports come at once, answers after the delay
    assert [(e.kind, e.channel, e.delivered) for e in sms_reports] == [("delivery", "sms", True)] * 3 + [
        ("delivery", "sms", False), ("delivery", "sms", True)]
    assert [e.our_reference for e in sms_reports] == ["1", "2", "3", "4", "5"]
    assert sim.answers_due() == []

    clock.now = SIM_NOW + timedelta(seconds=30)
    events = {e.our_reference: e for e in sim.events_due()}
    assert (events["1"].kind, events["1"].answer) == ("answer", "accepted")
    assert events["1"].provider_id == receipts[1].provider_id
    assert (events["2"].kind, events["2"].answer) == ("answer", "declined")
    assert (events["3"].kind, events["3"].delivered, events["3"].status) == ("delivery", False, "200003")
    assert (events["4"].kind, events["4"].delivered, events["4"].status) == ("delivery", False, "200005")
    assert events["5"].kind == "delivery"  # default behaviour: no_answer
    assert sim.pending_callbacks() == []  # handed out once


async def test_simulator_pushes_are_real_authenticated_aliyun_shapes() -> None:
    sim = SimulatedProvider(default="decline", clock=Clock(SIM_NOW), callback_token=TOKEN)
    await sim.place_call(invitation())
    (push,) = sim.pending_callbacks()
    headers, payload, path = push
    assert path == f"/notify/callbacks/simulator?token={TOKEN}"
    (item,) = json.loads(payload)
    assert item["dtmf"] == "2" and item["out_id"] == "4711" and item["status_code"] == "200000"
    (event,) = sim.parse_callback(headers, payload, path=path)
    assert event.provider == "simulator" and event.answer == "declined"
    # the same push is accepted by the real Aliyun parser configured with the same secret
    (real,) = aliyun_provider().parse_callback(headers, payload, path=path)
    assert (real.provider, real.answer, real.provider_id) == ("aliyun", "declined", event.provider_id)
    # repeated: identical events
    assert sim.parse_callback(headers, payload, path=path) == [event]
    # and the simulator refuses pushes without its secret
    with pytest.raises(CallbackRejected):
        sim.parse_callback(headers, payload, path="/notify/callbacks/simulator?token=guessed-token-123456")
    with pytest.raises(CallbackRejected):
        SimulatedProvider().parse_callback(headers, payload, path=path)  # another instance, another secret


async def test_simulator_answers_by_sms_reply() -> None:
    clock = Clock(SIM_NOW)
    sim = SimulatedProvider(lambda phone: "accept" if phone.endswith("1") else "decline", answer_by="sms",
                            delay_seconds=lambda phone: 60, clock=clock)
    await sim.send_sms(invitation(reference="1", phone="13800000001"))
    await sim.send_sms(invitation(reference="2", phone="13800000002"))
    await sim.place_call(invitation(reference="1", phone="13800000001"))
    assert sim.answers_due() == []
    clock.now += timedelta(seconds=60)
    answers = sim.answers_due()
    assert [(e.channel, e.phone, e.answer, e.our_reference) for e in answers] == [
        ("sms", "13800000001", "accepted", None), ("sms", "13800000002", "declined", None)]


async def test_simulated_sms_reply_and_errors() -> None:
    sim = SimulatedProvider({"13800000009": "error"}, clock=Clock(SIM_NOW))
    headers, payload, path = sim.simulated_sms_reply("+8613800000001", "２")
    (event,) = sim.parse_callback(headers, payload, path=path)
    assert (event.kind, event.answer, event.phone) == ("answer", "declined", "13800000001")
    with pytest.raises(ProviderError) as caught:
        await sim.send_sms(invitation(phone="13800000009"))
    assert caught.value.code == "isv.MOBILE_NUMBER_ILLEGAL"
    with pytest.raises(ProviderError):
        await sim.place_call(invitation(phone="13800000009"))
    assert sim.sent == []
    with pytest.raises(ValueError, match="15 bytes"):
        await sim.place_call(invitation(reference="a-reference-that-is-too-long"))
    with pytest.raises(ValueError, match="behaviour"):
        SimulatedProvider({"13800000001": "shrug"})  # type: ignore[dict-item]


async def test_simulator_deliver_due_posts_to_the_callback_endpoint() -> None:
    sim = SimulatedProvider(clock=Clock(SIM_NOW))
    received: list[CallbackEvent] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        target = request.url.raw_path.decode()
        try:
            events = sim.parse_callback(dict(request.headers), request.content, path=target)
        except CallbackRejected:
            return httpx.Response(403)
        received.extend(events)
        status, headers, reply = sim.callback_ack(events)
        return httpx.Response(status, headers=headers, content=reply)

    async with Recorder(endpoint) as recorder:
        await sim.send_sms(invitation())
        await sim.place_call(invitation())
        statuses = await sim.deliver_due(recorder.client, "http://bidhall.test")
    assert statuses == [200, 200]
    assert [request.url.path for request in recorder.requests] == ["/notify/callbacks/simulator"] * 2
    assert [(e.kind, e.answer) for e in received] == [("delivery", None), ("answer", "accepted")]


# ==================================================================================================
# the interface and the factory


def test_every_provider_implements_the_interface() -> None:
    for provider in (aliyun_provider(), tencent_provider(), SimulatedProvider()):
        assert isinstance(provider, NotificationProvider)
    assert aliyun_provider().channels == {"sms", "call"} and tencent_provider().channels == {"sms"}


def test_provider_from_settings() -> None:
    built = provider_from_settings("aliyun", access_key_id="LTAIexample", access_key_secret="s",
                                   callback_token=TOKEN, sms_sign_name="评标平台", sms_template_code="SMS_1")
    assert isinstance(built, AliyunProvider) and built.config.sms_template_code == "SMS_1"
    built = provider_from_settings("Tencent", secret_id="AKID", secret_key="k", sdk_app_id="1400000000",
                                   sign_name="评标平台", template_id="1", callback_token=TOKEN)
    assert isinstance(built, TencentSmsProvider)
    built = provider_from_settings("simulator", behaviour={"13800000001": "decline"}, delay_seconds=5,
                                   callback_token=TOKEN)
    assert isinstance(built, SimulatedProvider) and built.behaviour_for("+8613800000001") == "decline"
    with pytest.raises(ValueError, match="unknown notification provider"):
        provider_from_settings("carrier-pigeon")
    with pytest.raises(ValueError, match="unknown setting"):
        provider_from_settings("aliyun", access_key_id="a", access_key_secret="s", callback_token=TOKEN,
                               project_name="secret")
    with pytest.raises(ValueError, match="simulator"):
        provider_from_settings("simulator", project="secret")


def test_callback_auth_needs_a_real_secret() -> None:
    with pytest.raises(ValueError):
        CallbackAuth.of([])
    with pytest.raises(ValueError):
        CallbackAuth.of("too-short")


def test_configurations_do_not_show_secrets() -> None:
    shown = repr(aliyun_config()) + repr(tencent_config(session_token="temp-token-value"))
    for secret in ("aliyun-secret", "tencent-secret", TOKEN, "temp-token-value"):
        assert secret not in shown
