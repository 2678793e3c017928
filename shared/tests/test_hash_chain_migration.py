"""The hash chain revision backfills existing events, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from gatehouse import migrations
from gatehouse.database import Database
from gatehouse.eventstore import EventStore, NewEvent
from gatehouse.eventstore.chain import GENESIS_HASH, ChainVerifier, envelope_hash
from gatehouse.eventstore.schema import (
    NAMING_CONVENTION,
    Json,
    Position,
    include_event_store_tables,
    outbox,
)
from gatehouse.testing.harness import TestDatabase

HISTORY = Path(__file__).parent / "chain_migrations"
SOURCE = "/gatehouse/test"

events_v1 = sa.table(
    "events",
    sa.column("position", Position),
    sa.column("event_id", sa.Uuid()),
    sa.column("stream_id", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("type", sa.String()),
    sa.column("schema_version", sa.Integer()),
    sa.column("data", Json),
    sa.column("recorded_at", sa.DateTime(timezone=True)),
    sa.column("correlation_id", sa.String()),
    sa.column("causation_id", sa.String()),
    sa.column("actor", sa.String()),
)
outbox_v1 = sa.table(
    "outbox",
    sa.column("position", Position),
    sa.column("topic", sa.String()),
    sa.column("published_at", sa.DateTime(timezone=True)),
)


async def upgrade(target: TestDatabase, revision: str) -> None:
    await asyncio.to_thread(migrations.upgrade, HISTORY, target.url, target.schema, revision)


async def test_existing_events_are_chained_and_requeued(any_database: TestDatabase) -> None:
    await upgrade(any_database, "0001")
    database = Database.from_url(any_database.url, schema=any_database.schema)
    start = datetime(2026, 11, 1, 8, 30, 15, 250001, tzinfo=UTC)
    rows: list[dict[str, Any]] = [
        {
            "event_id": uuid4(),
            "stream_id": stream_id,
            "version": version,
            "type": "test.Happened",
            "schema_version": 1,
            "data": {"n": position, "text": "ünïcode", "nested": {"z": 1, "a": None}},
            "recorded_at": start + timedelta(minutes=position),
            "correlation_id": "c",
            "causation_id": None,
            "actor": "alice" if position % 2 else None,
        }
        for position, (stream_id, version) in enumerate(
            [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3)], start=1
        )
    ]
    try:
        async with database.transaction() as connection:
            for row in rows:  # positions 1 to 5, drawn by the database
                position = (
                    await connection.execute(
                        sa.insert(events_v1).values(row).returning(events_v1.c.position)
                    )
                ).scalar_one()
                await connection.execute(
                    sa.insert(outbox_v1).values(
                        position=position, topic="t", published_at=start if position < 5 else None
                    )
                )

        await upgrade(any_database, "head")

        store = EventStore(source=SOURCE, topic="t")
        async with database.transaction() as connection:
            loaded = [
                *await store.load_stream(connection, "a"),
                *await store.load_stream(connection, "b"),
            ]
            queued = list(
                await connection.execute(
                    sa.select(outbox.c.position, outbox.c.published_at, outbox.c.log_head).order_by(
                        outbox.c.position
                    )
                )
            )
            appended = await store.append(
                connection, "a", [NewEvent(type="test.Happened", data={"n": 6})], expected_version=3
            )
            differences = await connection.run_sync(_differences)
    finally:
        await database.dispose()

    assert [e.prev_hash for e in loaded if e.stream_version == 1] == [GENESIS_HASH] * 2
    for envelope in loaded:
        assert envelope.hash == envelope_hash(envelope)
    verifier = ChainVerifier(check_log=False)
    verifier.add_all(loaded + appended)
    report = verifier.report()
    assert report.intact, report.breaks
    assert report.events_checked == 6
    assert queued == [(position, None, None) for position in range(1, 6)], (
        "the whole log is republished, now with hashes and log heads"
    )
    assert appended[0].position == 6
    assert appended[0].prev_hash == loaded[2].hash
    assert differences == []


async def test_the_revision_downgrades_and_upgrades_again(any_database: TestDatabase) -> None:
    await upgrade(any_database, "head")
    await asyncio.to_thread(
        migrations.command.downgrade,
        migrations.alembic_config(HISTORY, any_database.url, any_database.schema),
        "0001",
    )
    await upgrade(any_database, "head")


def _differences(connection: Connection) -> list[Any]:
    metadata = include_event_store_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    found: list[Any] = compare_metadata(context, metadata)
    return found
