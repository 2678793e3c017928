"""The event store's contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from gatehouse.database import Database
from gatehouse.eventstore import (
    ConcurrencyError,
    EventMetadata,
    EventStore,
    GapFreeFeedReader,
    NewEvent,
)
from gatehouse.eventstore.schema import outbox


def event(n: int) -> NewEvent:
    return NewEvent(type="test.Happened", data={"n": n})


async def test_appended_events_load_back_in_version_order(
    database: Database, store: EventStore
) -> None:
    metadata = EventMetadata(actor="alice", correlation_id="corr-1", causation_id="cmd-1")
    async with database.transaction() as connection:
        await store.append(
            connection, "s-1", [event(1), event(2)], expected_version=0, metadata=metadata
        )
    async with database.transaction() as connection:
        await store.append(connection, "s-1", [event(3)], expected_version=2)
        loaded = await store.load_stream(connection, "s-1")

    assert [e.stream_version for e in loaded] == [1, 2, 3]
    assert [e.data["n"] for e in loaded] == [1, 2, 3]
    assert loaded[0].actor == "alice"
    assert loaded[0].correlation_id == "corr-1"
    assert loaded[0].causation_id == "cmd-1"
    assert loaded[0].source == "/gatehouse/test"
    assert loaded[0].subject == "s-1"
    assert loaded[0].time.tzinfo is not None
    positions = [e.position for e in loaded]
    assert positions == sorted(positions)


async def test_streams_are_independent(database: Database, store: EventStore) -> None:
    async with database.transaction() as connection:
        await store.append(connection, "a", [event(1)], expected_version=0)
        await store.append(connection, "b", [event(2)], expected_version=0)
        assert [e.data["n"] for e in await store.load_stream(connection, "b")] == [2]
        assert await store.stream_version(connection, "a") == 1
        assert await store.stream_version(connection, "unknown") == 0


async def test_the_last_event_of_a_stream_loads_alone(
    database: Database, store: EventStore
) -> None:
    async with database.transaction() as connection:
        await store.append(connection, "doc", [event(1), event(2)], expected_version=0)
        await store.append(connection, "other", [event(9)], expected_version=0)
        await store.append(connection, "doc", [event(3)], expected_version=2)
    async with database.read() as connection:
        last = await store.load_last(connection, "doc")
        nothing = await store.load_last(connection, "unknown")
        whole = await store.load_stream(connection, "doc")
    assert last == whole[-1]
    assert (last.stream_version, last.data) == (3, {"n": 3})
    assert nothing is None


async def test_a_stale_expected_version_is_a_concurrency_error(
    database: Database, store: EventStore
) -> None:
    async with database.transaction() as connection:
        await store.append(connection, "s-1", [event(1)], expected_version=0)

    with pytest.raises(ConcurrencyError) as raised:
        async with database.transaction() as connection:
            await store.append(connection, "s-1", [event(2)], expected_version=0)

    assert raised.value.stream_id == "s-1"
    assert raised.value.actual_version == 1


async def test_twenty_concurrent_appends_at_one_version_let_exactly_one_win(
    database: Database, store: EventStore
) -> None:
    async def attempt(n: int) -> bool:
        try:
            async with database.transaction() as connection:
                await store.append(connection, "contended", [event(n)], expected_version=0)
        except ConcurrencyError:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(n) for n in range(20)))

    assert outcomes.count(True) == 1
    async with database.transaction() as connection:
        stored = await store.load_stream(connection, "contended")
    assert len(stored) == 1
    assert stored[0].data["n"] == outcomes.index(True)


async def test_each_event_gets_an_outbox_row_in_the_same_transaction(
    database: Database, store: EventStore
) -> None:
    async with database.transaction() as connection:
        await store.append(connection, "s-1", [event(1), event(2)], expected_version=0)

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with database.transaction() as connection:
            await store.append(connection, "s-2", [event(3)], expected_version=0)
            raise Abort

    async with database.transaction() as connection:
        rows = list(await connection.execute(select(outbox.c.topic, outbox.c.published_at)))
        assert rows == [("test.events", None), ("test.events", None)]
        assert await store.load_stream(connection, "s-2") == []


async def test_appending_nothing_writes_nothing(database: Database, store: EventStore) -> None:
    async with database.transaction() as connection:
        assert await store.append(connection, "s-1", [], expected_version=0) == []
        count = (await connection.execute(select(func.count()).select_from(outbox))).scalar_one()
        assert count == 0


async def test_the_feed_returns_every_event_once_in_position_order(
    database: Database, store: EventStore
) -> None:
    for stream in range(5):
        async with database.transaction() as connection:
            await store.append(
                connection,
                f"s-{stream}",
                [event(stream * 10 + i) for i in range(3)],
                expected_version=0,
            )
    reader = GapFreeFeedReader(source=store.source, page_size=4)
    seen: list[int] = []
    after = 0
    while True:
        async with database.transaction() as connection:
            page = await reader.read(connection, after)
        if not page.events:
            break
        seen.extend(e.data["n"] for e in page.events)
        after = page.last_position

    assert sorted(seen) == sorted(s * 10 + i for s in range(5) for i in range(3))
    assert len(seen) == 15
