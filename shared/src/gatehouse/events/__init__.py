"""Event envelope, event base classes and the public event schemas of each service."""

from gatehouse.events.base import DomainEvent, EventRegistry, UnknownEventType
from gatehouse.events.envelope import EnvelopeDecodeError, EventEnvelope

__all__ = [
    "DomainEvent",
    "EnvelopeDecodeError",
    "EventEnvelope",
    "EventRegistry",
    "UnknownEventType",
]
