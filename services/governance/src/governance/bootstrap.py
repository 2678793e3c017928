"""Wires governance together: settings → database, event store, intake consumer, timers."""

from __future__ import annotations

from pathlib import Path

from gatehouse import migrations
from gatehouse.apikeys import learning_api_keys
from gatehouse.events import governance as governance_events
from gatehouse.events.topics import governance_events_topic, intake_events_topic
from gatehouse.eventstore.store import EventStore
from gatehouse.runtime import BackgroundJob, Clock, ConsumerSpec, ServiceRuntime, utc_now
from governance.projections import intake_event_handler
from governance.settings import GovernanceSettings
from governance.timers import GateTimers

__all__ = ["MIGRATIONS", "build_runtime", "migrate"]

MIGRATIONS = Path(__file__).parent / "migrations"


def build_runtime(settings: GovernanceSettings, *, clock: Clock = utc_now) -> ServiceRuntime:
    namespace = settings.topic_namespace
    store = EventStore(source=governance_events.SOURCE, topic=governance_events_topic(namespace))
    known_projects = ConsumerSpec(name="governance.known-projects",
                                  topics=[intake_events_topic(namespace)],
                                  handler=learning_api_keys(intake_event_handler(store)))
    timers = GateTimers(event_store=store, interval_seconds=settings.timer_interval_seconds)
    return ServiceRuntime.build(name="governance", settings=settings, event_store=store,
                                consumer_specs=[known_projects],
                                jobs=[BackgroundJob(name="gate-timers", run=timers.run)],
                                clock=clock)


def migrate(settings: GovernanceSettings | None = None) -> None:
    settings = settings or GovernanceSettings()
    migrations.upgrade(MIGRATIONS, settings.database_url, settings.database_schema)
