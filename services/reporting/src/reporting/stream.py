"""Live events for dashboards: Server-Sent Events from the consumed log.

Each event's SSE ``id`` is its place in reporting's log (``event_log.seq``). A client that
reconnects with ``Last-Event-ID`` gets every later event, none twice. The log's numbers are
drawn when rows are inserted, so a transaction that commits late (another reporting instance) or
rolls back leaves a hole for a moment or for good: the stream waits up to ``gap_grace_seconds``
for a hole to fill before it moves past it, so a late commit is not skipped.

Between events a comment line goes out every ``heartbeat_seconds`` so proxies keep the
connection open and clients notice a dead one.

A stream sends only what its caller's roles may read (:mod:`gatehouse.events.visibility`):
other events are passed over, and some are sent without the fields kept from those roles.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.auth import Role
from gatehouse.database import Database, listening
from gatehouse.events.visibility import visible_data
from gatehouse.messaging.restarts import run_restarting
from gatehouse.personal_keys import SealedEventData
from reporting.tables import event_log

__all__ = ["LOG_CHANNEL", "EventFilter", "LiveLog", "announce_logged_events", "sse_stream"]

PAGE = 500


@dataclass(frozen=True)
class EventFilter:
    types: Sequence[str] = ()
    project_id: UUID | None = None

    def accepts(self, row: Any) -> bool:
        if (
            self.types
            and row.type not in self.types
            and row.type.rsplit(".", 1)[-1] not in self.types
        ):
            return False
        return self.project_id is None or row.project_id == self.project_id


# The PostgreSQL NOTIFY channel on which a transaction that logged events announces them (the
# payload is the schema: reporting deployments sharing a database wake only their own streams).
LOG_CHANNEL = "gatehouse_reporting_log"


async def announce_logged_events(connection: AsyncConnection) -> None:
    """In the transaction that logs events: wake, when it commits, every stream on this log,
    whichever reporting replica serves it (PostgreSQL; on SQLite one process serves)."""
    if connection.dialect.name == "postgresql":
        await connection.execute(_ANNOUNCE, {"channel": LOG_CHANNEL})


_ANNOUNCE = text("SELECT pg_notify(:channel, current_schema())")


class LiveLog:
    """Tells the streams when events are logged (they also poll, in case a wake is lost).

    On PostgreSQL the wake is the NOTIFY of the transaction that logged them, from whichever
    replica: :meth:`follow` listens. On SQLite it is this process's commits."""

    def __init__(self, database: Database, personal_data: SealedEventData | None = None) -> None:
        self.database = database
        self.personal_data = personal_data
        self._next_commit = asyncio.Event()
        if database.dialect != "postgresql":
            database.on_commit(self._committed)

    async def follow(self) -> None:
        """Listen for logged events until cancelled, again after a lost connection
        (PostgreSQL; nothing to do on SQLite)."""
        if self.database.dialect == "postgresql":
            await run_restarting(self._listen, what="live log listener")

    async def _listen(self) -> None:
        async with self.database.engine.connect() as connection:
            schema = (await connection.execute(text("SELECT current_schema()"))).scalar_one()
            await connection.commit()

            def on_logged(payload: str) -> None:
                if payload == schema:
                    self._committed()

            async with listening(connection, LOG_CHANNEL, on_logged) as lost:
                self._committed()  # what was logged while nobody listened
                await lost.wait()
        raise ConnectionError("the live log's listening connection closed")

    def next_commit(self) -> asyncio.Event:
        """Set by the next commit. A stream takes it before it reads and waits on it after,
        so a commit that lands while it reads wakes it, whatever the other streams do: each
        commit sets the one event the streams took, and the next commit has a new one."""
        return self._next_commit

    def _committed(self) -> None:
        self._next_commit.set()
        self._next_commit = asyncio.Event()

    async def head(self) -> int:
        async with self.database.read() as connection:
            return int(
                (
                    await connection.execute(select(func.coalesce(func.max(event_log.c.seq), 0)))
                ).scalar_one()
            )

    async def after(self, seq: int) -> list[Any]:
        """The next logged events after ``seq``, their people opened."""
        async with self.database.read() as connection:
            rows = list(
                (
                    await connection.execute(
                        select(event_log)
                        .where(event_log.c.seq > seq)
                        .order_by(event_log.c.seq)
                        .limit(PAGE)
                    )
                ).all()
            )
            if self.personal_data is None or not rows:
                return rows
            values = await self.personal_data.open_many(
                connection, [(row.type, row.data, row.actor) for row in rows]
            )
        return [
            SimpleNamespace(**{**row._asdict(), "data": data, "actor": actor})
            for row, (data, actor) in zip(rows, values, strict=True)
        ]


async def sse_stream(
    live: LiveLog,
    *,
    after: int,
    where: EventFilter,
    roles: Collection[Role],
    heartbeat_seconds: float,
    gap_grace_seconds: float,
    poll_seconds: float = 1.0,
) -> AsyncIterator[str]:
    """The SSE text of every event after ``after`` that ``where`` accepts, as a caller with
    ``roles`` may read it, forever."""
    yield "retry: 2000\n\n"
    cursor = after
    gap_seen_at: float | None = None
    last_sent = time.monotonic()
    while True:
        committed = live.next_commit()
        rows = await live.after(cursor)
        sent_any = False
        for row in rows:
            if row.seq != cursor + 1:
                # A hole: a late commit may still fill it; give it a moment before moving on.
                now = time.monotonic()
                gap_seen_at = gap_seen_at if gap_seen_at is not None else now
                if now - gap_seen_at < gap_grace_seconds:
                    break
            gap_seen_at = None
            cursor = row.seq
            data = visible_data(row.type, row.data, roles) if where.accepts(row) else None
            if data is not None:
                yield _frame(row, data)
                sent_any = True
        if sent_any:
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent >= heartbeat_seconds:
            yield ": heartbeat\n\n"
            last_sent = time.monotonic()
        if len(rows) < PAGE or gap_seen_at is not None:
            wait = min(
                poll_seconds,
                heartbeat_seconds,
                gap_grace_seconds if gap_seen_at is not None else poll_seconds,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await committed.wait()


def _frame(row: Any, data: dict[str, Any]) -> str:
    body = {
        "seq": row.seq,
        "event_id": str(row.event_id),
        "type": row.type,
        "source": row.source,
        "time": row.time.isoformat(),
        "actor": row.actor,
        "project_id": str(row.project_id) if row.project_id else None,
        "stream_id": row.stream_id,
        "stream_version": row.stream_version,
        "data": data,
    }
    return (
        f"id: {row.seq}\nevent: {row.type.rsplit('.', 1)[-1]}\n"
        f"data: {json.dumps(body, separators=(',', ':'), default=str)}\n\n"
    )
