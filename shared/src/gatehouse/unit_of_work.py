"""One transaction per command: load streams, append events (with their outbox rows), commit.

Handlers receive a ``UnitOfWork`` and never commit; :func:`unit_of_work` commits when the
handler returns and rolls back when it raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import Database
from gatehouse.events.base import DomainEvent, EventRegistry
from gatehouse.events.envelope import EventEnvelope
from gatehouse.eventstore.store import EventMetadata, EventStore, NewEvent
from gatehouse.observability import correlation_id

__all__ = ["UnitOfWork", "unit_of_work"]


@dataclass
class UnitOfWork:
    connection: AsyncConnection
    event_store: EventStore
    registry: EventRegistry
    metadata: EventMetadata

    @classmethod
    def on(
        cls,
        connection: AsyncConnection,
        event_store: EventStore,
        registry: EventRegistry,
        *,
        actor: str | None,
        causation_id: str | None = None,
    ) -> UnitOfWork:
        """A unit of work inside a transaction someone else owns (e.g. an idempotent command)."""
        return cls(
            connection,
            event_store,
            registry,
            EventMetadata(
                actor=actor, correlation_id=correlation_id.get(), causation_id=causation_id
            ),
        )

    async def load(self, stream_id: str) -> list[tuple[DomainEvent, EventEnvelope]]:
        """The stream's events, decoded, with their envelopes (versions, times, actors)."""
        envelopes = await self.event_store.load_stream(self.connection, stream_id)
        return [
            (self.registry.deserialize(envelope.type, envelope.data), envelope)
            for envelope in envelopes
        ]

    async def load_for_version(
        self, stream_id: str, version: int | None
    ) -> list[tuple[DomainEvent, EventEnvelope]]:
        """For a stream whose every event defines its document whole (the custom fields, a
        gate template, a scoring model): the events that hold ``version`` of it, which for
        the latest (``version`` None) is the last event alone."""
        if version is not None:
            return await self.load(stream_id)
        last = await self.event_store.load_last(self.connection, stream_id)
        return [] if last is None else [(self.registry.deserialize(last.type, last.data), last)]

    async def append(
        self, stream_id: str, new_events: Sequence[DomainEvent], *, expected_version: int
    ) -> list[EventEnvelope]:
        """Append; the envelopes returned carry the events' own data and actor (not as sealed
        for storage), like ``load``'s."""
        appended = [
            NewEvent(
                type=event.event_type,
                schema_version=event.schema_version,
                data=self.registry.serialize(event),
            )
            for event in new_events
        ]
        stored = await self.event_store.append(
            self.connection,
            stream_id,
            appended,
            expected_version=expected_version,
            metadata=self.metadata,
        )
        return [
            replace(envelope, data=dict(new.data), actor=self.metadata.actor)
            for envelope, new in zip(stored, appended, strict=True)
        ]


@asynccontextmanager
async def unit_of_work(
    database: Database,
    event_store: EventStore,
    registry: EventRegistry,
    *,
    actor: str | None,
    causation_id: str | None = None,
) -> AsyncIterator[UnitOfWork]:
    async with database.transaction() as connection:
        yield UnitOfWork.on(
            connection, event_store, registry, actor=actor, causation_id=causation_id
        )
