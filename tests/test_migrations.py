"""Each service's Alembic history builds exactly the tables its code declares, on both backends."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from gatehouse import migrations
from gatehouse.database import create_engine
from gatehouse.testing.harness import TestDatabase
from gatehouse.testing.migrated import MigratedDatabases


@pytest.mark.parametrize("service", ["intake", "governance", "reporting"])
async def test_migrations_match_the_declared_tables(
    service: str, any_database: TestDatabase
) -> None:
    bootstrap = importlib.import_module(f"{service}.bootstrap")
    await asyncio.to_thread(
        migrations.upgrade, bootstrap.MIGRATIONS, any_database.url, any_database.schema
    )
    assert await _differences_from_declared_tables(service, any_database) == []
    assert await _alembic_version(any_database) == _head(bootstrap.MIGRATIONS)


@pytest.mark.parametrize("service", ["intake", "governance", "reporting"])
async def test_a_copied_or_replayed_migration_is_the_migrated_database(
    service: str, any_database: TestDatabase, tmp_path: Path
) -> None:
    """What the tests' MigratedDatabases gives every test after the first is what migrating
    gives: the first database is migrated (and recorded), ``any_database`` gets the copy."""
    bootstrap = importlib.import_module(f"{service}.bootstrap")
    settings_type = vars(importlib.import_module(f"{service}.settings"))[
        f"{service.capitalize()}Settings"
    ]
    async with _another_database_like(any_database, tmp_path) as first:
        databases = MigratedDatabases(tmp_path)
        for database in (first, any_database):
            settings = settings_type(database_url=database.url, database_schema=database.schema)
            await asyncio.to_thread(databases.migrate, bootstrap.migrate, settings)
    assert await _differences_from_declared_tables(service, any_database) == []
    assert await _alembic_version(any_database) == _head(bootstrap.MIGRATIONS)


@contextlib.asynccontextmanager
async def _another_database_like(
    database: TestDatabase, tmp_path: Path
) -> AsyncIterator[TestDatabase]:
    if database.schema is None:
        yield TestDatabase(url=f"sqlite+aiosqlite:///{tmp_path / 'first.db'}", schema=None)
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    engine = create_engine(database.url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield TestDatabase(url=database.url, schema=schema)
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


async def _differences_from_declared_tables(service: str, database: TestDatabase) -> list[Any]:
    metadata: MetaData = importlib.import_module(f"{service}.tables").metadata

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        found: list[Any] = compare_metadata(context, metadata)
        return found

    engine = create_engine(database.url, schema=database.schema)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(differences)
    finally:
        await engine.dispose()


async def _alembic_version(database: TestDatabase) -> str:
    engine = create_engine(database.url, schema=database.schema)
    try:
        async with engine.connect() as connection:
            return str(
                (
                    await connection.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar_one()
            )
    finally:
        await engine.dispose()


def _head(migrations_dir: Path) -> str:
    config = migrations.alembic_config(migrations_dir, "")
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


@pytest.mark.postgres
async def test_replicas_migrating_at_once_both_succeed(postgres_url: str, pg_schema: str) -> None:
    """Every replica runs ``gatehouse migrate`` before it serves (the Kubernetes init
    container): two at once on a fresh database must not trip over each other's tables."""
    environment = {
        **os.environ,
        "GOVERNANCE_DATABASE_URL": postgres_url,
        "GOVERNANCE_DATABASE_SCHEMA": pg_schema,
    }
    command = [str(Path(sys.executable).parent / "gatehouse"), "migrate", "governance"]
    replicas = [
        await asyncio.create_subprocess_exec(
            *command, env=environment, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    outcomes = [
        (await replica.wait(), (await replica.communicate())[1].decode()) for replica in replicas
    ]
    assert [code for code, _ in outcomes] == [0, 0], outcomes

    engine = create_engine(postgres_url, schema=pg_schema)
    try:
        async with engine.connect() as connection:
            versions = (
                await connection.execute(text("SELECT count(*) FROM alembic_version"))
            ).scalar_one()
    finally:
        await engine.dispose()
    assert versions == 1
