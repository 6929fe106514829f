"""Builders for evaluation tests: a lot in evaluation with its published opening, the
bidders, and a filled expert draw whose experts can sign in.

``evaluation_scene`` writes the trading side directly (as the opening would leave it: a
published opening with opened rows and real bid packages in the blob store) and forms the
committee through the expert pool's own draw (``request_draw``, ``call_next``,
``record_answer``), so the session reveals a real committee. Every expert of the pool has a
user account (role expert) and a signing certificate naming their ID number, from a CA on
the trust list whose CRL :func:`services` publishes in the runtime's revocation mirror.

The steps of a session go through ``evaluation.channel.act`` (:func:`act_as`), as the live
channel's messages do; :func:`active_session` takes a fresh session to preliminary review.
"""

from __future__ import annotations

import base64
import functools
import itertools
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.demo_pki import DemoCA, Issued, Usage
from ca_interop.signatures import sign_detached
from core.actors import SYSTEM, Actor, Role
from core.clock import utcnow
from evaluation.context import EvaluationServices
from evaluation.models import CommitteeMember, EvaluationSession
from evaluation.schemas import SessionOpen
from expert_pool import draws
from expert_pool import service as pool_service
from expert_pool.models import Draw, Expert
from expert_pool.schemas import DrawRequest
from identities import trust_service
from identities.models import User
from identities.trust_models import TrustedCA
from identities.trust_schemas import TrustedCACreate
from supervision.ledger.append import append
from tests.expert_pool.factories import admitted_expert
from tests.factories import actor_of, make_user
from tests.trading.factories import Bidder, OpenLot, TradingCA, make_bidder, open_lot
from trading.bid_events import BID_SUBMITTED, bid_stream, submitted_payload
from trading.bid_models import Bid
from trading.bid_package import OpeningSheet, make_bid_package
from trading.opening_models import Opening, OpeningRow
from trading.opening_schemas import DecryptionMethod, OpeningStatus, RowOutcome
from trading.states import LotStatus, Segment

MAIN_VENUE = "Fuzhou trading centre, evaluation room 3"
SECOND_VENUE = "Xiamen branch, evaluation room 1"
PRICES = (Decimal("10450000.00"), Decimal("10980000.00"), Decimal("11200000.00"), Decimal("11500000.00"),
          Decimal("11650000.00"))
SHEET_ITEMS = {"duration_days": 365, "quality": "合格", "project_manager": "张三", "validity_days": 90}
DEFAULT_PARAMETERS: dict[str, dict[str, Any]] = {
    "comprehensive_scoring": {"price_weight": "30", "factors": {"technical": "40", "business": "30"}},
    "benchmark_price": {"price_weight": "40", "factors": {"technical": "35", "business": "25"},
                        "benchmark_basis": "average", "downward_float_percent": "2",
                        "deduction_above_percent": "1", "deduction_below_percent": "0.5"},
}
_serial = itertools.count(1)


def _leaf_specialties() -> list[str]:
    from expert_pool.classification import default_classification

    table = default_classification()
    return [code for top in table.top_levels() for code in table.descendants(top) if not table.children(code)]


# Each scene draws from experts of a specialty of its own, so several scenes in one test
# (the permission walk) never draw each other's experts.
_specialties = itertools.cycle(_leaf_specialties())


@functools.cache
def scene_ca() -> DemoCA:
    """One CA for the whole run (keys are slow to make); each test puts it on its trust list."""
    return DemoCA.create("Evaluation Test CA", "ecdsa")


def publish_scene_crl(mirror_dir: Path) -> None:
    from ca_interop.demo_pki_set import crl_mirror_path

    ca = scene_ca()
    path = crl_mirror_path(mirror_dir, ca.crl_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ca.crl_der())


def services(runtime) -> EvaluationServices:  # type: ignore[no-untyped-def]
    """The runtime's blob store and revocation source, with the scene CA's CRL published."""
    publish_scene_crl(runtime.settings.resolved_revocation_mirror_dir)
    return EvaluationServices(blobs=runtime.blobs, revocation=runtime.revocation)


def register_committee_hook() -> None:
    """What web/runtime.py does for the platform: tell the session when a draw is re-filled."""
    from evaluation.committee_hook import on_committee_change

    draws.on_committee_change(on_committee_change)


