"""The global feed never skips an event, even when positions commit out of order (PostgreSQL).

A sequence hands out positions at insert time, so a later position can commit first. A reader
that simply takes "everything after my last position" would move past the earlier one and never
see it. These tests pin down that ours waits for it, and moves on only once it is settled; and
that it waits only for writers of its own event store, not for whatever else runs on the server.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import MetaData, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import Database
from gatehouse.eventstore import EventStore, GapFreeFeedReader, NewEvent, feed
from gatehouse.eventstore.feed import Snapshot
from gatehouse.eventstore.schema import NAMING_CONVENTION, events, include_event_store_tables
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
        await store.append(
            connection,
            stream,
            [NewEvent(type="test.Happened", data={"s": stream})],
            expected_version=0,
        )
        return connection

    yield append
    for connection in opened:
        await connection.close()


UnrelatedTransaction = Callable[[], Awaitable[int]]


@pytest.fixture(params=["idle-session", "other-event-store"])
async def unrelated_transaction(
    request: pytest.FixtureRequest, postgres_url: str, new_pg_schema: Callable[[], Awaitable[str]]
) -> AsyncIterator[UnrelatedTransaction]:
    """Opens a transaction in another schema of the same server, with a transaction id, and
    leaves it open until the test ends; returns its id.

    ``idle-session``: a session that inserted into a scratch table and sits idle in
    transaction. ``other-event-store``: an append to another schema's event store, in flight.
    """
    other = Database.from_url(postgres_url, schema=await new_pg_schema())
    async with other.transaction() as connection:
        if request.param == "idle-session":
            await connection.execute(text("CREATE TABLE scratch (n integer)"))
        else:
            metadata = include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION))
            await connection.run_sync(metadata.create_all)
    opened: list[AsyncConnection] = []

    async def open_transaction() -> int:
        connection = await other.engine.connect()
        opened.append(connection)
        await connection.begin()
        if request.param == "idle-session":
            await connection.execute(text("INSERT INTO scratch VALUES (1)"))
        else:
            await EventStore(source="/gatehouse/other", topic="other.events").append(
                connection, "other", [NewEvent(type="test.Happened", data={})], expected_version=0
            )
        return int(
            (await connection.execute(text("SELECT pg_current_xact_id()::text"))).scalar_one()
        )

    yield open_transaction
    for connection in opened:
        await connection.close()
    await other.dispose()


async def in_progress_now(database: Database) -> frozenset[int]:
    """The server's in-progress transactions, as a snapshot taken now lists them."""
    async with database.engine.connect() as connection:
        snapshot = (
            await connection.execute(text("SELECT pg_current_snapshot()::text"))
        ).scalar_one()
    return Snapshot.parse(snapshot).in_progress


async def read_all(
    database: Database, reader: GapFreeFeedReader, after: int = 0
) -> tuple[list[str], int, int | None]:
    async with database.engine.connect() as connection:
        page = await reader.read(connection, after)
    return [e.stream_id for e in page.events], page.last_position, page.waiting_at


async def naive_read(database: Database, after: int) -> list[str]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(
            select(events.c.stream_id).where(events.c.position > after).order_by(events.c.position)
        )
        return [row.stream_id for row in rows]


async def test_reader_waits_for_an_earlier_position_that_commits_later(
    database: Database, store: EventStore, open_append: OpenAppend
) -> None:
    reader = GapFreeFeedReader(source=store.source)
    slow = await open_append("slow")  # draws position 1, stays open
    fast = await open_append("fast")  # draws position 2
    await fast.commit()

    assert await naive_read(database, 0) == ["fast"], "a naive reader would skip position 1"
    seen, last, waiting_at = await read_all(database, reader)
    assert (seen, last, waiting_at) == ([], 0, 1)

    await slow.commit()
    seen, last, waiting_at = await read_all(database, reader)
    assert (seen, last, waiting_at) == (["slow", "fast"], 2, None)


async def test_reader_waits_for_a_writer_whose_id_is_past_the_snapshots_range(
    database: Database, store: EventStore, open_append: OpenAppend
) -> None:
    """A snapshot's range ends at the latest completed transaction (PostgreSQL 14+): a writer
    that took its id after that transaction is running, yet not among the snapshot's
    in-progress ids. It still holds the reader in front of its position."""
    reader = GapFreeFeedReader(source=store.source)
    early = await open_append("early")  # takes its id, draws position 1
    late = await open_append("late")  # takes a later id, draws position 2, stays open
    await store.append(
        early, "early-again", [NewEvent(type="test.Happened", data={})], expected_version=0
    )  # position 3
    await early.commit()

    late_id = int((await late.execute(text("SELECT pg_current_xact_id()::text"))).scalar_one())
    async with database.engine.connect() as connection:
        snapshot = Snapshot.parse(
            (await connection.execute(text("SELECT pg_current_snapshot()::text"))).scalar_one()
        )
    # The case under test: a running writer that the snapshot does not list.
    assert late_id >= snapshot.xmax
    assert late_id not in snapshot.in_progress

    seen, last, waiting_at = await read_all(database, reader)
    assert (seen, last, waiting_at) == (["early"], 1, 2)

    await late.commit()
    seen, last, waiting_at = await read_all(database, reader, after=1)
    assert (seen, last, waiting_at) == (["late", "early-again"], 3, None)


