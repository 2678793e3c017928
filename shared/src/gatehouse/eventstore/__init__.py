"""The event store: streams with optimistic concurrency, a gap-free global feed, the outbox."""

from gatehouse.eventstore.errors import ConcurrencyError
from gatehouse.eventstore.feed import FeedPage, GapFreeFeedReader
from gatehouse.eventstore.store import EventMetadata, EventStore, NewEvent

__all__ = [
    "ConcurrencyError",
    "EventMetadata",
    "EventStore",
    "FeedPage",
    "GapFreeFeedReader",
    "NewEvent",
]
