"""Price competitions over HTTP: setup, registration, quotes, problems naming the field,
names for staff only, the deal confirmation."""

from __future__ import annotations

from datetime import timedelta

import httpx

from core import clock
from core.actors import Role
from identities import service
from identities.models import User
from tests.factories import PASSWORD, actor_of, make_user
from tests.trading.walk_price_bidding import (
    BOND,
    START,
    STEP,
    competition_scene,
    setup_data,
)
from trading import bid_bonds
from trading.bid_schemas import BondRecord
from trading.bid_states import BondForm
from web.runtime import Runtime


async def token_for(runtime: Runtime, user_id: int) -> dict[str, str]:
    async with runtime.database.transaction() as session:
        user = await session.get(User, user_id)
        # The test travels weeks ahead to the competition's dates: a token that outlives them.
        _, raw = await service.sign_in(session, user.username, PASSWORD, source_address="127.0.0.1",
                                       hours=24 * 120)
    return {"Authorization": f"Bearer {raw}"}


async def test_a_listing_over_http(runtime: Runtime, client: httpx.AsyncClient) -> None:
    async with runtime.database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=1)
        newcomer = actor_of(await make_user(session, Role.BIDDER))
        bond = await bid_bonds.record_bid_bond(session, newcomer, scene.lot.id, BondRecord(  # type: ignore[arg-type]
            form=BondForm.PAYMENT, reference="T-1", amount=BOND))
        await bid_bonds.verify_bid_bond(session, scene.staff, bond.id)  # type: ignore[arg-type]
    bidder = await token_for(runtime, newcomer.user_id)  # type: ignore[arg-type]
    other = await token_for(runtime, scene.bidders[0].user_id)  # type: ignore[arg-type]
    staff = await token_for(runtime, scene.staff.user_id)  # type: ignore[arg-type]
    base = f"/price-competitions/{scene.id}"

    registered = await client.post(f"{base}/registrations", headers=bidder)
    assert registered.status_code == 201, registered.text
    number = registered.json()["bidder_number"]
    assert "party_id" not in registered.json()
    with clock.travel(to=scene.competition.starts_at + timedelta(minutes=5)):
        low = await client.post(f"{base}/quotes", headers=bidder, json={"amount": str(START - STEP)})
        assert low.status_code == 422 and "below 1000000.00" in low.json()["detail"]
        assert low.json()["errors"][0]["pointer"] == "$.amount"
        garbage = await client.post(f"{base}/quotes", headers=bidder, json={"amount": "lots", "extra": 1})
        assert garbage.status_code == 422
        made = await client.post(f"{base}/quotes", headers=bidder, json={"amount": str(START + 6 * STEP)})
        assert made.status_code == 201, made.text
        seen = (await client.get(base, headers=other)).json()
        assert seen["leader_number"] == number and seen["you_lead"] is False and seen["your_number"] != number
        assert "party" not in str(seen) and seen["reserve_price"] is None
        refused = await client.get(f"{base}/bidders", headers=other)
        assert refused.status_code == 403
        names = await client.get(f"{base}/bidders", headers=staff)
        assert {row["bidder_number"] for row in names.json()} >= {number} and names.json()[0]["party_name"]
        early = await client.get(f"{base}/deal-confirmation", headers=staff)
        assert early.status_code == 409 and "no deal" in early.json()["detail"]
    with clock.travel(to=scene.competition.ends_at + timedelta(seconds=1)):
        late = await client.post(f"{base}/quotes", headers=other, json={"amount": str(START + 9 * STEP)})
        assert late.status_code == 422 or late.status_code == 409, late.text
        assert "no more quotes" in late.json()["detail"]
        deal = await client.get(f"{base}/deal-confirmation", headers=bidder)
    assert deal.status_code == 200, deal.text
    body = deal.json()
    assert body["winner"]["bidder_number"] == number and body["price"] == str(START + 6 * STEP)
    assert body["reserve"]["verified"] is True and body["ledger"]["result_seq"] > body["ledger"]["setup_seq"]
    assert (await client.get(f"{base}/deal-confirmation", headers=other)).status_code == 404


