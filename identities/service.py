"""Identity use cases: parties, users, sign-in and tokens. Never commits."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.clock import utcnow
from core.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)
from core.usecases import ANY_ROLE, use_case
from identities import events
from identities.models import Party, Token, User
from identities.passwords import hash_password, verify_password
from identities.schemas import (
    PartyCreate,
    PasswordChange,
    TokenCreate,
    UserCreate,
    UserUpdate,
    check_role_requirements,
)
from supervision.ledger.append import append

STAFF_READERS = frozenset({Role.ADMIN, Role.CENTER_STAFF, Role.REGULATOR, Role.AUDITOR})
TOKEN_PREFIX = "bh_"


# --- parties ------------------------------------------------------------------------------


@use_case("identities.register_party", {Role.ADMIN, Role.CENTER_STAFF})
async def register_party(session: AsyncSession, actor: Actor, data: PartyCreate) -> Party:
    existing = await session.scalar(sa.select(Party).where(Party.uscc == data.uscc))
    if existing is not None:
        raise Conflict(f"a party with credit code {data.uscc} is already registered (id {existing.id})")
    party = Party(uscc=data.uscc, name=data.name, region_code=data.region_code, created_at=utcnow())
    session.add(party)
    await session.flush()
    await append(
        session,
        stream=events.party_stream(party.id),
        event_type=events.PARTY_REGISTERED,
        actor=actor,
        payload=events.party_snapshot(party),
    )
    return party


@use_case("identities.get_party", ANY_ROLE)
async def get_party(session: AsyncSession, actor: Actor, party_id: int) -> Party:
    party = await session.get(Party, party_id)
    if party is None:
        raise NotFound(f"party {party_id} does not exist")
    return party


@use_case("identities.list_parties", STAFF_READERS)
async def list_parties(
    session: AsyncSession, actor: Actor, *, offset: int = 0, limit: int = 50
) -> tuple[list[Party], int]:
    total = await session.scalar(sa.select(sa.func.count()).select_from(Party))
    rows = await session.scalars(sa.select(Party).order_by(Party.id).offset(offset).limit(limit))
    return list(rows), int(total or 0)


# --- users --------------------------------------------------------------------------------


@use_case("identities.create_user", {Role.ADMIN})
async def create_user(session: AsyncSession, actor: Actor, data: UserCreate) -> User:
    if await session.scalar(sa.select(User.id).where(User.username == data.username)) is not None:
        raise Conflict(f"username {data.username!r} is taken")
    if data.party_id is not None:
        await _require_party(session, data.party_id)
    user = User(
        username=data.username,
        display_name=data.display_name,
        password_hash=hash_password(data.password),
        roles=sorted(set(data.roles)),
        party_id=data.party_id,
        jurisdiction=data.jurisdiction,
        industries=sorted(set(data.industries)),
        active=True,
        created_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    await record_user_event(session, actor, user, events.USER_CREATED, events.user_snapshot(user))
    return user


@use_case("identities.get_user", ANY_ROLE)
async def get_user(session: AsyncSession, actor: Actor, user_id: int) -> User:
    """Anyone may read their own account; staff readers may read any."""
    if actor.user_id != user_id and not actor.has_any(STAFF_READERS):
        raise PermissionDenied("only your own account, unless you are admin, staff, regulator or auditor")
    return await _require_user(session, user_id)


@use_case("identities.list_users", {Role.ADMIN, Role.AUDITOR, Role.REGULATOR})
async def list_users(
    session: AsyncSession, actor: Actor, *, offset: int = 0, limit: int = 50
) -> tuple[list[User], int]:
    total = await session.scalar(sa.select(sa.func.count()).select_from(User))
    rows = await session.scalars(sa.select(User).order_by(User.id).offset(offset).limit(limit))
    return list(rows), int(total or 0)


@use_case("identities.update_user", {Role.ADMIN})
async def update_user(session: AsyncSession, actor: Actor, user_id: int, data: UserUpdate) -> User:
    user = await _require_user(session, user_id)
    changes = data.model_dump(exclude_unset=True)
    if "roles" in changes:
        changes["roles"] = sorted(set(changes["roles"]))
    if "industries" in changes:
        changes["industries"] = sorted(set(changes["industries"]))
    if changes.get("party_id") is not None:
        await _require_party(session, changes["party_id"])
    if user_id == actor.user_id and changes.get("active") is False:
        raise Conflict("you cannot deactivate your own account")
    for name, value in changes.items():
        setattr(user, name, value)
    try:
        check_role_requirements({Role(r) for r in user.roles}, user.party_id, user.jurisdiction)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if changes:
        await record_user_event(session, actor, user, events.USER_UPDATED, events.to_payload(changes))
    return user


@use_case("identities.change_password", ANY_ROLE)
async def change_password(session: AsyncSession, actor: Actor, data: PasswordChange) -> None:
    user = await _require_user(session, actor.user_id)
    if not verify_password(user.password_hash, data.current_password):
        raise PermissionDenied("the current password is wrong")
    user.password_hash = hash_password(data.new_password)
    await record_user_event(session, actor, user, events.PASSWORD_CHANGED, {})


# --- sign-in and tokens -------------------------------------------------------------------


async def sign_in(
    session: AsyncSession, username: str, password: str, *, source_address: str | None, hours: int
) -> tuple[Token, str]:
    """Password login: the one use case with no actor yet. Returns the session token."""
    user = await session.scalar(sa.select(User).where(User.username == username))
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise NotAuthenticated("wrong username or password")
    if not user.active:
        raise NotAuthenticated("this account is deactivated")
    actor = actor_for(user, source_address=source_address)
    return await issue_token(session, actor, user, kind="session", name="login", lifetime=timedelta(hours=hours))


@use_case("identities.sign_out", ANY_ROLE)
async def sign_out(session: AsyncSession, actor: Actor, raw_token: str) -> None:
    token = await session.scalar(sa.select(Token).where(Token.token_hash == token_digest(raw_token)))
    if token is None or token.user_id != actor.user_id:
        raise NotFound("this token is not yours or does not exist")
    await _revoke(session, actor, token)


@use_case("identities.issue_api_token", ANY_ROLE)
async def issue_api_token(session: AsyncSession, actor: Actor, data: TokenCreate) -> tuple[Token, str]:
    user = await _require_user(session, actor.user_id)
    lifetime = timedelta(days=data.expires_in_days)
    return await issue_token(session, actor, user, kind="api", name=data.name, lifetime=lifetime)


@use_case("identities.list_tokens", ANY_ROLE)
async def list_tokens(session: AsyncSession, actor: Actor) -> list[Token]:
    rows = await session.scalars(sa.select(Token).where(Token.user_id == actor.user_id).order_by(Token.id))
    return list(rows)


@use_case("identities.revoke_token", ANY_ROLE)
async def revoke_token(session: AsyncSession, actor: Actor, token_id: int) -> Token:
    token = await session.get(Token, token_id)
    if token is None or (token.user_id != actor.user_id and Role.ADMIN not in actor.roles):
        raise NotFound(f"token {token_id} does not exist or is not yours")
    if token.revoked_at is None:
        await _revoke(session, actor, token)
    return token


async def authenticate(session: AsyncSession, raw_token: str, *, source_address: str | None) -> Actor:
    """The actor a bearer token stands for; every failure names its reason."""
    # Token and user in one round trip: every authenticated request pays for this.
    found = (await session.execute(
        sa.select(Token, User).outerjoin(User, User.id == Token.user_id)  # type: ignore[arg-type]
        .where(Token.token_hash == token_digest(raw_token)))).one_or_none()
    if found is None:
        raise NotAuthenticated("unknown token")
    token, user = found
    if token.revoked_at is not None:
        raise NotAuthenticated("this token was revoked")
    if token.expires_at <= utcnow():
        raise NotAuthenticated(f"this token expired at {token.expires_at.isoformat()}")
    if user is None or not user.active:
        raise NotAuthenticated("this account is deactivated")
    return actor_for(user, source_address=source_address)


def actor_for(user: User, *, source_address: str | None = None) -> Actor:
    return Actor(
        user_id=user.id,
        username=user.username,
        roles=frozenset(Role(role) for role in user.roles),
        party_id=user.party_id,
        jurisdiction=user.jurisdiction,
        industries=frozenset(user.industries),
        source_address=source_address,
    )


def token_digest(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


# --- helpers ------------------------------------------------------------------------------


async def issue_token(
    session: AsyncSession, actor: Actor, user: User, *, kind: str, name: str, lifetime: timedelta
) -> tuple[Token, str]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = Token(
        user_id=user.id,  # type: ignore[arg-type]
        kind=kind,
        name=name,
        token_hash=token_digest(raw),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(token)
    await session.flush()
    await record_user_event(session, actor, user, events.TOKEN_ISSUED, events.token_snapshot(token))
    return token, raw


async def _revoke(session: AsyncSession, actor: Actor, token: Token) -> None:
    token.revoked_at = utcnow()
    user = await _require_user(session, token.user_id)
    payload = {"token_id": token.id, "revoked_at": token.revoked_at}
    await record_user_event(session, actor, user, events.TOKEN_REVOKED, payload)


async def record_user_event(session: AsyncSession, actor: Actor, user: User, event_type: str, payload: dict) -> None:
    await session.flush()
    await append(session, stream=events.user_stream(user.id), event_type=event_type, actor=actor, payload=payload)


async def _require_user(session: AsyncSession, user_id: int | None) -> User:
    user = await session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


async def _require_party(session: AsyncSession, party_id: int) -> Party:
    party = await session.get(Party, party_id)
    if party is None:
        raise InvalidInput(f"party {party_id} does not exist")
    return party
