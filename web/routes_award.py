"""HTTP endpoints after the evaluation: candidates and their publicity, objections, the
winner and the sealed award notice, the contract and its signatures, the project archive.

The contract file is the one large body here: ``PUT /contract-files/{lot_id}`` streams it
to a spool file with its own limit (``max_document_bytes``), hence ``UPLOAD_PATHS``.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from core.actors import Actor
from core.errors import FieldError, InvalidInput
from trading import archive, award, award_notice, contracts
from trading.award_models import Award, AwardWithdrawal, ContractSignature
from trading.award_schemas import (
    ArchiveOut,
    AwardOut,
    CandidateList,
    ContractSignatureIn,
    ObjectionReplyIn,
    PublicityObjectionIn,
    SealReportOut,
    SignatureOut,
    WinnerConfirmation,
    WithdrawalOut,
)
from trading.notice_schemas import ObjectionOut
from web.api import Api, json_response, parse_body, path_int
from web.auth import with_actor
from web.middleware import BodyTooLarge

api = Api()
UPLOAD_PATHS: tuple[str, ...] = (r"/contract-files/\d+",)  # streams its body with a limit of its own
TAG = "award"


async def _award_out(session: AsyncSession, actor: Actor, lot_id: int) -> AwardOut:
    row, candidates, signatures = await award.get_award(session, actor, lot_id)
    return _out(row, candidates, signatures, await award.withdrawals_of(session, row))


def _out(row: Award, candidates: list[dict], signatures: list[ContractSignature],  # type: ignore[type-arg]
         withdrawals: list[AwardWithdrawal]) -> AwardOut:
    return AwardOut.model_validate({**row.model_dump(), "candidates": candidates,
                                    "signatures": [SignatureOut.model_validate(s) for s in signatures],
                                    "withdrawals": [WithdrawalOut.model_validate(w) for w in withdrawals]})


def _download(request: Request, sha256: str, media_type: str, filename: str) -> Response:
    blobs = request.app.state.runtime.blobs
    headers = {"Content-Length": str(blobs.size(sha256)), "ETag": f'"{sha256}"', "X-Content-SHA256": sha256,
               "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}
    return StreamingResponse(blobs.iter_chunks(sha256), media_type=media_type, headers=headers)


# --- candidates, publicity, objections -----------------------------------------------------------


@api.operation("POST", "/lots/{lot_id}/award/candidates", "Record the ranked candidates (centre staff)",
               request=CandidateList, response=AwardOut, status=201, tag=TAG, errors=(403, 404, 409, 422))
async def record_candidates(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, CandidateList)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        await award.record_candidates(session, actor, lot_id, data)
        return json_response(await _award_out(session, actor, lot_id), 201)

    return await with_actor(request, work)


@api.operation("GET", "/lots/{lot_id}/award", "The award of a lot: candidates, winner, contract signatures",
               response=AwardOut, tag=TAG, errors=(403, 404))
async def get_lot_award(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(await _award_out(session, actor, lot_id))

    return await with_actor(request, work)


@api.operation("POST", "/lots/{lot_id}/award/publicity", "Publish the candidates (tenderer or agency)",
               response=AwardOut, tag=TAG, errors=(403, 404, 409))
async def publish_publicity(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        await award.publish_candidate_publicity(session, actor, lot_id)
        return json_response(await _award_out(session, actor, lot_id))

    return await with_actor(request, work)


@api.operation("POST", "/lots/{lot_id}/award/objections", "Object to the candidates (bidder of the lot)",
               request=PublicityObjectionIn, response=ObjectionOut, status=201, tag=TAG, errors=(403, 404, 409, 422))
async def raise_publicity_objection(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, PublicityObjectionIn)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        objection = await award.raise_publicity_objection(session, actor, lot_id, data)
        return json_response(ObjectionOut.model_validate(objection), 201)

    return await with_actor(request, work)


@api.operation("POST", "/award-objections/{objection_id}/reply",
               "Answer an objection to the candidates; upheld_evaluation withdraws the publicity and sends the lot "
               "back to evaluation",
               request=ObjectionReplyIn, response=ObjectionOut, tag=TAG, errors=(403, 404, 409, 422))
async def reply_publicity_objection(request: Request) -> Response:
    objection_id = path_int(request, "objection_id")
    data = await parse_body(request, ObjectionReplyIn)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        objection = await award.reply_publicity_objection(session, actor, objection_id, data)
        return json_response(ObjectionOut.model_validate(objection))

    return await with_actor(request, work)


# --- the winner and the award notice ------------------------------------------------------------


@api.operation("POST", "/lots/{lot_id}/award/winner",
               "Confirm the winner after the publicity: seals the award notice, publishes the result",
               request=WinnerConfirmation, response=AwardOut, tag=TAG, errors=(403, 404, 409, 422))
async def confirm_winner(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, WinnerConfirmation)
    runtime = request.app.state.runtime

    async def work(session: AsyncSession, actor: Actor) -> Response:
        await award_notice.confirm_winner(session, actor, lot_id, data, blobs=runtime.blobs,
                                          seal=runtime.platform_seal)
        return json_response(await _award_out(session, actor, lot_id))

    return await with_actor(request, work)


@api.operation("POST", "/lots/{lot_id}/award/deal-notice",
               "Issue the award notice of a concluded price competition: the sealed deal confirmation "
               "(成交确认书) and the result notice", response=AwardOut, tag=TAG, errors=(403, 404, 409))
async def issue_deal_notice(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    runtime = request.app.state.runtime

    async def work(session: AsyncSession, actor: Actor) -> Response:
        await award_notice.issue_deal_notice(session, actor, lot_id, blobs=runtime.blobs, seal=runtime.platform_seal)
        return json_response(await _award_out(session, actor, lot_id))

    return await with_actor(request, work)


def _notice_part(part: str) -> Callable[[Request], Awaitable[Response]]:
    async def download(request: Request) -> Response:
        lot_id = path_int(request, "lot_id")

        async def work(session: AsyncSession, actor: Actor) -> Response:
            sha256, media_type, filename = await award_notice.award_notice_file(session, actor, lot_id, part)
            return _download(request, sha256, media_type, filename)

        return await with_actor(request, work)

    download.__name__ = f"award_notice_{part}"
    return download


api.operation("GET", "/lots/{lot_id}/award/notice", "Download the sealed award notice (.docx)", tag=TAG,
              errors=(404, 409))(_notice_part("document"))
api.operation("GET", "/lots/{lot_id}/award/notice/signature",
              "Download the award notice's seal signature (GB/T 38540 SES_Signature, DER)", tag=TAG,
              errors=(404, 409))(_notice_part("signature"))


@api.operation("GET", "/lots/{lot_id}/award/notice/verification",
               "Verify the award notice's seal: document hash, signatures, certificates", response=SealReportOut,
               tag=TAG, errors=(404, 409))
async def verify_notice(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    runtime = request.app.state.runtime

    async def work(session: AsyncSession, actor: Actor) -> Response:
        report = await award_notice.verify_award_notice(
            session, actor, lot_id, blobs=runtime.blobs, revocation=runtime.revocation,
            seal_roots=(runtime.platform_seal.root,))
        return json_response(SealReportOut(indication=report["indication"], subindication=report["subindication"],
                                           detail=report["detail"], report=report))

    return await with_actor(request, work)


# --- the contract ---------------------------------------------------------------------------------


@api.operation("PUT", "/contract-files/{lot_id}",
               "Upload the contract (raw PDF or .docx body, streamed; tenderer or agency)", response=AwardOut,
               tag=TAG, errors=(403, 404, 409, 413, 422))
async def upload_contract(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    runtime = request.app.state.runtime
    limit = runtime.settings.max_document_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    runtime.blobs.tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=runtime.blobs.tmp_dir, prefix="contract-", suffix=".part") as spool:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise BodyTooLarge(limit)
            spool.write(chunk)
        spool.flush()

        async def work(session: AsyncSession, actor: Actor) -> Response:
            await contracts.upload_contract(session, actor, lot_id, source=Path(spool.name), media_type=media_type,
                                            blobs=runtime.blobs, max_bytes=limit)
            return json_response(await _award_out(session, actor, lot_id))

        return await with_actor(request, work)


@api.operation("GET", "/lots/{lot_id}/award/contract", "Download the contract (its parties and oversight)",
               tag=TAG, errors=(403, 404, 409))
async def download_contract(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        sha256, media_type, filename = await contracts.contract_file(session, actor, lot_id)
        return _download(request, sha256, media_type, filename)

    return await with_actor(request, work)


@api.operation("POST", "/lots/{lot_id}/award/contract/signatures",
               "Sign the contract (tenderer or winner): a detached CMS signature by the party's certificate",
               request=ContractSignatureIn, response=SignatureOut, status=201, tag=TAG, errors=(403, 404, 409, 422))
async def sign_contract(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, ContractSignatureIn)
    try:
        signature = base64.b64decode(data.signature_base64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("signature_base64 is not base64", [FieldError("$.signature_base64", "not base64")]) from None
    runtime = request.app.state.runtime

    async def work(session: AsyncSession, actor: Actor) -> Response:
        row = await contracts.sign_contract(session, actor, lot_id, signature, blobs=runtime.blobs,
                                            revocation=runtime.revocation)
        return json_response(SignatureOut.model_validate(row), 201)

    return await with_actor(request, work)


# --- the archive ----------------------------------------------------------------------------------


@api.operation("POST", "/projects/{project_id}/archive",
               "Make the project's archive (every lot finished); the project becomes archived",
               response=ArchiveOut, status=201, tag=TAG, errors=(403, 404, 409, 422))
async def make_project_archive(request: Request) -> Response:
    project_id = path_int(request, "project_id")
    runtime = request.app.state.runtime

    async def work(session: AsyncSession, actor: Actor) -> Response:
        made = await archive.make_archive(session, actor, project_id, blobs=runtime.blobs, signer=runtime.signer)
        return json_response(ArchiveOut.model_validate(made), 201)

    return await with_actor(request, work)


@api.operation("GET", "/projects/{project_id}/archive", "The project's archive: hash, size, files, tree size",
               response=ArchiveOut, tag=TAG, errors=(403, 404))
async def get_project_archive(request: Request) -> Response:
    project_id = path_int(request, "project_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(ArchiveOut.model_validate(await archive.get_archive(session, actor, project_id)))

    return await with_actor(request, work)


@api.operation("GET", "/projects/{project_id}/archive/zip",
               "Download the archive (check it offline with `bidhall archive verify`)", tag=TAG, errors=(403, 404))
async def download_archive(request: Request) -> Response:
    project_id = path_int(request, "project_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        made = await archive.get_archive(session, actor, project_id)
        return _download(request, made.sha256, "application/zip", f"project-{project_id}-archive.zip")

    return await with_actor(request, work)
