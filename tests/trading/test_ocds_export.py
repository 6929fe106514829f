"""OCDS as published: every project of the demo seed through ``bidhall export ocds``, the
paged public API, one process's record, and the command's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from core.database import Database
from tests.trading.award_factories import blob_store
from tests.trading.factories import open_lot
from tests.trading.test_ocds import contracted
from tests.web.cli_runner import output
from trading import ocds_publish
from trading.models import Project
from trading.ocds import ocid_of
from trading.ocds_schema import errors_of
from trading.states import ProjectStatus


async def test_every_demo_project_exports_a_valid_package(bidhall, database: Database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    output(bidhall("seed"))
    target = tmp_path / "out" / "ocds.json"
    written = output(bidhall("export", "ocds", "-o", str(target)))
    package = json.loads(target.read_text(encoding="utf-8"))
    assert errors_of("release-package", package) == []
    async with database.reader() as session:
        every = (await session.scalars(sa.select(Project).order_by(Project.id))).all()
    assert {project.segment for project in every} == {"construction", "government_procurement", "land_mining",
                                                      "state_property"}
    projects = [project for project in every if project.status != ProjectStatus.DRAFT]  # a draft is not public
    assert len(projects) == 3 and set(written["ocids"]) == {ocid_of(project.code) for project in projects}
    assert written["releases"] == len(package["releases"])
    amended = [release for release in package["releases"] if release["tag"] == ["tenderAmendment"]]
    assert amended and amended[0]["tender"]["amendments"]  # the procurement's published clarification
    sales = [release for release in package["releases"] if "minValue" in release.get("tender", {})]
    assert sales  # land and state property state their reserve price, not a value to spend

    one = tmp_path / "one.json"
    output(bidhall("export", "ocds", "--project", str(projects[0].id), "-o", str(one)))
    single = json.loads(one.read_text(encoding="utf-8"))
    assert errors_of("release-package", single) == []
    assert {release["ocid"] for release in single["releases"]} == {ocid_of(projects[0].code)}


async def test_the_export_command_refuses_what_it_cannot_write(bidhall, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "none.json"
    missing = bidhall("export", "ocds", "--project", "999999", "-o", str(target))
    assert missing.returncode == 2 and "no public release" in missing.stderr and not target.exists()
    empty = bidhall("export", "ocds", "-o", str(target))
    assert empty.returncode == 2 and not target.exists()
    bad_day = bidhall("export", "report", "entities", "--day", "yesterday", "-o", str(target))
    assert bad_day.returncode == 2 and "not a date" in bad_day.stderr


async def _projects(database: Database, count: int) -> list[str]:
    async with database.transaction() as session:
        return [ocid_of((await open_lot(session, custodian_fallback=False)).project.code) for _ in range(count)]


async def test_the_api_pages_the_releases(client, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ocds_publish, "PAGE_SIZE", 2)
    ocids = await _projects(runtime.database, 5)  # one tender release each
    first = await client.get("/ocds/releases")
    assert first.status_code == 200 and first.headers["x-total-count"] == "5" and first.headers["x-page-count"] == "3"
    body = first.json()
    assert errors_of("release-package", body) == [] and len(body["releases"]) == 2
    seen = [release["ocid"] for release in body["releases"]]
    next_url = body["links"]["next"]
    while next_url:
        page = (await client.get(next_url)).json()
        assert errors_of("release-package", page) == []
        seen += [release["ocid"] for release in page["releases"]]
        next_url = page.get("links", {}).get("next")
    assert seen == ocids and "prev" in page["links"]
    later = await client.get("/ocds/releases", params={"since": body["releases"][1]["date"]})
    assert later.headers["x-total-count"] == "4"
    assert [release["ocid"] for release in later.json()["releases"]] == ocids[1:3]
    none_yet = await client.get("/ocds/releases", params={"since": "2999-01-01T00:00:00Z"})
    assert none_yet.status_code == 200 and none_yet.json()["releases"] == []
    past = await client.get("/ocds/releases", params={"page": 4})
    assert past.status_code == 404 and "past the last page (3)" in past.json()["detail"]
    for bad in ({"page": "0"}, {"page": "two"}, {"since": "last week"}):
        refused = await client.get("/ocds/releases", params=bad)
        assert refused.status_code == 422, bad


async def test_the_api_serves_a_record(client, runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with runtime.database.transaction() as session:
        lot = await contracted(session, blob_store(), tmp_path)
    ocid = ocid_of(lot.made.project.code)
    response = await client.get(f"/ocds/records/{ocid}")
    assert response.status_code == 200
    package = response.json()
    assert errors_of("record-package", package) == []
    record = package["records"][0]
    assert record["ocid"] == ocid and record["compiledRelease"]["contracts"][0]["status"] == "active"
    assert (await client.get("/ocds/records/ocds-bh0001-NOPE")).status_code == 404
    signed = record["compiledRelease"]["contracts"][0]["dateSigned"]
    recent = (await client.get("/ocds/releases", params={"since": signed})).json()
    assert [release["tag"] for release in recent["releases"]] == [["contract"]]  # an incremental harvest


async def test_the_report_export_writes_one_dataset_of_one_day(bidhall, database: Database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from core.clock import travel, utcnow
    from tests.factories import make_party

    day = utcnow().date() - timedelta(days=2)
    with travel(to=utcnow() - timedelta(days=2)):
        async with database.transaction() as session:
            party = await make_party(session, "Exported Entity Co., Ltd.")
    target = tmp_path / "entities.jsonl"
    written = output(bidhall("export", "report", "entities", "--day", day.isoformat(), "-o", str(target)))
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [row["uscc"] for row in rows] == [party.uscc] and written["records"] == 1
    assert written["batch_id"].endswith(f".entities.{day:%Y%m%d}T000000Z.{day + timedelta(days=1):%Y%m%d}T000000Z")
    unknown = bidhall("export", "report", "gossip", "--day", day.isoformat(), "-o", str(target))
    assert unknown.returncode == 2 and "unknown dataset 'gossip'" in unknown.stderr