@pytest.fixture
def evaluation_services(runtime) -> EvaluationServices:  # type: ignore[no-untyped-def]
    register_committee_hook()
    return services(runtime)


async def trust_scene_ca(session: AsyncSession) -> TradingCA:
    ca = scene_ca()
    known = await session.scalar(sa.select(TrustedCA.id).where(TrustedCA.name == ca.name))
    if known is None:
        await trust_service.add_trusted_ca(session, SYSTEM, TrustedCACreate(name=ca.name,
                                                                            certificate_pem=ca.cert_pem.decode()))
    return TradingCA(ca)


@dataclass
class ExpertHand:
    """An expert of the pool as their client holds them: account, actor, and signing key."""

    user: User
    actor: Actor
    expert: Expert
    signing: Issued

    @property
    def expert_id(self) -> int:
        return self.expert.id  # type: ignore[return-value]


@dataclass
class EvaluationScene:
    tender: OpenLot
    ca: TradingCA
    bidders: list[Bidder]
    bids: list[Bid]
    rows: list[OpeningRow]
    opening: Opening
    draw: Draw
    experts: list[ExpertHand]           # the accepted experts, in call order
    spares: list[ExpertHand]            # the rest of the pool (replacements come from here)
    staff: Actor
    regulator: Actor
    expert_admin: Actor
    venues: list[str] = field(default_factory=lambda: [MAIN_VENUE, SECOND_VENUE])
    venue_staff: dict[str, Actor] = field(default_factory=dict)
    """Centre staff of the venues ``staff`` is not on duty at, made when first needed."""

    @property
    def lot_id(self) -> int:
        return self.tender.lot.id  # type: ignore[return-value]

    @property
    def draw_id(self) -> int:
        return self.draw.id  # type: ignore[return-value]

    def hand(self, expert_id: int) -> ExpertHand:
        return next(h for h in [*self.experts, *self.spares] if h.expert_id == expert_id)

    def hand_of_user(self, user_id: int | None) -> ExpertHand:
        return next(h for h in [*self.experts, *self.spares] if h.user.id == user_id)

    def open_data(self, **changes: Any) -> SessionOpen:
        values: dict[str, Any] = {"draw_id": self.draw_id, "main_venue": MAIN_VENUE,
                                  "secondary_venues": [SECOND_VENUE]}
        values.update(changes)
        return SessionOpen.model_validate(values)


async def evaluation_scene(session: AsyncSession, services: EvaluationServices, *, experts: int = 5,
                           bidders: int = 3, method: str = "comprehensive_scoring",
                           parameters: dict[str, Any] | None = None, segment: Segment = Segment.CONSTRUCTION,
                           prices: list[Decimal] | tuple[Decimal, ...] | None = None,
                           spares: int = 2) -> EvaluationScene:
    """A lot in evaluation, its opening published, and a filled draw of ``experts``."""
    tender = await open_lot(session, custodian_fallback=False, deadline=utcnow() - timedelta(hours=2),
                            segment=segment)
    tender.lot.evaluation_method = method
    tender.lot.evaluation_parameters = parameters if parameters is not None else _parameters(method, segment)
    ca = await trust_scene_ca(session)
    staff = actor_of(await make_user(session, Role.CENTER_STAFF))
    regulator = actor_of(await make_user(session, Role.REGULATOR))
    expert_admin = actor_of(await make_user(session, Role.EXPERT_ADMIN))
    people = [await make_bidder(session, ca, f"Bidder {next(_serial)} Construction Co., Ltd.")
              for _ in range(bidders)]
    chosen = list(prices or PRICES)
    opening = await _published_opening(session, tender, staff, len(people))
    bids, rows = [], []
    for index, bidder in enumerate(people):
        bid, row = await _opened_bid(session, services, tender, opening, bidder, chosen[index % len(chosen)])
        bids.append(bid)
        rows.append(row)
    tender.lot.status = LotStatus.EVALUATING
    session.add(tender.lot)
    specialty = next(_specialties)
    pool = [await expert_hand(session, expert_admin, ca, specialty) for _ in range(experts + spares)]
    draw = await filled_draw(session, staff, tender, experts, [b.party.uscc for b in people], specialty)
    accepted = await _accepted_ids(session, draw.id)  # type: ignore[arg-type]
    drawn = [next(h for h in pool if h.expert_id == expert_id) for expert_id in accepted]
    rest = [h for h in pool if h.expert_id not in accepted]
    await session.flush()
    return EvaluationScene(tender=tender, ca=ca, bidders=people, bids=bids, rows=rows, opening=opening, draw=draw,
                           experts=drawn, spares=rest, staff=staff, regulator=regulator, expert_admin=expert_admin)


