"""HTTP endpoints of party credit, envelope uploads, bids, bonds and receipts.

Uploads stream: ``PUT /uploads/{id}?offset=N`` bodies bypass the global request limit
(``UPLOAD_PATHS``) and are bounded by the size declared when the upload was created,
itself bounded by ``settings.max_bid_bytes``. No endpoint returns an envelope's bytes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from core import clock
from core.actors import Actor
from core.errors import FieldError, InvalidInput, NotFound
from identities.service import token_digest
from trading import (
    bid_bonds,
    bid_receipts,
    bids,
    chunk_gate,
    parties,
    upload_lines,
    uploads,
)
from trading.bid_schemas import (
    BidOut,
    BidSubmit,
    BidWithdraw,
    BondOut,
    BondRecord,
    CreditRecordCreate,
    CreditRecordEnd,
    CreditRecordOut,
    PartyCreditOut,
    QualificationCreate,
    QualificationOut,
    SubmittedBidOut,
    UploadCreate,
    UploadOut,
)
from trading.bid_states import UploadStatus
from web.api import Api, QueryParam, json_response, parse_body, path_int
from web.auth import bearer_token, current_actor, with_actor
from web.problems import problem
from web.runtime import Runtime

api = Api()
UPLOAD_PATHS: tuple[str, ...] = (r"/uploads/[^/]+",)  # chunks stream with limits of their own
HEX = re.compile(r"[0-9a-f]+")


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def _spool(runtime: Runtime) -> uploads.UploadSpool:
    return uploads.UploadSpool(runtime.settings.resolved_upload_dir)


def bid_services(runtime: Runtime) -> bids.BidServices:
    assert runtime.revocation is not None
    return bids.BidServices(blobs=runtime.blobs, tsa=runtime.tsa, revocation=runtime.revocation,
                            spool=_spool(runtime), signer=runtime.signer)



# --- parties and credit -------------------------------------------------------------------


@api.operation("POST", "/parties/{party_id}/qualifications", "Record a party's qualification (centre staff)",
               request=QualificationCreate, response=QualificationOut, status=201, tag="credit", errors=(404,))
async def record_qualification(request: Request) -> Response:
    party_id = path_int(request, "party_id")
    data = await parse_body(request, QualificationCreate)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        row = await parties.record_qualification(session, actor, party_id, data)
        return json_response(QualificationOut.model_validate(row), 201)

    return await with_actor(request, work)


@api.operation("POST", "/parties/{party_id}/credit-records", "Record a blacklisting or a good or bad record (regulators)",
               request=CreditRecordCreate, response=CreditRecordOut, status=201, tag="credit", errors=(404,))
async def record_credit(request: Request) -> Response:
    party_id = path_int(request, "party_id")
    data = await parse_body(request, CreditRecordCreate)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        row = await parties.record_credit(session, actor, party_id, data)
        return json_response(CreditRecordOut.model_validate(row), 201)

    return await with_actor(request, work)


@api.operation("POST", "/credit-records/{record_id}/end", "End a credit record early (regulators)",
               request=CreditRecordEnd, response=CreditRecordOut, tag="credit", errors=(404, 409))
async def end_credit(request: Request) -> Response:
    record_id = path_int(request, "record_id")
    data = await parse_body(request, CreditRecordEnd)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(CreditRecordOut.model_validate(await parties.end_credit_record(session, actor, record_id, data)))

    return await with_actor(request, work)


@api.operation("GET", "/parties/{party_id}/credit", "A party's qualifications and credit (its own, or oversight)",
               response=PartyCreditOut, tag="credit", errors=(404,))
async def read_credit(request: Request) -> Response:
    party_id = path_int(request, "party_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        qualifications, records, refusal = await parties.read_party_credit(session, actor, party_id)
        return json_response(PartyCreditOut(
            party_id=party_id, qualifications=[QualificationOut.model_validate(q) for q in qualifications],
            credit_records=[CreditRecordOut.model_validate(r) for r in records], bidding_refused=refusal))

    return await with_actor(request, work)


# --- uploads ------------------------------------------------------------------------------


@api.operation("POST", "/lots/{lot_id}/uploads", "Announce a sealed envelope to upload (bidders)",
               request=UploadCreate, response=UploadOut, status=201, tag="bids", errors=(404, 409))
async def create_upload(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, UploadCreate)
    runtime = _runtime(request)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        upload = await uploads.create_upload(session, actor, lot_id, data, max_bytes=runtime.settings.max_bid_bytes,
                                             spool=_spool(runtime))
        return json_response(UploadOut.model_validate(upload), 201)

    return await with_actor(request, work)


@api.operation("GET", "/uploads/{upload_id}", "An upload: how many bytes were received (resume there)",
               response=UploadOut, tag="bids", errors=(404,))
async def read_upload(request: Request) -> Response:
    upload_id = str(request.path_params["upload_id"])
    # Chunks this process answered ahead of their record are recorded first, so that the
    # answer agrees with the ones the client already has.
    await upload_lines.answers_recorded(upload_id)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(UploadOut.model_validate(await uploads.read_upload(session, actor, upload_id)))

    return await with_actor(request, work)


@api.operation("PUT", "/uploads/{upload_id}",
               "Send one chunk (raw body, its hash in X-Chunk-XXH3-128 or X-Chunk-SHA256, hex) at ?offset=received",
               response=UploadOut, tag="bids", errors=(404, 409, 422),
               query=(QueryParam("offset", {"type": "integer", "minimum": 0}, required=True),))
async def put_chunk(request: Request) -> Response:
    upload_id = str(request.path_params["upload_id"])
    offset, claimed, length = _chunk_headers(request)
    runtime = _runtime(request)
    spool = _spool(runtime)
    try:
        async with upload_lines.joined(spool, upload_id) as line:
            answer = await _take_chunk(request, runtime, line, offset, claimed, length)
    except ClientDisconnect:
        return problem(400, "Bad Request", f"the connection dropped; received stays {offset}: resume there")
    except NotFound:  # an unknown upload: a caller who is not signed in hears 401, not whether it exists
        async with runtime.database.reader() as session:
            await current_actor(request, session)
        raise
    return json_response(answer)


async def _take_chunk(request: Request, runtime: Runtime, line: upload_lines.UploadLine, offset: int,
                      claimed: list[uploads.ChunkDigest], length: int | None) -> UploadOut:
    """Receive the chunk at ``offset`` in its turn on the upload's line, then verify and
    record it (after the chunk before it). The next chunk may be received meanwhile."""
    upload_id = line.upload_id
    slot = None
    try:
        async with line.turn_to_receive(offset):
            target = await _admit_chunk(request, runtime, line, offset)
            writer = await uploads.writer_for(line, target)
            pending = await uploads.take_chunk_body(writer, target, request.stream(), claimed=claimed,
                                                    content_length=length)
            slot = line.received(pending.end)
            chunk_gate.advance(upload_id, pending.end, complete=pending.completes)
        if pending.judged_early:
            return await _answer_ahead(runtime, line, slot, pending)
        # The verdict needs every byte through the lanes (a chunk SHA-256, the completion).
        received = await pending.verified()  # while the next chunk may already be arriving
        await slot.turn()
        upload = await uploads.record_received(runtime.database, upload_id, offset, received,
                                               durable=pending.completes)
        slot.settle()
        return UploadOut.model_validate(upload)
    except BaseException as error:
        if slot is not None:
            slot.abandon()
        chunk_gate.void(upload_id)
        line.lost_track()
        if isinstance(error, uploads.EnvelopeRefused):
            async with runtime.database.transaction() as session:
                await uploads.discard_upload(session, upload_id, _spool(runtime))
        elif isinstance(error, uploads.SpoolBehind):
            async with runtime.database.transaction() as session:
                await uploads.rewind_to_spool(session, error)
        raise


async def _answer_ahead(runtime: Runtime, line: upload_lines.UploadLine, slot: upload_lines.RecordSlot,
                        pending: uploads.PendingChunk) -> UploadOut:
    """Answer a chunk already known to be good (its hash ran as the bytes arrived) at once,
    while it is recorded and its last bytes go to the disk: waiting for either would keep
    the client's next chunk waiting too. The line holds the spool file until both are done.
    If the record fails, the next chunk is sent back to where the database says the upload
    stands; if the bytes never reach the disk (a failed write, the server stopped), the next
    chunk finds the spool file behind the record and the upload rewinds to what it holds
    (uploads.SpoolBehind). The chunk that completes the upload is never answered ahead."""
    pending.check_hashes()
    target = pending.target

    async def record_then_write() -> None:
        await slot.turn()
        await uploads.record_received(runtime.database, target.upload_id, target.offset, pending.end,
                                      durable=False)
        await pending.written()

    line.finish_behind(record_then_write(), slot)
    return UploadOut.model_validate({
        "id": target.upload_id, "lot_id": target.lot.id, "declared_size": target.declared_size,
        "declared_sha256": target.declared_sha256, "received": pending.end, "status": UploadStatus.RECEIVING,
        "created_at": target.created_at, "updated_at": clock.utcnow()})


async def _admit_chunk(request: Request, runtime: Runtime, line: upload_lines.UploadLine, offset: int,
                       ) -> uploads.ChunkTarget:
    """Where the chunk goes, once its sender and offset are checked: by this process's pass
    for the upload while it holds (see trading.chunk_gate), else in the database (one
    transaction, once the chunks before have recorded), which issues a new pass."""
    credential = token_digest(bearer_token(request))
    spooled = uploads.spooled_size(line)
    target = chunk_gate.admitted(line.upload_id, credential, offset, spooled)
    if target is None:
        await line.settled()
        async with runtime.database.transaction() as session:
            actor = await current_actor(request, session)
            target = await uploads.prepare_chunk(session, actor, line.upload_id, offset, spooled)
        chunk_gate.issue(line.upload_id, credential, target)
    return target


def _chunk_headers(request: Request) -> tuple[int, list[uploads.ChunkDigest], int | None]:
    text = request.query_params.get("offset")
    if text is None or not text.isdigit() or len(text) > 15:
        raise InvalidInput("give ?offset=N, the number of bytes the upload has received (GET /uploads/{id})",
                           [FieldError("?offset", "missing or not a whole number")])
    length_text = request.headers.get("content-length")
    length = int(length_text) if length_text and length_text.isdigit() else None
    return int(text), _claimed_chunk_digests(request), length


def _claimed_chunk_digests(request: Request) -> list[uploads.ChunkDigest]:
    """Every chunk hash the client sent (at least one), each well formed."""
    claimed: list[uploads.ChunkDigest] = []
    for chunk_hash in uploads.CHUNK_HASHES.values():
        value = request.headers.get(chunk_hash.header)
        if value is None:
            continue
        value = value.strip().lower()
        if len(value) != chunk_hash.hex_digits or not HEX.fullmatch(value):
            raise InvalidInput(
                f"{chunk_hash.header} must be the chunk's {chunk_hash.label} as {chunk_hash.hex_digits} hex digits",
                [FieldError(f"header.{chunk_hash.header}", f"not a {chunk_hash.label} hex digest")])
        claimed.append(uploads.ChunkDigest(chunk_hash, value))
    if not claimed:
        headers = " or ".join(chunk_hash.header for chunk_hash in uploads.CHUNK_HASHES.values())
        raise InvalidInput(f"send the chunk's hash in {headers} (hex)",
                           [FieldError("header.X-Chunk-XXH3-128", "missing: no chunk hash header")])
    return claimed


# --- bids ---------------------------------------------------------------------------------


async def _submitted(request: Request, store: Callable[[AsyncSession, Actor], Awaitable[object]]) -> Response:
    """Submit (or replace) in one transaction, then make the receipt once it is committed:
    its proof must lead to a signed head over the committed ledger."""
    runtime = _runtime(request)
    async with runtime.database.transaction() as session:
        actor = await current_actor(request, session)
        bid = await store(session, actor)
    async with runtime.database.transaction() as session:
        receipt = await bid_receipts.bid_receipt(session, actor, bid.id, runtime.signer)  # type: ignore[attr-defined]
    return json_response(SubmittedBidOut(bid=BidOut.model_validate(bid), receipt=receipt), 201)


@api.operation("POST", "/lots/{lot_id}/bids", "Submit a bid: a completed upload and your signature over it (bidders)",
               request=BidSubmit, response=SubmittedBidOut, status=201, tag="bids", errors=(404, 409, 422))
async def submit_bid(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, BidSubmit)
    services = bid_services(_runtime(request))
    return await _submitted(request, lambda session, actor: bids.submit_bid(session, actor, lot_id, data, services))


@api.operation("POST", "/bids/{bid_id}/replace", "Replace a bid with a new envelope, before the deadline (bidders)",
               request=BidSubmit, response=SubmittedBidOut, status=201, tag="bids", errors=(404, 409, 422))
async def replace_bid(request: Request) -> Response:
    bid_id = path_int(request, "bid_id")
    data = await parse_body(request, BidSubmit)
    services = bid_services(_runtime(request))
    return await _submitted(request, lambda session, actor: bids.replace_bid(session, actor, bid_id, data, services))


@api.operation("POST", "/bids/{bid_id}/withdraw", "Withdraw a bid, before the deadline (bidders)",
               request=BidWithdraw, response=BidOut, tag="bids", errors=(404, 409))
async def withdraw_bid(request: Request) -> Response:
    bid_id = path_int(request, "bid_id")
    data = await parse_body(request, BidWithdraw)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(BidOut.model_validate(await bids.withdraw_bid(session, actor, bid_id, data)))

    return await with_actor(request, work)


@api.operation("GET", "/bids/{bid_id}", "A bid (its bidder, oversight): never its content", response=BidOut,
               tag="bids", errors=(404,))
async def get_bid(request: Request) -> Response:
    bid_id = path_int(request, "bid_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(BidOut.model_validate(await bids.get_bid(session, actor, bid_id)))

    return await with_actor(request, work)


@api.operation("GET", "/lots/{lot_id}/bids", "A lot's bids (oversight; a bidder sees its own)", response=BidOut,
               response_is_list=True, tag="bids", errors=(404,))
async def list_bids(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response([BidOut.model_validate(b) for b in await bids.list_bids(session, actor, lot_id)])

    return await with_actor(request, work)


@api.operation("GET", "/bids/{bid_id}/receipt", "A bid's receipt, verifiable offline (its bidder, oversight)",
               tag="bids", errors=(404,))
async def bid_receipt(request: Request) -> Response:
    bid_id = path_int(request, "bid_id")
    signer = _runtime(request).signer

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return JSONResponse(await bid_receipts.bid_receipt(session, actor, bid_id, signer))

    return await with_actor(request, work)


@api.operation("GET", "/receipt-keys", "What checks a receipt: the TSA certificates and the platform's public key",
               authenticated=False, tag="bids")
async def receipt_keys(request: Request) -> Response:
    from cryptography.hazmat.primitives.serialization import Encoding

    runtime = _runtime(request)
    tsa = runtime.tsa
    return JSONResponse({
        "tsa_certificate": tsa.cert.public_bytes(Encoding.PEM).decode("ascii"),
        "tsa_chain": [c.public_bytes(Encoding.PEM).decode("ascii") for c in tsa.chain],
        "platform_public_key": runtime.signer.public_key_pem,
        "platform_key_id": runtime.signer.key_id,
    })


# --- bonds --------------------------------------------------------------------------------


@api.operation("POST", "/lots/{lot_id}/bond", "Record your party's bid bond for a lot (bidders)", request=BondRecord,
               response=BondOut, tag="bids", errors=(404, 409))
async def record_bond(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, BondRecord)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(BondOut.model_validate(await bid_bonds.record_bid_bond(session, actor, lot_id, data)))

    return await with_actor(request, work)


@api.operation("GET", "/lots/{lot_id}/bonds", "A lot's bid bonds (oversight; a bidder sees its own)", response=BondOut,
               response_is_list=True, tag="bids", errors=(404,))
async def list_bonds(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        rows = await bid_bonds.list_bid_bonds(session, actor, lot_id)
        return json_response([BondOut.model_validate(b) for b in rows])

    return await with_actor(request, work)


@api.operation("POST", "/bonds/{bond_id}/verify", "Verify a bid bond against the bank's record (centre staff)",
               response=BondOut, tag="bids", errors=(404, 409))
async def verify_bond(request: Request) -> Response:
    bond_id = path_int(request, "bond_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(BondOut.model_validate(await bid_bonds.verify_bid_bond(session, actor, bond_id)))

    return await with_actor(request, work)
