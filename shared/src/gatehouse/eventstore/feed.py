"""Reading a service's global feed in position order without ever skipping an event.

Positions come from a sequence, so on PostgreSQL a writer can draw position 7, another draws
8 and commits first: a reader then sees 8 while 7 is still invisible. Skipping ahead would lose
7 for good; waiting on a timer guesses. This reader proves instead.

Every append takes its transaction id *before* drawing a position (``EventStore.append``).
So when a reader sees position q but not p < q, the writer of p, if it is still running, is in
the reader's snapshot's list of in-progress transactions (``pg_current_snapshot()``). The reader
remembers that list for the gap and stops in front of it. Once none of those transactions is in
progress any more, p is either visible (committed) or never will be (rolled back, or a sequence
value that was drawn but not used), and the reader moves on.

On SQLite writers are serialised by the database lock, so a visible position proves that every
smaller one is settled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Label, Row, Select, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.events.envelope import EventEnvelope
from gatehouse.eventstore.schema import events
from gatehouse.eventstore.store import envelope_from_row

__all__ = ["FeedPage", "GapFreeFeedReader", "Snapshot"]

@dataclass(frozen=True)
class Snapshot:
    """A PostgreSQL snapshot: ``xmin:xmax:xip,...`` as printed by ``pg_current_snapshot()``."""

    xmin: int
    xmax: int
    in_progress: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def finished(self, transaction_ids: frozenset[int]) -> bool:
        """True when every one of ``transaction_ids`` had ended when this snapshot was taken."""
        return all(xid < self.xmax and xid not in self.in_progress for xid in transaction_ids)

@dataclass(frozen=True)
class FeedPage:
    events: list[EventEnvelope]
    last_position: int
    """The position to read after next time (unchanged when nothing new is settled)."""
    waiting_at: int | None
    """The first position not yet settled, when the page stopped in front of a gap."""

@dataclass
class _Gap:
    start: int
    writers: frozenset[int]

class GapFreeFeedReader:
    """Reads the feed of one database in position order; keeps the state of one open gap."""

    def __init__(self, *, source: str, page_size: int = 500) -> None:
        self.source = source
        self.page_size = page_size
        self._gap: _Gap | None = None

    async def read(self, connection: AsyncConnection, after_position: int) -> FeedPage:
        if connection.dialect.name != "postgresql":
            return await self._read_serialised(connection, after_position)
        snapshot_text: Label[str] = literal_column("pg_current_snapshot()::text").label("snapshot")
        rows = list(await connection.execute(self._page(after_position).add_columns(snapshot_text)))
        if not rows:
            snapshot_row = await connection.execute(select(snapshot_text))
            return self._settle([], after_position, Snapshot.parse(snapshot_row.scalar_one()))
        return self._settle(rows, after_position, Snapshot.parse(rows[0].snapshot))

    def _page(self, after_position: int) -> Select[Any]:
        return (select(events).where(events.c.position > after_position)
                .order_by(events.c.position).limit(self.page_size))

    def _settle(self, rows: list[Row[Any]], after_position: int, snapshot: Snapshot) -> FeedPage:
        accepted: list[EventEnvelope] = []
        expected = after_position + 1
        for row in rows:
            if row.position != expected:
                if not self._gap_is_settled(expected, snapshot):
                    return FeedPage(accepted, expected - 1, waiting_at=expected)
                self._gap = None
            accepted.append(envelope_from_row(row, self.source))
            expected = row.position + 1
        return FeedPage(accepted, expected - 1, waiting_at=None)

    def _gap_is_settled(self, start: int, snapshot: Snapshot) -> bool:
        if self._gap is None or self._gap.start != start:
            # First sight of this gap: its writer, if still running, is among these.
            self._gap = _Gap(start, snapshot.in_progress)
        return snapshot.finished(self._gap.writers)

    async def _read_serialised(self, connection: AsyncConnection, after_position: int) -> FeedPage:
        rows = await connection.execute(self._page(after_position))
        page = [envelope_from_row(row, self.source) for row in rows]
        last = page[-1].position if page else after_position
        assert last is not None
        return FeedPage(page, last, waiting_at=None)
