"""Forming the working committee at the session: sign-in, identity, conflicts, chair.

Each revealed expert signs in with their own certificate at one of the session's venues
(a detached CMS signature over a statement naming the session, their account and the
venue); the signing certificate must validate against the trust list and name the
expert's own ID number, so nobody can sign in for someone else. Centre staff on duty at
that venue then confirm the person is who the certificate says (a staff member is on duty
at one venue per session: the opener at the main venue from the opening, the others once
they check in), and the expert, having seen the
bidders, declares no conflict (or recuses: the draw calls a replacement and the session
waits in sign-in). Active members then elect a chair by majority (``evaluation.stages``
counts the votes).

A session formed by a venue draw (remote off-site evaluation) has exactly the draw's venues
(:func:`require_draw_venues`), and each expert signs in only at the venue they were drawn
for; a session of a single-venue draw lets its experts sign in at any of its venues.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.clock import utcnow
from core.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from core.schemas import Input
from evaluation import events
from evaluation.context import Context, WrongStage
from evaluation.models import CommitteeMember, EvaluatedBid, EvaluationVenueStaff
from evaluation.record import record
from evaluation.schemas import parse
from evaluation.states import FINISHED_STAGES, MemberStatus, Stage
from expert_pool.models import Draw, DrawCall, Expert
from identities.signed_content import Signer, check_signature

MAX_SIGNATURE_BASE64 = 64 * 1024
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Base64Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SIGNATURE_BASE64)]
VenueName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SignInFields(Input):
    venue: VenueName
    signature: Base64Text = Field(description="Base64 DER detached CMS over the sign-in statement.")


class StaffCheckInFields(Input):
    venue: VenueName


class MemberChoice(Input):
    member_id: int = Field(ge=1)


class NoFields(Input):
    pass


class RecusalFields(Input):
    reason: Reason


def sign_in_statement(session_id: int, user_id: int, venue: str) -> bytes:
    """What an expert signs to sign in: the session, their account and their venue."""
    return f"bidhall-evaluation-sign-in\n{session_id}\n{user_id}\n{venue}\n".encode()


def decode_signature(text: str, pointer: str = "$.signature") -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the signature is not base64", [FieldError(pointer, "not base64")]) from None


async def checked_signer(session: AsyncSession, ctx: Context, signature: bytes, content: bytes, *,
                         what: str, pointer: str = "$.signature") -> Signer:
    """The accepted signer of a detached CMS ``signature`` over ``content`` (TOTAL_PASSED
    for signing against the trust list); InvalidInput naming why not."""
    return await check_signature(session, ctx.services.revocation, content, signature, what=what, pointer=pointer)


def require_session_venue(settings: dict[str, Any], venue: str) -> None:
    venues = list(settings.get("venues", []))
    if venue not in venues:
        raise InvalidInput(f"{venue!r} is not a venue of this session (venues: {', '.join(venues)})",
                           [FieldError("$.venue", f"one of {', '.join(venues)}")])


async def duty_of(session: AsyncSession, session_id: int, user_id: int | None) -> EvaluationVenueStaff | None:
    """Where the staff member ``user_id`` is on duty in the session, if anywhere."""
    if user_id is None:
        return None
    return await session.scalar(sa.select(EvaluationVenueStaff).where(
        EvaluationVenueStaff.session_id == session_id, EvaluationVenueStaff.user_id == user_id))


async def put_on_duty(session: AsyncSession, actor: Actor, session_id: int, venue: str) -> EvaluationVenueStaff:
    """Record that ``actor`` (centre staff) is on duty at ``venue`` of the session: a row
    and its ``STAFF_CHECKED_IN`` entry. The caller has checked the venue and that the
    staff member is not on duty elsewhere in the session."""
    duty = EvaluationVenueStaff(session_id=session_id, user_id=actor.user_id, venue=venue,  # type: ignore[arg-type]
                                checked_in_at=utcnow())
    session.add(duty)
    await session.flush()
    await record(session, actor, session_id, events.STAFF_CHECKED_IN,
                 {"user_id": actor.user_id, "username": actor.username, "venue": venue})
    return duty


def _duty_result(duty: EvaluationVenueStaff, *, already: bool) -> dict[str, Any]:
    return {"user_id": duty.user_id, "venue": duty.venue, "already_on_duty": already}


async def require_own_certificate(session: AsyncSession, member: CommitteeMember, signer: Signer) -> None:
    """The certificate must name the member's own ID number: an expert acts only for themselves."""
    id_number = await session.scalar(sa.select(Expert.id_number).where(Expert.id == member.expert_id))
    if not signer.identity.get("person_id") or signer.identity.get("person_id") != id_number:
        raise PermissionDenied(f"the certificate ({signer.subject}) is not {member.name}'s: an expert signs only "
                               f"with their own certificate, for seat {member.seat}")


