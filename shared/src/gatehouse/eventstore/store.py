"""The event store: append with an expected version, load a stream, read the global feed.

Every append also writes one outbox row per event, in the caller's transaction, so an event
is published to Kafka if and only if it was stored, and chains each event to the previous one
of its stream (``prev_hash``, ``hash``; see :mod:`gatehouse.eventstore.chain`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from sqlalchemy import Row, bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import json_text
from gatehouse.events.envelope import EventEnvelope
from gatehouse.eventstore.chain import GENESIS_HASH, event_hash
from gatehouse.eventstore.errors import ConcurrencyError
from gatehouse.eventstore.schema import events, outbox

if TYPE_CHECKING:
    from gatehouse.personal_keys import SealedEventData

__all__ = [
    "APPENDING_LOCK_SPACE",
    "OUTBOX_CHANNEL",
    "EventMetadata",
    "EventStore",
    "NewEvent",
    "envelope_from_row",
]

# PostgreSQL NOTIFY channel that wakes outbox relays when an append commits. The payload is the
# OID of the events table appended to: services sharing one database (each in its own schema)
# wake only their own relay. Relays also heed an empty payload (writers before the OID was sent).
OUTBOX_CHANNEL = "gatehouse_outbox"

# The first key of the advisory lock an append holds, shared, until its transaction ends; the
# second key is the OID of the events table it writes, so the lock names one event store.
# Readers look for this lock in pg_locks (gatehouse.eventstore.feed): changing the value is a
# change of protocol between writers and readers of every deployed version.
APPENDING_LOCK_SPACE = 0x47415445  # "GATE"

# On PostgreSQL an append is this one statement. ``announced`` runs first (a one-time filter of
# the insert, checked before any row draws a position): it takes the transaction id and the
# shared lock that name this transaction a writer of this events table, which the feed reader
# relies on, and asks for this events table's relay to be woken at commit. The insert then
# stores the events only if the stream is still at the expected version, in version order
# (positions are drawn in the order unnest yields the rows), and queues each for the relay.
# No positions back means the stream has moved on: a concurrency error. A new stream (expected
# version 0) needs no read before it: its first prev_hash is the genesis hash.
_APPEND = text(
    "WITH announced AS MATERIALIZED ("
    " SELECT pg_current_xact_id(),"
    "  pg_advisory_xact_lock_shared(:space, CAST(CAST(:events_table AS regclass) AS oid)::int4),"
    "  pg_notify(:channel, CAST(CAST(CAST(:events_table AS regclass) AS oid) AS text))),"
    " stored AS ("
    " INSERT INTO events (event_id, stream_id, version, type, schema_version, data,"
    "  recorded_at, correlation_id, causation_id, actor, prev_hash, hash)"
    " SELECT new.event_id, CAST(:stream_id AS text), new.version, new.type,"
    "  new.schema_version, CAST(new.data AS jsonb), CAST(:recorded_at AS timestamptz),"
    "  CAST(:correlation_id AS text), CAST(:causation_id AS text), CAST(:actor AS text),"
    "  new.prev_hash, new.hash"
    " FROM unnest(CAST(:event_ids AS uuid[]), CAST(:versions AS int[]),"
    "  CAST(:types AS text[]), CAST(:schema_versions AS int[]), CAST(:data AS text[]),"
    "  CAST(:prev_hashes AS text[]), CAST(:hashes AS text[]))"
    "  AS new(event_id, version, type, schema_version, data, prev_hash, hash)"
    " WHERE EXISTS (SELECT FROM announced)"
    "  AND (SELECT coalesce(max(version), 0) FROM events WHERE stream_id = :stream_id)"
    "   = :expected_version"
    " RETURNING position, version),"
    " queued AS (INSERT INTO outbox (position, topic)"
    "  SELECT position, CAST(:topic AS text) FROM stored)"
    " SELECT position FROM stored ORDER BY version"
)

# The reads of every command, built once: building a statement costs more than running it.
_LAST_OF_STREAM = (
    select(events)
    .where(events.c.stream_id == bindparam("stream_id"))
    .order_by(events.c.version.desc())
    .limit(1)
)
_STREAM_HEAD = _LAST_OF_STREAM.with_only_columns(events.c.version, events.c.hash)
_LOAD_STREAM = (
    select(events)
    .where(
        events.c.stream_id == bindparam("stream_id"), events.c.version > bindparam("after_version")
    )
    .order_by(events.c.version)
)


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

    def __init__(
        self, *, source: str, topic: str, personal_data: SealedEventData | None = None
    ) -> None:
        self.source = source
        self.topic = topic
        # When set, personal values are stored sealed and loaded opened (gatehouse.personal_keys).
        self.personal_data = personal_data

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

        Runs in the caller's transaction and never commits. The envelopes returned are as
        stored: with ``personal_data``, their personal values are sealed.
        """
        if not new_events:
            return []
        postgresql = connection.dialect.name == "postgresql"
        if expected_version == 0 and postgresql:
            previous_hash = GENESIS_HASH  # the append itself checks that the stream is new
        else:
            current, previous_hash = await self._stream_head(connection, stream_id)
            if current != expected_version:
                raise ConcurrencyError(stream_id, expected_version, current)
        now = datetime.now(UTC)
        actor = metadata.actor
        stored_data = [dict(event.data) for event in new_events]
        if self.personal_data is not None:
            stored_data, actor = await self.personal_data.seal(
                connection, [(event.type, event.data) for event in new_events], actor, now=now
            )
        rows: list[dict[str, Any]] = []
        for offset, (event, data) in enumerate(zip(new_events, stored_data, strict=True), start=1):
            row: dict[str, Any] = {
                "event_id": event.event_id,
                "stream_id": stream_id,
                "version": expected_version + offset,
                "type": event.type,
                "schema_version": event.schema_version,
                "data": data,
                "recorded_at": now,
                "correlation_id": metadata.correlation_id,
                "causation_id": metadata.causation_id,
                "actor": actor,
                "prev_hash": previous_hash,
            }
            row["hash"] = event_hash(
                event_id=event.event_id,
                source=self.source,
                stream_id=stream_id,
                version=row["version"],
                type=event.type,
                schema_version=event.schema_version,
                data=row["data"],
                recorded_at=now,
                actor=actor,
                correlation_id=metadata.correlation_id,
                causation_id=metadata.causation_id,
                prev_hash=row["prev_hash"],
            )
            previous_hash = row["hash"]
            rows.append(row)
        try:
            if postgresql:
                positions = await self._append_on_postgresql(
                    connection,
                    stream_id,
                    rows,
                    expected_version=expected_version,
                    now=now,
                    metadata=metadata,
                    actor=actor,
                )
            else:
                positions = await self._insert_then_queue(connection, rows)
        except IntegrityError as error:
            if _is_stream_version_conflict(error):
                raise ConcurrencyError(stream_id, expected_version, None) from error
            raise
        if not positions:
            current, _ = await self._stream_head(connection, stream_id)
            raise ConcurrencyError(stream_id, expected_version, current)
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
                actor=actor,
                schema_version=row["schema_version"],
                hash=row["hash"],
                prev_hash=row["prev_hash"],
            )
            for row, position in zip(rows, positions, strict=True)
        ]

    async def stream_version(self, connection: AsyncConnection, stream_id: str) -> int:
        """The version of the stream's last event; 0 for a stream with no events."""
        version, _ = await self._stream_head(connection, stream_id)
        return version

    async def _append_on_postgresql(
        self,
        connection: AsyncConnection,
        stream_id: str,
        rows: list[dict[str, Any]],
        *,
        expected_version: int,
        now: datetime,
        metadata: EventMetadata,
        actor: str | None,
    ) -> list[int]:
        """The events' positions; none when the stream is no longer at ``expected_version``."""
        result = await connection.execute(
            _APPEND,
            {
                "space": APPENDING_LOCK_SPACE,
                "events_table": events.name,
                "channel": OUTBOX_CHANNEL,
                "topic": self.topic,
                "stream_id": stream_id,
                "expected_version": expected_version,
                "recorded_at": now,
                "correlation_id": metadata.correlation_id,
                "causation_id": metadata.causation_id,
                "actor": actor,
                "event_ids": [row["event_id"] for row in rows],
                "versions": [row["version"] for row in rows],
                "types": [row["type"] for row in rows],
                "schema_versions": [row["schema_version"] for row in rows],
                "data": [json_text(row["data"]) for row in rows],
                "prev_hashes": [row["prev_hash"] for row in rows],
                "hashes": [row["hash"] for row in rows],
            },
        )
        return [int(position) for position in result.scalars()]

    async def _insert_then_queue(
        self, connection: AsyncConnection, rows: list[dict[str, Any]]
    ) -> list[int]:
        """SQLite: the events, then their outbox rows."""
        result = await connection.execute(
            insert(events).returning(events.c.position, sort_by_parameter_order=True), rows
        )
        positions = list(result.scalars())
        await connection.execute(
            insert(outbox), [{"position": position, "topic": self.topic} for position in positions]
        )
        return positions

    async def _stream_head(self, connection: AsyncConnection, stream_id: str) -> tuple[int, str]:
        """The stream's version and the hash of its last event (genesis for a new stream)."""
        last = (await connection.execute(_STREAM_HEAD, {"stream_id": stream_id})).first()
        return (0, GENESIS_HASH) if last is None else (int(last.version), str(last.hash))

    async def stream_ids(self, connection: AsyncConnection, *, prefix: str) -> list[str]:
        """The ids of the streams whose id starts with ``prefix``, sorted."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = (
            select(events.c.stream_id)
            .distinct()
            .where(events.c.stream_id.like(f"{escaped}%", escape="\\"))
            .order_by(events.c.stream_id)
        )
        return list((await connection.execute(query)).scalars())

    async def load_stream(
        self, connection: AsyncConnection, stream_id: str, *, after_version: int = 0
    ) -> list[EventEnvelope]:
        result = await connection.execute(
            _LOAD_STREAM, {"stream_id": stream_id, "after_version": after_version}
        )
        stored = [envelope_from_row(row, self.source) for row in result]
        if self.personal_data is None:
            return stored
        # One key lookup for the whole stream: fewer queries, and one view of who is forgotten.
        return await self.personal_data.open_all(connection, stored)

    async def load_last(self, connection: AsyncConnection, stream_id: str) -> EventEnvelope | None:
        """The stream's last event, None for a stream with none. For a stream whose every
        event replaces all that came before (a configuration defined whole each time), its
        state, read in one row however long its history has grown."""
        row = (await connection.execute(_LAST_OF_STREAM, {"stream_id": stream_id})).first()
        if row is None:
            return None
        stored = envelope_from_row(row, self.source)
        if self.personal_data is None:
            return stored
        (opened,) = await self.personal_data.open_all(connection, [stored])
        return opened


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
