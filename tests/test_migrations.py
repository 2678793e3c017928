"""Each service's Alembic history builds exactly the tables its code declares, on both backends."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text
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


@pytest.mark.postgres
async def test_replicas_migrating_at_once_both_succeed(postgres_url: str, pg_schema: str
                                                       ) -> None:
    """Every replica runs ``gatehouse migrate`` before it serves (the Kubernetes init
    container): two at once on a fresh database must not trip over each other's tables."""
    environment = {**os.environ, "GOVERNANCE_DATABASE_URL": postgres_url,
                   "GOVERNANCE_DATABASE_SCHEMA": pg_schema}
    command = [str(Path(sys.executable).parent / "gatehouse"), "migrate", "governance"]
    replicas = [await asyncio.create_subprocess_exec(*command, env=environment,
                                                     stderr=asyncio.subprocess.PIPE)
                for _ in range(2)]
    outcomes = [(await replica.wait(), (await replica.communicate())[1].decode())
                for replica in replicas]
    assert [code for code, _ in outcomes] == [0, 0], outcomes

    engine = create_engine(postgres_url, schema=pg_schema)
    try:
        async with engine.connect() as connection:
            versions = (await connection.execute(
                text("SELECT count(*) FROM alembic_version"))).scalar_one()
    finally:
        await engine.dispose()
    assert versions == 1
