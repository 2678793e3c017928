"""A rebuild writes what it folds in strides (behind the fold on PostgreSQL, in the fold's own
transaction on SQLite) and keeps a bounded number of rows between strides: on both databases
the rebuilt read models equal the live ones, row for row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reporting.projections import PROJECTIONS_CONSUMER
from reporting.rebuild import Rebuilder, checksums

from .conftest import Reporting, condition

T0 = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)


async def test_a_rebuild_in_strides_of_three_events_keeping_two_rows_equals_the_live_model(
    reporting: Reporting,
) -> None:
    producers = reporting.producers
    for n in range(4):
        at = T0 + timedelta(days=n)
        project = await producers.request(at, title=f"Project {n}")
        await producers.submit(project, at + timedelta(hours=1))
        review = await producers.open_review(
            project, "G1", at + timedelta(hours=2), seats=("user:gina", "user:hugo")
        )
        gina = await producers.vote(review, "gina", "go", at + timedelta(hours=3))
        hugo = await producers.vote(
            review,
            "hugo",
            "conditional_go",
            at + timedelta(hours=4),
            conditions=[condition(f"Fix {n}")],
        )
        await producers.decide(
            review,
            "conditional_go",
            at + timedelta(hours=4),
            decided_by=["gina", "hugo"],
            votes=[gina, hugo],
            conditions=[condition(f"Fix {n}")],
        )
    await reporting.caught_up()
    runtime = reporting.service.app.state.runtime
    async with runtime.database.engine.connect() as connection:
        live = await checksums(connection)
    served: Rebuilder = reporting.service.app.state.rebuilders[PROJECTIONS_CONSUMER]
    rebuilder = Rebuilder(
        database=runtime.database,
        bootstrap_servers=served.bootstrap_servers,
        consumer_name=PROJECTIONS_CONSUMER,
        topics=served.topics,
        personal_data=runtime.personal_data,
        flush_every=3,
        keep_rows=2,
    )

    assert rebuilder.start()
    status = await rebuilder.wait()

    assert status.state == "done", status
    assert status.applied == status.read == producers.events == 24
    async with runtime.database.engine.connect() as connection:
        assert await checksums(connection) == live
