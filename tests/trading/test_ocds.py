"""OCDS 1.1.5: a project taken to its contract gives releases (tender, bids after the
opening, pending then active award, contract) that validate against the schema with the bid
and lot extensions; the compiled record merges them by the merging rules; bids never show
before their lot's opening."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from core.clock import utcnow
from core.errors import NotFound
from tests.trading.award_factories import (
    after_publicity,
    blob_store,
    confirm_first,
    evaluated_lot,
    sign_as,
    tenderer_signer,
    to_publicity,
    upload_contract,
    winner_signer,
)
from tests.trading.factories import make_bidder, open_lot, trusted_ca
from trading.bid_models import Bid
from trading.models import Project
from trading.ocds import OCID_PREFIX, ORG_ID_SCHEME, ocid_of
from trading.ocds_publish import export_package, project_releases, record_package_of
from trading.ocds_record import (
    merge,
    record_of,
    record_package,
    release_package,
    to_json,
)
from trading.ocds_schema import errors_of
from trading.states import ProjectStatus


def plain(document: dict[str, Any]) -> dict[str, Any]:
    """The document as a reader gets it (JSON text parsed again)."""
    return json.loads(to_json(document))  # type: ignore[no-any-return]


def assert_valid(kind: str, document: dict[str, Any]) -> None:
    assert errors_of(kind, plain(document)) == []


async def contracted(session, blobs, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A lot from its opened bids to the contract signed by both, the clock past publicity."""
    lot = await evaluated_lot(session, blobs)
    row = await to_publicity(session, lot)
    with after_publicity(row):
        await confirm_first(session, lot, blobs)
        await upload_contract(session, lot, blobs, tmp_path)
        await sign_as(session, lot, blobs, await tenderer_signer(session, lot), lot.ca.revocation)
        await sign_as(session, lot, blobs, winner_signer(lot), lot.ca.revocation)
    return lot


