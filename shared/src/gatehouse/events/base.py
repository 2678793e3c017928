"""Domain events as plain frozen dataclasses, and the registry that (de)serialises them.

An event class names its CloudEvents ``type`` and its schema version. Serialisation goes
through pydantic's ``TypeAdapter`` so that ``Decimal``, ``date`` and nested dataclasses have
one JSON form everywhere (event store, Kafka, API).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, is_dataclass
from typing import Any, ClassVar

from pydantic import TypeAdapter, ValidationError

__all__ = ["DomainEvent", "EventRegistry", "UnknownEventType"]


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of every event.

    Subclasses set ``event_type`` and, when their data changes shape, ``schema_version``.
    """

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


class UnknownEventType(LookupError):
    """The registry has no class for an event type."""


_adapters: dict[type[DomainEvent], TypeAdapter[Any]] = {}


def _adapter(event_class: type[DomainEvent]) -> TypeAdapter[Any]:
    adapter = _adapters.get(event_class)
    if adapter is None:
        adapter = _adapters[event_class] = TypeAdapter(event_class)
    return adapter


class EventRegistry:
    """Maps CloudEvents types to event classes for one or more producing services."""

    def __init__(self, event_classes: Iterable[type[DomainEvent]] = ()) -> None:
        self._classes: dict[str, type[DomainEvent]] = {}
        for event_class in event_classes:
            self.register(event_class)

    def register(self, event_class: type[DomainEvent]) -> None:
        if not is_dataclass(event_class):
            raise TypeError(f"{event_class.__name__} must be a dataclass")
        existing = self._classes.get(event_class.event_type)
        if existing is not None and existing is not event_class:
            raise ValueError(f"event type {event_class.event_type!r} registered twice")
        self._classes[event_class.event_type] = event_class

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._classes

    @property
    def event_types(self) -> list[str]:
        return sorted(self._classes)

    def class_for(self, event_type: str) -> type[DomainEvent]:
        try:
            return self._classes[event_type]
        except KeyError:
            raise UnknownEventType(event_type) from None

    @staticmethod
    def serialize(event: DomainEvent) -> dict[str, Any]:
        data = _adapter(type(event)).dump_python(event, mode="json")
        assert isinstance(data, dict)
        return data

    def deserialize(self, event_type: str, data: Mapping[str, Any]) -> DomainEvent:
        """Rebuild an event from its JSON data; raises ``ValueError`` when the data is invalid."""
        event_class = self.class_for(event_type)
        try:
            event = _adapter(event_class).validate_python(dict(data))
        except ValidationError as error:
            raise ValueError(f"invalid {event_type} data: {error}") from error
        assert isinstance(event, event_class)
        return event
