"""Sending a reporting batch upward: the uploader interface and its HTTP implementation.

An uploader takes one batch and either returns the upstream's receipt (accepted), raises
:class:`UploadFailed` (worth trying again: the network, a timeout, a 5xx, a 429) or raises
:class:`UploadRejected` (the upstream refuses this batch for good: another 4xx). Tests use
a fake behind the same interface.

The HTTP uploader ``PUT``s the JSON Lines to ``{endpoint}/batches/{batch_id}``: the batch id
in the path and in ``Idempotency-Key`` lets the national platform recognise a resend, and a
``409 Conflict`` (it already holds that batch) counts as accepted. The content's SHA-256
travels in ``Digest`` so the receiver can check it got what was sent.

Where it sends: the settings ``reporting_endpoint`` and ``reporting_token``
(``BIDHALL_REPORTING_ENDPOINT``, ``BIDHALL_REPORTING_TOKEN``; no endpoint: nothing is sent,
batches wait as pending).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Protocol

import httpx

from core.tasks import worker_settings

TIMEOUT_SECONDS = 30.0
RETRYABLE_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class OutgoingBatch:
    batch_id: str
    dataset: str
    content: bytes
    content_sha256: str
    record_count: int


class UploadFailed(Exception):
    """This try did not get through; a later one may."""


class UploadRejected(Exception):
    """The upstream refuses this batch; sending it again would not help."""


class Uploader(Protocol):
    def upload(self, batch: OutgoingBatch) -> str:
        """Send ``batch``; return the upstream's receipt (its reference for the batch)."""
        ...


class HttpUploader:
    """The national platform's batch endpoint over HTTPS (httpx)."""

    def __init__(self, endpoint: str, token: str | None = None, *, transport: httpx.BaseTransport | None = None,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.transport = transport
        self.timeout = timeout

    def upload(self, batch: OutgoingBatch) -> str:
        digest = base64.b64encode(hashlib.sha256(batch.content).digest()).decode()
        headers = {"Content-Type": "application/x-ndjson; charset=utf-8", "Idempotency-Key": batch.batch_id,
                   "Digest": f"SHA-256={digest}", "X-Dataset": batch.dataset,
                   "X-Record-Count": str(batch.record_count)}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            with httpx.Client(transport=self.transport, timeout=self.timeout) as client:
                response = client.put(f"{self.endpoint}/batches/{batch.batch_id}", content=batch.content,
                                      headers=headers)
        except httpx.HTTPError as error:
            raise UploadFailed(f"{type(error).__name__}: {error}") from error
        return _receipt(batch, response)


def _receipt(batch: OutgoingBatch, response: httpx.Response) -> str:
    if response.status_code in (200, 201, 202, 409):
        try:
            body = response.json()
        except ValueError:
            body = {}
        receipt = body.get("receipt") if isinstance(body, dict) else None
        return str(receipt or f"{response.status_code} {batch.batch_id}")
    detail = f"HTTP {response.status_code}: {response.text[:500]}"
    if response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES:
        raise UploadFailed(detail)
    raise UploadRejected(detail)


_installed: list[Uploader] = []


def install_uploader(uploader: Uploader | None) -> None:
    """Use ``uploader`` in this process instead of the configured one (tests, a demo)."""
    _installed.clear()
    if uploader is not None:
        _installed.append(uploader)


def configured_uploader() -> Uploader | None:
    """The uploader installed here, else the HTTP one when an endpoint is set, else none."""
    if _installed:
        return _installed[0]
    settings = worker_settings()
    if settings.reporting_endpoint:
        return HttpUploader(settings.reporting_endpoint, settings.reporting_token)
    return None