@pytest.mark.parametrize(
    ("low_bits", "near", "full"),
    [
        (1_000, 2**32 * 3 + 2_000, 2**32 * 3 + 1_000),
        (2**32 - 10, 2**32 * 3 + 5, 2**32 * 2 + 2**32 - 10),  # just before the epoch turned
        (5, 2**32 * 3 - 10, 2**32 * 3 + 5),  # just after it
    ],
)
def test_a_lock_tables_32_bit_id_widens_to_the_running_transactions_full_id(
    low_bits: int, near: int, full: int
) -> None:
    assert feed._full_id(low_bits, near) == full


async def test_reader_moves_past_a_rolled_back_position_once_its_writer_ended(
    database: Database, store: EventStore, open_append: OpenAppend
) -> None:
    reader = GapFreeFeedReader(source=store.source)
    doomed = await open_append("doomed")
    kept = await open_append("kept")
    await kept.commit()

    assert (await read_all(database, reader))[2] == 1, "waits while the writer may commit"
    await doomed.rollback()

    seen, last, waiting_at = await read_all(database, reader)
    assert (seen, last, waiting_at) == (["kept"], 2, None)


async def test_concurrent_writers_committing_in_random_order_lose_nothing(
    database: Database, store: EventStore, open_append: OpenAppend
) -> None:
    rng = random.Random(20261122)
    writers = 40
    reader = GapFreeFeedReader(source=store.source, page_size=7)
    delivered: list[int] = []
    done = asyncio.Event()

    async def writer(n: int) -> None:
        await asyncio.sleep(rng.uniform(0, 0.03))
        connection = await open_append(f"w-{n}")
        await asyncio.sleep(rng.uniform(0, 0.05))  # hold the position, commit out of order
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
        stored = [
            row.position
            for row in await connection.execute(
                select(events.c.position).order_by(events.c.position)
            )
        ]
    assert len(stored) == writers
    assert delivered == stored, "every committed event, once, in position order"


async def test_an_unrelated_open_transaction_does_not_hold_the_reader_at_a_gap(
    database: Database,
    store: EventStore,
    open_append: OpenAppend,
    unrelated_transaction: UnrelatedTransaction,
) -> None:
    reader = GapFreeFeedReader(source=store.source)
    unrelated = await unrelated_transaction()  # stays open until the test ends
    doomed = await open_append("doomed")
    kept = await open_append("kept")
    await kept.commit()
    assert (await read_all(database, reader))[2] == 1, "waits while the writer may commit"

    await doomed.rollback()
    assert unrelated in await in_progress_now(database), "still open, on the same server"
    seen, last, waiting_at = await read_all(database, reader)
    assert (seen, last, waiting_at) == (["kept"], 2, None)


async def test_a_writer_of_this_store_holds_the_reader_until_it_commits_whatever_else_runs(
    database: Database,
    store: EventStore,
    open_append: OpenAppend,
    unrelated_transaction: UnrelatedTransaction,
) -> None:
    reader = GapFreeFeedReader(source=store.source)
    await unrelated_transaction()
    slow = await open_append("slow")
    fast = await open_append("fast")
    await fast.commit()

    for _ in range(3):
        assert await read_all(database, reader) == ([], 0, 1)
        await asyncio.sleep(0.05)

    await slow.commit()
    seen, last, waiting_at = await read_all(database, reader)
    assert (seen, last, waiting_at) == (["slow", "fast"], 2, None)


async def test_a_writer_that_commits_while_the_reader_lists_the_gap_writers_is_not_skipped(
    database: Database, store: EventStore, open_append: OpenAppend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the listing must survive: the snapshot that shows the hole still has the writer
    in progress, but by the time the lock table is read, it has committed and let go of its
    lock. Judged by the first snapshot, the gap would look settled and position 1 be lost."""
    reader = GapFreeFeedReader(source=store.source)
    slow = await open_append("slow")
    fast = await open_append("fast")
    await fast.commit()
    list_writers = feed._appending_among

    async def commit_slow_then_list(
        connection: AsyncConnection, in_progress: frozenset[int]
    ) -> frozenset[int]:
        await slow.commit()
        writers = await list_writers(connection, in_progress)
        assert writers == frozenset(), "the writer has gone from the lock table"
        return writers

    monkeypatch.setattr(feed, "_appending_among", commit_slow_then_list)
    seen, last, waiting_at = await read_all(database, reader)
    assert (seen, last, waiting_at) == (["slow", "fast"], 2, None)
