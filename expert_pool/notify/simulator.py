"""A local provider that behaves like a real one, for the demo and the tests.

It records every SMS and call (with the text the expert would read or hear), and for each one
schedules the pushes a real provider would make, in **Aliyun's HTTP batch push shapes** (SmsReport,
VoiceReport with ``dtmf``, SmsUp), authenticated the same way (shared secret in the callback URL).
So the callback endpoint, the token check and the parser run exactly as in production.

Behaviour per phone (a dict, or a callable given the phone, with a default):

- ``"accept"`` / ``"decline"``: the expert answers, by keypress on the call (``answer_by="call"``,
  key 1 / key 2 in the VoiceReport) or by SMS reply ``"1"`` / ``"2"`` (``answer_by="sms"``);
- ``"no_answer"``: the SMS is delivered, the call rings out (status 200003), no reply ever comes;
- ``"unreachable"``: the SMS fails (``success: false``) and the call cannot connect (200005);
- ``"error"``: the send itself is refused with :class:`ProviderError` (as a bad number would be).

Answers are due ``delay_seconds`` after the send (a number, or a callable given the phone);
delivery reports are due at once. Take what is due with :meth:`SimulatedProvider.pending_callbacks`
(``(headers, body, path)`` to POST to the callback endpoint), :meth:`deliver_due` (POSTs them
through an ``httpx.AsyncClient``), or :meth:`events_due` / :meth:`answers_due` (parsed through
:meth:`parse_callback`, for tests that do not go through HTTP). Each scheduled push is handed out
once; POST the same one again to exercise duplicate handling.

State lives in the instance (in memory, one process): the process that sends must also hand out
the pushes. The callback token must be the same in the process that verifies them: pass
``callback_token`` explicitly when more than one process is involved.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

import httpx

from core.clock import utcnow
from expert_pool.notify.aliyun import ACK, aliyun_phone, parse_aliyun_item
from expert_pool.notify.base import (
    DEFAULT_REPLY_WORDS,
    DEFAULT_TEMPLATES,
    SHANGHAI,
    AnswerValue,
    CallbackAuth,
    CallbackEvent,
    Channel,
    Invitation,
    MessageTemplates,
    ProviderError,
    ProviderReceipt,
    json_array_of_objects,
    json_reply,
    load_json_body,
    normalize_phone,
)

Behaviour = Literal["accept", "decline", "no_answer", "unreachable", "error"]
BEHAVIOURS: frozenset[str] = frozenset({"accept", "decline", "no_answer", "unreachable", "error"})

#: Aliyun voice OutId limit, enforced here too so a too-long reference fails in the demo, not in production.
OUT_ID_MAX_BYTES = 15


class SimulatedCallback(NamedTuple):
    """A push to POST to the callback endpoint: ``headers``, ``body``, ``path`` (with the token query)."""

    headers: dict[str, str]
    body: bytes
    path: str


@dataclass(frozen=True)
class SimulatedSend:
    """One SMS or call the simulator took: what the expert would read or hear, and what they will do."""

    channel: Channel
    invitation: Invitation
    provider_id: str
    request_id: str
    text: str
    sent_at: datetime
    behaviour: Behaviour


@dataclass(order=True)
class _Scheduled:
    due_at: datetime
    sequence: int
    kind: str = field(compare=False)  # "SmsReport" | "VoiceReport" | "SmsUp"
    item: dict[str, Any] = field(compare=False)


def _beijing(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


class SimulatedProvider:
    """See the module docstring."""

    name = "simulator"
    channels = frozenset({"sms", "call"})

    def __init__(self, behaviour: Mapping[str, Behaviour] | Callable[[str], Behaviour] | None = None,
                 default: Behaviour = "accept", delay_seconds: float | Callable[[str], float] = 0, *,
                 answer_by: Literal["call", "sms"] = "call", callback_token: str | None = None,
                 callback_path: str = "/notify/callbacks/simulator", clock: Callable[[], datetime] | None = None,
                 templates: MessageTemplates = DEFAULT_TEMPLATES, sign_name: str = "模拟签名",
                 show_number: str = "057100000000",
                 reply_words: Mapping[str, AnswerValue] = DEFAULT_REPLY_WORDS) -> None:
        if default not in BEHAVIOURS:
            raise ValueError(f"simulator: unknown default behaviour {default!r}; one of {sorted(BEHAVIOURS)}")
        if isinstance(behaviour, Mapping):
            table = {normalize_phone(phone): value for phone, value in behaviour.items()}
            for phone, value in table.items():
                if value not in BEHAVIOURS:
                    raise ValueError(f"simulator: unknown behaviour {value!r} for {phone}")
            self._behaviour: Callable[[str], Behaviour] = lambda phone: table.get(normalize_phone(phone), default)
        elif behaviour is None:
            self._behaviour = lambda phone: default
        else:
            self._behaviour = behaviour
        if answer_by not in ("call", "sms"):
            raise ValueError("simulator: answer_by must be 'call' or 'sms'")
        self._delay = delay_seconds if callable(delay_seconds) else (lambda phone, d=float(delay_seconds): d)
        self.answer_by = answer_by
        self.callback_token = callback_token or secrets.token_urlsafe(24)
        self.callback_path = callback_path
        self._auth = CallbackAuth.of(self.callback_token)
        self._clock = clock or utcnow
        self.templates = templates
        self.sign_name = sign_name
        self.show_number = show_number
        self.reply_words = reply_words
        self.sent: list[SimulatedSend] = []
        self._scheduled: list[_Scheduled] = []
        self._counter = itertools.count(1)

    # -- what was sent -----------------------------------------------------------------------------

    @property
    def sent_sms(self) -> list[SimulatedSend]:
        return [send for send in self.sent if send.channel == "sms"]

    @property
    def placed_calls(self) -> list[SimulatedSend]:
        return [send for send in self.sent if send.channel == "call"]

    def behaviour_for(self, phone: str) -> Behaviour:
        value = self._behaviour(phone)
        if value not in BEHAVIOURS:
            raise ValueError(f"simulator: unknown behaviour {value!r} for {phone}")
        return value

    # -- sending -----------------------------------------------------------------------------------

    async def send_sms(self, invitation: Invitation) -> ProviderReceipt:
        behaviour = self.behaviour_for(invitation.phone)
        number = next(self._counter)
        request_id = f"SIM-REQ-{number:08d}"
        if behaviour == "error":
            raise ProviderError(self.name, "isv.MOBILE_NUMBER_ILLEGAL", "simulated refusal", request_id=request_id)
        now = self._clock()
        biz_id = f"{900000000 + number}^0"
        phone = aliyun_phone(invitation.phone)
        self.sent.append(SimulatedSend("sms", invitation, biz_id, request_id, self.templates.render_sms(invitation),
                                       now, behaviour))
        delivered = behaviour != "unreachable"
        self._schedule(now, "SmsReport", {
            "phone_number": phone, "send_time": _beijing(now), "report_time": _beijing(now),
            "success": delivered, "err_code": "DELIVERED" if delivered else "UNDELIVERED",
            "err_msg": "用户接收成功" if delivered else "用户无法接收", "sms_size": "1",
            "biz_id": biz_id, "out_id": invitation.reference,
        })
        if self.answer_by == "sms" and behaviour in ("accept", "decline"):
            due = now + timedelta(seconds=self._delay(invitation.phone))
            self._schedule(due, "SmsUp", {
                "phone_number": phone, "send_time": _beijing(due), "content": "1" if behaviour == "accept" else "2",
                "sign_name": self.sign_name, "dest_code": "1234", "sequence_id": 700000000 + number,
            })
        return ProviderReceipt(self.name, "sms", biz_id, request_id, invitation.reference)

    async def place_call(self, invitation: Invitation) -> ProviderReceipt:
        if len(invitation.reference.encode("utf-8")) > OUT_ID_MAX_BYTES:
            raise ValueError(f"voice OutId is limited to {OUT_ID_MAX_BYTES} bytes (as at Aliyun); "
                             f"reference {invitation.reference!r} is longer")
        behaviour = self.behaviour_for(invitation.phone)
        number = next(self._counter)
        request_id = f"SIM-REQ-{number:08d}"
        if behaviour == "error":
            raise ProviderError(self.name, "isv.MOBILE_NUMBER_ILLEGAL", "simulated refusal", request_id=request_id)
        now = self._clock()
        call_id = f"{100000000000 + number}^{100000000 + number}"
        self.sent.append(SimulatedSend("call", invitation, call_id, request_id,
                                       self.templates.render_voice(invitation), now, behaviour))
        due = now + timedelta(seconds=self._delay(invitation.phone))
        item: dict[str, Any] = {
            "call_id": call_id, "out_id": invitation.reference, "caller": self.show_number,
            "callee": aliyun_phone(invitation.phone), "originate_time": _beijing(now), "voice_type": "voice",
            "toll_type": "LOCAL", "end_time": _beijing(due),
        }
        if behaviour in ("accept", "decline"):
            item.update(status_code="200000", status_msg="用户听完语音", ring_time=_beijing(now),
                        b_start_time=_beijing(now), duration=str(max(1, int((due - now).total_seconds()))),
                        hangup_direction="用户")
            if self.answer_by == "call":
                item["dtmf"] = "1" if behaviour == "accept" else "2"
        elif behaviour == "no_answer":
            item.update(status_code="200003", status_msg="用户收到呼叫但未接听", ring_time=_beijing(now),
                        duration="0")
        else:
            item.update(status_code="200005", status_msg="被叫用户无法接通", duration="0")
        self._schedule(due, "VoiceReport", item)
        return ProviderReceipt(self.name, "call", call_id, request_id, invitation.reference)

    def _schedule(self, due_at: datetime, kind: str, item: dict[str, Any]) -> None:
        self._scheduled.append(_Scheduled(due_at, next(self._counter), kind, item))

    # -- the pushes --------------------------------------------------------------------------------

    def _push(self, items: Sequence[dict[str, Any]]) -> SimulatedCallback:
        body = json.dumps(list(items), ensure_ascii=False).encode("utf-8")
        return SimulatedCallback({"Content-Type": "application/json"}, body,
                                 f"{self.callback_path}?token={self.callback_token}")

    def pending_callbacks(self, now: datetime | None = None) -> list[SimulatedCallback]:
        """The pushes now due, batched per message type as Aliyun does; each is handed out once."""
        moment = now or self._clock()
        due = sorted(entry for entry in self._scheduled if entry.due_at <= moment)
        self._scheduled = [entry for entry in self._scheduled if entry.due_at > moment]
        pushes = []
        for kind in ("SmsReport", "VoiceReport", "SmsUp"):
            items = [entry.item for entry in due if entry.kind == kind]
            if items:
                pushes.append(self._push(items))
        return pushes

    def next_due(self) -> datetime | None:
        return min((entry.due_at for entry in self._scheduled), default=None)

    def events_due(self, now: datetime | None = None) -> list[CallbackEvent]:
        """Every due push, parsed through :meth:`parse_callback` as the endpoint would."""
        events: list[CallbackEvent] = []
        for headers, body, path in self.pending_callbacks(now):
            events.extend(self.parse_callback(headers, body, path=path))
        return events

    def answers_due(self, now: datetime | None = None) -> list[CallbackEvent]:
        """The answer events among the due pushes (delivery reports due by then are consumed too)."""
        return [event for event in self.events_due(now) if event.kind == "answer"]

    async def deliver_due(self, client: httpx.AsyncClient, base_url: str,
                          now: datetime | None = None) -> list[int]:
        """POST the due pushes to ``base_url`` + their path; returns the HTTP statuses."""
        statuses = []
        for headers, body, path in self.pending_callbacks(now):
            response = await client.post(base_url.rstrip("/") + path, content=body, headers=headers)
            statuses.append(response.status_code)
        return statuses

    def simulated_sms_reply(self, phone: str, content: str, *, at: datetime | None = None) -> SimulatedCallback:
        """An SMS reply from ``phone`` (Aliyun SmsUp shape), authenticated, to POST right away."""
        moment = at or self._clock()
        return self._push([{
            "phone_number": aliyun_phone(phone), "send_time": _beijing(moment), "content": content,
            "sign_name": self.sign_name, "dest_code": "1234", "sequence_id": 700000000 + next(self._counter),
        }])

    # -- callbacks ---------------------------------------------------------------------------------

    def parse_callback(self, headers: Mapping[str, str], body: bytes, *, path: str,
                       remote_addr: str | None = None) -> list[CallbackEvent]:
        self._auth.verify(headers, path, remote_addr)
        items = json_array_of_objects(load_json_body(body), "simulator callback")
        return [parse_aliyun_item(item, index, provider=self.name, reply_words=self.reply_words)
                for index, item in enumerate(items)]

    def callback_ack(self, events: Sequence[CallbackEvent]) -> tuple[int, dict[str, str], bytes]:
        return json_reply(200, ACK)
