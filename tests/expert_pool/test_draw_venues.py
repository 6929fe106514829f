"""Draws across a main venue and secondary venues (remote off-site evaluation): each venue
drawn from its own region with its own quotas and its own order from the one seed, an expert
eligible in two venues called once, each expert told only their own venue's place, the list
sealed from centre staff, replacements and recusals within the venue, and verification of
the whole draw from the ledger alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from core.actors import SYSTEM, Actor, Role
from core.clock import utcnow
from core.database import Database
from core.errors import PermissionDenied, RuleViolation
from expert_pool import committee, draws, notifications, service
from expert_pool import draw_algorithm as algorithm
from expert_pool.models import Draw, DrawCall, DrawSecret, Expert
from expert_pool.schemas import DrawRequest
from supervision.ledger.append import append
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.expert_pool.factories import admitted_expert
from tests.factories import actor_of, make_user
from tests.web.cli_runner import output
from tests.web.test_identities_api import assert_problem, bearer, token_for
from web.runtime import build_registry

BIDDER = "91350100M000100Y43"
EVALUATION = utcnow() + timedelta(days=3)
MAIN, MAIN_PLACE = "Fuzhou centre", "Fuzhou centre, 9 Wusi Road, evaluation room 3"
SECOND, SECOND_PLACE = "Xiamen branch", "Xiamen branch, 88 Hubin Road, evaluation room 1"
FUZHOU, XIAMEN, FUJIAN = "350100", "350200", "350000"


@pytest.fixture
async def people(database: Database) -> dict[str, Actor]:
    async with database.transaction() as session:
        return {role: actor_of(await make_user(session, role)) for role in
                (Role.EXPERT_ADMIN, Role.CENTER_STAFF, Role.REGULATOR)}


async def pool(database: Database, admin: Actor, count: int, specialties: list[str], region: str) -> list[Expert]:
    async with database.transaction() as session:
        return [await admitted_expert(session, admin, specialties=specialties, region_code=region)
                for _ in range(count)]


def venue(name: str, region: str, quotas: dict[str, int], place: str | None = None) -> dict[str, Any]:
    return {"name": name, "region_code": region, "quotas": quotas, **({"place": place} if place else {})}


def venue_request(main: dict[str, Any] | None = None, *secondary: dict[str, Any]) -> DrawRequest:
    return DrawRequest.model_validate({
        "lot_reference": "FJ-2026-0107/1", "evaluation_at": EVALUATION, "region_rule": "venues",
        "main_venue": main or venue(MAIN, FUZHOU, {"A04": 3, "C02": 1}, MAIN_PLACE),
        "secondary_venues": list(secondary) or [venue(SECOND, XIAMEN, {"A04": 2, "C02": 1}, SECOND_PLACE)],
        "avoid_parties": [BIDDER]})


async def run_calls(database: Database, draw_id: int,
                    answer_for: Callable[[DrawCall], str] = lambda call: "accepted") -> list[DrawCall]:
    """What the notification worker does: place every call due, then record each answer,
    until nobody is due."""
    made: list[DrawCall] = []
    while True:
        async with database.transaction() as session:
            placed = []
            while (call := await draws.call_next(session, SYSTEM, draw_id)) is not None:
                placed.append(call)
        if not placed:
            return made
        for call in placed:
            async with database.transaction() as session:
                await draws.record_answer(session, SYSTEM, call.id, answer_for(call))
        made.extend(placed)


async def stored_calls(database: Database, draw_id: int) -> list[tuple[str | None, str, str, str | None]]:
    """(venue key, specialty, expert code, answer) of every call, in order."""
    async with database.reader() as session:
        rows = await session.execute(sa.select(DrawCall.venue, DrawCall.specialty, Expert.code, DrawCall.answer)
                                     .join(Expert, Expert.id == DrawCall.expert_id)
                                     .where(DrawCall.draw_id == draw_id).order_by(DrawCall.position))
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def orders(database: Database, draw_id: int) -> dict[str, dict[str, list[str]]]:
    """Each venue's order per specialty, from the secret seed and the published algorithm."""
    async with database.reader() as session:
        secret = await session.get(DrawSecret, draw_id)
        draw = await session.get(Draw, draw_id)
        snapshot = draws.read_stored_snapshot(secret.snapshot, venues=True)  # type: ignore[union-attr]
        return algorithm.venue_call_sequence(secret.seed, snapshot,  # type: ignore[union-attr,arg-type]
                                             draws.venue_quotas(draw.venues))  # type: ignore[union-attr,arg-type]


