"""Wires governance together: settings → database, event store, intake consumer, runtime."""

from __future__ import annotations

from pathlib import Path

from gatehouse import migrations
from gatehouse.events import governance as governance_events
from gatehouse.events.topics import governance_events_topic, intake_events_topic
from gatehouse.eventstore.store import EventStore
from gatehouse.runtime import ConsumerSpec, ServiceRuntime
from governance.projections import apply_intake_event
from governance.settings import GovernanceSettings

__all__ = ["MIGRATIONS", "build_runtime", "migrate"]

MIGRATIONS = Path(__file__).parent / "migrations"


def build_runtime(settings: GovernanceSettings) -> ServiceRuntime:
    namespace = settings.topic_namespace
    store = EventStore(source=governance_events.SOURCE, topic=governance_events_topic(namespace))
    known_projects = ConsumerSpec(name="governance.known-projects",
                                  topics=[intake_events_topic(namespace)],
                                  handler=apply_intake_event)
    return ServiceRuntime.build(name="governance", settings=settings, event_store=store,
                                consumer_specs=[known_projects])


def migrate(settings: GovernanceSettings | None = None) -> None:
    settings = settings or GovernanceSettings()
    migrations.upgrade(MIGRATIONS, settings.database_url, settings.database_schema)
