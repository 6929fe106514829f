"""Identity events, their payloads, and the reducers replay folds them through.

Streams: ``party:<id>`` and ``user:<id>``. A user's state includes its tokens (without
secrets) so replay reproduces the token table too. Password hashes never enter the ledger.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from identities.models import Party, Token, User, UserCertificate
from supervision.ledger.canonical import to_json_value
from supervision.replay import State, StreamKind, StreamRegistry

PARTY_REGISTERED = "identities.party_registered"
USER_CREATED = "identities.user_created"
USER_UPDATED = "identities.user_updated"
PASSWORD_CHANGED = "identities.password_changed"
TOKEN_ISSUED = "identities.token_issued"
TOKEN_REVOKED = "identities.token_revoked"
CERTIFICATE_BOUND = "identities.certificate_bound"


def party_stream(party_id: int | None) -> str:
    return f"party:{party_id}"


def user_stream(user_id: int | None) -> str:
    return f"user:{user_id}"


def to_payload(values: dict[str, Any]) -> dict[str, Any]:
    return to_json_value(values)  # type: ignore[no-any-return]


def party_snapshot(party: Party) -> dict[str, Any]:
    return to_payload(
        {"id": party.id, "uscc": party.uscc, "name": party.name, "region_code": party.region_code,
         "created_at": party.created_at}
    )


USER_FIELDS = ("id", "username", "display_name", "roles", "party_id", "jurisdiction", "industries", "active", "created_at")


def user_snapshot(user: User) -> dict[str, Any]:
    return to_payload({name: getattr(user, name) for name in USER_FIELDS})


def token_snapshot(token: Token) -> dict[str, Any]:
    return to_payload(
        {"id": token.id, "kind": token.kind, "name": token.name, "created_at": token.created_at,
         "expires_at": token.expires_at, "revoked_at": token.revoked_at}
    )


def certificate_snapshot(record: UserCertificate) -> dict[str, Any]:
    return to_payload(
        {"id": record.id, "fingerprint": record.fingerprint, "subject": record.subject, "ca_name": record.ca_name,
         "uscc": record.uscc, "person_id": record.person_id, "not_after": record.not_after,
         "bound_at": record.bound_at}
    )


# --- reducers -----------------------------------------------------------------------------


def apply_party(state: State | None, entry: dict[str, Any]) -> State | None:
    if entry["type"] == PARTY_REGISTERED:
        return dict(entry["payload"])
    return state


def apply_user(state: State | None, entry: dict[str, Any]) -> State | None:
    payload = entry["payload"]
    kind = entry["type"]
    if kind == USER_CREATED:
        return {**payload, "tokens": {}, "certificates": {}}
    if state is None:
        return None
    if kind == USER_UPDATED:
        return {**state, **payload}
    if kind == TOKEN_ISSUED:
        return {**state, "tokens": {**state["tokens"], str(payload["id"]): dict(payload)}}
    if kind == TOKEN_REVOKED:
        token_key = str(payload["token_id"])
        token = {**state["tokens"][token_key], "revoked_at": payload["revoked_at"]}
        return {**state, "tokens": {**state["tokens"], token_key: token}}
    if kind == CERTIFICATE_BOUND:
        return {**state, "certificates": {**state["certificates"], payload["fingerprint"]: dict(payload)}}
    return state  # password changes leave nothing replayable (the hash stays out)


# --- the same states read from the tables -------------------------------------------------


async def load_party(session: AsyncSession, stream: str) -> State | None:
    party = await session.get(Party, _stream_id(stream))
    return party_snapshot(party) if party else None


async def load_user(session: AsyncSession, stream: str) -> State | None:
    user = await session.get(User, _stream_id(stream))
    if user is None:
        return None
    tokens = await session.scalars(sa.select(Token).where(Token.user_id == user.id))
    certificates = await session.scalars(sa.select(UserCertificate).where(UserCertificate.user_id == user.id))
    return {
        **user_snapshot(user),
        "tokens": {str(t.id): token_snapshot(t) for t in tokens},
        "certificates": {c.fingerprint: certificate_snapshot(c) for c in certificates},
    }


async def list_party_streams(session: AsyncSession) -> list[str]:
    return [party_stream(i) for i in (await session.scalars(sa.select(Party.id))).all()]


async def list_user_streams(session: AsyncSession) -> list[str]:
    return [user_stream(i) for i in (await session.scalars(sa.select(User.id))).all()]


def _stream_id(stream: str) -> int:
    try:
        return int(stream.partition(":")[2])
    except ValueError:
        return -1


def register(registry: StreamRegistry) -> None:
    """Called once at start-up by the composition root."""
    registry.register(StreamKind("party", apply_party, load_party, list_party_streams))
    registry.register(StreamKind("user", apply_user, load_user, list_user_streams))
