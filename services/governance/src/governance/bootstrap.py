"""Wires governance together: settings → database, event store, intake consumer, timers."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse import migrations
from gatehouse.apikeys import learning_api_keys
from gatehouse.events import governance as governance_events
from gatehouse.events import intake as intake_events
from gatehouse.events.governance import USER_SEAT
from gatehouse.events.topics import governance_events_topic, intake_events_topic
from gatehouse.eventstore.store import EventStore
from gatehouse.personal_data import ERASED
from gatehouse.personal_keys import SealedEventData, erase_from_tables, opening
from gatehouse.runtime import BackgroundJob, Clock, ConsumerSpec, ServiceRuntime, utc_now
from governance import tables
from governance.projections import intake_event_handler
from governance.records import erase_awaited_seat
from governance.settings import GovernanceSettings
from governance.timers import GateTimers

__all__ = ["MIGRATIONS", "build_runtime", "migrate"]

MIGRATIONS = Path(__file__).parent / "migrations"


def build_runtime(settings: GovernanceSettings, *, clock: Clock = utc_now) -> ServiceRuntime:
    namespace = settings.topic_namespace
    personal_data = SealedEventData(
        [intake_events.intake_events, governance_events.governance_events]
    )
    store = EventStore(
        source=governance_events.SOURCE,
        topic=governance_events_topic(namespace),
        personal_data=personal_data,
    )
    known_projects = ConsumerSpec(
        name="governance.known-projects",
        topics=[intake_events_topic(namespace)],
        handler=opening(personal_data, learning_api_keys(intake_event_handler(store))),
    )
    timers = GateTimers(event_store=store, interval_seconds=settings.timer_interval_seconds)
    return ServiceRuntime.build(
        name="governance",
        settings=settings,
        event_store=store,
        consumer_specs=[known_projects],
        jobs=[BackgroundJob(name="gate-timers", run=timers.run)],
        clock=clock,
        personal_data=personal_data,
        forget_person=forget_person,
    )


async def forget_person(connection: AsyncConnection, subject: str) -> None:
    """Governance's read models without ``subject`` (its events keep them sealed); their seat
    ``user:<subject>`` becomes ``user:[erased]``."""
    await erase_from_tables(
        connection,
        subject,
        [tables.known_projects, tables.gate_reviews, tables.gate_conditions, tables.delegations],
        prefixes=[USER_SEAT],
    )
    await erase_awaited_seat(connection, USER_SEAT + subject, USER_SEAT + ERASED)


def migrate(settings: GovernanceSettings | None = None) -> None:
    settings = settings or GovernanceSettings()
    migrations.upgrade(MIGRATIONS, settings.database_url, settings.database_schema)
