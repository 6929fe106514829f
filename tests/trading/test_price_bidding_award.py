"""A concluded price competition carries its lot to the award: the lot is awarded at the
close, the award is made with the buyer and the price, the sealed deal notice and the result
notice follow, then the contract and the archive; every stream still replays exactly."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import docx
import pytest
import sqlalchemy as sa

from ca_interop.eseal import verify_signature
from ca_interop.signatures import sign_detached
from core import clock
from core.actors import Role
from core.database import Database
from core.errors import Conflict, PermissionDenied
from identities.models import Party
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_all
from tests.factories import actor_of, make_user
from tests.trading.award_factories import (
    blob_store,
    contract_docx,
    demo_seal,
    platform_signer,
)
from tests.trading.factories import open_lot, trusted_ca
from tests.trading.walk_price_bidding import (
    RESERVE,
    START,
    STEP,
    Scene,
    competition_scene,
    concluded_sale,
)
from trading import (
    archive,
    award,
    award_notice,
    contracts,
    price_bidding,
    price_bidding_quotes,
)
from trading.archive_verify import verify_archive
from trading.award_events import DEAL_CONCLUDED, DEAL_NOTICE_ISSUED
from trading.award_models import Award, AwardStatus
from trading.models import Lot, Notice
from trading.price_bidding_models import PriceRegistration
from trading.price_bidding_schemas import QuoteIn
from trading.projects import change_lot_status
from trading.states import LotStatus, NoticeKind
from web.runtime import build_registry

DUTCH_START = Decimal("1200000.00")


async def replay_exact(database: Database) -> None:
    """Every award and competition stream rebuilds its stored state exactly. (The scenes'
    projects are written directly by the factories, so their streams start mid-way; the
    project stream is checked on projects made through the services, in
    test_price_bidding_publication.)"""
    async with database.reader() as session:
        checks = [check for check in await check_all(session, build_registry())
                  if check.stream.split(":")[0] in ("award", "competition", "archive")]
    assert any(check.stream.startswith("competition:") for check in checks)
    assert all(check.matches for check in checks), [check.stream for check in checks if not check.matches]


async def party_of(database: Database, scene: Scene, bidder: int) -> Party:
    async with database.reader() as session:
        return await session.get(Party, scene.bidders[bidder].party_id)  # type: ignore[return-value]


async def test_a_concluded_listing_awards_its_lot_at_the_close(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=2)
    with clock.travel(to=scene.competition.starts_at + timedelta(hours=1)):
        async with database.transaction() as session:
            await price_bidding_quotes.submit_quote(session, scene.bidders[0], scene.id, QuoteIn(amount=START))
            await price_bidding_quotes.submit_quote(session, scene.bidders[1], scene.id,
                                                    QuoteIn(amount=START + 7 * STEP))
    with clock.travel(to=scene.competition.ends_at + timedelta(minutes=3)):
        async with database.transaction() as session:
            shown = await price_bidding.read_competition(session, scene.staff, scene.id)  # the lazy close
    assert shown["result"] == "concluded"
    winner = await party_of(database, scene, 1)
    async with database.reader() as session:
        lot = await session.get(Lot, scene.lot.id)
        row = await session.scalar(sa.select(Award).where(Award.lot_id == scene.lot.id))
        moved = (await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.stream == f"project:{scene.project.id}", LedgerEntry.type == "trading.lot_status_changed")
            .order_by(LedgerEntry.seq.desc()))).first()
        deal_entry = (await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.stream == f"award:{scene.lot.id}"))).all()
    assert lot.status == LotStatus.AWARDED  # type: ignore[union-attr]
    assert row.status == AwardStatus.CONCLUDED and row.winner_party_id == winner.id  # type: ignore[union-attr]
    assert row.price == START + 7 * STEP and row.winner_bid_id is None  # type: ignore[union-attr]
    assert row.confirmed_at is None  # public (OCDS, the award read) from the deal notice on  # type: ignore[union-attr]
    status_move = json.loads(moved)
    assert (status_move["payload"]["from"], status_move["payload"]["to"]) == ("bidding", "awarded")
    assert status_move["payload"]["details"]["competition_id"] == scene.id and status_move["actor"] is None
    [recorded] = [json.loads(leaf) for leaf in deal_entry]
    assert recorded["type"] == DEAL_CONCLUDED
    deal = recorded["payload"]["deal"]
    assert deal["title"] == "成交确认书" and deal["winner"]["uscc"] == winner.uscc
    assert deal["price"] == str(START + 7 * STEP) and deal["reserve"]["verified"] is True
    assert deal["reserve"]["price"] == str(RESERVE)
    await replay_exact(database)


async def test_a_failed_competition_fails_its_lot_and_makes_no_award(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "sealed_quote", bidders=2)
    with clock.travel(to=scene.competition.starts_at + timedelta(minutes=5)):
        async with database.transaction() as session:  # below the reserve
            await price_bidding_quotes.submit_quote(session, scene.bidders[0], scene.id, QuoteIn(amount=START))
    with clock.travel(to=scene.competition.ends_at):
        async with database.transaction() as session:
            shown = await price_bidding.read_competition(session, scene.staff, scene.id)
    assert shown["result"] == "failed"
    async with database.reader() as session:
        assert (await session.get(Lot, scene.lot.id)).status == LotStatus.FAILED  # type: ignore[union-attr]
        assert await session.scalar(sa.select(Award.id).where(Award.lot_id == scene.lot.id)) is None
    await replay_exact(database)


async def test_only_a_concluded_competition_awards_a_lot_from_bidding(database: Database) -> None:
    async with database.transaction() as session:
        tender = await open_lot(session, custodian_fallback=False)
        scene = await competition_scene(session, "listing", bidders=1)
    for lot in (tender.lot, scene.lot):  # a tender lot; a competition lot whose competition runs
        async with database.transaction() as session:
            row = await session.get(Lot, lot.id)
            with pytest.raises(Conflict, match="only the close of a concluded price competition"):
                await change_lot_status(session, None, row, LotStatus.AWARDED, reason="skipping the publicity")  # type: ignore[arg-type]
        async with database.reader() as session:
            assert (await session.get(Lot, lot.id)).status == LotStatus.BIDDING  # type: ignore[union-attr]


async def test_deal_notice_contract_and_archive_of_a_sale(database: Database, tmp_path: Path) -> None:
    blobs, seal = blob_store(), demo_seal()
    async with database.transaction() as session:
        scene = await competition_scene(session, "dutch", bidders=2)
        ca = await trusted_ca(session)
    start = scene.competition.starts_at
    with clock.travel(to=start + timedelta(seconds=20)):
        async with database.transaction() as session:
            await concluded_sale(session, scene, buyer=1)
        async with database.transaction() as session:
            await award_notice.issue_deal_notice(session, scene.tenderer, scene.lot.id, blobs=blobs, seal=seal)  # type: ignore[arg-type]
        async with database.reader() as session:
            row = await session.scalar(sa.select(Award).where(Award.lot_id == scene.lot.id))
            result = await session.get(Notice, row.result_notice_id)  # type: ignore[union-attr]
    winner = await party_of(database, scene, 1)
    assert row.status == AwardStatus.AWARDED and row.price == DUTCH_START  # type: ignore[union-attr]
    confirmed = clock.ensure_utc(row.confirmed_at)  # type: ignore[union-attr, arg-type]
    assert start + timedelta(seconds=20) <= confirmed < start + timedelta(minutes=5)  # the notice's time, not the close's
    assert result.kind == NoticeKind.RESULT and result.details["competition_id"] == scene.id  # type: ignore[union-attr]
    assert result.details["winner"]["uscc"] == winner.uscc and result.details["reserve"]["verified"] is True  # type: ignore[union-attr]
    text = _docx_text(blobs.path_for(row.award_notice_sha256).read_bytes())  # type: ignore[union-attr, arg-type]
    for words in ("成交确认书", winner.name, winner.uscc, str(DUTCH_START), f"{scene.id} (dutch)",
                  "commitment verified", scene.lot.code):
        assert words in text, words
    signature = blobs.path_for(row.seal_signature_sha256).read_bytes()  # type: ignore[union-attr, arg-type]
    report = await verify_signature(blobs.path_for(row.award_notice_sha256).read_bytes(), signature)  # type: ignore[union-attr, arg-type]
    assert not [check for check in report["checks"] if check["passed"] is False]  # sealed by the platform
    assert report["seal"]["es_id"] == seal.es_id

    async with database.transaction() as session:  # the contract, signed by the transferor and the buyer
        await contracts.upload_contract(session, scene.tenderer, scene.lot.id, source=contract_docx(tmp_path),  # type: ignore[arg-type]
                                        media_type=contracts.DOCX, blobs=blobs, max_bytes=10 * 1024 * 1024)
    async with database.transaction() as session:
        for actor in (scene.tenderer, scene.bidders[1]):
            party = await session.get(Party, actor.party_id)
            issued = ca.ca.issue(party.name, uscc=party.uscc, organization=party.name)  # type: ignore[union-attr]
            current = await session.scalar(sa.select(Award).where(Award.lot_id == scene.lot.id))
            signature = sign_detached(blobs.path_for(current.contract_sha256).read_bytes(), issued.key, issued.cert)  # type: ignore[union-attr, arg-type]
            await contracts.sign_contract(session, actor, scene.lot.id, signature, blobs=blobs,  # type: ignore[arg-type]
                                          revocation=ca.revocation)
    async with database.transaction() as session:
        assert (await session.get(Lot, scene.lot.id)).status == LotStatus.CONTRACTED  # type: ignore[union-attr]
        made = await archive.make_archive(session, scene.staff, scene.project.id, blobs=blobs,  # type: ignore[arg-type]
                                          signer=platform_signer())
    path = blobs.path_for(made.sha256)
    checked = verify_archive(path)
    assert checked["ok"], checked["failures"]
    with zipfile.ZipFile(path) as zip_file:
        names = set(zip_file.namelist())
        manifest = json.loads(zip_file.read("manifest.json"))
        entries = json.loads(zip_file.read("ledger/entries.json"))["entries"]
        deal = json.loads(zip_file.read("award/lot-1/deal-confirmation.json"))
    assert {"competition/lot-1/competition.json", "award/lot-1/deal-confirmation.json", "award/lot-1/award-notice.docx",
            "award/lot-1/award-notice.docx.ses", "contract/lot-1/contract.docx"} <= names
    assert sum(name.startswith("competition/lot-1/registrations/") for name in names) == 2
    assert sum(name.startswith("competition/lot-1/quotes/") for name in names) == 1
    listed = {item["path"]: item for item in manifest["files"]}
    assert all(listed[name]["attested_by"] for name in listed if name.startswith("competition/"))
    assert listed["award/lot-1/deal-confirmation.json"]["attested_by"][0]["pointer"] == "/payload/deal"
    assert deal["winner"]["uscc"] == winner.uscc and deal["competition_id"] == scene.id
    streams = {json.loads(_leaf(item))["stream"] for item in entries}
    assert f"competition:{scene.id}" in streams and f"award:{scene.lot.id}" in streams
    await replay_exact(database)


async def test_the_archive_names_a_changed_competition_file(database: Database, tmp_path: Path) -> None:
    blobs = blob_store()
    async with database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=1)
        lot = await session.get(Lot, scene.lot.id)
        await change_lot_status(session, scene.tenderer, lot, LotStatus.CANCELLED, reason="withdrawn")  # type: ignore[arg-type]
        made = await archive.make_archive(session, scene.staff, scene.project.id, blobs=blobs,  # type: ignore[arg-type]
                                          signer=platform_signer())
    source, target = blobs.path_for(made.sha256), tmp_path / "changed.zip"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info.filename)
            if info.filename == "competition/lot-1/competition.json":
                data = data.replace(b'"starting_price": "1000000.00"', b'"starting_price": "1.00"')
            new.writestr(info.filename, data)
    report = verify_archive(target)
    assert report["ok"] is False
    assert any(f["item"] == "competition/lot-1/competition.json" for f in report["failures"]), report["failures"]


async def test_issuing_the_deal_notice_is_refused_with_the_reason(database: Database) -> None:
    blobs, seal = blob_store(), demo_seal()
    async with database.transaction() as session:
        scene = await competition_scene(session, "dutch", bidders=1)
        tender = await open_lot(session, custodian_fallback=False)
        outsider = actor_of(await make_user(session, Role.TENDERER))
    with clock.travel(to=scene.competition.starts_at + timedelta(seconds=5)):
        async with database.transaction() as session:
            with pytest.raises(Conflict, match="no concluded price competition"):  # still running
                await award_notice.issue_deal_notice(session, scene.tenderer, scene.lot.id, blobs=blobs, seal=seal)  # type: ignore[arg-type]
            with pytest.raises(Conflict, match="no concluded price competition"):  # a tender lot
                await award_notice.issue_deal_notice(session, tender.tenderer, tender.lot.id, blobs=blobs, seal=seal)  # type: ignore[arg-type]
        async with database.transaction() as session:
            await concluded_sale(session, scene)
        async with database.transaction() as session:
            with pytest.raises(PermissionDenied, match="tenderer or agency of project"):
                await award_notice.issue_deal_notice(session, outsider, scene.lot.id, blobs=blobs, seal=seal)  # type: ignore[arg-type]
            with pytest.raises(PermissionDenied, match="unpublished|not out yet"):  # the deal's award, before its notice
                await award.get_award(session, outsider, scene.lot.id)  # type: ignore[arg-type]
        async with database.transaction() as session:
            await award_notice.issue_deal_notice(session, scene.staff, scene.lot.id, blobs=blobs, seal=seal)  # type: ignore[arg-type]
        async with database.transaction() as session:
            with pytest.raises(Conflict, match="already issued"):
                await award_notice.issue_deal_notice(session, scene.tenderer, scene.lot.id, blobs=blobs, seal=seal)  # type: ignore[arg-type]
            shown, _, _ = await award.get_award(session, outsider, scene.lot.id)  # type: ignore[arg-type]
            assert shown.status == AwardStatus.AWARDED  # public with the result notice
    async with database.reader() as session:
        issued = (await session.scalars(sa.select(LedgerEntry.type).where(
            LedgerEntry.stream == f"award:{scene.lot.id}").order_by(LedgerEntry.seq))).all()
        results = await session.scalar(sa.select(sa.func.count()).select_from(Notice).where(
            Notice.lot_id == scene.lot.id, Notice.kind == NoticeKind.RESULT))
        buyer = await session.scalar(sa.select(PriceRegistration.party_id).where(
            PriceRegistration.competition_id == scene.id))
        row = await session.scalar(sa.select(Award).where(Award.lot_id == scene.lot.id))
    assert issued == [DEAL_CONCLUDED, DEAL_NOTICE_ISSUED] and results == 1  # the refusals stored nothing
    assert row.winner_party_id == buyer  # type: ignore[union-attr]
    await replay_exact(database)


def _docx_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return "\n".join([paragraph.text for paragraph in document.paragraphs] + cells)


def _leaf(item: dict) -> bytes:  # type: ignore[type-arg]
    import base64

    return base64.b64decode(item["leaf"])

