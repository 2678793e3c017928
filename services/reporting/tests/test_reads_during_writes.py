"""Reporting's reads answer while a writer holds the database: on the embedded default
(SQLite) a projection batch or a rebuild holds the one write lock for as long as it writes, and
a dashboard, an auditor or a readiness probe must not queue behind it."""

from __future__ import annotations

import asyncio

from sqlalchemy import update

from gatehouse.auth import Role
from gatehouse.eventstore.schema import consumer_offsets

from .conftest import Reporting

# Far below SQLite's busy timeout (30 s), which a read queuing for the lock would wait out.
ANSWER_WITHIN_SECONDS = 3.0

READS = ["/v1/portfolio", "/v1/kpis", "/v1/workload", "/v1/audit/decisions", "/v1/audit/verify",
         "/v1/projections", "/readyz"]


async def test_every_read_answers_while_a_writer_holds_the_database(reporting: Reporting) -> None:
    await reporting.caught_up()
    runtime = reporting.service.app.state.runtime
    everyone = reporting.service.auth("rita", *Role)
    async with runtime.database.transaction() as writer:
        # A write, as a projection's batch makes: from here to the commit, the lock is held.
        await writer.execute(update(consumer_offsets)
                             .values(next_offset=consumer_offsets.c.next_offset))
        answers = await asyncio.wait_for(
            asyncio.gather(*(reporting.client.get(path, headers=everyone)
                             for path in READS)),
            ANSWER_WITHIN_SECONDS)
    assert {path: answer.status_code for path, answer in zip(READS, answers, strict=True)} \
        == dict.fromkeys(READS, 200)
