"""The event store: append with an expected version, load a stream, read the global feed.

Every append also writes one outbox row per event, in the caller's transaction, so an event
is published to Kafka if and only if it was stored, and chains each event to the previous one
of its stream (``prev_hash``, ``hash``; see :mod:`gatehouse.eventstore.chain`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Row, func, insert, literal, select, text, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.events.envelope import EventEnvelope
from gatehouse.eventstore.chain import GENESIS_HASH, event_hash
from gatehouse.eventstore.errors import ConcurrencyError
from gatehouse.eventstore.schema import events, outbox

__all__ = ["OUTBOX_CHANNEL", "EventMetadata", "EventStore", "NewEvent", "envelope_from_row"]

# PostgreSQL NOTIFY channel that wakes outbox relays when an append commits.
OUTBOX_CHANNEL = "gatehouse_outbox"


@dataclass(frozen=True, kw_only=True)
class NewEvent:
    """An event to append: its type, schema version and JSON data."""

    type: str
    data: Mapping[str, Any]
    schema_version: int = 1
    event_id: UUID = field(default_factory=uuid4)


@dataclass(frozen=True, kw_only=True)
class EventMetadata:
    """Who and what caused the events of one append."""

    actor: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None


class EventStore:
    """Stores the events of one service (``source``) and queues them for ``topic``."""

    def __init__(self, *, source: str, topic: str) -> None:
        self.source = source
        self.topic = topic

    async def append(
        self,
        connection: AsyncConnection,
        stream_id: str,
        new_events: Sequence[NewEvent],
        *,
        expected_version: int,
        metadata: EventMetadata = EventMetadata(),
    ) -> list[EventEnvelope]:
        """Append events at ``expected_version`` + 1, ...; raise ConcurrencyError when stale.

        Runs in the caller's transaction and never commits.
        """
        if not new_events:
            return []
        postgres = connection.dialect.name == "postgresql"
        # On PostgreSQL the same round trip takes a transaction id before the positions are
        # drawn from the sequence: the feed reader relies on every position's writer being
        # visible in pg_current_snapshot().
        current, previous_hash = await self._stream_head(connection, stream_id,
                                                         take_xact_id=postgres)
        if current != expected_version:
            raise ConcurrencyError(stream_id, expected_version, current)
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        for offset, event in enumerate(new_events, start=1):
            row: dict[str, Any] = {
                "event_id": event.event_id,
                "stream_id": stream_id,
                "version": expected_version + offset,
                "type": event.type,
                "schema_version": event.schema_version,
                "data": dict(event.data),
                "recorded_at": now,
                "correlation_id": metadata.correlation_id,
                "causation_id": metadata.causation_id,
                "actor": metadata.actor,
                "prev_hash": previous_hash,
            }
            row["hash"] = event_hash(
                event_id=event.event_id, source=self.source, stream_id=stream_id,
                version=row["version"], type=event.type, schema_version=event.schema_version,
                data=row["data"], recorded_at=now, actor=metadata.actor,
                correlation_id=metadata.correlation_id, causation_id=metadata.causation_id,
                prev_hash=row["prev_hash"])
            previous_hash = row["hash"]
            rows.append(row)
        try:
            if postgres:
                positions = await self._insert_queued_and_notify(connection, rows)
            else:
                result = await connection.execute(
                    insert(events).returning(events.c.position, sort_by_parameter_order=True),
                    rows)
                positions = list(result.scalars())
                await connection.execute(insert(outbox), [
                    {"position": position, "topic": self.topic} for position in positions])
        except IntegrityError as error:
            if _is_stream_version_conflict(error):
                raise ConcurrencyError(stream_id, expected_version, None) from error
            raise
        return [
            EventEnvelope(
                id=row["event_id"],
                source=self.source,
                type=row["type"],
                time=now,
                subject=stream_id,
                data=row["data"],
                stream_id=stream_id,
                stream_version=row["version"],
                position=position,
                correlation_id=metadata.correlation_id,
                causation_id=metadata.causation_id,
                actor=metadata.actor,
                schema_version=row["schema_version"],
                hash=row["hash"],
                prev_hash=row["prev_hash"],
            )
            for row, position in zip(rows, positions, strict=True)
        ]

    async def stream_version(self, connection: AsyncConnection, stream_id: str) -> int:
        """The version of the stream's last event; 0 for a stream with no events."""
        query = select(func.coalesce(func.max(events.c.version), 0)).where(
            events.c.stream_id == stream_id
        )
        return int((await connection.execute(query)).scalar_one())

    async def _stream_head(self, connection: AsyncConnection, stream_id: str, *,
                           take_xact_id: bool = False) -> tuple[int, str]:
        """The stream's version and the hash of its last event (genesis for a new stream);
        with ``take_xact_id`` (PostgreSQL), the transaction's id is assigned first."""
        last = (select(events.c.version, events.c.hash).where(events.c.stream_id == stream_id)
                .order_by(events.c.version.desc()).limit(1))
        if not take_xact_id:
            found = (await connection.execute(last)).first()
            return (0, GENESIS_HASH) if found is None else (int(found.version), str(found.hash))
        # One row always: the id, and the head's columns (NULL for a new stream).
        head = last.subquery("head")
        query = (select(func.pg_current_xact_id().label("xact_id"), head.c.version, head.c.hash)
                 .select_from(select(literal(1).label("one")).subquery("one")
                              .outerjoin(head, true())))
        row = (await connection.execute(query)).one()
        return (0, GENESIS_HASH) if row.version is None else (int(row.version), str(row.hash))

    async def _insert_queued_and_notify(self, connection: AsyncConnection,
                                        rows: list[dict[str, Any]]) -> list[int]:
        """PostgreSQL, in one statement: insert the events, queue them in the outbox and wake
        the relays (NOTIFY is sent at commit). Answers the positions in the rows' order."""
        document = json.dumps([{**row, "event_id": str(row["event_id"]),
                                "recorded_at": row["recorded_at"].isoformat()} for row in rows],
                              separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        result = await connection.execute(_INSERT_QUEUED_AND_NOTIFY, {
            "rows": document, "topic": self.topic, "channel": OUTBOX_CHANNEL})
        position_of = {int(row.version): int(row.position) for row in result}
        return [position_of[row["version"]] for row in rows]

    async def stream_ids(self, connection: AsyncConnection, *, prefix: str) -> list[str]:
        """The ids of the streams whose id starts with ``prefix``, sorted."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = (select(events.c.stream_id).distinct()
                 .where(events.c.stream_id.like(f"{escaped}%", escape="\\"))
                 .order_by(events.c.stream_id))
        return list((await connection.execute(query)).scalars())

    async def load_stream(
        self, connection: AsyncConnection, stream_id: str, *, after_version: int = 0
    ) -> list[EventEnvelope]:
        query = (
            select(events)
            .where(events.c.stream_id == stream_id, events.c.version > after_version)
            .order_by(events.c.version)
        )
        result = await connection.execute(query)
        return [envelope_from_row(row, self.source) for row in result]


# The rows travel as one JSON parameter, so the statement is the same for any number of events
# and SQLAlchemy compiles it once (it never caches a multi-row VALUES). Positions are drawn in
# version order.
_INSERT_QUEUED_AND_NOTIFY = text("""
WITH inserted AS (
    INSERT INTO events (event_id, stream_id, version, type, schema_version, data, recorded_at,
                        correlation_id, causation_id, actor, prev_hash, hash)
    SELECT event_id, stream_id, version, type, schema_version, data, recorded_at,
           correlation_id, causation_id, actor, prev_hash, hash
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS row(
        event_id uuid, stream_id text, version integer, type text, schema_version integer,
        data jsonb, recorded_at timestamptz, correlation_id text, causation_id text, actor text,
        prev_hash text, hash text)
    ORDER BY version
    RETURNING position, version
), queued AS (
    INSERT INTO outbox (position, topic) SELECT position, :topic FROM inserted
)
SELECT position, version, (SELECT pg_notify(:channel, '')) IS NULL AS notified FROM inserted
""")


def envelope_from_row(row: Row[Any], source: str) -> EventEnvelope:
    return EventEnvelope(
        id=row.event_id,
        source=source,
        type=row.type,
        time=row.recorded_at,
        subject=row.stream_id,
        data=row.data,
        stream_id=row.stream_id,
        stream_version=row.version,
        position=row.position,
        correlation_id=row.correlation_id,
        causation_id=row.causation_id,
        actor=row.actor,
        schema_version=row.schema_version,
        hash=row.hash,
        prev_hash=row.prev_hash,
    )


def _is_stream_version_conflict(error: IntegrityError) -> bool:
    message = str(error.orig)
    return "uq_events_stream_id_version" in message or (
        "UNIQUE constraint failed" in message and "events.stream_id" in message
    )
