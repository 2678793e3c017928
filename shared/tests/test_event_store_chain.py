"""The event store chains every stream as it appends, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from sqlalchemy import select, update

from gatehouse.database import Database
from gatehouse.eventstore import EventMetadata, EventStore, GapFreeFeedReader, NewEvent
from gatehouse.eventstore.chain import (
    GENESIS_HASH,
    BreakKind,
    ChainVerifier,
    envelope_hash,
)
from gatehouse.eventstore.schema import events


def event(n: int, **data: object) -> NewEvent:
    return NewEvent(type="test.Happened", data={"n": n, "label": "naïve ✓", **data})


async def test_appends_chain_each_stream_from_genesis(
    database: Database, store: EventStore
) -> None:
    metadata = EventMetadata(actor="alice", correlation_id="corr-1", causation_id="cmd-1")
    async with database.transaction() as connection:
        first = await store.append(
            connection, "s-1", [event(1), event(2)], expected_version=0, metadata=metadata
        )
        await store.append(connection, "s-2", [event(1)], expected_version=0)
    async with database.transaction() as connection:
        later = await store.append(
            connection, "s-1", [event(3, nested={"b": 1, "a": [1.5]})], expected_version=2
        )
        loaded = await store.load_stream(connection, "s-1")
        other = await store.load_stream(connection, "s-2")

    assert [e.prev_hash for e in loaded] == [GENESIS_HASH, loaded[0].hash, loaded[1].hash]
    assert other[0].prev_hash == GENESIS_HASH
    assert [(e.hash, e.prev_hash) for e in loaded] == [(e.hash, e.prev_hash) for e in first + later]
    for envelope in loaded + other:
        assert envelope.hash == envelope_hash(envelope), "what was read back hashes the same"
    verifier = ChainVerifier(check_log=False)
    verifier.add_all(loaded + other)
    report = verifier.report()
    assert report.intact, report.breaks
    assert (report.events_checked, report.streams_checked) == (4, 2)


async def test_the_feed_carries_the_hashes(database: Database, store: EventStore) -> None:
    async with database.transaction() as connection:
        appended = await store.append(connection, "s-1", [event(1), event(2)], expected_version=0)
        page = await GapFreeFeedReader(source=store.source).read(connection, 0)

    assert [(e.hash, e.prev_hash) for e in page.events] == [(e.hash, e.prev_hash) for e in appended]


async def test_an_event_edited_in_the_database_no_longer_matches_its_hash(
    database: Database, store: EventStore
) -> None:
    async with database.transaction() as connection:
        await store.append(connection, "s-1", [event(1), event(2), event(3)], expected_version=0)
    async with database.transaction() as connection:
        await connection.execute(
            update(events)
            .where(events.c.stream_id == "s-1", events.c.version == 2)
            .values(data={"n": 2, "label": "edited"})
        )
        loaded = await store.load_stream(connection, "s-1")
        stored = (
            await connection.execute(select(events.c.hash).where(events.c.version == 2))
        ).scalar_one()

    verifier = ChainVerifier(check_log=False)
    verifier.add_all(loaded)
    found = verifier.report().first_break
    assert found is not None
    assert (found.kind, found.stream_id, found.version) == (BreakKind.HASH_MISMATCH, "s-1", 2)
    assert stored in found.detail