def _parameters(method: str, segment: Segment) -> dict[str, Any]:
    values = dict(DEFAULT_PARAMETERS.get(method, {}))
    if method == "comprehensive_scoring" and segment == Segment.GOVERNMENT_PROCUREMENT:
        values["procurement_category"] = "goods"
    return values


async def _published_opening(session: AsyncSession, tender: OpenLot, staff: Actor, count: int) -> Opening:
    now = utcnow()
    opening = Opening(lot_id=tender.lot.id, project_id=tender.project.id, host_user_id=staff.user_id,  # type: ignore[arg-type]
                      status=OpeningStatus.PUBLISHED, bid_count=count, min_bidders=3, window_minutes=30,
                      window_opened_at=now - timedelta(hours=1), window_ends_at=now - timedelta(minutes=30),
                      window_closed_at=now - timedelta(minutes=30), record_sha256="0" * 64, published_at=now,
                      started_at=now - timedelta(hours=1), updated_at=now)
    session.add(opening)
    await session.flush()
    return opening


async def _opened_bid(session: AsyncSession, services: EvaluationServices, tender: OpenLot, opening: Opening,
                      bidder: Bidder, price: Decimal) -> tuple[Bid, OpeningRow]:
    """A submitted bid, opened: its envelope and its plaintext package as blobs, its row."""
    envelope = await services.blobs.put_bytes(b"sealed envelope " + next_bytes())
    directory = Path(tempfile.mkdtemp(prefix="evaluation-package-"))
    package = make_bid_package(directory / "bid.zip", OpeningSheet(lot_code=tender.lot.code, total_price=price,
                                                                   items=SHEET_ITEMS),
                               {"technical.pdf": b"%PDF-1.7 technical proposal " + next_bytes()})
    stored = services.blobs.put_file(package)
    now = utcnow()
    bid = Bid(lot_id=tender.lot.id, party_id=bidder.party.id, submitted_by=bidder.user.id, status="submitted",  # type: ignore[arg-type]
              envelope_sha256=envelope.sha256, envelope_size=envelope.size, cert_fingerprint="0" * 64,
              submitted_at=now, updated_at=now)
    session.add(bid)
    await session.flush()
    entry = await append(session, stream=bid_stream(bid.id), event_type=BID_SUBMITTED, actor=bidder.actor,
                         payload=submitted_payload(bid, tender.lot.code))
    bid.ledger_seq, bid.status = entry.seq, "opened"
    row = OpeningRow(opening_id=opening.id, bid_id=bid.id, party_id=bidder.party.id,  # type: ignore[arg-type]
                     bidder_name=bidder.party.name, bidder_uscc=bidder.party.uscc, outcome=RowOutcome.OPENED,
                     method=DecryptionMethod.BIDDER_KEY, total_price=price, sheet_items=dict(SHEET_ITEMS),
                     package_sha256=stored.sha256, package_size=stored.size, failed_attempts=0, decided_at=now)
    session.add(row)
    await session.flush()
    return bid, row


def next_bytes() -> bytes:
    return f"#{next(_serial)}".encode()


async def expert_hand(session: AsyncSession, expert_admin: Actor, ca: TradingCA, specialty: str) -> ExpertHand:
    """An admitted expert with an account (role expert) and a certificate naming their ID number."""
    number = next(_serial)
    expert = await admitted_expert(session, expert_admin, specialties=[specialty], name=f"Expert {number}")
    user = await make_user(session, Role.EXPERT)
    await pool_service.link_account(session, expert_admin, expert.id, user.id)  # type: ignore[arg-type]
    signing = ca.ca.issue(expert.name, usage=Usage.SIGNING, person_id=expert.id_number)
    return ExpertHand(user=user, actor=actor_of(user), expert=expert, signing=signing)


