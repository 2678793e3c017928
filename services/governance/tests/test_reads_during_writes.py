"""Governance's reads answer while a writer holds the database: on the embedded default
(SQLite) a command or a consumed batch holds the one write lock until it commits, and an
approver's inbox must not queue behind it."""

from __future__ import annotations

from .conftest import Governance


async def test_every_read_answers_while_a_writer_holds_the_database(governance: Governance) -> None:
    project_id = await governance.known_project()
    reads = [
        "/v1/gate-templates",
        "/v1/gate-reviews",
        "/v1/gate-reviews?assignee=me",
        "/v1/delegations",
        f"/v1/projects/{project_id}",
        "/readyz",
    ]
    assert await governance.service.statuses_while_a_writer_holds_the_database(
        reads
    ) == dict.fromkeys(reads, 200)
