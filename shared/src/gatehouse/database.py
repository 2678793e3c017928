"""Engines and transactions. One transaction per command or consumed batch, owned here.

The same code runs on PostgreSQL (asyncpg) and SQLite (aiosqlite). On SQLite every
transaction that may write starts with ``BEGIN IMMEDIATE`` so concurrent writers queue on the
database lock instead of failing when a reader upgrades to a writer; reads
(:meth:`Database.read`) take no lock and go on while a writer works (WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pydantic_core
from sqlalchemy import DateTime, Dialect, Table, any_, bindparam, event, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Database",
    "UtcDateTime",
    "bulk_insert",
    "create_engine",
    "insert_on",
    "json_text",
    "listening",
    "upsert",
]


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC ``datetime``.

    PostgreSQL keeps the offset; SQLite keeps none and hands back naive values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"refusing to store a naive datetime {value!r}; pass UTC")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_text(value: Any) -> str:
    """The text of a JSON column's value: JSON of the same value as ``json.dumps`` gives
    (compact, UTF-8 as it is), from pydantic-core's encoder, several times faster: events
    carry their data as JSON into every table that logs them."""
    return pydantic_core.to_json(value).decode()


# How every engine writes and reads JSON columns.
_JSON_CODEC: dict[str, Any] = {
    "json_serializer": json_text,
    "json_deserializer": pydantic_core.from_json,
}


# A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 2.0


# Connections a PostgreSQL engine keeps, and as many more it may open under load.
POOL_SIZE = 10


def create_engine(
    url: str,
    *,
    schema: str | None = None,
    pool_size: int = POOL_SIZE,
    ping_after_idle_seconds: float = PING_AFTER_IDLE_SECONDS,
) -> AsyncEngine:
    """An async engine for ``url``; ``schema`` sets PostgreSQL's search_path for every session."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if schema:
            raise ValueError("a database schema can only be set for PostgreSQL")
        engine = create_async_engine(url, connect_args={"timeout": 30}, **_JSON_CODEC)
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    engine = create_async_engine(
        url, connect_args=connect_args, pool_size=pool_size, max_overflow=pool_size, **_JSON_CODEC
    )
    _ping_when_idle(engine, ping_after_idle_seconds)
    return engine


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Replace a pooled connection that died while it sat idle (a database restart, an idle
    timeout) before anyone gets it, like ``pool_pre_ping``, but without a round trip for a
    connection that was in use a moment ago: SQLAlchemy's asyncpg ping is three (begin, ping,
    rollback), which on a busy service costs more than the work. A connection that dies
    between two quick uses fails the one transaction that meets it, and that failure makes
    the pool replace every connection it held."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise DisconnectionError("the pooled connection is gone") from error
            raise