async def test_a_contracted_project_gives_valid_releases_for_each_step(database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        lot = await contracted(session, blob_store(), tmp_path)
        releases = await project_releases(session, lot.made.project.id)
    ocid = ocid_of(lot.made.project.code)
    assert [release["tag"] for release in releases] == [["tender"], ["tenderUpdate"], ["award"], ["awardUpdate"],
                                                         ["contract"]]
    assert {release["ocid"] for release in releases} == {ocid} and ocid.startswith(OCID_PREFIX + "-")
    assert len({release["id"] for release in releases}) == len(releases)
    for release in releases:
        assert_valid("release", release)
    assert_valid("release-package", release_package(releases, "urn:test"))
    opening = releases[1]
    assert {detail["id"] for detail in opening["bids"]["details"]} == {f"bid-{bid.id}" for bid in lot.bids}
    assert {stat["measure"]: stat["value"] for stat in opening["bids"]["statistics"]}["bids"] == 3
    result = releases[3]["awards"][0]
    winner = lot.bidders[0].party
    assert result["status"] == "active" and result["relatedBid"] == f"bid-{lot.bids[0].id}"
    assert result["suppliers"] == [{"id": f"{ORG_ID_SCHEME}-{winner.uscc}", "name": winner.name}]
    assert result["value"] == {"amount": Decimal("10450000.00"), "currency": "CNY"}


async def test_the_compiled_record_merges_the_releases(database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        lot = await contracted(session, blob_store(), tmp_path)
        releases = await project_releases(session, lot.made.project.id)
        ocid = ocid_of(lot.made.project.code)
        package = await record_package_of(session, ocid, "https://example.org/ocds/records/x")
    assert_valid("record-package", package)
    compiled = package["records"][0]["compiledRelease"]
    assert compiled["tag"] == ["compiled"] and compiled["date"] == releases[-1]["date"]
    lot_entry = compiled["tender"]["lots"][0]
    assert lot_entry["status"] == "complete" and lot_entry["title"] == lot.made.lot.title  # both kept by id
    assert compiled["tender"]["status"] == "complete"
    assert compiled["awards"][0]["status"] == "active" and "Candidates in publicity" in compiled["awards"][0]["description"]
    assert compiled["contracts"][0]["status"] == "active"
    statuses = {bid["id"]: bid["status"] for bid in compiled["bids"]["details"]}
    assert set(statuses.values()) == {"valid"}  # pending at the opening, valid once evaluated
    assert all("tenderers" in bid for bid in compiled["bids"]["details"])  # the opening's details stay
    winner = next(party for party in compiled["parties"] if party["id"].endswith(lot.bidders[0].party.uscc))
    assert winner["roles"] == ["tenderer", "supplier"]


def test_merging_follows_the_rules() -> None:
    first = {"ocid": "o", "id": "1", "date": "2026-01-01T00:00:00Z", "tag": ["tender"],
             "tender": {"id": "t", "title": "Old", "lots": [{"id": "a", "title": "A", "status": "active"}],
                        "submissionMethod": ["electronicSubmission"], "description": "gone later"}}
    second = {"ocid": "o", "id": "2", "date": "2026-02-01T00:00:00Z", "tag": ["tenderUpdate"],
              "tender": {"id": "t", "lots": [{"id": "b", "title": "B"}, {"id": "a", "status": "complete"}],
                         "submissionMethod": ["written"], "description": None}}
    compiled = merge([second, first])  # given out of order: merged by date
    assert compiled["tender"]["title"] == "Old" and "description" not in compiled["tender"]
    assert compiled["tender"]["lots"] == [{"id": "a", "title": "A", "status": "complete"}, {"id": "b", "title": "B"}]
    assert compiled["tender"]["submissionMethod"] == ["written"]  # plain arrays are replaced
    assert compiled["tag"] == ["compiled"] and compiled["id"] == "o-2026-02-01T00:00:00Z"
    assert record_of("o", [first, second])["compiledRelease"] == compiled


async def test_bids_are_never_published_before_the_opening(database) -> None:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        made = await open_lot(session, custodian_fallback=False)
        bidder = await make_bidder(session, await trusted_ca(session), "Sealed Bidder Co., Ltd.")
        now = utcnow()
        session.add(Bid(lot_id=made.lot.id, party_id=bidder.party.id, status="submitted", envelope_sha256="0" * 64,
                           envelope_size=1, cert_fingerprint="0" * 64, submitted_at=now, updated_at=now))
        await session.flush()
        releases = await project_releases(session, made.project.id)
    text = to_json(releases)
    assert [release["tag"] for release in releases] == [["tender"]]
    assert "bids" not in releases[0] and bidder.party.uscc not in text and "Sealed Bidder" not in text
    assert_valid("release", releases[0])
    assert releases[0]["tender"]["lots"][0]["value"] == {"amount": Decimal("12500000.00"), "currency": "CNY"}


async def test_drafts_and_unknown_processes_are_not_published(database) -> None:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        made = await open_lot(session, custodian_fallback=False)
        project = await session.get(Project, made.project.id)
        project.status = ProjectStatus.DRAFT  # type: ignore[union-attr]
        await session.flush()
        assert await project_releases(session, made.project.id) == []
        with pytest.raises(NotFound, match="no public release"):
            await export_package(session, made.project.id)
        for ocid in (ocid_of(made.project.code), "ocds-other-X", ocid_of("NO-SUCH-CODE")):
            with pytest.raises(NotFound, match="no contracting process"):
                await record_package_of(session, ocid, "urn:test")


def test_an_invalid_release_is_reported_with_its_path() -> None:
    release = {"ocid": "o", "id": "1", "date": "yesterday", "tag": ["bogus"], "initiationType": "tender",
               "bids": {"details": [{"id": "b", "status": "sealed"}]}, "tender": {"id": "t", "lots": [{"id": 5}]}}
    problems = errors_of("release", release)
    assert any(problem.startswith("date:") for problem in problems)
    assert any(problem.startswith("tag/0:") for problem in problems)
    assert any(problem.startswith("bids/details/0/status:") for problem in problems)  # bid extension applied
    assert any(problem.startswith("tender/lots/0/id:") for problem in problems)  # lot extension applied
    assert errors_of("record-package", record_package([], "not a uri")) != []


async def test_projects_are_all_exported_oldest_first(database) -> None:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        first = await open_lot(session, custodian_fallback=False)
        second = await open_lot(session, custodian_fallback=False)
        count = await session.scalar(sa.select(sa.func.count()).select_from(Project))
        package = await export_package(session)
    assert_valid("release-package", package)
    ocids = [release["ocid"] for release in package["releases"]]
    assert len(ocids) == count and ocids.index(ocid_of(first.project.code)) < ocids.index(ocid_of(second.project.code))


async def test_a_lot_that_failed_without_a_notice_ends_unsuccessful(database) -> None:  # type: ignore[no-untyped-def]
    from trading.models import Lot
    from trading.states import LotStatus

    async with database.transaction() as session:
        made = await open_lot(session, custodian_fallback=False)
        lot = await session.get(Lot, made.lot.id)
        lot.status, lot.updated_at = LotStatus.FAILED, utcnow()  # type: ignore[union-attr]
        await session.flush()
        releases = await project_releases(session, made.project.id)
    assert [release["tag"] for release in releases] == [["tender"], ["tenderUpdate"]]
    for release in releases:
        assert_valid("release", release)
    compiled = merge(releases)
    assert compiled["tender"]["lots"][0]["status"] == "unsuccessful" and compiled["tender"]["status"] == "unsuccessful"
    assert "bids" not in compiled  # failed before any opening: nothing of the bids is public
