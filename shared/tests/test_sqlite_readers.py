"""The embedded default (SQLite, WAL): readers read while a writer works; writers queue.

A writer holds SQLite's one write lock from its BEGIN IMMEDIATE to its commit. A read through
``Database.read`` takes no lock: it answers at once from the last committed state, and does
not make the writer wait either.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gatehouse.database import Database

# Far below SQLite's busy timeout (30 s): a read that waits for the lock fails the test.
READ_WITHIN_SECONDS = 3.0


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'readers.db'}")
    async with database.transaction() as connection:
        await connection.execute(text("CREATE TABLE marks (n integer)"))
        await connection.execute(text("INSERT INTO marks VALUES (1)"))
    yield database
    await database.dispose()


async def marks(database: Database) -> list[int]:
    async with database.read() as connection:
        return list((await connection.execute(text("SELECT n FROM marks ORDER BY n"))).scalars())


async def test_a_read_answers_from_the_last_commit_while_a_writer_holds_the_lock(
    database: Database,
) -> None:
    async with database.transaction() as writer:
        await writer.execute(text("INSERT INTO marks VALUES (2)"))
        seen_meanwhile = await asyncio.wait_for(marks(database), READ_WITHIN_SECONDS)
    assert seen_meanwhile == [1]
    assert await marks(database) == [1, 2]


async def test_a_writer_commits_while_a_read_is_open(database: Database) -> None:
    async with database.read() as reader:
        assert (await reader.execute(text("SELECT count(*) FROM marks"))).scalar_one() == 1

        async def write() -> None:
            async with database.transaction() as writer:
                await writer.execute(text("INSERT INTO marks VALUES (2)"))

        await asyncio.wait_for(write(), READ_WITHIN_SECONDS)
        assert (await reader.execute(text("SELECT count(*) FROM marks"))).scalar_one() == 1, (
            "a read sees one snapshot from its first statement to its end"
        )
    assert await marks(database) == [1, 2]


async def test_writers_still_queue_for_the_lock(database: Database) -> None:
    first_holds_the_lock = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with database.transaction() as connection:
            await connection.execute(text("SELECT n FROM marks"))  # reads, then writes
            first_holds_the_lock.set()
            await release.wait()
            await connection.execute(text("INSERT INTO marks VALUES (2)"))

    async def second() -> None:
        await first_holds_the_lock.wait()
        async with database.transaction() as connection:
            await connection.execute(text("SELECT n FROM marks"))
            await connection.execute(text("INSERT INTO marks VALUES (3)"))

    writers = asyncio.gather(first(), second())
    await first_holds_the_lock.wait()
    await asyncio.sleep(0.2)  # the second writer is waiting on BEGIN
    release.set()
    await asyncio.wait_for(writers, READ_WITHIN_SECONDS)
    assert await marks(database) == [1, 2, 3]
