"""Projects and lots through the services: the lifecycle a project's stream replays
exactly at every step, and the inputs that are refused with nothing stored."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from core.actors import Role
from core.clock import rfc3339
from core.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.factories import actor_of, make_user
from tests.trading.project_factories import (  # noqa: F401 - clock_fixture provides ``clock``
    clock_fixture,
    custodian_certificates,
    draft_project,
    lot_payload,
    make_tenderer,
    project_payload,
    published_lot,
    timetable,
)
from trading import objections, projects, publication
from trading.models import Lot, Notice, Project
from trading.notice_schemas import (
    ClarificationCreate,
    ObjectionCreate,
    ObjectionReply,
    PublishTender,
)
from trading.schemas import LotCreate, LotEdit, ProjectCreate
from trading.states import LotStatus, NoticeKind, ProjectStatus


def _j(value) -> str:
    return json.dumps(value)


async def _assert_replays(session, runtime, project_id: int) -> None:
    result = await check_stream(session, runtime.registry, f"project:{project_id}")
    assert result.matches, (result.replayed, result.stored)


async def _counts(session) -> tuple[int, int, int]:
    return (await session.scalar(sa.select(sa.func.count()).select_from(Project)),
            await session.scalar(sa.select(sa.func.count()).select_from(Lot)),
            await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)))


async def test_the_lifecycle_replays_exactly_at_every_step(runtime, clock) -> None:
    async with runtime.database.transaction() as session:
        tenderer = await make_tenderer(session)
        project = await projects.create_project(session, tenderer, ProjectCreate.model_validate_json(_j(project_payload())))
        await _assert_replays(session, runtime, project.id)
        lot = await projects.add_lot(session, tenderer, project.id, LotCreate.model_validate_json(json.dumps(
            lot_payload(clock.now, custodian_fallback=True, custodian_certificates=custodian_certificates(),
                        custodian_threshold=2))))
        await _assert_replays(session, runtime, project.id)
        await projects.edit_lot(session, tenderer, lot.id, LotEdit.model_validate_json('{"title": "Main works"}'))
        await _assert_replays(session, runtime, project.id)

        notice = await publication.publish_tender(session, tenderer, project.id, PublishTender())
        assert (project.status, lot.status, notice.kind) == (ProjectStatus.ACTIVE, LotStatus.BIDDING, NoticeKind.TENDER)
        assert lot.opening_key["threshold"] == 2 and len(lot.opening_certificate_fingerprint) == 64
        await _assert_replays(session, runtime, project.id)

        old_deadline = lot.bid_deadline
        clock.set(old_deadline - timedelta(days=5))
        change = await publication.publish_clarification(session, tenderer, lot.id, ClarificationCreate(
            title="Clarification 1", body="The drawings of block B are replaced."))
        assert change.details["deadline_moved"] is True
        assert lot.bid_deadline > old_deadline and lot.opening_at == lot.bid_deadline
        assert "The bid deadline moves from" in change.body
        await _assert_replays(session, runtime, project.id)

        bidder = actor_of(await make_user(session, Role.BIDDER))
        assert lot.objection_until == lot.bid_deadline - timedelta(days=11)  # moved with the deadline
        objection = await objections.object_to_documents(session, bidder, lot.id, ObjectionCreate(
            text="The qualification requirement favours one supplier."))
        assert lot.status == LotStatus.SUSPENDED
        await _assert_replays(session, runtime, project.id)
        await objections.reply_to_objection(session, tenderer, objection.id, ObjectionReply(reply="It is removed."))
        assert lot.status == LotStatus.BIDDING
        await _assert_replays(session, runtime, project.id)
        await projects.cancel_lot(session, tenderer, lot.id, "the works are postponed")
        await _assert_replays(session, runtime, project.id)


async def test_suspension_and_resumption_replay_and_move_the_deadline(runtime, clock) -> None:
    async with runtime.database.transaction() as session:
        made = await published_lot(session, clock.now)
        bidder = actor_of(await make_user(session, Role.BIDDER))
        clock.advance(days=15)
        objection = await objections.object_to_documents(session, bidder, made.lot.id, ObjectionCreate(text="Unfair."))
        assert made.lot.status == LotStatus.SUSPENDED
        await _assert_replays(session, runtime, made.project.id)
        old_deadline = made.lot.bid_deadline
        clock.advance(days=3)
        await objections.reply_to_objection(session, made.tenderer, objection.id, ObjectionReply(reply="Answered."))
        assert made.lot.status == LotStatus.BIDDING and made.lot.bid_deadline > old_deadline
        resumed = (await session.scalars(sa.select(Notice).order_by(Notice.id.desc()))).first()
        assert resumed.details["change"] == "resumed" and resumed.details["deadline_moved"] is True
        await _assert_replays(session, runtime, made.project.id)

        await projects.cancel_lot(session, made.tenderer, made.lot.id, "the budget was withdrawn")
        assert made.lot.status == LotStatus.CANCELLED and made.project.status == ProjectStatus.CLOSED
        await _assert_replays(session, runtime, made.project.id)


async def test_an_agency_creates_for_its_tenderer_and_others_may_not_manage(database, clock) -> None:
    async with database.transaction() as session:
        tenderer_user = await make_user(session, Role.TENDERER)
        agency = actor_of(await make_user(session, Role.AGENCY))
        project = await projects.create_project(session, agency, ProjectCreate.model_validate_json(_j(
            project_payload(tenderer_party_id=tenderer_user.party_id))))
        assert (project.tenderer_party_id, project.agency_party_id) == (tenderer_user.party_id, agency.party_id)
        await projects.add_lot(session, actor_of(tenderer_user), project.id,
                               LotCreate.model_validate_json(json.dumps(lot_payload(clock.now))))
        stranger = await make_tenderer(session)
        before = await _counts(session)
        with pytest.raises(PermissionDenied, match="managed by its tenderer or agency only"):
            await projects.add_lot(session, stranger, project.id,
                                   LotCreate.model_validate_json(json.dumps(lot_payload(clock.now))))
        with pytest.raises(PermissionDenied):
            await publication.publish_tender(session, stranger, project.id, PublishTender())
        assert await _counts(session) == before


# --- bad input ---------------------------------------------------------------------------------


def test_unknown_segment_and_procedure_name_the_allowed_ones() -> None:
    with pytest.raises(ValidationError, match="'construction', 'government_procurement'"):
        ProjectCreate.model_validate_json(_j(project_payload(segment="railways")))
    with pytest.raises(ValidationError, match="open_tender"):
        ProjectCreate.model_validate_json(_j(project_payload(procedure="lottery")))
    with pytest.raises(ValidationError, match="procedure auction is not a procedure of segment construction; "
                                              "use one of open_tender, invited_tender"):
        ProjectCreate.model_validate_json(_j(project_payload(procedure="auction")))


@pytest.mark.parametrize(("amount", "message"), [
    ("-5.00", "must be positive"), ("0", "must be positive"), ("100.005", "at most 2 decimal places"),
    ("NaN", "finite"),
])
def test_bad_money_is_refused(amount: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LotCreate.model_validate_json(json.dumps(lot_payload(timetable_start(), budget=amount)))


def test_money_as_a_float_is_refused() -> None:
    payload = lot_payload(timetable_start())
    payload["budget"] = 12.5
    with pytest.raises(ValidationError):
        LotCreate.model_validate_json(json.dumps(payload))


def timetable_start():
    from core.clock import utcnow

    return utcnow()


@pytest.mark.parametrize(("parameters", "pointer", "message"), [
    ({"price_weight": "40", "factors": {"technical": "45"}}, "factors", "make 85; they must make 100"),
    ({"price_weight": "140", "factors": {"technical": "45"}}, "price_weight", "outside 0..100"),
    ({"price_weight": "40.123", "factors": {"technical": "60"}}, "price_weight", "at most 2 decimal places"),
    ({"factors": {"technical": "100"}}, "price_weight", "required by comprehensive_scoring"),
    ({"price_weight": "40", "factors": {"technical": "60"}, "bonus": "1"}, "bonus", "not a parameter"),
])
async def test_evaluation_parameters_out_of_range_are_refused(database, clock, parameters, pointer, message) -> None:
    async with database.transaction() as session:
        tenderer = await make_tenderer(session)
        project = await projects.create_project(session, tenderer, ProjectCreate.model_validate_json(_j(project_payload())))
        before = await _counts(session)
        with pytest.raises(InvalidInput, match=message) as caught:
            await projects.add_lot(session, tenderer, project.id, LotCreate.model_validate_json(json.dumps(
                lot_payload(clock.now, evaluation_parameters=parameters))))
        assert caught.value.errors[0].pointer == f"$.evaluation_parameters.{pointer}"
        assert await _counts(session) == before


async def test_procurement_price_weight_has_its_legal_minimum(database, clock) -> None:
    async with database.transaction() as session:
        tenderer = await make_tenderer(session)
        project = await projects.create_project(session, tenderer, ProjectCreate.model_validate_json(_j(
            project_payload(segment="government_procurement"))))
        parameters = {"price_weight": "20", "factors": {"technical": "80"}, "procurement_category": "goods"}
        with pytest.raises(InvalidInput, match="goods needs a price weight of at least 30"):
            await projects.add_lot(session, tenderer, project.id, LotCreate.model_validate_json(json.dumps(
                lot_payload(clock.now, evaluation_parameters=parameters))))
        parameters["procurement_category"] = "services"
        lot = await projects.add_lot(session, tenderer, project.id, LotCreate.model_validate_json(json.dumps(
            lot_payload(clock.now, evaluation_parameters=parameters))))
        assert lot.evaluation_parameters["price_weight"] == "20"
        with pytest.raises(InvalidInput, match="not used in government_procurement"):
            await projects.edit_lot(session, tenderer, lot.id, LotEdit.model_validate_json(
                '{"evaluation_method": "benchmark_price"}'))


async def test_a_timetable_breaking_a_rule_is_refused_naming_every_rule(database, clock) -> None:
    async with database.transaction() as session:
        tenderer = await make_tenderer(session)
        short = timetable(clock.now, deadline_days=12)
        short.pop("clarification_until"), short.pop("objection_until")
        short["opening_at"] = rfc3339(clock.now + timedelta(days=12, hours=2))  # not at the deadline
        project, lot = await draft_project(session, tenderer, clock.now, timetable=short)
        before = await _counts(session)
        with pytest.raises(RuleViolation) as caught:
            await publication.publish_tender(session, tenderer, project.id, PublishTender())
        assert "construction.open_tender.documents_to_deadline" in caught.value.rule
        assert "construction.open_tender.opening_time" in caught.value.rule
        assert "at least 20" in caught.value.detail or "20 calendar days" in caught.value.detail
        assert (project.status, lot.status, lot.opening_key) == (ProjectStatus.DRAFT, LotStatus.DRAFT, None)
        assert await _counts(session) == before


async def test_a_published_lot_is_not_edited(database, clock) -> None:
    async with database.transaction() as session:
        made = await published_lot(session, clock.now)
        with pytest.raises(Conflict, match="a published lot is not edited; publish a clarification"):
            await projects.edit_lot(session, made.tenderer, made.lot.id, LotEdit.model_validate_json(
                '{"budget": "1.00"}'))
        assert made.lot.budget == Decimal("12500000.00")


async def test_min_bidders_below_the_law_and_custodians_without_fallback_are_refused(database, clock) -> None:
    async with database.transaction() as session:
        tenderer = await make_tenderer(session)
        project = await projects.create_project(session, tenderer, ProjectCreate.model_validate_json(_j(project_payload())))
        with pytest.raises(InvalidInput, match="needs at least 3"):
            await projects.add_lot(session, tenderer, project.id, LotCreate.model_validate_json(json.dumps(
                lot_payload(clock.now, min_bidders=2))))
        with pytest.raises(InvalidInput, match="only with the custodian fallback"):
            await projects.add_lot(session, tenderer, project.id, LotCreate.model_validate_json(json.dumps(
                lot_payload(clock.now, custodian_threshold=2))))
        with pytest.raises(InvalidInput, match="not a PEM"):
            await projects.add_lot(session, tenderer, project.id, LotCreate.model_validate_json(json.dumps(
                lot_payload(clock.now, custodian_fallback=True, custodian_certificates=["x", "y"],
                            custodian_threshold=2))))


async def test_a_lot_is_not_cancelled_after_its_deadline(database, clock) -> None:
    async with database.transaction() as session:
        made = await published_lot(session, clock.now)
        clock.set(made.lot.bid_deadline + timedelta(seconds=1))
        with pytest.raises(Conflict, match="has passed"):
            await projects.cancel_lot(session, made.tenderer, made.lot.id, "too late")
        assert made.lot.status == LotStatus.BIDDING
