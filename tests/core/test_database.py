"""Transactions: a reader never holds writers up (SQLite's single write lock included)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from core.actors import SYSTEM
from core.database import Database
from supervision.ledger.append import append
from supervision.ledger.models import LedgerEntry


async def test_an_open_read_transaction_does_not_block_a_writer(database: Database) -> None:
    async with database.reader() as reading:
        before = await reading.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))  # its transaction is open

        async def write() -> None:
            async with database.transaction() as session:
                await append(session, stream="probe:1", event_type="probe.written", actor=SYSTEM, payload={})

        # A reader that took the write lock at BEGIN would keep this waiting for the busy timeout.
        await asyncio.wait_for(write(), timeout=5)
        assert before is not None
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == before + 1
