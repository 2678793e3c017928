"""Pooled PostgreSQL connections: one that died while idle is replaced before anyone gets it;
one that was just in use is handed out without a round trip first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gatehouse.database import Database, create_engine

IDLE_SECONDS = 0.2


@pytest.fixture
async def pooled(postgres_url: str, pg_schema: str) -> AsyncIterator[Database]:
    database = Database(
        create_engine(
            postgres_url, schema=pg_schema, pool_size=1, ping_after_idle_seconds=IDLE_SECONDS
        )
    )
    yield database
    await database.dispose()


async def backend_pid(database: Database) -> int:
    async with database.transaction() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(postgres_url: str, pid: int) -> None:
    """End the backend ``pid`` and wait until it is gone (the signal alone does not wait)."""
    admin = Database.from_url(postgres_url)
    try:
        async with admin.transaction() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})
    finally:
        await admin.dispose()


async def test_a_connection_that_died_while_idle_is_replaced_before_it_is_used(
    pooled: Database, postgres_url: str
) -> None:
    first = await backend_pid(pooled)
    await terminate(postgres_url, first)
    await asyncio.sleep(IDLE_SECONDS * 2)

    second = await backend_pid(pooled)

    assert second != first


async def test_a_connection_that_died_between_two_quick_uses_fails_one_transaction_only(
    pooled: Database, postgres_url: str
) -> None:
    first = await backend_pid(pooled)
    await terminate(postgres_url, first)

    with pytest.raises(DBAPIError) as failed:
        await backend_pid(pooled)
    assert failed.value.connection_invalidated
    second = await backend_pid(pooled)

    assert second != first


async def test_a_connection_just_checked_in_is_handed_out_without_a_ping(
    pooled: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await backend_pid(pooled)
    pings: list[object] = []
    dialect = pooled.engine.dialect
    original = dialect.do_ping

    def counting_ping(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return original(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counting_ping)
    for _ in range(5):
        await backend_pid(pooled)
    assert pings == []

    await asyncio.sleep(IDLE_SECONDS * 2)
    await backend_pid(pooled)
    assert len(pings) == 1


async def test_each_statement_on_an_autocommit_connection_commits_on_its_own(
    pooled: Database, postgres_url: str, pg_schema: str
) -> None:
    async with pooled.transaction() as connection:
        await connection.execute(text("CREATE TABLE marks (n int)"))
    other = Database.from_url(postgres_url, schema=pg_schema, pool_size=1)
    try:
        async with pooled.autocommit() as connection:
            await connection.execute(text("INSERT INTO marks VALUES (1)"))
            seen_before_the_block_ends = await count_marks(other)
            await connection.execute(text("INSERT INTO marks VALUES (2)"))
            with pytest.raises(DBAPIError):
                await connection.execute(text("INSERT INTO marks VALUES ('not a number')"))
        assert seen_before_the_block_ends == 1
        assert await count_marks(other) == 2, "a failed statement takes nothing else with it"
    finally:
        await other.dispose()


async def count_marks(database: Database) -> int:
    async with database.autocommit() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM marks"))).scalar_one())
