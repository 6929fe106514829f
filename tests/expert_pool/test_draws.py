"""Draws: eligibility, the committed and sealed sequence, replacements, reveal and verify."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from core.actors import SYSTEM, Actor, Role
from core.clock import utcnow
from core.database import Database
from core.errors import NotFound, RuleViolation
from expert_pool import draws, service
from expert_pool.draw_index import refresh_draw_index
from expert_pool.eligibility import FrequencyLimit, eligible_snapshot
from expert_pool.models import Draw, DrawCall, DrawSecret, Expert
from expert_pool.schemas import (
    DrawRequest,
    RelationCreate,
    Suspension,
    UnavailabilityCreate,
)
from expert_pool.states import RelationKind
from supervision.ledger import append
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.expert_pool.factories import admitted_expert
from tests.factories import actor_of, make_user
from tests.web.cli_runner import output
from web.runtime import build_registry

BIDDER = "91350100M000100Y43"
EVALUATION = utcnow() + timedelta(days=3)


@pytest.fixture
async def people(database: Database) -> dict[str, Actor]:
    async with database.transaction() as session:
        return {role: actor_of(await make_user(session, role)) for role in
                (Role.EXPERT_ADMIN, Role.CENTER_STAFF, Role.REGULATOR)}


async def pool(database: Database, admin: Actor, count: int, specialties: list[str], **extra: object) -> list[Expert]:
    async with database.transaction() as session:
        return [await admitted_expert(session, admin, specialties=specialties, **extra) for _ in range(count)]


def request(**changes: object) -> DrawRequest:
    values: dict[str, object] = {"lot_reference": "FJ-2026-0042/1", "evaluation_at": EVALUATION,
                                 "venue": "Fuzhou trading centre, room 3", "region_rule": "local",
                                 "region_code": "350100", "quotas": {"A04": 2, "C02": 1}, "avoid_parties": [BIDDER]}
    values.update(changes)
    return DrawRequest(**values)  # type: ignore[arg-type]


async def test_eligibility_excludes_what_the_rules_exclude(database: Database, people: dict) -> None:
    admin = people[Role.EXPERT_ADMIN]
    experts = await pool(database, admin, 7, ["A0401"])
    suspended, on_leave, related, employed, old_tie, far_away, fine = experts
    async with database.transaction() as session:
        await service.suspend_expert(session, admin, suspended.id, Suspension(reason="absent",
                                                                             until=date.today() + timedelta(days=30)))
        day = EVALUATION.date()
        await service.declare_unavailability(session, admin, on_leave.id, UnavailabilityCreate(
            start_date=day - timedelta(days=1), end_date=day + timedelta(days=1), reason="leave"))
        await service.declare_relation(session, admin, related.id, RelationCreate(
            kind=RelationKind.SHAREHOLDING, party_uscc=BIDDER, party_name="Minjiang", start_date=date(2024, 1, 1)))
        await service.declare_relation(session, admin, old_tie.id, RelationCreate(
            kind=RelationKind.EMPLOYMENT, party_uscc=BIDDER, party_name="Minjiang", start_date=date(2010, 1, 1),
            end_date=date(2020, 1, 1)))
        await session.execute(sa.update(Expert).where(Expert.id == employed.id).values(employer_uscc=BIDDER))
        await session.execute(sa.update(Expert).where(Expert.id == far_away.id).values(region_code="440300"))
        await refresh_draw_index(session, [employed.id, far_away.id])  # as every write path does after its change
        snapshot = await eligible_snapshot(session, ["A04"], evaluation_at=EVALUATION, avoid_parties=[BIDDER],
                                           region_code="350100")
    assert snapshot == {"A04": sorted([old_tie.code, fine.code])}  # A0401 serves a request for A04


async def test_a_draw_is_committed_sealed_filled_revealed_and_verified(
        database: Database, people: dict, bidhall) -> None:  # type: ignore[no-untyped-def]
    admin, staff, regulator = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF], people[Role.REGULATOR]
    await pool(database, admin, 6, ["A04"])
    await pool(database, admin, 3, ["C02"])
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, request())
    answers = iter(["declined", "accepted", "no_answer", "accepted", "accepted"])
    while True:
        async with database.transaction() as session:
            call = await draws.call_next(session, SYSTEM, draw.id)
        if call is None:
            break
        async with database.transaction() as session:
            await draws.record_answer(session, SYSTEM, call.id, next(answers))
    async with database.reader() as session:
        seen_by_staff = await draws.get_draw(session, staff, draw.id)
        entries = [json.loads(leaf) for leaf in (await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.stream == f"draw:{draw.id}").order_by(LedgerEntry.seq)))]
        codes = set((await session.scalars(sa.select(Expert.code))).all())
    assert seen_by_staff.status == "filled"
    sealed = json.dumps(entries)
    assert not any(code in sealed for code in codes), "a drawn expert is named before the reveal"
    assert [e["type"].rsplit(".", 1)[1] for e in entries][:3] == ["draw_committed", "expert_called", "call_answered"]

    async with database.transaction() as session:
        listing = await draws.read_drawn_list(session, regulator, draw.id)
    assert [row["answer"] for row in listing].count("accepted") == 3
    sealed_verify = bidhall("draw", "verify", str(draw.id))
    assert sealed_verify.returncode == 1 and "not revealed yet" in sealed_verify.stdout  # the seed is secret
    async with database.transaction() as session:
        await draws.reveal_draw(session, regulator, draw.id)
    verified = output(bidhall("draw", "verify", str(draw.id)))
    assert verified["ok"] and verified["complete"], verified
    assert sum(len(v) for v in verified["accepted"].values()) == 3
    assert output(bidhall("replay", "all", "--check"))["mismatched"] == []


async def test_a_swapped_expert_is_caught(database: Database, people: dict, bidhall) -> None:  # type: ignore[no-untyped-def]
    admin, staff, regulator = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF], people[Role.REGULATOR]
    experts = await pool(database, admin, 4, ["A04"])
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, request(quotas={"A04": 1}))
        call = await draws.call_next(session, SYSTEM, draw.id)
        await draws.record_answer(session, SYSTEM, call.id, "accepted")
        secret = await session.get(DrawSecret, draw.id)
    other = next(e for e in experts if e.id != call.expert_id)
    async with database.transaction() as session:  # an insider edits the table...
        await session.execute(sa.update(DrawCall).where(DrawCall.id == call.id).values(expert_id=other.id))
    with pytest.raises(draws.DrawIntegrityError, match="does not follow the committed seed"):
        async with database.transaction() as session:  # ...the platform refuses to reveal it
            await draws.reveal_draw(session, regulator, draw.id)
    async with database.transaction() as session:  # ...and a forged reveal fails verification
        await append(session, stream=f"draw:{draw.id}", event_type=draws.DRAW_REVEALED, actor=regulator, payload={
            "seed": secret.seed.hex(),  # type: ignore[union-attr]
            "snapshot": draws.read_stored_snapshot(secret.snapshot, venues=False).as_dict(),  # type: ignore[union-attr]
            "calls": [{"position": 0, "specialty": "A04", "expert": other.code, "salt": call.salt,
                       "answer": "accepted"}]})
    result = bidhall("draw", "verify", str(draw.id))
    assert result.returncode == 1 and "commitment" in json.loads(result.stdout)["detail"]


async def test_a_draw_larger_than_the_pool_is_refused_with_nothing_drawn(database: Database, people: dict) -> None:
    admin, staff = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF]
    await pool(database, admin, 2, ["A04"])
    with pytest.raises(RuleViolation) as refused:
        async with database.transaction() as session:
            await draws.request_draw(session, staff, request(quotas={"A04": 3, "C02": 1}))
    assert "A04" in refused.value.detail and "C02" in refused.value.detail
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Draw)) == 0


async def test_a_declined_expert_is_replaced_and_an_exhausted_draw_says_so(database: Database, people: dict) -> None:
    admin, staff = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF]
    await pool(database, admin, 2, ["A04"])
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, request(quotas={"A04": 1}))
    for _ in range(2):
        async with database.transaction() as session:
            call = await draws.call_next(session, SYSTEM, draw.id)
            await draws.record_answer(session, SYSTEM, call.id, "declined")
    async with database.reader() as session:
        assert (await session.get(Draw, draw.id)).status == "unfillable"  # type: ignore[union-attr]


async def test_the_frequency_limit_is_applied(database: Database, people: dict) -> None:
    admin, staff = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF]
    await pool(database, admin, 2, ["A04"])
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, request(quotas={"A04": 1}))
        call = await draws.call_next(session, SYSTEM, draw.id)
        await draws.record_answer(session, SYSTEM, call.id, "accepted")
        busy = (await session.get(Expert, call.expert_id)).code  # type: ignore[union-attr]
        snapshot = await eligible_snapshot(session, ["A04"], evaluation_at=EVALUATION, avoid_parties=[],
                                           limit=FrequencyLimit(evaluations=1, days=30))
    assert busy not in snapshot["A04"] and len(snapshot["A04"]) == 1


async def test_an_expert_sees_time_and_place_and_answers(database: Database, people: dict) -> None:
    admin, staff = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF]
    [expert] = await pool(database, admin, 1, ["A04"])
    async with database.transaction() as session:
        account = await make_user(session, Role.EXPERT)
        await service.link_account(session, admin, expert.id, account.id)
        draw = await draws.request_draw(session, staff, request(quotas={"A04": 1}))
        call = await draws.call_next(session, SYSTEM, draw.id)
    me = actor_of(account)
    async with database.transaction() as session:
        [invitation] = await draws.my_invitations(session, me)
        assert set(invitation) == {"invitation", "evaluation_at", "venue", "answer", "called_at"}
        assert invitation["venue"] == "Fuzhou trading centre, room 3"  # and nothing of the project
        await draws.answer_invitation(session, me, call.id, accept=True)
    async with database.transaction() as session:
        stranger = actor_of(await make_user(session, Role.EXPERT))
    with pytest.raises(NotFound):
        async with database.transaction() as session:
            await draws.answer_invitation(session, stranger, call.id, accept=False)
    async with database.reader() as session:
        assert (await session.get(Draw, draw.id)).status == "filled"  # type: ignore[union-attr]
        assert (await check_stream(session, build_registry(), f"expert:{expert.id}")).matches


async def test_a_single_venue_draw_in_the_ledger_format_of_before_venues_still_verifies(
        database: Database, people: dict) -> None:
    """Entries written as draws were written before venue draws existed (no venue anywhere)."""
    from expert_pool.draw_algorithm import seed_commitment
    from tests.expert_pool.test_draw_algorithm import (
        SINGLE_VENUE_COMMITMENT,
        SINGLE_VENUE_LOG,
        SINGLE_VENUE_POOL,
        SINGLE_VENUE_QUOTAS,
        SINGLE_VENUE_SEED,
    )

    regulator = people[Role.REGULATOR]

    async def write(draw_id: int, log: list[tuple[str, str, str]]) -> None:
        stream = f"draw:{draw_id}"
        async with database.transaction() as session:
            await append(session, stream=stream, event_type=draws.DRAW_COMMITTED, actor=SYSTEM, payload={
                "draw_id": draw_id, "quotas": SINGLE_VENUE_QUOTAS, "region_rule": "remote_pool",
                "seed_commitment": seed_commitment(SINGLE_VENUE_SEED), "snapshot_commitment": SINGLE_VENUE_COMMITMENT})
            for position, (code, expert, answer) in enumerate(log):
                await append(session, stream=stream, event_type=draws.EXPERT_CALLED, actor=SYSTEM, payload={
                    "position": position, "specialty": code,
                    "expert_commitment": draws.call_commitment(f"{position:032x}", expert)})
                await append(session, stream=stream, event_type=draws.CALL_ANSWERED, actor=SYSTEM,
                             payload={"position": position, "answer": answer})
            await append(session, stream=stream, event_type=draws.DRAW_REVEALED, actor=regulator, payload={
                "seed": SINGLE_VENUE_SEED.hex(), "snapshot": SINGLE_VENUE_POOL,
                "calls": [{"position": p, "specialty": c, "expert": e, "salt": f"{p:032x}", "answer": a}
                          for p, (c, e, a) in enumerate(log)]})

    await write(90001, SINGLE_VENUE_LOG)
    swapped = SINGLE_VENUE_LOG[:6] + [("A04", "X008", "accepted")] + SINGLE_VENUE_LOG[7:]
    await write(90002, swapped)
    async with database.reader() as session:
        kept = await draws.verify_from_ledger(session, 90001)
        forged = await draws.verify_from_ledger(session, 90002)
    assert kept.ok and kept.complete, kept.detail
    assert kept.accepted == {"A04": ["X012", "X005", "X004"], "B11": ["X020"], "C02": ["X008", "X013"]}
    assert not forged.ok and "call 6" in forged.detail
