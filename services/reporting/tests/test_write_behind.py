"""A rebuild's projection writes its folded rows behind (in a transaction of its own) while it
folds the next events: a row it has let go of and needs again is read back only once the write
carrying it has committed, so no change is lost however slow the database is."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select, text

from gatehouse.database import Database
from gatehouse.events.envelope import EventEnvelope
from gatehouse.events.intake import SOURCE, ProjectRequested, ProjectSubmitted, intake_events
from gatehouse.events.types import Money
from reporting import views
from reporting.projections import Projection
from reporting.tables import LIVE

pytestmark = pytest.mark.postgres

AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def requested(project: UUID) -> EventEnvelope:
    return EventEnvelope(
        source=SOURCE,
        type=ProjectRequested.event_type,
        time=AT,
        subject=f"project-{project}",
        data=intake_events.serialize(
            ProjectRequested(
                project_id=project,
                title="CRM",
                description="d",
                sponsor="carol",
                business_unit="Sales",
                project_type="standard",
                estimated_cost=Money(Decimal("1000.00"), "EUR"),
                requested_by="alice",
                start_date=date(2027, 1, 4),
                target_date=date(2027, 9, 30),
                expected_benefits="b",
            )
        ),
        stream_id=f"project-{project}",
        stream_version=1,
        actor="alice",
    )


def submitted(project: UUID) -> EventEnvelope:
    return EventEnvelope(
        source=SOURCE,
        type=ProjectSubmitted.event_type,
        time=AT,
        subject=f"project-{project}",
        data=intake_events.serialize(
            ProjectSubmitted(project_id=project, from_status="draft", to_status="submitted")
        ),
        stream_id=f"project-{project}",
        stream_version=2,
        actor="alice",
    )


async def test_a_row_let_go_is_read_back_only_after_the_write_behind_carrying_it_commits(
    postgres_url: str, pg_schema: str
) -> None:
    database = Database.from_url(postgres_url, schema=pg_schema)
    shadow = LIVE.shadow()
    try:
        async with database.transaction() as connection:
            for table in shadow.tables:
                await connection.run_sync(table.create)
        project = uuid4()
        projection = Projection(shadow, bulk=True, keep=0)  # keeps no row between writes
        async with database.transaction() as connection:
            await projection.apply(connection, [requested(project)])

        # The write behind waits on a lock held elsewhere: the database is slow.
        async with database.engine.connect() as blocker:
            await blocker.execute(
                text(f'LOCK TABLE "{shadow.event_log.name}" IN ACCESS EXCLUSIVE MODE')
            )
            await projection.write_behind(database)
            folding = asyncio.create_task(fold(database, projection, submitted(project)))
            await asyncio.sleep(0.3)
            assert not folding.done()  # the row is needed: the fold waits for the write
            await blocker.rollback()
        await folding

        async with database.transaction() as connection:
            await projection.flush(connection)
            document = (await connection.execute(select(shadow.project_views.c.view))).scalar()
        view = views.from_document(document)
        assert (view.events, view.demand_status, view.title) == (2, "submitted", "CRM")
    finally:
        await database.dispose()


async def fold(database: Database, projection: Projection, envelope: EventEnvelope) -> None:
    async with database.transaction() as connection:
        await projection.apply(connection, [envelope])
