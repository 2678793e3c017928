"""The global feed never skips an event, even when positions commit out of order (PostgreSQL).

A sequence hands out positions at insert time, so a later position can commit first. A reader
that simply takes "everything after my last position" would move past the earlier one and never
see it. These tests pin down that ours waits for it, and moves on only once it is settled.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import Database
from gatehouse.eventstore import EventStore, GapFreeFeedReader, NewEvent
from gatehouse.eventstore.schema import events
from gatehouse.testing.harness import TestDatabase


@pytest.fixture
def any_database(postgres_url: str, pg_schema: str) -> TestDatabase:
    """Only PostgreSQL: SQLite serialises writers, so positions cannot commit out of order."""
    return TestDatabase(url=postgres_url, schema=pg_schema)


OpenAppend = Callable[[str], Awaitable[AsyncConnection]]


@pytest.fixture
async def open_append(database: Database, store: EventStore) -> AsyncIterator[OpenAppend]:
    """Append one event in a transaction left open; whatever is still open is closed after."""
    opened: list[AsyncConnection] = []

    async def append(stream: str) -> AsyncConnection:
        connection = await database.engine.connect()
        opened.append(connection)
        await connection.begin()
        await store.append(connection, stream,
                           [NewEvent(type="test.Happened", data={"s": stream})],
                           expected_version=0)
        return connection

    yield append
    for connection in opened:
        await connection.close()


async def read_all(database: Database, reader: GapFreeFeedReader, after: int = 0
                   ) -> tuple[list[str], int, int | None]:
    async with database.engine.connect() as connection:
        page = await reader.read(connection, after)
    return [e.stream_id for e in page.events], page.last_position, page.waiting_at


async def naive_read(database: Database, after: int) -> list[str]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(
            select(events.c.stream_id).where(events.c.position > after)
            .order_by(events.c.position))
        return [row.stream_id for row in rows]


async def test_reader_waits_for_an_earlier_position_that_commits_later(
        database: Database, store: EventStore, open_append: OpenAppend) -> None:
    reader = GapFreeFeedReader(source=store.source)
    slow = await open_append("slow")   # draws position 1, stays open
    fast = await open_append("fast")   # draws position 2
    await fast.commit()

    assert await naive_read(database, 0) == ["fast"], "a naive reader would skip position 1"
    seen, last, waiting_at = await read_all(database, reader)
    assert (seen, last, waiting_at) == ([], 0, 1)

    await slow.commit()
    seen, last, waiting_at = await read_all(database, reader)
    assert (seen, last, waiting_at) == (["slow", "fast"], 2, None)


async def test_reader_moves_past_a_rolled_back_position_once_its_writer_ended(
        database: Database, store: EventStore, open_append: OpenAppend) -> None:
    reader = GapFreeFeedReader(source=store.source)
    doomed = await open_append("doomed")
    kept = await open_append("kept")
    await kept.commit()

    assert (await read_all(database, reader))[2] == 1, "waits while the writer may commit"
    await doomed.rollback()

    seen, last, waiting_at = await read_all(database, reader)
    assert (seen, last, waiting_at) == (["kept"], 2, None)


async def test_concurrent_writers_committing_in_random_order_lose_nothing(
        database: Database, store: EventStore, open_append: OpenAppend) -> None:
    rng = random.Random(20261122)
    writers = 40
    reader = GapFreeFeedReader(source=store.source, page_size=7)
    delivered: list[int] = []
    done = asyncio.Event()

    async def writer(n: int) -> None:
        await asyncio.sleep(rng.uniform(0, 0.03))
        connection = await open_append(f"w-{n}")
        await asyncio.sleep(rng.uniform(0, 0.05))   # hold the position, commit out of order
        await connection.commit()
        await connection.close()

    async def follow() -> None:
        after = 0
        while True:
            async with database.engine.connect() as connection:
                page = await reader.read(connection, after)
            delivered.extend(e.position for e in page.events if e.position is not None)
            after = page.last_position
            if done.is_set() and not page.events and page.waiting_at is None:
                return
            await asyncio.sleep(0.002)

    follower = asyncio.create_task(follow())
    await asyncio.gather(*(writer(n) for n in range(writers)))
    done.set()
    await asyncio.wait_for(follower, 10)

    async with database.engine.connect() as connection:
        stored = [row.position for row in await connection.execute(
            select(events.c.position).order_by(events.c.position))]
    assert len(stored) == writers
    assert delivered == stored, "every committed event, once, in position order"