async def filled_draw(session: AsyncSession, staff: Actor, tender: OpenLot, count: int,
                      avoid: list[str], specialty: str) -> Draw:
    """A draw of ``count`` experts, every call accepted (the notification worker's steps, in line)."""
    draw = await draws.request_draw(session, staff, DrawRequest(
        lot_reference=tender.lot.code, evaluation_at=utcnow() + timedelta(days=1), venue=MAIN_VENUE,
        region_rule="local", region_code="350100", quotas={specialty: count}, avoid_parties=avoid))
    await answer_calls(session, draw.id)  # type: ignore[arg-type]
    refreshed = await session.get(Draw, draw.id)
    assert refreshed is not None and refreshed.status == "filled", refreshed
    return refreshed


async def answer_calls(session: AsyncSession, draw_id: int, answer: str = "accepted") -> None:
    """Call and answer until the draw needs nobody (filled, or run out of experts)."""
    while (call := await draws.call_next(session, SYSTEM, draw_id)) is not None:
        await draws.record_answer(session, SYSTEM, call.id, answer)  # type: ignore[arg-type]


async def _accepted_ids(session: AsyncSession, draw_id: int) -> list[int]:
    from expert_pool.models import DrawCall

    return list(await session.scalars(sa.select(DrawCall.expert_id).where(
        DrawCall.draw_id == draw_id, DrawCall.answer == "accepted").order_by(DrawCall.position)))


# --- the session ---------------------------------------------------------------------------


def sign_in_signature(hand: ExpertHand, session_id: int, venue: str) -> str:
    """What the expert's client sends with sign_in: a detached CMS over the statement."""
    from evaluation.members import sign_in_statement

    statement = sign_in_statement(session_id, hand.user.id, venue)  # type: ignore[arg-type]
    return base64.b64encode(sign_detached(statement, hand.signing.key, hand.signing.cert)).decode()


async def opened_session(session: AsyncSession, scene: EvaluationScene, services: EvaluationServices,
                         **changes: Any) -> EvaluationSession:
    from evaluation.service import open_session

    return await open_session(session, scene.staff, scene.lot_id, scene.open_data(**changes), services)


async def act_as(session: AsyncSession, actor: Actor, session_id: int, kind: str, fields: dict[str, Any],
                 services: EvaluationServices) -> dict[str, Any]:
    from evaluation.channel import act

    return await act(session, actor, session_id, kind, fields, services)


async def members_of(session: AsyncSession, session_id: int) -> list[CommitteeMember]:
    return list(await session.scalars(sa.select(CommitteeMember).where(
        CommitteeMember.session_id == session_id).order_by(CommitteeMember.seat)))


async def member_of(session: AsyncSession, session_id: int, hand: ExpertHand) -> CommitteeMember:
    return await session.scalar(sa.select(CommitteeMember).where(  # type: ignore[return-value]
        CommitteeMember.session_id == session_id, CommitteeMember.expert_id == hand.expert_id))


async def staff_on_duty(session: AsyncSession, scene: EvaluationScene, services: EvaluationServices,
                        session_id: int, venue: str) -> Actor:
    """A centre staff member on duty at ``venue`` of the session: the scene's staff where
    they opened it, otherwise the venue's own staff member, checked in (again: a no-op)."""
    from evaluation.members import duty_of

    duty = await duty_of(session, session_id, scene.staff.user_id)
    if duty is not None and duty.venue == venue:
        return scene.staff
    if venue not in scene.venue_staff:
        scene.venue_staff[venue] = actor_of(await make_user(session, Role.CENTER_STAFF))
    staff = scene.venue_staff[venue]
    await act_as(session, staff, session_id, "staff_check_in", {"venue": venue}, services)
    return staff


async def seat_in(session: AsyncSession, scene: EvaluationScene, services: EvaluationServices, session_id: int,
                  hand: ExpertHand, venue: str = MAIN_VENUE) -> CommitteeMember:
    """One expert signed in, confirmed by the staff on duty at their venue, and declared:
    an active member."""
    await act_as(session, hand.actor, session_id, "sign_in",
                 {"venue": venue, "signature": sign_in_signature(hand, session_id, venue)}, services)
    member = await member_of(session, session_id, hand)
    staff = await staff_on_duty(session, scene, services, session_id, venue)
    await act_as(session, staff, session_id, "confirm_identity", {"member_id": member.id}, services)
    await act_as(session, hand.actor, session_id, "declare", {}, services)
    return member