async def require_draw_venues(session: AsyncSession, draw_id: int, main_venue: str,
                              secondary_venues: list[str]) -> None:
    """A session opened from a venue draw has the draw's main venue and secondary venues, no
    more and no fewer; InvalidInput naming every difference. A single-venue draw (or an unknown
    one, reported when its committee is revealed) leaves the venues to the centre."""
    draw = await session.get(Draw, draw_id)
    if draw is None or not draw.venues:
        return
    drawn_main = str(draw.venues[0]["name"])
    drawn_secondary = [str(venue["name"]) for venue in draw.venues[1:]]
    problems = []
    if main_venue != drawn_main:
        problems.append(FieldError("$.main_venue", f"the draw's main venue is {drawn_main!r}, not {main_venue!r}"))
    missing = [name for name in drawn_secondary if name not in secondary_venues]
    extra = [name for name in secondary_venues if name not in drawn_secondary]
    if missing:
        problems.append(FieldError("$.secondary_venues", "missing the draw's secondary venues "
                                   + ", ".join(repr(name) for name in missing)))
    if extra:
        problems.append(FieldError("$.secondary_venues", "not venues of the draw: "
                                   + ", ".join(repr(name) for name in extra)))
    if problems:
        raise InvalidInput(f"the session's venues must be those of draw {draw_id}: "
                           + "; ".join(f"{p.pointer}: {p.message}" for p in problems), problems)


async def drawn_venues(session: AsyncSession, draw_id: int) -> dict[int, str | None]:
    """Expert id -> the name of the venue they were called to (None in a single-venue draw)."""
    draw = await session.get(Draw, draw_id)
    if draw is None or not draw.venues:
        return {}
    names = {venue["key"]: str(venue["name"]) for venue in draw.venues}
    rows = await session.execute(sa.select(DrawCall.expert_id, DrawCall.venue).where(DrawCall.draw_id == draw_id))
    return {expert_id: names.get(key) for expert_id, key in rows.all()}


# --- handlers (channel message kinds) ------------------------------------------------------