async def ledger(database: Database, draw_id: int) -> list[dict[str, Any]]:
    async with database.reader() as session:
        return [json.loads(leaf) for leaf in (await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.stream == f"draw:{draw_id}").order_by(LedgerEntry.seq)))]


def follows_the_orders(calls: list[tuple[str | None, str, str, str | None]],
                       venue_orders: dict[str, dict[str, list[str]]]) -> bool:
    """Every call is the first expert of its venue's order for its specialty not yet called."""
    called: set[str] = set()
    for venue_key, code, expert, _ in calls:
        due = next(e for e in venue_orders[venue_key][code] if e not in called)  # type: ignore[index]
        if expert != due:
            return False
        called.add(expert)
    return True


async def test_each_venue_is_drawn_from_its_own_region_in_its_own_order_and_verifies(
        database: Database, people: dict, bidhall) -> None:  # type: ignore[no-untyped-def]
    admin, staff, regulator = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF], people[Role.REGULATOR]
    fuzhou = await pool(database, admin, 5, ["A04"], FUZHOU) + await pool(database, admin, 2, ["C02"], FUZHOU)
    xiamen = await pool(database, admin, 4, ["A04"], XIAMEN) + await pool(database, admin, 2, ["C02"], XIAMEN)
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, venue_request())
    assert draw.region_rule == "venues" and draw.venue == MAIN and draw.quotas == {"A04": 5, "C02": 2}
    declined: set[str] = set()

    def first_of_each_venue_declines(call: DrawCall) -> str:
        if call.venue in declined:
            return "accepted"
        declined.add(call.venue)  # type: ignore[arg-type]
        return "declined"

    await run_calls(database, draw.id, first_of_each_venue_declines)  # type: ignore[arg-type]
    calls = await stored_calls(database, draw.id)  # type: ignore[arg-type]
    venue_orders = await orders(database, draw.id)  # type: ignore[arg-type]
    regions = {e.code: e.region_code for e in fuzhou + xiamen}
    assert {(v, regions[e]) for v, _, e, _ in calls} == {("V1", FUZHOU), ("V2", XIAMEN)}
    assert len({e for _, _, e, _ in calls}) == len(calls) == 9  # 7 accepted, 2 declined
    assert follows_the_orders(calls, venue_orders)
    for key in ("V1", "V2"):  # the decline at each venue is replaced by the next of that venue's order
        mine = [(code, e, answer) for v, code, e, answer in calls if v == key]
        code, first, answer = mine[0]
        assert answer == "declined" and first == venue_orders[key][code][0]
        replacement = next(e for c, e, _ in mine[1:] if c == code)
        assert replacement == venue_orders[key][code][1]
    async with database.reader() as session:
        assert (await session.get(Draw, draw.id)).status == "filled"  # type: ignore[union-attr]
        counts = await draws.venue_counts(session, await session.get(Draw, draw.id))  # type: ignore[arg-type]
    assert [(c["name"], c["main"], c["accepted"], c["quotas"]) for c in counts] == [  # type: ignore[union-attr]
        (MAIN, True, 4, {"A04": 3, "C02": 1}), (SECOND, False, 3, {"A04": 2, "C02": 1})]

    entries = await ledger(database, draw.id)  # type: ignore[arg-type]
    sealed = json.dumps(entries, ensure_ascii=False)
    assert not any(e.code in sealed or e.name in sealed for e in fuzhou + xiamen)
    assert MAIN_PLACE not in sealed and SECOND not in sealed and SECOND_PLACE not in sealed  # venues by key only
    committed = entries[0]["payload"]
    assert committed["venues"] == [
        {"key": "V1", "main": True, "region_code": FUZHOU, "quotas": {"A04": 3, "C02": 1}},
        {"key": "V2", "main": False, "region_code": XIAMEN, "quotas": {"A04": 2, "C02": 1}}]
    assert committed["eligible"] == {"V1": {"A04": 5, "C02": 2}, "V2": {"A04": 4, "C02": 2}}
    assert [e["payload"]["venue"] for e in entries if e["type"] == draws.EXPERT_CALLED] == [v for v, *_ in calls]

    with pytest.raises(PermissionDenied):  # sealed: centre staff never read who was drawn, at any venue
        async with database.transaction() as session:
            await draws.read_drawn_list(session, staff, draw.id)
    async with database.transaction() as session:
        listing = await draws.read_drawn_list(session, regulator, draw.id)
    assert [(row["venue_key"], row["expert"]) for row in listing] == [(v, e) for v, _, e, _ in calls]
    assert {row["venue"] for row in listing} == {MAIN, SECOND}
    read = (await ledger(database, draw.id))[-1]  # type: ignore[arg-type]
    assert read["type"] == draws.DRAWN_LIST_READ and read["payload"] == {"calls": 9}

    assert bidhall("draw", "verify", str(draw.id)).returncode == 1  # the seed is still secret
    async with database.transaction() as session:
        await draws.reveal_draw(session, regulator, draw.id)
    revealed = (await ledger(database, draw.id))[-1]["payload"]  # type: ignore[arg-type]
    assert [c["venue"] for c in revealed["calls"]] == [v for v, *_ in calls]
    assert revealed["venues"] == [{"key": "V1", "name": MAIN, "region_code": FUZHOU},
                                  {"key": "V2", "name": SECOND, "region_code": XIAMEN}]
    verified = output(bidhall("draw", "verify", str(draw.id)))
    assert verified["ok"] and verified["complete"], verified
    assert {key: sum(map(len, codes.values())) for key, codes in verified["accepted"].items()} == {"V1": 4, "V2": 3}
    async with database.reader() as session:
        assert (await check_stream(session, build_registry(), f"draw:{draw.id}")).matches


