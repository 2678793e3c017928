"""Governance's reads answer while a writer holds the database: on the embedded default
(SQLite) a command or a consumed batch holds the one write lock until it commits, and an
approver's inbox must not queue behind it."""

from __future__ import annotations

import asyncio

from sqlalchemy import update

from gatehouse.auth import Role
from gatehouse.eventstore.schema import consumer_offsets

from .conftest import Governance

# Far below SQLite's busy timeout (30 s), which a read queuing for the lock would wait out.
ANSWER_WITHIN_SECONDS = 3.0


async def test_every_read_answers_while_a_writer_holds_the_database(
        governance: Governance) -> None:
    project_id = await governance.known_project()
    reads = ["/v1/gate-templates", "/v1/gate-reviews", "/v1/gate-reviews?assignee=me",
             "/v1/delegations", f"/v1/projects/{project_id}", "/readyz"]
    everyone = governance.service.auth("rita", *Role)
    runtime = governance.service.app.state.runtime
    async with runtime.database.transaction() as writer:
        # A write, as a consumed batch makes: from here to the commit, the lock is held.
        await writer.execute(update(consumer_offsets)
                             .values(next_offset=consumer_offsets.c.next_offset))
        answers = await asyncio.wait_for(
            asyncio.gather(*(governance.client.get(path, headers=everyone) for path in reads)),
            ANSWER_WITHIN_SECONDS)
    assert {path: answer.status_code for path, answer in zip(reads, answers, strict=True)} \
        == dict.fromkeys(reads, 200)
