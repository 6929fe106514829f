"""Questions and answers: every bidder reads them without the asker; the asker sees its
own; oversight sees the asker; nothing is asked after the cut-off."""

from __future__ import annotations

from datetime import timedelta

import httpx
import sqlalchemy as sa

from core.actors import Role
from core.clock import parse_rfc3339
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.trading.project_factories import (  # noqa: F401 - clock_fixture provides ``clock``
    assert_problem,
    caller,
    clock_fixture,
    http_lot,
)
from trading.models import Question


async def test_askers_are_hidden_from_other_bidders_and_the_tenderer(client: httpx.AsyncClient, database, runtime,
                                                                   clock) -> None:
    made = await http_lot(client, database, clock.now)
    url = f"/lots/{made.lot['id']}/questions"
    asker, other = await caller(database, Role.BIDDER), await caller(database, Role.BIDDER)
    response = await client.post(url, json={"text": "Is the steel grade HRB400 or HRB500?"}, headers=asker.headers)
    assert response.status_code == 201, response.text
    question = response.json()
    assert question["asked_by_me"] is True and question["asker_party_id"] == asker.user.party_id

    answer = await client.post(f"/questions/{question['id']}/answer", json={"answer": "HRB400."},
                               headers=made.tenderer.headers)
    assert answer.status_code == 200 and answer.json()["answer"] == "HRB400."
    assert answer.json()["asker_party_id"] is None

    seen_by_other = (await client.get(url, headers=other.headers)).json()
    assert [(q["text"], q["answer"], q["asker_party_id"], q["asked_by_me"]) for q in seen_by_other] == [
        ("Is the steel grade HRB400 or HRB500?", "HRB400.", None, False)]
    assert (await client.get(url, headers=made.tenderer.headers)).json()[0]["asker_party_id"] is None
    assert (await client.get(url, headers=asker.headers)).json()[0]["asked_by_me"] is True
    regulator = await caller(database, Role.REGULATOR)
    assert (await client.get(url, headers=regulator.headers)).json()[0]["asker_party_id"] == asker.user.party_id

    assert_problem(await client.post(f"/questions/{question['id']}/answer", json={"answer": "Again."},
                                     headers=made.tenderer.headers), 409, "was answered")
    async with database.reader() as session:
        result = await check_stream(session, runtime.registry, f"project:{made.project['id']}")
        assert result.matches, (result.replayed, result.stored)


async def test_a_question_after_the_cutoff_is_refused(client: httpx.AsyncClient, database, clock) -> None:
    made = await http_lot(client, database, clock.now)
    bidder = await caller(database, Role.BIDDER)
    clock.set(parse_rfc3339(made.lot["clarification_until"]) + timedelta(seconds=1))
    async with database.reader() as session:
        before = await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    body = assert_problem(await client.post(f"/lots/{made.lot['id']}/questions", json={"text": "Late?"},
                                            headers=bidder.headers), 409, "were taken until")
    assert body["rule"] == "trading.question_cutoff"
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Question)) == 0
        assert await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == before


async def test_only_the_projects_side_answers(client: httpx.AsyncClient, database, clock) -> None:
    made = await http_lot(client, database, clock.now)
    bidder, stranger = await caller(database, Role.BIDDER), await caller(database, Role.AGENCY)
    question = (await client.post(f"/lots/{made.lot['id']}/questions", json={"text": "Site visit?"},
                                  headers=bidder.headers)).json()
    assert_problem(await client.post(f"/questions/{question['id']}/answer", json={"answer": "Yes"},
                                     headers=stranger.headers), 403, "tenderer or agency only")
    assert_problem(await client.post(f"/questions/{question['id']}/answer", json={"answer": "Yes"},
                                     headers=bidder.headers), 403)
    assert_problem(await client.post(f"/lots/{made.lot['id']}/questions", json={"text": ""},
                                     headers=bidder.headers), 422, "$.text")
