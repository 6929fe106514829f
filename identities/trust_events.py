"""Trust-list events and their replay (stream ``ca:<id>``)."""

from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from identities.trust_models import TrustedCA
from supervision.ledger.canonical import to_json_value
from supervision.replay import State, StreamKind, StreamRegistry

CA_ADDED = "identities.ca_added"
CA_STATUS_CHANGED = "identities.ca_status_changed"

CA_FIELDS = ("id", "name", "region", "kind", "algorithm", "subject", "fingerprint", "not_after",
             "revocation_policy", "identity_rule", "status", "status_reason", "created_at", "updated_at")


def ca_stream(ca_id: int | None) -> str:
    return f"ca:{ca_id}"


def ca_snapshot(ca: TrustedCA) -> dict[str, Any]:
    """The whole record, the certificate included (base64 DER), so replay can rebuild it."""
    values = {name: getattr(ca, name) for name in CA_FIELDS}
    values["certificate"] = base64.b64encode(ca.certificate_der).decode("ascii")
    return to_json_value(values)  # type: ignore[no-any-return]


def apply_ca(state: State | None, entry: dict[str, Any]) -> State | None:
    if entry["type"] == CA_ADDED:
        return dict(entry["payload"])
    if entry["type"] == CA_STATUS_CHANGED and state is not None:
        return {**state, **entry["payload"]}
    return state


async def load_ca(session: AsyncSession, stream: str) -> State | None:
    try:
        ca_id = int(stream.partition(":")[2])
    except ValueError:
        return None
    ca = await session.get(TrustedCA, ca_id)
    return ca_snapshot(ca) if ca else None


async def list_ca_streams(session: AsyncSession) -> list[str]:
    return [ca_stream(i) for i in (await session.scalars(sa.select(TrustedCA.id))).all()]


def register(registry: StreamRegistry) -> None:
    registry.register(StreamKind("ca", apply_ca, load_ca, list_ca_streams))
