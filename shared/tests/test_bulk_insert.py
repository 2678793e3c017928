"""Many rows at once: COPY on PostgreSQL, INSERT on SQLite; the values converted as for any
INSERT, and the rows part of the caller's transaction (a rollback takes them away)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import asyncpg
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, select, text
from sqlalchemy.exc import IntegrityError

from gatehouse.database import Database, UtcDateTime, bulk_insert
from gatehouse.eventstore.schema import Json
from gatehouse.testing.harness import TestDatabase

metadata = MetaData()
notes = Table(
    "bulk_notes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("n", Integer, nullable=False),
    Column("label", String(50), nullable=True),
    Column("at", UtcDateTime, nullable=False),
    Column("body", Json, nullable=False),
)


@pytest.fixture
async def database(any_database: TestDatabase) -> AsyncIterator[Database]:
    database = Database.from_url(any_database.url, schema=any_database.schema)
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


def rows(count: int) -> list[dict[str, object]]:
    two_hours_east = timezone(timedelta(hours=2))
    return [
        {
            "id": uuid4(),
            "n": n,
            "label": None if n % 2 else f"note {n}",
            "at": datetime(2026, 3, 1, 12, tzinfo=two_hours_east) + timedelta(minutes=n),
            "body": {"n": n, "tags": ["a", "é"], "nested": {"ok": True, "none": None}},
        }
        for n in range(count)
    ]


async def stored(database: Database) -> list[dict[str, object]]:
    async with database.engine.connect() as connection:
        result = await connection.execute(select(notes).order_by(notes.c.n))
        return [dict(row._mapping) for row in result]


async def test_the_rows_are_stored_with_their_values_converted_as_an_insert_would(
    database: Database,
) -> None:
    written = rows(500)

    async with database.transaction() as connection:
        await bulk_insert(connection, notes, written)

    read = await stored(database)
    assert len(read) == 500
    assert read[3] == {**written[3], "at": datetime(2026, 3, 1, 10, 3, tzinfo=UTC)}
    assert read[4]["label"] == "note 4"
    assert read[3]["label"] is None
    assert all(isinstance(row["id"], UUID) for row in read)
    assert [row["body"] for row in read] == [row["body"] for row in written]


async def test_the_rows_belong_to_the_callers_transaction(database: Database) -> None:
    """Even when the bulk insert is the transaction's first statement."""
    with pytest.raises(RuntimeError, match="changed my mind"):
        async with database.transaction() as connection:
            await bulk_insert(connection, notes, rows(10))
            raise RuntimeError("changed my mind")

    assert await stored(database) == []


async def test_a_row_already_there_fails_the_whole_insert(database: Database) -> None:
    """With the driver's error on PostgreSQL (COPY does not go through SQLAlchemy)."""
    first = rows(3)
    async with database.transaction() as connection:
        await bulk_insert(connection, notes, first[:1])

    expected = asyncpg.UniqueViolationError if database.dialect == "postgresql" else IntegrityError
    with pytest.raises(expected):
        async with database.transaction() as connection:
            await bulk_insert(connection, notes, first)

    assert [row["n"] for row in await stored(database)] == [0]


async def test_no_rows_is_nothing_to_do(database: Database) -> None:
    async with database.transaction() as connection:
        await bulk_insert(connection, notes, [])
        assert (await connection.execute(text("SELECT count(*) FROM bulk_notes"))).scalar_one() == 0