async def handle_sign_in(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    data: SignInFields = parse(SignInFields, fields)
    ctx.require_stage(Stage.SIGN_IN, doing="signing in")
    member = ctx.require_member(MemberStatus.SEATED, doing="signing in")
    require_session_venue(ctx.ev.settings, data.venue)
    own = (await drawn_venues(session, ctx.ev.draw_id)).get(member.expert_id)
    if own is not None and data.venue != own:
        raise InvalidInput(f"{member.name} was drawn for the venue {own!r}: an expert signs in only at their own "
                           f"venue, not at {data.venue!r}", [FieldError("$.venue", f"must be {own}")])
    statement = sign_in_statement(ctx.session_id, ctx.actor.user_id, data.venue)  # type: ignore[arg-type]
    signer = await checked_signer(session, ctx, decode_signature(data.signature), statement,
                                  what="the sign-in statement")
    await require_own_certificate(session, member, signer)
    member.status, member.venue = MemberStatus.SIGNED_IN, data.venue
    member.cert_fingerprint, member.signed_in_at = signer.fingerprint, utcnow()
    session.add(member)
    await record(session, ctx.actor, ctx.session_id, events.MEMBER_SIGNED_IN, {
        "member_id": member.id, "seat": member.seat, "venue": data.venue, "name": member.name,
        "expert_code": member.expert_code, "cert_fingerprint": signer.fingerprint})
    return {"member_id": member.id, "seat": member.seat, "status": member.status, "venue": member.venue}


async def handle_staff_check_in(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """A staff member declares the one venue of the session where they are on duty; the
    same venue again is answered as it stands, another one is refused."""
    if not ctx.actor.has_any({Role.CENTER_STAFF}):
        raise PermissionDenied("checking in at a venue of the session is for centre staff")
    data: StaffCheckInFields = parse(StaffCheckInFields, fields)
    if ctx.ev.stage in FINISHED_STAGES:
        raise WrongStage(f"checking in at a venue is for a session that is running; the session is {ctx.ev.stage}")
    require_session_venue(ctx.ev.settings, data.venue)
    duty = await duty_of(session, ctx.session_id, ctx.actor.user_id)
    if duty is not None and duty.venue == data.venue:
        return _duty_result(duty, already=True)
    if duty is not None:
        raise Conflict(f"you are on duty at {duty.venue!r} in evaluation session {ctx.session_id}: a staff member "
                       f"is on duty at one venue per session, so not also at {data.venue!r}")
    return _duty_result(await put_on_duty(session, ctx.actor, ctx.session_id, data.venue), already=False)


async def handle_confirm_identity(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    data: MemberChoice = parse(MemberChoice, fields)
    if not ctx.actor.has_any({Role.CENTER_STAFF}):
        raise PermissionDenied("confirming an expert's identity is for centre staff at the venue")
    ctx.require_stage(Stage.SIGN_IN, doing="confirming identity")
    member = await _member_of_session(session, ctx, data.member_id)
    if member.status != MemberStatus.SIGNED_IN:
        raise Conflict(f"seat {member.seat} is {member.status}: identity is confirmed after the expert signs in, "
                       "once")
    await _require_on_duty_at(session, ctx, member)
    member.status = MemberStatus.CONFIRMED
    member.identity_confirmed_by, member.identity_confirmed_at = ctx.actor.user_id, utcnow()
    session.add(member)
    await record(session, ctx.actor, ctx.session_id, events.IDENTITY_CONFIRMED,
                 {"member_id": member.id, "seat": member.seat, "venue": member.venue})
    return {"member_id": member.id, "seat": member.seat, "status": member.status}


async def _require_on_duty_at(session: AsyncSession, ctx: Context, member: CommitteeMember) -> None:
    """Only staff who are at the expert's venue can see that the person is who the certificate says."""
    duty = await duty_of(session, ctx.session_id, ctx.actor.user_id)
    if duty is None:
        raise PermissionDenied(f"you are not on duty at a venue of evaluation session {ctx.session_id}: check in "
                               f"at {member.venue!r}, where seat {member.seat} signed in, before confirming")
    if duty.venue != member.venue:
        raise PermissionDenied(f"you are on duty at {duty.venue!r}; seat {member.seat} signed in at "
                               f"{member.venue!r}: staff on duty at {member.venue!r} confirm")


async def handle_declare(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    parse(NoFields, fields)
    ctx.require_stage(Stage.SIGN_IN, doing="declaring no conflict")
    member = ctx.require_member(MemberStatus.CONFIRMED, doing="declaring no conflict")
    member.status, member.declared_at = MemberStatus.ACTIVE, utcnow()
    session.add(member)
    await record(session, ctx.actor, ctx.session_id, events.CONFLICT_DECLARED,
                 {"member_id": member.id, "seat": member.seat})
    return {"member_id": member.id, "seat": member.seat, "status": member.status}


async def handle_recuse(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """The member leaves for a conflict; the draw calls the seed's next expert."""
    from expert_pool import committee

    data: RecusalFields = parse(RecusalFields, fields)
    ctx.require_stage(Stage.SIGN_IN, doing="recusing")
    member = ctx.require_member(MemberStatus.SEATED, MemberStatus.SIGNED_IN, MemberStatus.CONFIRMED,
                                MemberStatus.ACTIVE, doing="recusing")
    member.status, member.recusal_reason = MemberStatus.RECUSED, data.reason
    member.chair_vote = None
    session.add(member)
    await session.flush()
    await record(session, ctx.actor, ctx.session_id, events.MEMBER_RECUSED,
                 {"member_id": member.id, "seat": member.seat, "reason": data.reason})
    # May tell the session at once (through the committee hook) that no replacement is left.
    await committee.recuse(session, ctx.actor, ctx.ev.draw_id, member.expert_id, data.reason)
    return {"member_id": member.id, "seat": member.seat, "status": member.status}


async def handle_vote_chair(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    data: MemberChoice = parse(MemberChoice, fields)
    ctx.require_stage(Stage.CHAIR_ELECTION, doing="voting for the chair")
    voter = ctx.require_active_member("voting for the chair")
    candidate = await _member_of_session(session, ctx, data.member_id)
    if candidate.status != MemberStatus.ACTIVE:
        raise InvalidInput(f"seat {candidate.seat} is {candidate.status}: only an active member can chair",
                           [FieldError("$.member_id", "not an active member")])
    voter.chair_vote = candidate.id
    session.add(voter)
    await record(session, ctx.actor, ctx.session_id, events.CHAIR_VOTED,
                 {"member_id": voter.id, "seat": voter.seat, "for_member_id": candidate.id,
                  "for_seat": candidate.seat})
    return {"member_id": voter.id, "voted_for": candidate.id}


async def _member_of_session(session: AsyncSession, ctx: Context, member_id: int) -> CommitteeMember:
    member = await session.get(CommitteeMember, member_id)
    if member is None or member.session_id != ctx.session_id:
        raise NotFound(f"member {member_id} is not a member of evaluation session {ctx.session_id}")
    return member


async def bidders_of(session: AsyncSession, session_id: int) -> list[dict[str, Any]]:
    """The bidders a member must consider before declaring no conflict."""
    rows = await session.scalars(sa.select(EvaluatedBid).where(EvaluatedBid.session_id == session_id)
                                 .order_by(EvaluatedBid.id))
    return [{"bid_id": row.bid_id, "party_id": row.party_id, "bidder_name": row.bidder_name,
             "bidder_uscc": row.bidder_uscc} for row in rows]
