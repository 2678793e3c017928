"""Reporting's reads answer while a writer holds the database: on the embedded default
(SQLite) a projection batch or a rebuild holds the one write lock for as long as it writes, and
a dashboard, an auditor or a readiness probe must not queue behind it."""

from __future__ import annotations

from .conftest import Reporting


async def test_every_read_answers_while_a_writer_holds_the_database(reporting: Reporting) -> None:
    await reporting.caught_up()
    reads = [
        "/v1/portfolio",
        "/v1/kpis",
        "/v1/workload",
        "/v1/audit/decisions",
        "/v1/audit/verify",
        "/v1/projections",
        "/readyz",
    ]
    assert await reporting.service.statuses_while_a_writer_holds_the_database(
        reads
    ) == dict.fromkeys(reads, 200)
