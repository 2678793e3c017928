"""The outbox relay keeps publishing while requests hold every connection of the service's pool
(PostgreSQL): it has connections of its own, so a burst of commands cannot queue it."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import text

from gatehouse.database import POOL_SIZE, Database
from gatehouse.eventstore import EventStore, NewEvent
from gatehouse.runtime import ServiceRuntime
from gatehouse.testing.harness import TestDatabase, eventually

from .conftest import Intake


@pytest.fixture
def any_database(postgres_url: str, pg_schema: str) -> TestDatabase:
    return TestDatabase(url=postgres_url, schema=pg_schema)


async def test_the_relay_publishes_while_requests_hold_the_whole_pool(
    intake: Intake, any_database: TestDatabase
) -> None:
    runtime: ServiceRuntime = intake.service.app.state.runtime
    assert runtime.relay is not None
    assert runtime.event_store is not None
    writer = Database.from_url(any_database.url, schema=any_database.schema, pool_size=1)
    store = EventStore(source=runtime.event_store.source, topic=runtime.event_store.topic)
    published_before = runtime.relay.published_total
    async with contextlib.AsyncExitStack() as connections:
        for _ in range(2 * POOL_SIZE):  # all the pool keeps, and as many again under load
            connection = await connections.enter_async_context(runtime.database.engine.connect())
            await connection.execute(text("SELECT 1"))
        async with writer.transaction() as connection:
            await store.append(
                connection,
                "load-test",
                [NewEvent(type="test.Happened", data={"n": 1})],
                expected_version=0,
            )

        await eventually(
            lambda: _published_since(runtime, published_before),
            timeout=10,
            description="published while the pool is held",
        )
    await writer.dispose()


async def _published_since(runtime: ServiceRuntime, before: int) -> bool:
    assert runtime.relay is not None
    return runtime.relay.published_total > before
