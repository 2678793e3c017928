"""Each service's Alembic history builds exactly the tables its code declares, on both backends."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from gatehouse import migrations
from gatehouse.database import create_engine
from gatehouse.testing.harness import TestDatabase


@pytest.mark.parametrize("service", ["intake", "governance", "reporting"])
async def test_migrations_match_the_declared_tables(service: str,
                                                    any_database: TestDatabase) -> None:
    bootstrap = importlib.import_module(f"{service}.bootstrap")
    metadata: MetaData = importlib.import_module(f"{service}.tables").metadata
    await asyncio.to_thread(migrations.upgrade, bootstrap.MIGRATIONS, any_database.url,
                            any_database.schema)

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        found: list[Any] = compare_metadata(context, metadata)
        return found

    engine = create_engine(any_database.url, schema=any_database.schema)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(differences)
    finally:
        await engine.dispose()
    assert diff == []
