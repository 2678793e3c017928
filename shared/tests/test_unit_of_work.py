"""Loading a document defined whole by each event (a gate template, a scoring model, the custom
fields): its latest version is its last event, read alone however long its history has grown;
an earlier version needs the history."""

from __future__ import annotations

from dataclasses import dataclass

from gatehouse.database import Database
from gatehouse.events.base import DomainEvent, EventRegistry
from gatehouse.eventstore import EventStore
from gatehouse.unit_of_work import UnitOfWork, unit_of_work


@dataclass(frozen=True, kw_only=True)
class DocumentDefined(DomainEvent):
    event_type = "gatehouse.test.DocumentDefined"

    text: str


REGISTRY = EventRegistry([DocumentDefined])


async def test_the_latest_version_is_read_from_the_last_event_alone(
    database: Database, store: EventStore
) -> None:
    async with unit_of_work(database, store, REGISTRY, actor="pat") as uow:
        for version, text in enumerate(("first", "second", "third")):
            await uow.append("doc-1", [DocumentDefined(text=text)], expected_version=version)

    async with database.read() as connection:
        uow = UnitOfWork.on(connection, store, REGISTRY, actor="pat")
        latest = await uow.load_for_version("doc-1", None)
        earlier = await uow.load_for_version("doc-1", 2)
        missing = await uow.load_for_version("doc-2", None)

    assert [(event, envelope.stream_version) for event, envelope in latest] == [
        (DocumentDefined(text="third"), 3)
    ]
    assert [event for event, _ in earlier] == [
        DocumentDefined(text=text) for text in ("first", "second", "third")
    ]
    assert missing == []
