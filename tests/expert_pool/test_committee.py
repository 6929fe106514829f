"""The drawn committee handed to the evaluation session: reveal, recusal, the replacement the
seed gives, the hooks that tell evaluation, and verification of a draw with a recusal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from core.actors import SYSTEM, Actor, Role
from core.clock import utcnow
from core.database import Database
from core.errors import Conflict, InvalidInput, NotFound
from expert_pool import committee, draws
from expert_pool import draw_algorithm as algorithm
from expert_pool.models import Draw, DrawCall, DrawSecret, Expert
from supervision.ledger.append import append
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.expert_pool.test_draws import pool, request
from tests.factories import actor_of, make_user
from tests.web.cli_runner import output
from web.runtime import build_registry

SESSION = "evaluation:7"


@pytest.fixture
async def people(database: Database) -> dict[str, Actor]:
    async with database.transaction() as session:
        return {role: actor_of(await make_user(session, role)) for role in
                (Role.EXPERT_ADMIN, Role.CENTER_STAFF, Role.REGULATOR)}


@pytest.fixture
def changes() -> AsyncIterator[list[tuple[int, str, str]]]:
    """The committee changes the hook saw: (draw id, status, status as stored in the session)."""
    seen: list[tuple[int, str, str]] = []

    async def hook(session: Any, actor: Actor, draw_id: int, status: str) -> None:
        stored = await session.get(Draw, draw_id)
        seen.append((draw_id, status, stored.status))

    registered = list(draws._committee_hooks)  # the composition root's, put back afterwards
    committee.clear_hooks()
    committee.on_committee_change(hook)
    yield seen  # type: ignore[misc]
    committee.clear_hooks()
    for other in registered:
        committee.on_committee_change(other)


async def drawn(database: Database, people: dict, quotas: dict[str, int], answers: list[str]) -> Draw:
    async with database.transaction() as session:
        draw = await draws.request_draw(session, people[Role.CENTER_STAFF], request(quotas=quotas))
    await answer_calls(database, draw.id, answers)
    return draw


async def answer_calls(database: Database, draw_id: int, answers: list[str]) -> list[DrawCall]:
    """What the notification worker does: call whoever is due, then record each answer."""
    made = []
    for answer in answers:
        async with database.transaction() as session:
            call = await draws.call_next(session, SYSTEM, draw_id)
        assert call is not None, "a call was expected"
        async with database.transaction() as session:
            made.append(await draws.record_answer(session, SYSTEM, call.id, answer))
    return made


async def seed_order(database: Database, draw_id: int, code: str) -> list[str]:
    """The order the seed gives for ``code``, straight from the published algorithm."""
    async with database.reader() as session:
        secret = await session.get(DrawSecret, draw_id)
        draw = await session.get(Draw, draw_id)
        snapshot = draws.read_stored_snapshot(secret.snapshot, venues=False)  # type: ignore[union-attr]
        return algorithm.call_sequence(secret.seed, snapshot, draw.quotas)[code]  # type: ignore[union-attr,arg-type]


async def stored(database: Database, draw_id: int) -> tuple[str, list[tuple[str, str | None]], list[dict]]:
    async with database.reader() as session:
        status = (await session.get(Draw, draw_id)).status  # type: ignore[union-attr]
        rows = await session.execute(sa.select(Expert.code, DrawCall.answer).join(Expert, Expert.id == DrawCall.expert_id)
                                     .where(DrawCall.draw_id == draw_id).order_by(DrawCall.position))
        entries = [json.loads(leaf) for leaf in (await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.stream == f"draw:{draw_id}").order_by(LedgerEntry.seq)))]
    return status, [tuple(row) for row in rows], entries  # type: ignore[misc]


async def test_the_accepted_experts_are_revealed_to_the_session_in_order_and_the_read_is_recorded(
        database: Database, people: dict) -> None:
    await pool(database, people[Role.EXPERT_ADMIN], 6, ["A04"])
    draw = await drawn(database, people, {"A04": 3}, ["accepted", "declined", "accepted", "no_answer", "accepted"])
    order = await seed_order(database, draw.id, "A04")
    async with database.transaction() as session:
        seats = await committee.reveal_to_session(session, people[Role.CENTER_STAFF], draw.id,
                                                  session_reference=SESSION)
    assert [seat.expert_code for seat in seats] == [order[0], order[2], order[4]]
    assert [seat.position for seat in seats] == [0, 2, 4]
    async with database.reader() as session:
        first = await session.scalar(sa.select(Expert).where(Expert.code == order[0]))
    assert seats[0] == committee.CommitteeSeat(
        expert_id=first.id, expert_code=first.code, name=first.name, id_number=first.id_number,  # type: ignore[union-attr]
        user_id=None, specialty="A04", position=0)
    _, _, entries = await stored(database, draw.id)
    read = entries[-1]
    assert read["type"] == "expert_pool.committee_revealed_to_session"
    assert read["payload"] == {"session_reference": SESSION, "count": 3}
    assert not any(seat.expert_code in json.dumps(read) or seat.name in json.dumps(read) for seat in seats)


async def test_a_committee_still_being_called_is_not_revealed(database: Database, people: dict) -> None:
    await pool(database, people[Role.EXPERT_ADMIN], 3, ["A04"])
    draw = await drawn(database, people, {"A04": 2}, ["accepted"])
    _, _, before = await stored(database, draw.id)
    with pytest.raises(Conflict, match="calling"):
        async with database.transaction() as session:
            await committee.reveal_to_session(session, people[Role.CENTER_STAFF], draw.id, session_reference=SESSION)
    with pytest.raises(NotFound):
        async with database.transaction() as session:
            await committee.reveal_to_session(session, people[Role.CENTER_STAFF], draw.id + 1,
                                              session_reference=SESSION)
    assert (await stored(database, draw.id))[2] == before


async def test_a_recusal_is_replaced_by_the_seeds_next_expert_and_the_hook_hears_filled(
        database: Database, people: dict, changes: list, bidhall) -> None:  # type: ignore[no-untyped-def]
    staff, regulator = people[Role.CENTER_STAFF], people[Role.REGULATOR]
    await pool(database, people[Role.EXPERT_ADMIN], 6, ["A04"])
    await pool(database, people[Role.EXPERT_ADMIN], 3, ["C02"])
    draw = await drawn(database, people, {"A04": 2, "C02": 1}, ["accepted", "accepted", "accepted"])
    assert changes == [(draw.id, "filled", "filled")]
    async with database.transaction() as session:
        seats = await committee.reveal_to_session(session, staff, draw.id, session_reference=SESSION)
    leaving = next(seat for seat in seats if seat.specialty == "A04")

    async with database.transaction() as session:
        await committee.recuse(session, staff, draw.id, leaving.expert_id, "worked for a bidder until 2024")
    status, calls, entries = await stored(database, draw.id)
    assert status == "calling"
    assert (leaving.expert_code, "recused") in calls
    recusal = entries[-1]
    assert recusal["type"] == "expert_pool.expert_recused"
    assert recusal["payload"] == {"position": leaving.position, "specialty": "A04",
                                  "reason": "worked for a bidder until 2024"}
    assert leaving.expert_code not in json.dumps(recusal) and leaving.name not in json.dumps(recusal)

    [replacement] = await answer_calls(database, draw.id, ["accepted"])
    order = await seed_order(database, draw.id, "A04")
    called_for_a04 = [code for code, _ in calls if code in order]
    due = next(code for code in order if code not in called_for_a04)
    async with database.reader() as session:
        assert (await session.get(Expert, replacement.expert_id)).code == due  # type: ignore[union-attr]
        assert (await check_stream(session, build_registry(), f"draw:{draw.id}")).matches
    assert replacement.specialty == "A04" and (await stored(database, draw.id))[0] == "filled"
    assert changes == [(draw.id, "filled", "filled")] * 2

    async with database.transaction() as session:
        committee_now = await committee.reveal_to_session(session, staff, draw.id, session_reference=SESSION)
    assert leaving.expert_id not in [seat.expert_id for seat in committee_now]
    assert committee_now[-1].expert_id == replacement.expert_id and len(committee_now) == 3

    async with database.transaction() as session:
        await draws.reveal_draw(session, regulator, draw.id)
    published = (await stored(database, draw.id))[2][-1]["payload"]["calls"]
    assert [c["answer"] for c in published].count("recused") == 1
    async with database.reader() as session:
        verified = await draws.verify_from_ledger(session, draw.id)
    assert verified.ok and verified.complete, verified.detail
    assert output(bidhall("draw", "verify", str(draw.id)))["ok"]


async def test_a_revealed_draw_can_lose_a_member_and_is_verified_after_its_second_reveal(
        database: Database, people: dict, changes: list, bidhall) -> None:  # type: ignore[no-untyped-def]
    staff, regulator = people[Role.CENTER_STAFF], people[Role.REGULATOR]
    await pool(database, people[Role.EXPERT_ADMIN], 4, ["A04"])
    draw = await drawn(database, people, {"A04": 2}, ["accepted", "accepted"])
    async with database.transaction() as session:
        await draws.reveal_draw(session, regulator, draw.id)
        [seat, _] = await committee.reveal_to_session(session, staff, draw.id, session_reference=SESSION)
        await committee.recuse(session, staff, draw.id, seat.expert_id, "related to the tenderer")
    await answer_calls(database, draw.id, ["accepted"])
    async with database.reader() as session:
        stale = await draws.verify_from_ledger(session, draw.id)
    assert not stale.ok and "revealed again" in stale.detail  # the replacement is not in the first reveal
    async with database.transaction() as session:
        await draws.reveal_draw(session, regulator, draw.id)
    assert output(bidhall("draw", "verify", str(draw.id)))["complete"]
    async with database.reader() as session:
        assert (await check_stream(session, build_registry(), f"draw:{draw.id}")).matches


async def test_the_hook_hears_unfillable_when_the_pool_runs_out(
        database: Database, people: dict, changes: list) -> None:
    staff = people[Role.CENTER_STAFF]
    await pool(database, people[Role.EXPERT_ADMIN], 2, ["A04"])
    draw = await drawn(database, people, {"A04": 1}, ["accepted"])
    [seat] = await _seats(database, staff, draw.id)
    async with database.transaction() as session:
        await committee.recuse(session, staff, draw.id, seat.expert_id, "conflict")
    await answer_calls(database, draw.id, ["declined"])  # the last eligible expert says no
    assert changes == [(draw.id, "filled", "filled"), (draw.id, "unfillable", "unfillable")]
    async with database.transaction() as session:
        assert await draws.call_next(session, SYSTEM, draw.id) is None


async def test_a_recusal_with_nobody_left_is_unfillable_at_once(
        database: Database, people: dict, changes: list) -> None:
    staff = people[Role.CENTER_STAFF]
    await pool(database, people[Role.EXPERT_ADMIN], 1, ["A04"])
    draw = await drawn(database, people, {"A04": 1}, ["accepted"])
    [seat] = await _seats(database, staff, draw.id)
    async with database.transaction() as session:
        await committee.recuse(session, staff, draw.id, seat.expert_id, "conflict")
        assert (await session.get(Draw, draw.id)).status == "unfillable"  # type: ignore[union-attr]
    assert changes[-1] == (draw.id, "unfillable", "unfillable")
    async with database.reader() as session:
        assert (await check_stream(session, build_registry(), f"draw:{draw.id}")).matches


async def test_recusing_someone_not_on_the_committee_is_refused_with_nothing_stored(
        database: Database, people: dict, changes: list) -> None:
    staff = people[Role.CENTER_STAFF]
    experts = await pool(database, people[Role.EXPERT_ADMIN], 4, ["A04"])
    draw = await drawn(database, people, {"A04": 1}, ["declined", "accepted"])
    status, calls, entries = await stored(database, draw.id)
    codes = {code for code, _ in calls}
    declined = next(e for e in experts if (e.code, "declined") in calls)
    never_called = next(e for e in experts if e.code not in codes)
    member = next(e for e in experts if (e.code, "accepted") in calls)
    refusals: list[tuple[type[Exception], int, int, str, str]] = [
        (Conflict, draw.id, declined.id, "conflict", "declined"),
        (Conflict, draw.id, never_called.id, "conflict", "was not called"),
        (NotFound, draw.id + 1, member.id, "conflict", "does not exist"),
        (InvalidInput, draw.id, member.id, "  ", "reason"),
    ]
    for error, draw_id, expert_id, reason, words in refusals:
        with pytest.raises(error, match=words):
            async with database.transaction() as session:
                await committee.recuse(session, staff, draw_id, expert_id, reason)
    assert await stored(database, draw.id) == (status, calls, entries)
    assert changes == [(draw.id, "filled", "filled")]


async def test_a_forged_replacement_is_caught(database: Database, people: dict, bidhall) -> None:  # type: ignore[no-untyped-def]
    staff, regulator = people[Role.CENTER_STAFF], people[Role.REGULATOR]
    await pool(database, people[Role.EXPERT_ADMIN], 5, ["A04"])
    draw = await drawn(database, people, {"A04": 1}, ["accepted"])
    [seat] = await _seats(database, staff, draw.id)
    async with database.transaction() as session:
        await committee.recuse(session, staff, draw.id, seat.expert_id, "conflict")
    order = await seed_order(database, draw.id, "A04")
    favourite = order[2]  # an insider skips the seed's next expert (order[1]) for a friend
    async with database.transaction() as session:
        friend = await session.scalar(sa.select(Expert).where(Expert.code == favourite))
        forged = DrawCall(draw_id=draw.id, position=1, specialty="A04", expert_id=friend.id,  # type: ignore[union-attr]
                          salt="ab" * 16, called_at=utcnow(), answer="accepted", answered_at=utcnow())
        session.add(forged)
        await append(session, stream=f"draw:{draw.id}", event_type=draws.EXPERT_CALLED, actor=SYSTEM,
                            payload={"position": 1, "specialty": "A04",
                                     "expert_commitment": draws.call_commitment(forged.salt, favourite)})
        await append(session, stream=f"draw:{draw.id}", event_type=draws.CALL_ANSWERED, actor=SYSTEM,
                            payload={"position": 1, "answer": "accepted"})
        await session.execute(sa.update(Draw).where(Draw.id == draw.id).values(status="filled"))
        secret = await session.get(DrawSecret, draw.id)
    with pytest.raises(draws.DrawIntegrityError):  # the platform refuses to reveal or hand it over
        async with database.transaction() as session:
            await draws.reveal_draw(session, regulator, draw.id)
    with pytest.raises(draws.DrawIntegrityError):
        async with database.transaction() as session:
            await committee.reveal_to_session(session, staff, draw.id, session_reference=SESSION)
    async with database.transaction() as session:  # and a reveal written by hand does not verify
        first = await session.scalar(sa.select(DrawCall).where(DrawCall.draw_id == draw.id, DrawCall.position == 0))
        await append(session, stream=f"draw:{draw.id}", event_type=draws.DRAW_REVEALED, actor=regulator,
                            payload={"seed": secret.seed.hex(),  # type: ignore[union-attr]
                                     "snapshot": draws.read_stored_snapshot(  # type: ignore[union-attr]
                                         secret.snapshot, venues=False).as_dict(),
                                     "calls": [
                                         {"position": 0, "specialty": "A04", "expert": seat.expert_code,
                                          "salt": first.salt, "answer": "recused"},  # type: ignore[union-attr]
                                         {"position": 1, "specialty": "A04", "expert": favourite,
                                          "salt": forged.salt, "answer": "accepted"}]})
    async with database.reader() as session:
        result = await draws.verify_from_ledger(session, draw.id)
    assert not result.ok and f"the seed gives {order[1]}" in result.detail, result.detail
    assert bidhall("draw", "verify", str(draw.id)).returncode == 1


async def test_a_recusal_written_for_a_declined_call_does_not_verify(database: Database, people: dict) -> None:
    staff, regulator = people[Role.CENTER_STAFF], people[Role.REGULATOR]
    await pool(database, people[Role.EXPERT_ADMIN], 3, ["A04"])
    draw = await drawn(database, people, {"A04": 1}, ["declined", "accepted"])
    async with database.transaction() as session:
        await draws.reveal_draw(session, regulator, draw.id)
        await append(session, stream=f"draw:{draw.id}", event_type=draws.EXPERT_RECUSED, actor=staff,
                            payload={"position": 0, "specialty": "A04", "reason": "forged"})
    async with database.reader() as session:
        result = await draws.verify_from_ledger(session, draw.id)
    assert not result.ok and "without having been accepted" in result.detail


async def test_an_invitation_cannot_be_answered_recused_and_a_late_repeat_changes_nothing(
        database: Database, people: dict) -> None:
    staff = people[Role.CENTER_STAFF]
    await pool(database, people[Role.EXPERT_ADMIN], 3, ["A04"])
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, request(quotas={"A04": 1}))
        call = await draws.call_next(session, SYSTEM, draw.id)
    with pytest.raises(InvalidInput, match="recused"):
        async with database.transaction() as session:
            await draws.record_answer(session, SYSTEM, call.id, "recused")  # type: ignore[union-attr]
    async with database.transaction() as session:
        await draws.record_answer(session, SYSTEM, call.id, "accepted")  # type: ignore[union-attr]
        await committee.recuse(session, staff, draw.id, call.expert_id, "conflict")  # type: ignore[union-attr]
    before = await stored(database, draw.id)
    async with database.transaction() as session:  # the provider repeats its callback
        await draws.record_answer(session, SYSTEM, call.id, "accepted")  # type: ignore[union-attr]
    assert await stored(database, draw.id) == before


async def _seats(database: Database, actor: Actor, draw_id: int) -> list[committee.CommitteeSeat]:
    async with database.transaction() as session:
        return await committee.reveal_to_session(session, actor, draw_id, session_reference=SESSION)

