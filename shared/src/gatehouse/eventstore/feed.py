"""Reading a service's global feed in position order without ever skipping an event.

Positions come from a sequence, so on PostgreSQL a writer can draw position 7, another draws
8 and commits first: a reader then sees 8 while 7 is still invisible. Skipping ahead would lose
7 for good; waiting on a timer guesses. This reader proves instead.

Every append, before it draws a position, takes its transaction id and a shared advisory lock
that names the events table it writes (``EventStore.append``; both last until its transaction
ends). A reader that sees position q but not p < q meets a hole, and asks who may still fill it:

1. Positions come from a sequence (no per-session cache), so p was drawn before q, and q's
   writer committed before the reader's snapshot S1. The writer W of p therefore had its
   transaction id and its lock before S1 was taken. If W had committed by then, p would be
   visible; so W was either running at S1 or had already rolled back. Running at S1 means
   its id is among S1's in-progress ids (``pg_current_snapshot()``) or at or past S1's xmax:
   since PostgreSQL 14 a snapshot's xmax follows the latest *completed* transaction, so a
   transaction that took its id after that one is running but not listed.
2. After S1, the reader lists the transactions holding this table's lock (``pg_locks``, which
   shows the live lock table, not a snapshot of it). If W is still running, it is on that
   list. The gap's writers are the transactions on the list that were running at S1 as above
   (counting some that began after S1 only makes the reader wait for them too).
3. The reader judges the gap with a snapshot taken after the list: once none of the gap's
   writers is in progress, W has ended (it was on the list, or had ended before the list was
   read), so p is either visible now or never will be (rolled back, or a sequence value that
   was drawn but not used), and the reader moves on.

So a transaction that cannot be writing this table - a report query, a dump, a session left
idle in transaction, another schema's or another database's writers on the same server - never
holds the reader in front of a gap, and no event is skipped. This holds only while every writer
takes the lock: during a rolling upgrade from a version whose appends did not, stop the old
writers before a new reader runs.

On SQLite writers are serialised by the database lock, so a visible position proves that every
smaller one is settled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Label, Row, bindparam, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.events.envelope import EventEnvelope
from gatehouse.eventstore.schema import events, outbox
from gatehouse.eventstore.store import APPENDING_LOCK_SPACE, envelope_from_row

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
    topics: dict[int, str] = field(default_factory=dict)
    """The topic each event is queued for, by position (read with the page from the outbox;
    an event without an outbox row has none)."""
    flag: bool | None = None
    """The reader's ``flag`` as of the page's snapshot (``None`` without a flag or events)."""


@dataclass
class _Gap:
    start: int
    writers: frozenset[int]


class GapFreeFeedReader:
    """Reads the feed of one database in position order; keeps the state of one open gap."""

    def __init__(
        self, *, source: str, page_size: int = 500, flag: ColumnElement[bool] | None = None
    ) -> None:
        """``flag``: a condition read with each page, in its snapshot (e.g. whether something
        that must be published before the page's events is still waiting)."""
        self.source = source
        self.page_size = page_size
        self._flag = flag
        self._gap: _Gap | None = None
        # Built once: building a page's statement (and its cache key) cost more than the rest
        # of reading it.
        page = (
            select(events, _TOPIC)
            .where(events.c.position > bindparam("after_position"))
            .order_by(events.c.position)
            .limit(page_size)
        )
        self._page = page if flag is None else page.add_columns(flag.label("flag"))
        self._page_and_snapshot = self._page.add_columns(_SNAPSHOT)

    async def read(self, connection: AsyncConnection, after_position: int) -> FeedPage:
        """The settled events after ``after_position``, in position order, up to a page.

        A gap is judged by a snapshot taken after its writers were listed. Under READ COMMITTED
        (the default) that is the next statement; in a REPEATABLE READ transaction, whose
        statements share one snapshot, only a read in a later transaction settles it.
        """
        if connection.dialect.name != "postgresql":
            return await self._read_serialised(connection, after_position)
        rows, snapshot = await self._read_page(connection, after_position)
        hole = _first_hole(rows, after_position)
        if hole is not None and (self._gap is None or self._gap.start != hole):
            # First sight of this hole: list who may still fill it, then look again with a
            # snapshot taken after that list (see the module docstring).
            self._gap = _Gap(hole, await _appending_among(connection, snapshot))
            rows, snapshot = await self._read_page(connection, after_position)
        return self._settle(rows, after_position, snapshot)

    async def _read_page(
        self, connection: AsyncConnection, after_position: int
    ) -> tuple[list[Row[Any]], Snapshot]:
        """The next page of the feed and the snapshot that the page was read with."""
        rows = list(
            await connection.execute(self._page_and_snapshot, {"after_position": after_position})
        )
        if rows:
            return rows, Snapshot.parse(rows[0].snapshot)
        return [], Snapshot.parse((await connection.execute(_SNAPSHOT_ALONE)).scalar_one())

    def _settle(self, rows: list[Row[Any]], after_position: int, snapshot: Snapshot) -> FeedPage:
        accepted: list[Row[Any]] = []
        expected = after_position + 1
        for row in rows:
            if row.position != expected:
                gap = self._gap
                if gap is None or gap.start != expected or not snapshot.finished(gap.writers):
                    # Unsettled, or a hole whose writers are not listed yet (the next read
                    # lists them).
                    return self._page_of(accepted, expected - 1, waiting_at=expected)
                self._gap = None
            accepted.append(row)
            expected = row.position + 1
        return self._page_of(accepted, expected - 1, waiting_at=None)

    async def _read_serialised(self, connection: AsyncConnection, after_position: int) -> FeedPage:
        rows = list(await connection.execute(self._page, {"after_position": after_position}))
        return self._page_of(rows, rows[-1].position if rows else after_position, waiting_at=None)

    def _page_of(
        self, rows: list[Row[Any]], last_position: int, *, waiting_at: int | None
    ) -> FeedPage:
        return FeedPage(
            [envelope_from_row(row, self.source) for row in rows],
            last_position,
            waiting_at,
            topics={row.position: row.topic for row in rows if row.topic is not None},
            flag=bool(rows[0].flag) if rows and self._flag is not None else None,
        )


# The snapshot a page is read with (PostgreSQL).
_SNAPSHOT: Label[str] = literal_column("pg_current_snapshot()::text").label("snapshot")
_SNAPSHOT_ALONE = select(_SNAPSHOT)

# An event's outbox topic, looked up row by row: a join let PostgreSQL's generic plan merge
# with the whole outbox index on every page, growing with the log.
_TOPIC = (
    select(outbox.c.topic)
    .where(outbox.c.position == events.c.position)
    .scalar_subquery()
    .label("topic")
)


def _first_hole(rows: list[Row[Any]], after_position: int) -> int | None:
    """The first position missing in front of a visible one, if any."""
    expected = after_position + 1
    for row in rows:
        if row.position != expected:
            return expected
        expected = row.position + 1
    return None


# The transactions that hold an append's lock on this events table, by their own transaction
# id (every transaction holds an exclusive lock on its ids). One read of the lock table, so the
# two sides of the join see the same moment.
_APPENDING_TRANSACTIONS = text("""
    WITH locks AS MATERIALIZED (
        SELECT locktype, database, classid, objid, objsubid, virtualtransaction,
               transactionid, mode, granted
        FROM pg_locks WHERE locktype IN ('advisory', 'transactionid') AND granted)
    SELECT own.transactionid::text::bigint AS transaction_id
    FROM locks AS appending
    JOIN locks AS own ON own.virtualtransaction = appending.virtualtransaction
    WHERE appending.locktype = 'advisory'
      AND appending.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND appending.classid = CAST(CAST(:space AS int4) AS oid)
      AND appending.objid = CAST(:events_table AS regclass)
      AND appending.objsubid = 2
      AND own.locktype = 'transactionid' AND own.mode = 'ExclusiveLock'
""")


async def _appending_among(connection: AsyncConnection, snapshot: Snapshot) -> frozenset[int]:
    """The transactions appending to this events table now that were running at ``snapshot``
    (full 64-bit ids): those it lists in progress, and those with ids from its xmax on."""
    result = await connection.execute(
        _APPENDING_TRANSACTIONS, {"space": APPENDING_LOCK_SPACE, "events_table": events.name}
    )
    appending = {
        _full_id(int(transaction_id), snapshot.xmax) for transaction_id in result.scalars()
    }
    return frozenset(
        xid for xid in appending if xid in snapshot.in_progress or xid >= snapshot.xmax
    )


def _full_id(low_bits: int, near: int) -> int:
    """The 64-bit id of a running transaction from the 32 bits ``pg_locks`` shows. Running
    transactions are less than 2^31 ids from each other and from ``near`` (a snapshot's xmax;
    wraparound protection), so the nearest id with these low bits is the one."""
    candidate = (near & ~0xFFFF_FFFF) | low_bits
    if candidate > near + 2**31:
        return candidate - 2**32
    if candidate < near - 2**31:
        return candidate + 2**32
    return candidate