async def test_setup_over_http_names_the_bad_field(runtime: Runtime, client: httpx.AsyncClient) -> None:
    async with runtime.database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=0)
    staff = await token_for(runtime, scene.staff.user_id)  # type: ignore[arg-type]
    response = await client.get(f"/lots/{scene.lot.id}/price-competition", headers=staff)
    assert response.status_code == 200 and response.json()["mode"] == "listing"
    data = setup_data("listing", clock.utcnow()).model_dump(mode="json")
    data["reserve_price"] = str(START - STEP)
    bad = await client.post(f"/lots/{scene.lot.id}/price-competition", headers=staff, json=data)
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "$.reserve_price"
    missing = await client.get("/price-competitions/999999", headers=staff)
    assert missing.status_code == 404 and "price competition 999999 does not exist" in missing.json()["detail"]
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/price-competitions/{competition_id}/quotes", "/lots/{lot_id}/price-competition"} <= set(paths)


async def test_the_deal_notice_over_http(runtime: Runtime, client: httpx.AsyncClient) -> None:
    from tests.trading.award_factories import install_platform_seal
    from tests.trading.walk_price_bidding import concluded_sale

    install_platform_seal(runtime)
    async with runtime.database.transaction() as session:
        scene = await competition_scene(session, "dutch", bidders=1)
        stranger = actor_of(await make_user(session, Role.BIDDER))
    tenderer = await token_for(runtime, scene.tenderer.user_id)  # type: ignore[arg-type]
    buyer = await token_for(runtime, scene.bidders[0].user_id)  # type: ignore[arg-type]
    outsider = await token_for(runtime, stranger.user_id)  # type: ignore[arg-type]
    path = f"/lots/{scene.lot.id}/award"
    with clock.travel(to=scene.competition.starts_at + timedelta(seconds=30)):
        early = await client.post(f"{path}/deal-notice", headers=tenderer)
        assert early.status_code == 409 and "no concluded price competition" in early.json()["detail"]
        async with runtime.database.transaction() as session:
            await concluded_sale(session, scene)
        hidden = await client.get(path, headers=outsider)
        assert hidden.status_code == 403 and "not out yet" in hidden.json()["detail"]
        refused = await client.post(f"{path}/deal-notice", headers=buyer)
        assert refused.status_code == 403
        issued = await client.post(f"{path}/deal-notice", headers=tenderer)
        assert issued.status_code == 200, issued.text
        body = issued.json()
        assert body["status"] == "awarded" and body["winner_bid_id"] is None and body["price"] == "1200000.00"
        assert body["award_notice_sha256"] and body["result_notice_id"] and body["candidates"] == []
        again = await client.post(f"{path}/deal-notice", headers=tenderer)
        assert again.status_code == 409 and "already issued" in again.json()["detail"]
        public = await client.get(path, headers=outsider)
        assert public.status_code == 200 and public.json()["status"] == "awarded"
        document = await client.get(f"{path}/notice", headers=outsider)
        checked = await client.get(f"{path}/notice/verification", headers=outsider)
    assert document.status_code == 200 and document.content.startswith(b"PK")  # the sealed .docx
    assert document.headers["X-Content-SHA256"] == body["award_notice_sha256"]
    # the demo seal CA's CRL is a week fresh and the sale weeks ahead: the seal's own checks are what counts here
    passed = {check["check"]: check["passed"] for check in checked.json()["report"]["checks"]}
    assert checked.status_code == 200 and passed["document_hash"] and passed["signature"] and passed["seal_signature"]


async def test_a_published_lots_competition_is_not_changed_over_http(runtime: Runtime, client: httpx.AsyncClient) -> None:
    async with runtime.database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=0)
    staff = await token_for(runtime, scene.staff.user_id)  # type: ignore[arg-type]
    data = setup_data("listing", clock.utcnow()).model_dump(mode="json")
    published = await client.put(f"/lots/{scene.lot.id}/price-competition", headers=staff, json=data)
    assert published.status_code == 409 and published.json()["rule"] == "price_competition_amend_before_publication"
    assert "only before publication" in published.json()["detail"]
