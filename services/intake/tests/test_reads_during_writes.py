"""Intake's reads answer while a writer holds the database: on the embedded default (SQLite)
a command or a consumed batch holds the one write lock until it commits, and reads must not
queue behind it."""

from __future__ import annotations

import asyncio

from sqlalchemy import update

from gatehouse.auth import Role
from gatehouse.eventstore.schema import consumer_offsets

from .conftest import Intake

# Far below SQLite's busy timeout (30 s), which a read queuing for the lock would wait out.
ANSWER_WITHIN_SECONDS = 3.0


async def test_every_read_answers_while_a_writer_holds_the_database(intake: Intake) -> None:
    project_id = await intake.new_project()
    reads = ["/v1/projects", f"/v1/projects/{project_id}", f"/v1/projects/{project_id}/scores",
             f"/v1/projects/{project_id}/status-reports", f"/v1/projects/{project_id}/raid",
             "/v1/custom-fields", "/v1/scoring-models", "/v1/api-keys", "/readyz"]
    everyone = intake.service.auth("rita", *Role)
    runtime = intake.service.app.state.runtime
    async with runtime.database.transaction() as writer:
        # A write, as a consumed batch makes: from here to the commit, the lock is held.
        await writer.execute(update(consumer_offsets)
                             .values(next_offset=consumer_offsets.c.next_offset))
        answers = await asyncio.wait_for(
            asyncio.gather(*(intake.client.get(path, headers=everyone) for path in reads)),
            ANSWER_WITHIN_SECONDS)
    assert {path: answer.status_code for path, answer in zip(reads, answers, strict=True)} \
        == dict.fromkeys(reads, 200)
