"""The award over HTTP, end to end: candidates, publicity, objection and reply, winner with
the sealed award notice and its verification, contract upload and both signatures, the
archive made and downloaded; roles enforced, bad requests refused with problems."""

from __future__ import annotations

import base64
import io
import zipfile
from datetime import timedelta
from pathlib import Path

from core.actors import Role
from core.clock import travel
from identities import service as identities_service
from tests.factories import PASSWORD, actor_of, signed_in
from tests.trading.award_factories import (
    PRICES,
    contract_docx,
    evaluated_lot,
    install_platform_seal,
    publish_crl,
    sign_file,
    tenderer_signer,
    winner_signer,
)
from trading.archive_verify import verify_archive


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _token_of(session, user) -> str:  # type: ignore[no-untyped-def]
    _, raw = await identities_service.sign_in(session, user.username, PASSWORD, source_address="127.0.0.1", hours=1)
    return raw


def problem(response, status: int, text: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert text in response.json()["detail"], response.json()["detail"]


async def test_the_whole_award_over_http(client, runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    install_platform_seal(runtime)
    async with runtime.database.transaction() as session:
        tenderer_user, tenderer = await signed_in(session, Role.TENDERER)
        staff_user, staff = await signed_in(session, Role.CENTER_STAFF)
        regulator_user, regulator = await signed_in(session, Role.REGULATOR)
        stranger_user, stranger = await signed_in(session, Role.TENDERER)
        lot = await evaluated_lot(session, runtime.blobs, acting=actor_of(tenderer_user))
        winner = await _token_of(session, lot.bidders[0].user)
        objector = await _token_of(session, lot.bidders[2].user)
        tenderer_signing = await tenderer_signer(session, lot)
    publish_crl(runtime, lot.ca)
    base = f"/lots/{lot.lot_id}/award"
    candidates = {"candidates": [{"bid_id": bid.id, "price": str(PRICES[i]), "score": "90.00"}
                                 for i, bid in enumerate(lot.bids)]}

    problem(await client.post(f"{base}/candidates", json=candidates, headers=auth(winner)), 403, "reserved to")
    problem(await client.post(f"{base}/candidates", json={"candidates": [{"bid_id": 1, "price": 12}]},
                              headers=auth(staff)), 422, "price")
    created = await client.post(f"{base}/candidates", json=candidates, headers=auth(staff))
    assert created.status_code == 201 and [c["rank"] for c in created.json()["candidates"]] == [1, 2, 3]
    problem(await client.post(f"{base}/publicity", headers=auth(stranger)), 403, "tenderer or agency of project")
    published = (await client.post(f"{base}/publicity", headers=auth(tenderer))).json()
    assert published["status"] == "publicity"

    objection = await client.post(f"{base}/objections", json={"text": "Check the first candidate."},
                                  headers=auth(objector))
    assert objection.status_code == 201
    problem(await client.post(f"{base}/winner", json={"bid_id": lot.bids[0].id}, headers=auth(tenderer)), 409,
            "runs until")
    replied = await client.post(f"/award-objections/{objection.json()['id']}/reply",
                                json={"reply": "Checked."}, headers=auth(tenderer))
    assert replied.status_code == 200 and replied.json()["status"] == "answered"

    with travel(by=timedelta(days=5)):
        async with runtime.database.transaction() as session:  # the tokens of five days ago expired
            tenderer, staff, regulator, stranger, winner, objector = [await _token_of(session, user) for user in (
                tenderer_user, staff_user, regulator_user, stranger_user, lot.bidders[0].user, lot.bidders[2].user)]
        confirmed = await client.post(f"{base}/winner", json={"bid_id": lot.bids[0].id}, headers=auth(tenderer))
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["winner_party_id"] == lot.bidders[0].party.id

        notice = await client.get(f"{base}/notice", headers=auth(objector))
        assert notice.status_code == 200 and notice.headers["x-content-sha256"] == confirmed.json()["award_notice_sha256"]
        assert zipfile.ZipFile(io.BytesIO(notice.content)).testzip() is None
        signature = await client.get(f"{base}/notice/signature", headers=auth(objector))
        assert signature.status_code == 200 and signature.content[:1] == b"\x30"
        verified = (await client.get(f"{base}/notice/verification", headers=auth(objector))).json()
        assert verified["indication"] == "TOTAL_PASSED", verified["detail"]

        contract = contract_docx(tmp_path).read_bytes()
        docx_type = {"Content-Type": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
        problem(await client.put(f"/contract-files/{lot.lot_id}", content=b"%PDF-1.7 x",
                                 headers={**auth(tenderer), **docx_type}), 422, "not a Word .docx")
        uploaded = await client.put(f"/contract-files/{lot.lot_id}", content=contract,
                                    headers={**auth(tenderer), **docx_type})
        assert uploaded.status_code == 200 and uploaded.json()["contract_media_type"] == docx_type["Content-Type"]
        downloaded = await client.get(f"{base}/contract", headers=auth(winner))
        assert downloaded.content == contract
        problem(await client.get(f"{base}/contract", headers=auth(objector)), 403, "for its parties")

        stored = tmp_path / "stored.docx"
        stored.write_bytes(contract)
        problem(await client.post(f"{base}/contract/signatures", json={"signature_base64": "%%%"},
                                  headers=auth(winner)), 422, "not base64")
        for token, signer in ((winner, winner_signer(lot)), (tenderer, tenderer_signing)):
            body = {"signature_base64": base64.b64encode(sign_file(stored, signer)).decode()}
            signed = await client.post(f"{base}/contract/signatures", json=body, headers=auth(token))
            assert signed.status_code == 201, signed.text
        assert (await client.get(base, headers=auth(regulator))).json()["status"] == "contracted"

        project = lot.made.project.id
        problem(await client.post(f"/projects/{project}/archive", headers=auth(stranger)), 403, "tenderer or agency")
        made = await client.post(f"/projects/{project}/archive", headers=auth(staff))
        assert made.status_code == 201, made.text
        assert (await client.get(f"/projects/{project}/archive", headers=auth(regulator))).json()["sha256"] == \
            made.json()["sha256"]
        problem(await client.get(f"/projects/{project}/archive", headers=auth(winner)), 403, "reserved to")
        zipped = await client.get(f"/projects/{project}/archive/zip", headers=auth(regulator))
    target = tmp_path / "download.zip"
    target.write_bytes(zipped.content)
    assert verify_archive(target)["ok"]


async def test_contract_upload_limit_and_unauthenticated_calls(client, runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runtime.settings.max_document_bytes = 2048
    async with runtime.database.transaction() as session:
        _, tenderer = await signed_in(session, Role.TENDERER)
    assert (await client.get("/lots/1/award")).status_code == 401
    too_big = await client.put("/contract-files/1", content=b"%PDF-" + b"x" * 4096,
                               headers={**auth(tenderer), "Content-Type": "application/pdf"})
    assert too_big.status_code == 413
