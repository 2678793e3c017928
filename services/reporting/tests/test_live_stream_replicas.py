"""Reporting replicas share one PostgreSQL database and split the partitions between them: a
dashboard connected to one replica sees the events the other logged as soon as they commit
(NOTIFY), not at its next poll."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from gatehouse.database import Database
from gatehouse.events.envelope import EventEnvelope
from gatehouse.events.intake import SOURCE, ProjectRequested, intake_events
from gatehouse.testing.harness import (
    TestDatabase,
    drop_listening_sessions,
    eventually,
    listening_sessions,
)
from reporting.projections import apply_events
from reporting.stream import LOG_CHANNEL, LiveLog
from reporting.tables import LIVE

from .conftest import NOW, Reporting, eur
from .test_live_stream import Frames, stream


@pytest.fixture
def any_database(postgres_url: str, pg_schema: str) -> TestDatabase:
    return TestDatabase(url=postgres_url, schema=pg_schema)


def project_requested() -> EventEnvelope:
    project_id = uuid4()
    event = ProjectRequested(
        project_id=project_id,
        title="Logged elsewhere",
        description="d",
        sponsor="carol",
        business_unit="Sales",
        project_type="standard",
        estimated_cost=eur("1.00"),
        requested_by="alice",
        start_date=date(2027, 1, 4),
        target_date=date(2027, 12, 31),
    )
    return EventEnvelope(
        source=SOURCE,
        type=event.event_type,
        time=NOW,
        subject=f"project-{project_id}",
        data=intake_events.serialize(event),
        stream_id=f"project-{project_id}",
        stream_version=1,
        actor="alice",
    )


async def test_a_stream_is_woken_by_events_another_replica_logged(
    reporting: Reporting, any_database: TestDatabase
) -> None:
    live: LiveLog = reporting.service.app.state.live_log
    other_replica = Database.from_url(any_database.url, schema=any_database.schema)
    try:
        await logged_elsewhere_reaches_a_stream(live, other_replica)
    finally:
        await other_replica.dispose()


async def test_the_wake_comes_back_after_the_database_drops_the_listening_connection(
    reporting: Reporting, any_database: TestDatabase
) -> None:
    live: LiveLog = reporting.service.app.state.live_log
    other_replica = Database.from_url(any_database.url, schema=any_database.schema)
    try:
        assert await drop_listening_sessions(other_replica, LOG_CHANNEL) == 1
        await eventually(
            lambda: listening_sessions(other_replica, LOG_CHANNEL),
            timeout=20,
            description="listening again",
        )

        await logged_elsewhere_reaches_a_stream(live, other_replica)
    finally:
        await other_replica.dispose()


async def logged_elsewhere_reaches_a_stream(live: LiveLog, other_replica: Database) -> None:
    """An event logged by the other replica reaches a stream on this one long before its next
    poll (60 s)."""
    watching = Frames(stream(live, await live.head()))
    try:
        envelope = project_requested()
        async with other_replica.transaction() as connection:
            await apply_events(LIVE, connection, [envelope])

        await eventually(
            lambda: watching.holds(1),
            timeout=10,
            description="the event, well before the stream's next poll",
        )
        assert str(envelope.id) in watching.received[0]
    finally:
        await watching.close()