async def test_an_expert_eligible_in_two_venues_is_called_once(database: Database, people: dict) -> None:
    admin, staff = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF]
    fuzhou = await pool(database, admin, 2, ["A04"], FUZHOU)
    [xiamen] = await pool(database, admin, 1, ["A04"], XIAMEN)
    # The secondary venue draws from the whole province, which covers Fuzhou too.
    request = venue_request(venue(MAIN, FUZHOU, {"A04": 2}), venue(SECOND, FUJIAN, {"A04": 1}))
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, request)
    await run_calls(database, draw.id)  # type: ignore[arg-type]
    calls = await stored_calls(database, draw.id)  # type: ignore[arg-type]
    venue_orders = await orders(database, draw.id)  # type: ignore[arg-type]
    assert sorted(venue_orders["V2"]["A04"]) == sorted(e.code for e in [*fuzhou, xiamen])
    assert sorted((v, e) for v, _, e, _ in calls) == sorted([("V1", fuzhou[0].code), ("V1", fuzhou[1].code),
                                                             ("V2", xiamen.code)])
    assert follows_the_orders(calls, venue_orders)  # Fuzhou's experts passed over in the secondary order
    async with database.reader() as session:
        assert (await session.get(Draw, draw.id)).status == "filled"  # type: ignore[union-attr]


async def test_a_venue_that_runs_out_makes_the_draw_unfillable(database: Database, people: dict) -> None:
    admin, staff = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF]
    await pool(database, admin, 3, ["A04"], FUZHOU)
    await pool(database, admin, 2, ["A04"], XIAMEN)
    request = venue_request(venue(MAIN, FUZHOU, {"A04": 2}), venue(SECOND, XIAMEN, {"A04": 1}))
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, request)
    await run_calls(database, draw.id, lambda call: "accepted" if call.venue == "V1" else "no_answer")  # type: ignore[arg-type]
    async with database.reader() as session:
        assert (await session.get(Draw, draw.id)).status == "unfillable"  # type: ignore[union-attr]
    finished = next(e for e in await ledger(database, draw.id) if e["type"] == draws.DRAW_FINISHED)  # type: ignore[arg-type]
    assert finished["payload"] == {"status": "unfillable", "remaining": {"V1": {"A04": 0}, "V2": {"A04": 1}}}


