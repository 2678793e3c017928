"""Intake's reads answer while a writer holds the database: on the embedded default (SQLite)
a command or a consumed batch holds the one write lock until it commits, and reads must not
queue behind it."""

from __future__ import annotations

from .conftest import Intake


async def test_every_read_answers_while_a_writer_holds_the_database(intake: Intake) -> None:
    project_id = await intake.new_project()
    reads = [
        "/v1/projects",
        f"/v1/projects/{project_id}",
        f"/v1/projects/{project_id}/scores",
        f"/v1/projects/{project_id}/status-reports",
        f"/v1/projects/{project_id}/raid",
        "/v1/custom-fields",
        "/v1/scoring-models",
        "/v1/api-keys",
        "/readyz",
    ]
    assert await intake.service.statuses_while_a_writer_holds_the_database(reads) == dict.fromkeys(
        reads, 200
    )
