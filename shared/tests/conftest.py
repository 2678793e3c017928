"""Fixtures for the shared library's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import MetaData

from gatehouse.database import Database
from gatehouse.eventstore.schema import NAMING_CONVENTION, include_event_store_tables
from gatehouse.eventstore.store import EventStore
from gatehouse.testing.harness import TestDatabase


@pytest.fixture
async def database(any_database: TestDatabase) -> AsyncIterator[Database]:
    """An event-store database on SQLite or PostgreSQL, tables created from the metadata."""
    database = Database.from_url(any_database.url, schema=any_database.schema)
    metadata = include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION))
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
def store() -> EventStore:
    return EventStore(source="/gatehouse/test", topic="test.events")
