"""Several processes appending to one PostgreSQL ledger at once stay gap-free and ordered."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from core.database import Database
from supervision.ledger.models import LedgerEntry
from supervision.ledger.verify import verify_ledger

APPENDER = textwrap.dedent(
    """
    import asyncio, random, sys, time
    from core.actors import SYSTEM
    from core.database import Database
    from supervision.ledger import append

    async def main(url, name, count, start_at):
        database = Database(url)
        await database.ping()
        await asyncio.sleep(max(0.0, start_at - time.time()))  # all start together
        for number in range(count):
            async with database.transaction() as session:
                await append(session, stream=f"proc:{name}", event_type="test.concurrent",
                             actor=SYSTEM, payload={"number": number})
                await asyncio.sleep(random.random() / 500)  # hold the lock a little
        await database.dispose()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
    """
)


@pytest.mark.postgres
async def test_concurrent_appenders_in_several_processes(postgres_database: Database) -> None:
    database = postgres_database
    processes, per_process = 4, 40
    url = database.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    start_at = str(time.time() + 4)  # after every child has imported and connected
    children = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", APPENDER, url, str(n), str(per_process), start_at,
                                             env=env, stderr=subprocess.PIPE)
        for n in range(processes)
    ]
    results = await asyncio.gather(*(child.communicate() for child in children))
    for child, (_, stderr) in zip(children, results):
        assert child.returncode == 0, stderr.decode()
    async with database.reader() as session:
        rows = (await session.execute(sa.select(LedgerEntry.seq, LedgerEntry.stream, LedgerEntry.leaf)
                                      .order_by(LedgerEntry.seq))).all()
        report = await verify_ledger(session)
    assert [seq for seq, _, _ in rows] == list(range(processes * per_process))
    for name in range(processes):
        numbers = [json.loads(leaf)["payload"]["number"] for _, stream, leaf in rows if stream == f"proc:{name}"]
        assert numbers == list(range(per_process))  # each process's entries in its own order
    switches = sum(1 for before, after in zip(rows, rows[1:]) if before[1] != after[1])
    assert switches > processes, "the appenders did not actually interleave"
    assert report.ok, report