async def test_each_expert_is_told_the_place_of_their_own_venue_only(database: Database, people: dict) -> None:
    admin, staff = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF]
    [fuzhou] = await pool(database, admin, 1, ["A04"], FUZHOU)
    [xiamen] = await pool(database, admin, 1, ["A04"], XIAMEN)
    accounts = {}
    async with database.transaction() as session:
        for expert in (fuzhou, xiamen):
            account = await make_user(session, Role.EXPERT)
            await service.link_account(session, admin, expert.id, account.id)  # type: ignore[arg-type]
            accounts[expert.id] = actor_of(account)
        draw = await draws.request_draw(session, staff, venue_request(venue(MAIN, FUZHOU, {"A04": 1}, MAIN_PLACE),
                                                                      venue(SECOND, XIAMEN, {"A04": 1}, SECOND_PLACE)))
    async with database.transaction() as session:
        placed = []
        while (call := await draws.call_next(session, SYSTEM, draw.id)) is not None:  # type: ignore[arg-type]
            placed.append(call.id)
    told = {}
    for call_id in placed:
        async with database.transaction() as session:
            invitation = await notifications.claim_invitation(session, call_id, timedelta(minutes=10))
            call = await session.get(DrawCall, call_id)
        told[call.expert_id] = invitation.place  # type: ignore[union-attr]
    assert told == {fuzhou.id: MAIN_PLACE, xiamen.id: SECOND_PLACE}
    async with database.transaction() as session:
        [mine] = await draws.my_invitations(session, accounts[xiamen.id])
    assert mine["venue"] == SECOND_PLACE and set(mine) == {"invitation", "evaluation_at", "venue", "answer",
                                                           "called_at"}
    assert MAIN not in json.dumps(mine, default=str) and "FJ-2026" not in json.dumps(mine, default=str)


async def test_a_recusal_is_replaced_within_its_venue_and_the_session_learns_the_venues(
        database: Database, people: dict, bidhall) -> None:  # type: ignore[no-untyped-def]
    admin, staff, regulator = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF], people[Role.REGULATOR]
    await pool(database, admin, 3, ["A04"], FUZHOU)
    await pool(database, admin, 3, ["A04"], XIAMEN)
    request = venue_request(venue(MAIN, FUZHOU, {"A04": 2}), venue(SECOND, XIAMEN, {"A04": 2}))
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, request)
    await run_calls(database, draw.id)  # type: ignore[arg-type]
    async with database.transaction() as session:
        seats = await committee.reveal_to_session(session, staff, draw.id, session_reference="evaluation:9")
    by_code = {code: key for key, _, code, _ in await stored_calls(database, draw.id)}  # type: ignore[arg-type]
    assert {(seat.expert_code, seat.venue) for seat in seats} == {
        (code, MAIN if key == "V1" else SECOND) for code, key in by_code.items()}
    leaving = next(seat for seat in seats if seat.venue == SECOND)
    async with database.transaction() as session:
        await committee.recuse(session, staff, draw.id, leaving.expert_id, "advised a bidder last year")
    recusal = (await ledger(database, draw.id))[-1]  # type: ignore[arg-type]
    assert recusal["payload"]["venue"] == "V2" and leaving.name not in json.dumps(recusal)
    [replacement] = await run_calls(database, draw.id)  # type: ignore[arg-type]
    venue_orders = await orders(database, draw.id)  # type: ignore[arg-type]
    async with database.reader() as session:
        code = (await session.get(Expert, replacement.expert_id)).code  # type: ignore[union-attr]
    assert replacement.venue == "V2" and code == venue_orders["V2"]["A04"][2]  # the Xiamen order goes on
    async with database.transaction() as session:
        again = await committee.reveal_to_session(session, staff, draw.id, session_reference="evaluation:9")
        await draws.reveal_draw(session, regulator, draw.id)
    assert [seat.venue for seat in again].count(SECOND) == 2 and leaving.expert_id not in [s.expert_id for s in again]
    verified = output(bidhall("draw", "verify", str(draw.id)))
    assert verified["ok"] and verified["complete"], verified


