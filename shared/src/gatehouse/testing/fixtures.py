"""Pytest fixtures (loaded with ``-p gatehouse.testing.fixtures``).

``make test`` starts a real Kafka broker and PostgreSQL and exports where they are:
``GATEHOUSE_TEST_KAFKA`` and ``GATEHOUSE_TEST_DATABASE_URL``. Each test gets a fresh PostgreSQL
schema and a fresh topic namespace, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import ClassVar

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
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

log = logging.getLogger(__name__)


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run the suite with `make test`, which starts Kafka and "
            "PostgreSQL and exports it",
            pytrace=False,
        )
    return value


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _required_env("GATEHOUSE_TEST_KAFKA")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return _required_env("GATEHOUSE_TEST_DATABASE_URL")


@pytest.fixture
def namespace() -> Iterator[str]:
    """A topic and consumer-group prefix of this test's own; its topics are deleted after the
    test (in the background), so the broker does not slow down under thousands of them."""
    prefix = f"test-{uuid.uuid4().hex[:12]}."
    yield prefix
    bootstrap = os.environ.get("GATEHOUSE_TEST_KAFKA")
    if bootstrap:
        TopicJanitor.of(bootstrap).delete(prefix)


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    # Only now is the test's event loop closed: a Kafka client the test left behind may hang
    # while it is cancelled if its topics are already gone.
    TopicJanitor.release()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    TopicJanitor.finish()


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


class TopicJanitor:
    """Deletes the topics of finished tests' namespaces, on a thread of its own."""

    _running: ClassVar[dict[str, TopicJanitor]] = {}

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._finished: list[str] = []
        self._prefixes: queue.Queue[str | None] = queue.Queue()
        self._admin: AIOKafkaAdminClient | None = None
        self._thread = threading.Thread(target=self._run, name="topic-janitor", daemon=True)
        self._thread.start()

    @classmethod
    def of(cls, bootstrap: str) -> TopicJanitor:
        janitor = cls._running.get(bootstrap)
        if janitor is None:
            janitor = cls._running[bootstrap] = cls(bootstrap)
        return janitor

    @classmethod
    def release(cls) -> None:
        """Delete the topics of the tests that have finished (their event loops closed)."""
        for janitor in cls._running.values():
            for prefix in janitor._finished:
                janitor._prefixes.put(prefix)
            janitor._finished.clear()

    @classmethod
    def finish(cls, timeout: float = 30.0) -> None:
        cls.release()
        for janitor in cls._running.values():
            janitor._prefixes.put(None)
            janitor._thread.join(timeout)
        cls._running.clear()

    def delete(self, prefix: str) -> None:
        """Delete the topics of ``prefix`` once its test has finished."""
        self._finished.append(prefix)

    def _run(self) -> None:
        with asyncio.Runner() as runner:
            while (prefix := self._prefixes.get()) is not None:
                runner.run(self._delete_topics(prefix))
            runner.run(self._close_admin())

    async def _delete_topics(self, prefix: str) -> None:
        try:
            if self._admin is None:
                self._admin = AIOKafkaAdminClient(
                    bootstrap_servers=self._bootstrap, client_id="test-topic-janitor"
                )
                await self._admin.start()
            topics = [
                topic for topic in await self._admin.list_topics() if topic.startswith(prefix)
            ]
            if topics:
                await self._admin.delete_topics(topics)
        except Exception as error:  # a broker stopped by the test itself, ...
            log.info("could not delete a test's topics: %r", error)
            await self._close_admin()

    async def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()


async def _admin_connection(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    ssl = parsed.query.get("ssl")  # e.g. "disable", as the services connect
    return await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
        ssl=ssl if isinstance(ssl, str) else None,
    )
