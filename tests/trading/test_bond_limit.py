"""The bid bond's cap: at most 2% of the lot's budget in construction and government
procurement (rule table ``bid_bond_caps``), checked whenever a draft lot is added or edited;
a refusal names the rule and the law and stores nothing."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa

from core.actors import Role
from core.errors import RuleViolation
from supervision.ledger.models import LedgerEntry
from tests.trading.project_factories import (  # noqa: F401 - clock_fixture provides ``clock``
    assert_problem,
    caller,
    clock_fixture,
    lot_payload,
    make_tenderer,
    project_payload,
)
from trading import projects, rules
from trading.models import Lot
from trading.schemas import LotCreate, LotEdit, ProjectCreate

CONSTRUCTION_CAP = "construction.open_tender.bid_bond_cap"
BUDGET = "12500000.00"  # 2% is 250000.00


async def _counts(session) -> tuple[int, int]:
    return (await session.scalar(sa.select(sa.func.count()).select_from(Lot)),
            await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)))


async def _project(session, tenderer, **overrides):
    return await projects.create_project(session, tenderer, ProjectCreate.model_validate_json(
        json.dumps(project_payload(**overrides))))


async def _add(session, tenderer, project, now, **overrides) -> Lot:
    return await projects.add_lot(session, tenderer, project.id, LotCreate.model_validate_json(
        json.dumps(lot_payload(now, **overrides))))


def test_the_rule_table_caps_construction_and_procurement_only() -> None:
    construction = rules.bid_bond_cap("construction", "open_tender")
    procurement = rules.bid_bond_cap("government_procurement", "competitive_negotiation")
    assert construction is not None and construction.id == CONSTRUCTION_CAP
    assert construction.percent == Decimal("2") and "Bidding Law Regulations art. 26" in construction.source
    assert procurement is not None and procurement.percent == Decimal("2")
    assert "Procurement Law Regulations art. 33" in procurement.source
    assert rules.bid_bond_cap("land_mining", "listing") is None
    assert rules.bid_bond_cap("state_property", "listing_multi_round") is None
    assert construction.maximum(Decimal(BUDGET)) == Decimal("250000.00")


@pytest.mark.parametrize("percent", ["0", "101", "two", None])
def test_a_bad_cap_in_the_table_is_refused(percent) -> None:
    row = {"segment": "construction", "procedure": "*", "percent": percent, "description": "cap",
           "source": "Bidding Law Regulations art. 26", "confirmed": True}
    if percent is None:
        del row["percent"]
    with pytest.raises(rules.RuleTableError, match=r"bid_bond_caps\[0\]"):
        rules.load_rule_table({"rules": [], "bid_bond_caps": [row]})


async def test_a_bond_of_exactly_two_percent_is_accepted(database, clock) -> None:
    async with database.transaction() as session:
        tenderer = await make_tenderer(session)
        project = await _project(session, tenderer)
        lot = await _add(session, tenderer, project, clock.now, budget=BUDGET, bid_bond_amount="250000.00")
        assert lot.bid_bond_amount == Decimal("250000.00")


async def test_a_bond_one_cent_above_two_percent_is_refused_naming_the_rule(database, clock) -> None:
    async with database.transaction() as session:
        tenderer = await make_tenderer(session)
        project = await _project(session, tenderer)
        before = await _counts(session)
        with pytest.raises(RuleViolation) as caught:
            await _add(session, tenderer, project, clock.now, budget=BUDGET, bid_bond_amount="250000.01")
        assert caught.value.rule == CONSTRUCTION_CAP
        for words in ("Bidding Law Regulations art. 26", "250000.01", "at most 250000.00", "2%"):
            assert words in caught.value.detail
        assert await _counts(session) == before


async def test_over_http_the_refusal_is_a_problem_naming_the_rule(client: httpx.AsyncClient, database, clock) -> None:
    tenderer = await caller(database, Role.TENDERER)
    made = (await client.post("/projects", json=project_payload(), headers=tenderer.headers)).json()
    async with database.reader() as session:
        before = await _counts(session)
    response = await client.post(f"/projects/{made['id']}/lots", headers=tenderer.headers,
                                 json=lot_payload(clock.now, bid_bond_amount="250000.01"))
    body = assert_problem(response, 409, CONSTRUCTION_CAP, "Bidding Law Regulations art. 26")
    assert body["rule"] == CONSTRUCTION_CAP
    async with database.reader() as session:
        assert await _counts(session) == before


async def test_procurement_caps_at_two_percent_of_the_budget(database, clock) -> None:
    parameters = {"price_weight": "30", "factors": {"technical": "60", "service": "10"},
                  "procurement_category": "goods"}
    async with database.transaction() as session:
        tenderer = await make_tenderer(session)
        project = await _project(session, tenderer, segment="government_procurement", industry="goods")
        common = {"budget": "4200000.00", "ceiling_price": None, "evaluation_parameters": parameters}
        with pytest.raises(RuleViolation) as caught:
            await _add(session, tenderer, project, clock.now, bid_bond_amount="84000.01", **common)
        assert caught.value.rule == "government_procurement.open_tender.bid_bond_cap"
        assert "Procurement Law Regulations art. 33" in caught.value.detail
        lot = await _add(session, tenderer, project, clock.now, bid_bond_amount="84000.00", **common)
        assert lot.bid_bond_amount == Decimal("84000.00")


async def test_a_segment_without_a_cap_accepts_any_bond(database, clock) -> None:
    async with database.transaction() as session:
        tenderer = await make_tenderer(session)
        project = await _project(session, tenderer, segment="land_mining", procedure="listing", industry="land")
        lot = await _add(session, tenderer, project, clock.now, budget="650000000.00", ceiling_price=None,
                         evaluation_method="highest_price", evaluation_parameters={},
                         bid_bond_amount="130000000.00")  # 20%: land grants ask large deposits
        assert lot.bid_bond_amount == Decimal("130000000.00")


async def test_a_capped_bond_without_a_budget_is_refused(database, clock) -> None:
    async with database.transaction() as session:
        tenderer = await make_tenderer(session)
        project = await _project(session, tenderer)
        before = await _counts(session)
        with pytest.raises(RuleViolation) as caught:
            await _add(session, tenderer, project, clock.now, budget=None, ceiling_price="12000000.00",
                       bid_bond_amount="1000.00")
        assert caught.value.rule == CONSTRUCTION_CAP
        assert "no budget" in caught.value.detail and "Bidding Law Regulations art. 26" in caught.value.detail
        assert await _counts(session) == before
        lot = await _add(session, tenderer, project, clock.now, budget=None, ceiling_price="12000000.00",
                         bid_bond_amount=None)  # no bond: nothing to cap
        assert lot.bid_bond_amount is None


async def test_editing_a_draft_lot_keeps_the_bond_under_the_cap(database, clock) -> None:
    async with database.transaction() as session:
        tenderer = await make_tenderer(session)
        project = await _project(session, tenderer)
        lot = await _add(session, tenderer, project, clock.now, budget=BUDGET, bid_bond_amount="200000.00")
        before = await _counts(session)
        for patch in ({"budget": "9999999.99"}, {"bid_bond_amount": "250000.01"}):  # 2% of the first is 199999.99..
            with pytest.raises(RuleViolation) as caught:
                await projects.edit_lot(session, tenderer, lot.id, LotEdit.model_validate_json(json.dumps(patch)))
            assert caught.value.rule == CONSTRUCTION_CAP
        assert (lot.budget, lot.bid_bond_amount) == (Decimal(BUDGET), Decimal("200000.00"))
        assert await _counts(session) == before
        edited = await projects.edit_lot(session, tenderer, lot.id, LotEdit.model_validate_json(
            json.dumps({"bid_bond_amount": "250000.00"})))
        assert edited.bid_bond_amount == Decimal("250000.00")