async def test_a_forged_venue_call_fails_verification(database: Database, people: dict, bidhall,  # type: ignore[no-untyped-def]
                                                      client: httpx.AsyncClient) -> None:
    admin, staff, regulator = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF], people[Role.REGULATOR]
    await pool(database, admin, 3, ["A04"], FUZHOU)
    xiamen = await pool(database, admin, 3, ["A04"], XIAMEN)
    request = venue_request(venue(MAIN, FUZHOU, {"A04": 1}), venue(SECOND, XIAMEN, {"A04": 1}))
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, request)
    await run_calls(database, draw.id)  # type: ignore[arg-type]
    calls = await stored_calls(database, draw.id)  # type: ignore[arg-type]
    async with database.transaction() as session:  # an insider moves a call to the other venue...
        await session.execute(sa.update(DrawCall).where(DrawCall.draw_id == draw.id, DrawCall.venue == "V1")
                              .values(venue="V2"))
    with pytest.raises(draws.DrawIntegrityError, match="does not follow the committed seed"):
        async with database.transaction() as session:  # ...and the platform refuses to go on with it
            await draws.reveal_draw(session, regulator, draw.id)
    async with database.transaction() as session:
        await session.execute(sa.update(DrawCall).where(DrawCall.draw_id == draw.id, DrawCall.position == 0)
                              .values(venue=calls[0][0]))
        await draws.reveal_draw(session, regulator, draw.id)
    assert output(bidhall("draw", "verify", str(draw.id)))["ok"]

    # A call slipped into the ledger for a Xiamen expert the seed did not give, committed and
    # revealed consistently, is still caught: the Xiamen quota was already met.
    outsider = next(e.code for e in xiamen if e.code not in [code for _, _, code, _ in calls])
    salt = "ab" * 16
    entries = await ledger(database, draw.id)  # type: ignore[arg-type]
    revealed = next(e["payload"] for e in reversed(entries) if e["type"] == draws.DRAW_REVEALED)
    async with database.transaction() as session:
        await append(session, stream=f"draw:{draw.id}", event_type=draws.EXPERT_CALLED, actor=SYSTEM, payload={
            "position": 2, "specialty": "A04", "venue": "V2", "expert_commitment": draws.call_commitment(salt, outsider)})
        await append(session, stream=f"draw:{draw.id}", event_type=draws.DRAW_REVEALED, actor=regulator, payload={
            **revealed, "calls": [*revealed["calls"], {"position": 2, "specialty": "A04", "venue": "V2",
                                                       "expert": outsider, "salt": salt, "answer": "accepted"}]})
    forged = bidhall("draw", "verify", str(draw.id))
    assert forged.returncode == 1 and "call 2" in json.loads(forged.stdout)["detail"], forged.stdout
    over_http = (await client.get(f"/draws/{draw.id}/verification")).json()
    assert over_http["ok"] is False and "V2" in over_http["detail"]


async def test_a_venue_short_of_experts_is_refused_by_name_with_nothing_stored(
        database: Database, people: dict) -> None:
    admin, staff = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF]
    await pool(database, admin, 4, ["A04"], FUZHOU)
    await pool(database, admin, 1, ["A04"], XIAMEN)
    with pytest.raises(RuleViolation) as refused:
        async with database.transaction() as session:
            await draws.request_draw(session, staff, venue_request(venue(MAIN, FUZHOU, {"A04": 2}),
                                                                   venue(SECOND, XIAMEN, {"A04": 2, "C02": 1})))
    detail = refused.value.detail
    assert f"venue {SECOND!r} (secondary_venues[0])" in detail and "A04 (quota 2, eligible 1" in detail
    assert "no eligible expert for C02" in detail and MAIN not in detail  # the main venue can be filled
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Draw)) == 0
        assert await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry).where(
            LedgerEntry.stream.like("draw:%"))) == 0


# --- over HTTP ----------------------------------------------------------------------------------


def venue_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lot_reference": "FJ-2026-0107/1", "evaluation_at": EVALUATION.isoformat(), "region_rule": "venues",
        "main_venue": venue(MAIN, FUZHOU, {"A04": 2}, MAIN_PLACE),
        "secondary_venues": [venue(SECOND, XIAMEN, {"A04": 1}, SECOND_PLACE)]}
    body.update(changes)
    return body


