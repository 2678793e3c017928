"""Run services in-process against real infrastructure, and wait for eventual results."""

from __future__ import annotations

import asyncio
import gc
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TypeVar

import httpx
from fastapi import FastAPI
from sqlalchemy import text, update

from gatehouse.auth import DevIssuer, Role
from gatehouse.database import Database
from gatehouse.eventstore.schema import consumer_offsets
from gatehouse.server import server_config
from gatehouse.testing.statuses import record_statuses

__all__ = [
    "RunningService",
    "TestDatabase",
    "drop_listening_sessions",
    "eventually",
    "kafka_clients_left_unclosed",
    "listening_sessions",
    "running_service",
    "served",
]

T = TypeVar("T")


@dataclass(frozen=True)
class TestDatabase:
    __test__ = False  # not a test class, despite the name

    url: str
    schema: str | None

    @property
    def dialect(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"


@contextmanager
def kafka_clients_left_unclosed() -> Iterator[list[str]]:
    """Collects the warnings of the aiokafka clients that were dropped without being stopped
    while the block ran (or are garbage when it ends): each warns as it goes."""
    left: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield left
        gc.collect()
    left.extend(
        str(warning.message)
        for warning in caught
        if str(warning.message).startswith("Unclosed AIOKafka")
    )


# The sessions of the database that LISTEN on a channel (PostgreSQL).
_LISTENING = (
    "FROM pg_stat_activity WHERE datname = current_database() "
    "AND query LIKE 'LISTEN %' AND query LIKE :channel"
)


async def listening_sessions(database: Database, channel: str) -> int:
    """How many sessions of the database LISTEN on ``channel`` (PostgreSQL)."""
    async with database.read() as connection:
        return int(
            (
                await connection.execute(
                    text(f"SELECT count(*) {_LISTENING}"), {"channel": f"%{channel}%"}
                )
            ).scalar_one()
        )


async def drop_listening_sessions(database: Database, channel: str) -> int:
    """Close the sessions that LISTEN on ``channel``, as an idle timeout or a restart of those
    sessions would (PostgreSQL); how many were closed."""
    async with database.transaction() as connection:
        return len(
            (
                await connection.execute(
                    text(f"SELECT pg_terminate_backend(pid) {_LISTENING}"),
                    {"channel": f"%{channel}%"},
                )
            ).all()
        )


@dataclass
class RunningService:
    app: FastAPI
    client: httpx.AsyncClient
    issuer: DevIssuer

    def auth(self, subject: str, *roles: Role | str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, roles)}"}

    async def statuses_while_a_writer_holds_the_database(
        self, paths: list[str], *, within_seconds: float = 3.0
    ) -> dict[str, int]:
        """The status of a GET of each path (by someone with every role), all sent while a
        transaction that has written holds the service's database: on SQLite, its one write
        lock, as a command or a consumed batch holds it until it commits. Raises TimeoutError
        when they are not all answered ``within_seconds`` (far below SQLite's 30 s busy
        timeout, which a read queuing for the lock would wait out)."""
        everyone = self.auth("rita", *Role)
        database = self.app.state.runtime.database
        async with database.transaction() as writer:
            await writer.execute(
                update(consumer_offsets).values(next_offset=consumer_offsets.c.next_offset)
            )
            answers = await asyncio.wait_for(
                asyncio.gather(*(self.client.get(path, headers=everyone) for path in paths)),
                within_seconds,
            )
        return {path: answer.status_code for path, answer in zip(paths, answers, strict=True)}


@asynccontextmanager
async def running_service(
    app: FastAPI, issuer: DevIssuer, *, ready_timeout: float = 30.0
) -> AsyncIterator[RunningService]:
    """Start the app's lifespan, wait for /readyz, and hand out a client bound to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=record_statuses(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            await eventually(
                lambda: _ready(client), timeout=ready_timeout, description="service ready"
            )
            yield RunningService(app, client, issuer)


@asynccontextmanager
async def served(
    app: FastAPI, issuer: DevIssuer, *, ready_timeout: float = 30.0
) -> AsyncIterator[RunningService]:
    """Serve the app over real HTTP on a free local port (for streaming responses, which the
    in-process transport buffers, and for what the server itself answers); the client's base
    URL points at it. The server is configured as in production (:func:`server_config`)."""
    import uvicorn

    server = uvicorn.Server(server_config(record_statuses(app), app.state.runtime.settings, port=0))
    task = asyncio.create_task(server.serve())
    try:
        await eventually(
            lambda: _started(server, task), timeout=ready_timeout, description="server started"
        )
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await eventually(
                lambda: _ready(client), timeout=ready_timeout, description="service ready"
            )
            yield RunningService(app, client, issuer)
    finally:
        server.should_exit = True
        await task


async def _started(server: object, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()  # raises why the server could not start
    return bool(getattr(server, "started", False))


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109
    interval: float = 0.05,
    description: str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{description} did not hold within {timeout} s")
        await asyncio.sleep(interval)
