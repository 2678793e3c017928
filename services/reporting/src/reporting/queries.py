"""Read-model queries behind reporting's API."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, FromClause, Row, Select, and_, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.errors import InvalidInput
from gatehouse.events.envelope import EventEnvelope
from gatehouse.personal_keys import SealedEventData
from reporting import views
from reporting.tables import (
    condition_records,
    decision_records,
    event_log,
    project_views,
    review_records,
)
from reporting.views import ProjectView

__all__ = [
    "DecisionFilter",
    "Page",
    "all_views",
    "condition_rows",
    "decision_page",
    "decisions",
    "envelope_of",
    "log_until",
    "opened",
    "project_view",
    "review_rows",
    "timeline_page",
    "views_as_of",
    "whole_log",
]


@dataclass(frozen=True)
class Page:
    rows: list[Row[Any]]
    next_cursor: str | None


# --- Project views --------------------------------------------------------------------------


async def all_views(connection: AsyncConnection) -> list[ProjectView]:
    rows = await connection.execute(select(project_views.c.view))
    return [views.from_document(row.view) for row in rows]


async def project_view(connection: AsyncConnection, project_id: UUID) -> ProjectView | None:
    row = (
        await connection.execute(
            select(project_views.c.view).where(project_views.c.project_id == project_id)
        )
    ).first()
    return views.from_document(row.view) if row else None


async def views_as_of(
    connection: AsyncConnection,
    as_of: datetime,
    project_id: UUID | None = None,
    *,
    personal_data: SealedEventData | None = None,
) -> dict[UUID, ProjectView]:
    """The project views as they stood at ``as_of``, replayed from the consumed log."""
    logged = [envelope_of(row) async for row in log_until(connection, as_of, project_id)]
    return views.replay(await opened(connection, logged, personal_data))


async def opened(
    connection: AsyncConnection, logged: list[EventEnvelope], personal_data: SealedEventData | None
) -> list[EventEnvelope]:
    """The logged events with their people opened (the log keeps them sealed)."""
    if personal_data is None:
        return logged
    values = await personal_data.open_many(
        connection, [(envelope.type, envelope.data, envelope.actor) for envelope in logged]
    )
    return [
        replace(envelope, data=data, actor=actor)
        for envelope, (data, actor) in zip(logged, values, strict=True)
    ]


async def whole_log(connection: AsyncConnection) -> AsyncIterator[Row[Any]]:
    """Every consumed event, in the order reporting recorded them."""
    result = await connection.stream(select(event_log).order_by(event_log.c.seq))
    async for row in result:
        yield row


async def log_until(
    connection: AsyncConnection, as_of: datetime, project_id: UUID | None = None
) -> AsyncIterator[Row[Any]]:
    """The consumed events recorded at or before ``as_of``, oldest first."""
    query = select(event_log).where(event_log.c.time <= as_of)
    if project_id is not None:
        query = query.where(event_log.c.project_id == project_id)
    result = await connection.stream(query.order_by(event_log.c.time, event_log.c.seq))
    async for row in result:
        yield row


def envelope_of(row: Row[Any]) -> EventEnvelope:
    return EventEnvelope(
        id=row.event_id,
        source=row.source,
        type=row.type,
        time=row.time,
        subject=row.stream_id,
        data=row.data,
        stream_id=row.stream_id,
        stream_version=row.stream_version,
        position=row.position,
        correlation_id=row.correlation_id,
        causation_id=row.causation_id,
        actor=row.actor,
        schema_version=row.schema_version,
        hash=row.hash,
        prev_hash=row.prev_hash,
        log_head=row.log_head,
    )


# --- Timeline -------------------------------------------------------------------------------


async def timeline_page(
    connection: AsyncConnection,
    project_id: UUID,
    *,
    types: Collection[str],
    cursor: str | None,
    limit: int,
) -> Page:
    """Every event of ``types`` about the project from every service, in time order."""
    query = select(event_log).where(
        event_log.c.project_id == project_id, event_log.c.type.in_(sorted(types))
    )
    if cursor is not None:
        time, seq = _decode_cursor(cursor, "t")
        query = query.where(
            or_(event_log.c.time > time, and_(event_log.c.time == time, event_log.c.seq > seq))
        )
    query = query.order_by(event_log.c.time, event_log.c.seq).limit(limit + 1)
    rows = list((await connection.execute(query)).all())
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, _encode_cursor("t", rows[-1].time, rows[-1].seq))


# --- Decisions (audit) ----------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionFilter:
    project_id: UUID | None = None
    gate: str | None = None
    approver: str | None = None
    outcome: Sequence[str] = ()
    kind: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    newest_first: bool = False


def _decision_query(
    where: DecisionFilter, *, after: tuple[datetime, UUID] | None = None, limit: int | None = None
) -> Select[Any]:
    """The matching records in time order (newest first if asked), from after ``after``.

    ``approver=`` matches who held the seat or who cast the vote: two indexed questions, each
    read in time order and merged, because one ``approver = ? OR cast_by = ?`` has no index in
    time order and would filter its way through the whole time index.
    """
    table = decision_records
    conditions: list[ColumnElement[bool]] = []
    if where.project_id is not None:
        conditions.append(table.c.project_id == where.project_id)
    if where.gate is not None:
        conditions.append(table.c.gate == where.gate)
    if where.outcome:
        conditions.append(table.c.decision.in_(list(where.outcome)))
    if where.kind:
        conditions.append(table.c.kind.in_(list(where.kind)))
    if where.since is not None:
        conditions.append(table.c.time >= where.since)
    if where.until is not None:
        conditions.append(table.c.time < where.until)
    if after is not None:
        conditions.append(_beyond(table.c.time, table.c.event_id, after, where.newest_first))
    if where.approver is None:
        return _in_time_order(select(table).where(*conditions), table, where.newest_first, limit)
    held = select(table).where(*conditions, table.c.approver == where.approver)
    # Said as "cast for someone else" so that the delegates' partial index serves it.
    cast_for_another = select(table).where(
        *conditions,
        table.c.cast_by == where.approver,
        table.c.cast_by.is_distinct_from(table.c.approver),
    )
    # Each side wrapped in a subquery: SQLite takes no ORDER BY or LIMIT inside a UNION.
    sides = [
        select(_in_time_order(side, table, where.newest_first, limit).subquery())
        for side in (held, cast_for_another)
    ]
    merged = union_all(*sides).subquery("by_approver")
    return _in_time_order(select(merged), merged, where.newest_first, limit)


def _in_time_order(
    query: Select[Any], source: FromClause, newest_first: bool, limit: int | None
) -> Select[Any]:
    time, event_id = source.c.time, source.c.event_id
    ordered = (
        query.order_by(time.desc(), event_id.desc())
        if newest_first
        else query.order_by(time, event_id)
    )
    return ordered if limit is None else ordered.limit(limit)


def _beyond(
    time: ColumnElement[datetime],
    event_id: ColumnElement[UUID],
    after: tuple[datetime, UUID],
    newest_first: bool,
) -> ColumnElement[bool]:
    last_time, last_id = after
    if newest_first:
        return or_(time < last_time, and_(time == last_time, event_id < last_id))
    return or_(time > last_time, and_(time == last_time, event_id > last_id))


async def decision_page(
    connection: AsyncConnection, where: DecisionFilter, *, cursor: str | None, limit: int
) -> Page:
    kind = "d-" if where.newest_first else "d"
    after = None
    if cursor is not None:
        time, event_id = _decode_cursor(cursor, kind)
        after = (time, UUID(str(event_id)))
    query = _decision_query(where, after=after, limit=limit + 1)
    rows = list((await connection.execute(query)).all())
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, _encode_cursor(kind, rows[-1].time, str(rows[-1].event_id)))


async def decisions(connection: AsyncConnection, where: DecisionFilter) -> AsyncIterator[Row[Any]]:
    """Every matching record, streamed (for exports)."""
    result = await connection.stream(_decision_query(where))
    async for row in result:
        yield row


# --- Reviews and conditions -----------------------------------------------------------------


async def review_rows(connection: AsyncConnection) -> list[Row[Any]]:
    return list((await connection.execute(select(review_records))).all())


async def condition_rows(connection: AsyncConnection) -> list[Row[Any]]:
    return list((await connection.execute(select(condition_records))).all())


# --- Cursors --------------------------------------------------------------------------------


def _encode_cursor(kind: str, time: datetime, tiebreak: object) -> str:
    raw = json.dumps([kind, time.isoformat(), tiebreak]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, kind: str) -> tuple[datetime, Any]:
    invalid = InvalidInput.for_field("cursor", "not a cursor this API returned", location="query")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        found_kind, time, tiebreak = decoded
        if found_kind != kind:
            raise invalid
        parsed = datetime.fromisoformat(time)
        if kind.startswith("d"):
            UUID(str(tiebreak))
        elif not isinstance(tiebreak, int):
            raise invalid
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise invalid from None
    return parsed, tiebreak