async def test_a_venue_draw_over_http_shows_staff_counts_only(client: httpx.AsyncClient, database: Database,
                                                              people: dict) -> None:
    await pool(database, people[Role.EXPERT_ADMIN], 3, ["A04"], FUZHOU)
    xiamen = await pool(database, people[Role.EXPERT_ADMIN], 2, ["A04"], XIAMEN)
    staff = await token_for(database, Role.CENTER_STAFF)
    created = await client.post("/draws", headers=bearer(staff), json=venue_body())
    assert created.status_code == 201, created.text
    draw_id = created.json()["id"]
    await run_calls(database, draw_id)
    seen = (await client.get(f"/draws/{draw_id}", headers=bearer(staff))).json()
    assert seen["status"] == "filled" and seen["region_rule"] == "venues"
    assert [(v["key"], v["name"], v["place"], v["main"], v["quotas"], v["accepted"]) for v in seen["venues"]] == [
        ("V1", MAIN, MAIN_PLACE, True, {"A04": 2}, 2), ("V2", SECOND, SECOND_PLACE, False, {"A04": 1}, 1)]
    assert not any(e.code in json.dumps(seen) for e in xiamen)
    assert_problem(await client.get(f"/draws/{draw_id}/experts", headers=bearer(staff)), 403)
    regulator = await token_for(database, Role.REGULATOR)
    listed = (await client.get(f"/draws/{draw_id}/experts", headers=bearer(regulator))).json()
    assert [row["venue"] for row in listed].count(SECOND) == 1
    assert (await client.post(f"/draws/{draw_id}/reveal", headers=bearer(regulator))).status_code == 200
    verified = (await client.get(f"/draws/{draw_id}/verification")).json()
    assert verified["ok"] and verified["complete"] and set(verified["accepted"]) == {"V1", "V2"}, verified


BAD_VENUE_FORMS = [
    ("unknown specialty", venue_body(secondary_venues=[venue(SECOND, XIAMEN, {"Z99": 1})]),
     ["$.secondary_venues[0].quotas", SECOND, "Z99"]),
    ("duplicate name", venue_body(secondary_venues=[venue(MAIN, XIAMEN, {"A04": 1})]),
     ["$.secondary_venues", MAIN, "named once"]),
    ("secondary without quotas", venue_body(secondary_venues=[venue(SECOND, XIAMEN, {})]),
     ["$.secondary_venues[0].quotas", SECOND, "at least one specialty"]),
    ("secondary quotas left out", venue_body(secondary_venues=[{"name": SECOND, "region_code": XIAMEN}]),
     ["$.secondary_venues[0].quotas", SECOND]),
    ("main venue missing", {k: v for k, v in venue_body().items() if k != "main_venue"},
     ["$.main_venue", "main venue"]),
    ("no secondary venue", venue_body(secondary_venues=[]), ["$.secondary_venues", "at least one secondary"]),
    ("too many venues", venue_body(secondary_venues=[venue(f"Branch {n}", XIAMEN, {"A04": 1}) for n in range(10)]),
     ["$.secondary_venues", "at most 10 venues", "not 11"]),
    ("malformed region", venue_body(secondary_venues=[venue(SECOND, "3502", {"A04": 1})]),
     ["$.secondary_venues[0].region_code", SECOND, "6 digits"]),
    ("quota out of range", venue_body(main_venue=venue(MAIN, FUZHOU, {"A04": 0})),
     ["$.main_venue.quotas", MAIN, "1 to 50"]),
    ("single venue beside venues", venue_body(venue="Elsewhere"), ["$.venue", "main_venue"]),
]


@pytest.mark.parametrize(("case", "body", "words"), BAD_VENUE_FORMS, ids=[case for case, _, _ in BAD_VENUE_FORMS])
async def test_a_bad_venue_form_is_refused_naming_the_venue_and_field(
        client: httpx.AsyncClient, database: Database, case: str, body: dict, words: list[str]) -> None:
    staff = await token_for(database, Role.CENTER_STAFF)
    assert_problem(await client.post("/draws", headers=bearer(staff), json=body), 422, *words)
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Draw)) == 0


async def test_a_quota_larger_than_a_venues_pool_is_a_conflict_naming_the_venue(
        client: httpx.AsyncClient, database: Database, people: dict) -> None:
    await pool(database, people[Role.EXPERT_ADMIN], 3, ["A04"], FUZHOU)
    await pool(database, people[Role.EXPERT_ADMIN], 1, ["A04"], XIAMEN)
    staff = await token_for(database, Role.CENTER_STAFF)
    body = venue_body(secondary_venues=[venue(SECOND, XIAMEN, {"A04": 3})])
    assert_problem(await client.post("/draws", headers=bearer(staff), json=body), 409,
                   SECOND, "secondary_venues[0]", "A04 (quota 3, eligible 1", "nothing was drawn")
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Draw)) == 0
