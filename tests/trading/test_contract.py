"""The contract: uploaded by the tenderer, signed by the tenderer and the winner with their
certificates; a wrong party, a wrong or invalid certificate, a signature over other bytes,
a file that is not a contract: each refused with the reason, nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from ca_interop.demo_pki import DemoCA
from core.actors import Role
from core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from identities.models import Party
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.factories import actor_of, make_user
from tests.trading.award_factories import (
    Signer,
    after_publicity,
    blob_store,
    confirm_first,
    contract_docx,
    evaluated_lot,
    sign_as,
    sign_file,
    tenderer_signer,
    to_publicity,
    upload_contract,
    winner_signer,
)
from trading import contracts
from trading.award_events import award_stream
from trading.award_models import Award, AwardStatus, ContractSignature
from trading.models import Lot
from trading.states import LotStatus


async def awarded_lot(session, blobs, tmp_path: Path, acting=None):  # type: ignore[no-untyped-def]
    lot = await evaluated_lot(session, blobs, acting=acting)
    row = await to_publicity(session, lot)
    with after_publicity(row):
        await confirm_first(session, lot, blobs)
    await upload_contract(session, lot, blobs, tmp_path)
    return lot


async def _stored(session) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    entries = await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    signatures = await session.scalar(sa.select(sa.func.count()).select_from(ContractSignature))
    return int(entries or 0), int(signatures or 0)


async def _replays(runtime, lot_id: int) -> None:  # type: ignore[no-untyped-def]
    async with runtime.database.reader() as session:
        check = await check_stream(session, runtime.registry, award_stream(lot_id))
    assert check.matches, (check.replayed, check.stored)


async def test_both_parties_sign_and_the_lot_is_contracted(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with runtime.database.transaction() as session:
        lot = await awarded_lot(session, blobs, tmp_path)
        tenderer = await tenderer_signer(session, lot)
    await _replays(runtime, lot.lot_id)
    async with runtime.database.transaction() as session:
        first = await sign_as(session, lot, blobs, tenderer, lot.ca.revocation)
        tenderer_party = await session.get(Party, lot.made.project.tenderer_party_id)
        assert first.role == "tenderer" and first.signer_uscc == tenderer_party.uscc  # type: ignore[union-attr]
    await _replays(runtime, lot.lot_id)
    async with runtime.database.transaction() as session:
        second = await sign_as(session, lot, blobs, winner_signer(lot), lot.ca.revocation)
        assert second.role == "winner" and second.signer_uscc == lot.bidders[0].party.uscc
    await _replays(runtime, lot.lot_id)
    async with runtime.database.reader() as session:
        award_row = await session.scalar(sa.select(Award).where(Award.lot_id == lot.lot_id))
        assert award_row.status == AwardStatus.CONTRACTED and award_row.contracted_at is not None  # type: ignore[union-attr]
        assert (await session.get(Lot, lot.lot_id)).status == LotStatus.CONTRACTED  # type: ignore[union-attr]
        assert blobs.exists(second.signature_sha256) and second.contract_sha256 == award_row.contract_sha256  # type: ignore[union-attr]


async def test_a_party_signs_once(database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await awarded_lot(session, blobs, tmp_path)
        await sign_as(session, lot, blobs, winner_signer(lot), lot.ca.revocation)
        with pytest.raises(Conflict, match="winner has already signed"):
            await sign_as(session, lot, blobs, winner_signer(lot), lot.ca.revocation)


async def test_only_the_tenderer_and_the_winner_sign(database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await awarded_lot(session, blobs, tmp_path)
        agency = actor_of(await make_user(session, Role.AGENCY))
        other_tenderer = actor_of(await make_user(session, Role.TENDERER))
        lot.made.project.agency_party_id = agency.party_id
        before = await _stored(session)
        loser = winner_signer(lot, index=1)
        with pytest.raises(PermissionDenied, match="signed by the tenderer and the winner only"):
            await sign_as(session, lot, blobs, loser, lot.ca.revocation)
        with pytest.raises(PermissionDenied, match="reserved to: bidder, tenderer"):
            await sign_as(session, lot, blobs, Signer(agency, loser.key, loser.cert), lot.ca.revocation)
        with pytest.raises(PermissionDenied, match="not by this party"):
            await sign_as(session, lot, blobs, Signer(other_tenderer, loser.key, loser.cert), lot.ca.revocation)
        assert await _stored(session) == before


async def test_a_certificate_of_another_party_is_refused(database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await awarded_lot(session, blobs, tmp_path)
        before = await _stored(session)
        other = winner_signer(lot, index=1)
        wrong = Signer(lot.bidders[0].actor, other.key, other.cert)  # the winner's user, a loser's certificate
        with pytest.raises(RuleViolation, match=f"speaks for .*{lot.bidders[1].party.uscc}.*not for the winner") as refused:
            await sign_as(session, lot, blobs, wrong, lot.ca.revocation)
        assert refused.value.rule == "contract_signer" and await _stored(session) == before


async def test_an_invalid_certificate_is_refused(database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await awarded_lot(session, blobs, tmp_path)
        before = await _stored(session)
        winner = winner_signer(lot)
        lot.ca.ca.revoke(lot.bidders[0].signing.cert)
        lot.ca.refresh()
        with pytest.raises(RuleViolation, match="winner's signature is not valid \\(TOTAL_FAILED/REVOKED\\)") as refused:
            await sign_as(session, lot, blobs, winner, lot.ca.revocation)
        assert refused.value.rule == "contract_signature"
        party = lot.bidders[0].party
        untrusted = DemoCA.create("Unknown CA", "ecdsa").issue(party.name, uscc=party.uscc, organization=party.name)
        with pytest.raises(RuleViolation, match="not a recognised CA"):
            await sign_as(session, lot, blobs, Signer(winner.actor, untrusted.key, untrusted.cert), lot.ca.revocation)
        assert await _stored(session) == before


async def test_a_signature_over_other_bytes_is_refused(database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await awarded_lot(session, blobs, tmp_path)
        signature = sign_file(contract_docx(tmp_path, "Another contract"), winner_signer(lot))
        with pytest.raises(RuleViolation, match="HASH_FAILURE.*content does not match"):
            await contracts.sign_contract(session, lot.bidders[0].actor, lot.lot_id, signature, blobs=blobs,
                                          revocation=lot.ca.revocation)
        with pytest.raises(RuleViolation, match="FORMAT_FAILURE"):
            await contracts.sign_contract(session, lot.bidders[0].actor, lot.lot_id, b"not a signature",
                                          blobs=blobs, revocation=lot.ca.revocation)


async def test_contract_uploads_are_checked(database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    fake_pdf = tmp_path / "fake.pdf"
    fake_pdf.write_bytes(b"PK\x03\x04 not a pdf")
    async with database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        with pytest.raises(NotFound, match="has no award yet: no candidate list is recorded"):
            await contracts.upload_contract(session, lot.tenderer, lot.lot_id, source=fake_pdf,
                                            media_type=contracts.PDF, blobs=blobs, max_bytes=1 << 20)
        lot = await awarded_lot(session, blobs, tmp_path)
        stored = set(blobs.root.glob("??/??/*"))
        with pytest.raises(InvalidInput, match="not a PDF file"):
            await contracts.upload_contract(session, lot.tenderer, lot.lot_id, source=fake_pdf,
                                            media_type=contracts.PDF, blobs=blobs, max_bytes=1 << 20)
        with pytest.raises(InvalidInput, match="not a Word .docx"):
            await contracts.upload_contract(session, lot.tenderer, lot.lot_id, source=fake_pdf,
                                            media_type=contracts.DOCX, blobs=blobs, max_bytes=1 << 20)
        with pytest.raises(InvalidInput, match="PDF .* or a Word document"):
            await contracts.upload_contract(session, lot.tenderer, lot.lot_id, source=fake_pdf,
                                            media_type="text/plain", blobs=blobs, max_bytes=1 << 20)
        assert set(blobs.root.glob("??/??/*")) == stored
        await sign_as(session, lot, blobs, winner_signer(lot), lot.ca.revocation)
        with pytest.raises(Conflict, match="already being signed"):
            await upload_contract(session, lot, blobs, tmp_path)