# The execution option that marks a connection from Database.read.
_READS_ONLY = "gatehouse_reads_only"


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        reads_only = connection.get_execution_options().get(_READS_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")


class Database:
    """A service's database: the engine plus the one way to run a transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # The same pool; its connections' transactions begin without a lock on SQLite.
        self._reading = engine.execution_options(**{_READS_ONLY: True})
        self._after_commit_hooks: list[Callable[[], None]] = []

    @classmethod
    def from_url(
        cls, url: str, *, schema: str | None = None, pool_size: int = POOL_SIZE
    ) -> Database:
        return cls(create_engine(url, schema=schema, pool_size=pool_size))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def on_commit(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` after every committed transaction (e.g. to wake the outbox relay)."""
        self._after_commit_hooks.append(hook)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: commits when the block ends, rolls back when it raises."""
        async with self.engine.begin() as connection:
            yield connection
        for hook in self._after_commit_hooks:
            hook()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection on which each statement commits on its own (PostgreSQL): no BEGIN and
        no ROLLBACK round trips around the work. For reads that need no snapshot in common, and
        writes of one statement (asyncpg runs an ``executemany`` as one, all or nothing).
        Elsewhere, one transaction that commits when the block ends. No commit hook runs."""
        if self.dialect != "postgresql":
            async with self.engine.begin() as connection:
                yield connection
            return
        async with self.engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads only: nothing it runs is committed. On SQLite its
        transaction takes no lock (a plain BEGIN, deferred) and reads one snapshot, the last
        commit before its first statement, while a writer holds the write lock; a writer does
        not wait for it either. Writing through it is a mistake that SQLite may refuse with
        "database is locked" when another writer committed since the read began. On
        PostgreSQL it is an ordinary connection (read committed)."""
        async with self._reading.connect() as connection:
            yield connection

    async def ping(self) -> None:
        async with self.read() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def listening(
    connection: AsyncConnection,
    channel: str,
    on_payload: Callable[[str], None],
    on_lost: Callable[[], None] | None = None,
) -> AsyncIterator[asyncio.Event]:
    """LISTEN on ``channel`` over ``connection`` (PostgreSQL) while the block runs, calling
    ``on_payload`` with each notification's payload. Yields an event set (and ``on_lost``
    called) when the connection closes under the block: a database restart, an idle timeout,
    a terminated backend; with it go the notifications and any session lock it held. A closed
    connection is invalidated on the way out, never handed back to the pool."""
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    lost = asyncio.Event()

    def on_notify(_connection: object, _pid: int, _channel: str, payload: str) -> None:
        on_payload(payload)

    def on_close(_connection: object) -> None:
        lost.set()
        if on_lost is not None:
            on_lost()

    driver.add_termination_listener(on_close)
    await driver.add_listener(channel, on_notify)
    try:
        yield lost
    finally:
        driver.remove_termination_listener(on_close)
        with contextlib.suppress(Exception):
            await driver.remove_listener(channel, on_notify)
        if lost.is_set():
            await connection.invalidate()


async def upsert(
    connection: AsyncConnection,
    table: Any,
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    key: list[str],
) -> None:
    """Insert a row (or rows, all with the same columns and distinct keys) or update its
    non-key columns, on PostgreSQL and SQLite alike."""
    rows = [values] if isinstance(values, Mapping) else list(values)
    if not rows:
        return
    statement = _upsert_statement(connection.dialect.name, table, tuple(rows[0]), tuple(key))
    await connection.execute(statement, rows)


async def bulk_insert(
    connection: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert many rows (all with the same columns) in the connection's transaction: with COPY
    on PostgreSQL, several times faster than an INSERT per row; an INSERT elsewhere.

    The values are converted as SQLAlchemy converts them for an INSERT (JSON, UTC times).
    COPY goes to the driver itself: its errors are the driver's (asyncpg's), not SQLAlchemy's.
    """
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        await connection.execute(insert(table), list(rows))
        return
    dialect = connection.dialect
    names = list(rows[0])
    columns: list[Iterable[Any]] = []
    for name in names:  # column by column: one conversion function over many values
        convert = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        values = [row[name] for row in rows]
        columns.append(values if convert is None else map(convert, values))
    records = list(zip(*columns, strict=True))
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        # SQLAlchemy begins its transaction with the first statement it runs: COPY on the
        # driver's connection before that would commit on its own.
        await connection.execute(text("SELECT 1"))
    await driver.copy_records_to_table(
        table.name, records=records, columns=names, schema_name=table.schema
    )


def any_of(column: Any, name: str, dialect: str) -> Any:
    """``column`` equals one of the list bound as ``name``. On PostgreSQL the list travels as
    one array (``= ANY``): one statement, prepared and planned once, whatever its length, where
    an ``IN`` list is a new statement for every length. Elsewhere an expanding ``IN``."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def insert_on(dialect: str, table: Any) -> Any:
    """An INSERT with the dialect's ``on_conflict_do_*`` (PostgreSQL or SQLite)."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


@functools.lru_cache(maxsize=512)
def _upsert_statement(
    dialect: str, table: Any, columns: tuple[str, ...], key: tuple[str, ...]
) -> Any:
    """Built once per table and columns: building it (``excluded`` above all) costs more than
    running it."""
    statement = insert_on(dialect, table)
    changes = {name: statement.excluded[name] for name in columns if name not in key}
    return (
        statement.on_conflict_do_update(index_elements=list(key), set_=changes)
        if changes
        else statement.on_conflict_do_nothing(index_elements=list(key))
    )
