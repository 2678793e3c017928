"""Pytest fixtures (loaded with ``-p gatehouse.testing.fixtures``).

``make test`` starts a real Kafka broker and PostgreSQL and exports where they are:
``GATEHOUSE_TEST_KAFKA`` and ``GATEHOUSE_TEST_DATABASE_URL``. Each test gets a fresh PostgreSQL
schema and a fresh topic namespace, so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from gatehouse.auth import DevIssuer
from gatehouse.testing.harness import TestDatabase
from gatehouse.testing.migrated import MigratedDatabases

__all__ = [
    "any_database",
    "dev_issuer",
    "kafka_bootstrap",
    "migrated_databases",
    "namespace",
    "new_pg_schema",
    "pg_schema",
    "postgres_url",
    "sqlite_url",
]


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the suite with `make test`, which starts Kafka and "
                    "PostgreSQL and exports it", pytrace=False)
    return value


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _required_env("GATEHOUSE_TEST_KAFKA")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return _required_env("GATEHOUSE_TEST_DATABASE_URL")


@pytest.fixture
def namespace() -> str:
    """A topic and consumer-group prefix of this test's own."""
    return f"test-{uuid.uuid4().hex[:12]}."


@pytest.fixture
async def new_pg_schema(postgres_url: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Makes fresh PostgreSQL schemas on demand; drops them all after the test."""
    created: list[str] = []

    async def create() -> str:
        schema = f"t_{uuid.uuid4().hex[:16]}"
        connection = await _admin_connection(postgres_url)
        try:
            await connection.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await connection.close()
        created.append(schema)
        return schema

    yield create
    if created:
        connection = await _admin_connection(postgres_url)
        try:
            for schema in created:
                await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await connection.close()


@pytest.fixture
async def pg_schema(new_pg_schema: Callable[[], Awaitable[str]]) -> str:
    """A fresh PostgreSQL schema, dropped after the test."""
    return await new_pg_schema()


@pytest.fixture(scope="session")
def migrated_databases(tmp_path_factory: pytest.TempPathFactory) -> MigratedDatabases:
    """Runs each service's migrations once per database kind, then copies or replays them."""
    return MigratedDatabases(tmp_path_factory.mktemp("migrated"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestDatabase]:
    """The same test on the embedded default (SQLite) and on PostgreSQL."""
    if request.param == "sqlite":
        yield TestDatabase(url=f"sqlite+aiosqlite:///{tmp_path / 'test.db'}", schema=None)
    else:
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("pg_schema")
        yield TestDatabase(url=url, schema=schema)


@pytest.fixture
def dev_issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path / "issuer.pem", issuer="gatehouse-dev", audience="gatehouse")


async def _admin_connection(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    return await asyncpg.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                                 password=parsed.password, database=parsed.database)
