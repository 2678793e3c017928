"""Wires intake together: settings → database, event store, runtime, app. The one place."""

from __future__ import annotations

from pathlib import Path

from gatehouse import migrations
from gatehouse.events import governance as governance_events
from gatehouse.events import intake as intake_events
from gatehouse.events.topics import governance_events_topic, intake_events_topic
from gatehouse.eventstore.store import EventStore
from gatehouse.messaging.consumer import one_by_one
from gatehouse.personal_keys import SealedEventData, opening
from gatehouse.runtime import ConsumerSpec, ServiceRuntime
from intake.handlers import forget_person, gate_decision_handler
from intake.settings import IntakeSettings

__all__ = ["MIGRATIONS", "build_runtime", "migrate"]

MIGRATIONS = Path(__file__).parent / "migrations"


def build_runtime(settings: IntakeSettings) -> ServiceRuntime:
    namespace = settings.topic_namespace
    personal_data = SealedEventData(
        [intake_events.intake_events, governance_events.governance_events]
    )
    store = EventStore(
        source=intake_events.SOURCE,
        topic=intake_events_topic(namespace),
        personal_data=personal_data,
    )
    gate_decisions = ConsumerSpec(
        name="intake.gate-decisions",
        topics=[governance_events_topic(namespace)],
        handler=opening(personal_data, one_by_one(gate_decision_handler(store))),
    )
    return ServiceRuntime.build(
        name="intake",
        settings=settings,
        event_store=store,
        consumer_specs=[gate_decisions],
        personal_data=personal_data,
        forget_person=forget_person,
    )


def migrate(settings: IntakeSettings | None = None) -> None:
    settings = settings or IntakeSettings()
    migrations.upgrade(MIGRATIONS, settings.database_url, settings.database_schema)