async def active_session(session: AsyncSession, scene: EvaluationScene, services: EvaluationServices,
                         *, chair: int = 0, **changes: Any) -> EvaluationSession:
    """A session in preliminary review: every expert signed in, confirmed, declared, and
    ``scene.experts[chair]`` elected chair by everyone."""
    ev = await opened_session(session, scene, services, **changes)
    session_id: int = ev.id  # type: ignore[assignment]
    members = [await seat_in(session, scene, services, session_id, hand) for hand in scene.experts]
    chosen = members[chair]
    for hand in scene.experts:
        await act_as(session, hand.actor, session_id, "vote_chair", {"member_id": chosen.id}, services)
    refreshed = await session.get(EvaluationSession, session_id)
    assert refreshed is not None
    await session.refresh(refreshed)
    return refreshed


# --- the work stages, with every member agreeing (for tests that need a session further on) ------


def passing_marks(criteria: list[str]) -> dict[str, dict[str, Any]]:
    return {criterion: {"passed": True, "reason": None} for criterion in criteria}


async def review_all(session: AsyncSession, scene: EvaluationScene, services: EvaluationServices,
                     session_id: int) -> None:
    """Every member passes every bid on every criterion."""
    ev = await session.get(EvaluationSession, session_id)
    assert ev is not None
    for hand in await working_hands(session, scene, session_id):
        for bid in scene.bids:
            await act_as(session, hand.actor, session_id, "review",
                         {"bid_id": bid.id, "marks": passing_marks(ev.settings["review_criteria"])}, services)


async def score_all(session: AsyncSession, scene: EvaluationScene, services: EvaluationServices, session_id: int,
                    scores: dict[str, str] | None = None) -> None:
    """Every member gives every bid the same scores (nothing is flagged)."""
    ev = await session.get(EvaluationSession, session_id)
    assert ev is not None
    factors = ev.parameters.get("factors", {})
    given = scores or {factor: str(int(int(points) * 3 / 4)) for factor, points in factors.items()}
    for hand in await working_hands(session, scene, session_id):
        for bid in scene.bids:
            await act_as(session, hand.actor, session_id, "score", {"bid_id": bid.id, "scores": given}, services)


async def accept_all(session: AsyncSession, scene: EvaluationScene, services: EvaluationServices,
                     session_id: int) -> None:
    for hand in await working_hands(session, scene, session_id):
        await act_as(session, hand.actor, session_id, "accept_results", {}, services)


def report_signature(hand: ExpertHand, report: bytes) -> str:
    return base64.b64encode(sign_detached(report, hand.signing.key, hand.signing.cert)).decode()


async def sign_all(session: AsyncSession, scene: EvaluationScene, services: EvaluationServices,
                   session_id: int) -> None:
    ev = await session.get(EvaluationSession, session_id)
    assert ev is not None and ev.report_sha256 is not None
    report = services.blobs.path_for(ev.report_sha256).read_bytes()
    for hand in await working_hands(session, scene, session_id):
        await act_as(session, hand.actor, session_id, "sign_report", {"signature": report_signature(hand, report)},
                     services)


async def working_hands(session: AsyncSession, scene: EvaluationScene, session_id: int) -> list[ExpertHand]:
    from evaluation.states import MemberStatus

    return [scene.hand(m.expert_id) for m in await members_of(session, session_id)
            if m.status == MemberStatus.ACTIVE]


async def finished_session(session: AsyncSession, scene: EvaluationScene, services: EvaluationServices,
                           **changes: Any) -> EvaluationSession:
    """A session taken through every stage to FINISHED, every member agreeing."""
    ev = await active_session(session, scene, services, **changes)
    session_id: int = ev.id  # type: ignore[assignment]
    await review_all(session, scene, services, session_id)
    await session.refresh(ev)
    if ev.stage == "detailed_scoring":
        await score_all(session, scene, services, session_id)
    await accept_all(session, scene, services, session_id)
    await sign_all(session, scene, services, session_id)
    await session.refresh(ev)
    return ev
