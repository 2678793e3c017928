"""Wires reporting together: settings → database, consumers of every topic, runtime."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse import migrations
from gatehouse.apikeys import learning_api_keys
from gatehouse.events.governance import USER_SEAT, governance_events
from gatehouse.events.intake import intake_events
from gatehouse.events.topics import governance_events_topic, intake_events_topic
from gatehouse.personal_keys import SealedEventData, erase_from_tables
from gatehouse.runtime import Clock, ConsumerSpec, ServiceRuntime, utc_now
from reporting.projections import PROJECTIONS_CONSUMER, keep_hashes, projector
from reporting.settings import ReportingSettings
from reporting.tables import LIVE

__all__ = ["MIGRATIONS", "build_runtime", "migrate", "projection_topics"]

MIGRATIONS = Path(__file__).parent / "migrations"


def build_runtime(settings: ReportingSettings, *, clock: Clock = utc_now) -> ServiceRuntime:
    namespace = settings.topic_namespace
    personal_data = SealedEventData([intake_events, governance_events])
    projections = ConsumerSpec(
        name=PROJECTIONS_CONSUMER,
        topics=projection_topics(namespace),
        handler=learning_api_keys(projector(LIVE, personal_data), personal_data),
        on_duplicate=keep_hashes,
    )
    return ServiceRuntime.build(
        name="reporting",
        settings=settings,
        event_store=None,
        consumer_specs=[projections],
        clock=clock,
        personal_data=personal_data,
        forget_person=forget_person,
    )


async def forget_person(connection: AsyncConnection, subject: str) -> None:
    """Reporting's read models without ``subject``; its event log keeps them sealed (a rebuild
    gives the same result, the keys being gone). Their seat ``user:<subject>`` becomes
    ``user:[erased]``."""
    tables = [table for table in LIVE.tables if table is not LIVE.event_log]
    await erase_from_tables(connection, subject, tables, prefixes=[USER_SEAT])


def projection_topics(namespace: str) -> list[str]:
    """Every topic reporting projects: each producing service's."""
    return [intake_events_topic(namespace), governance_events_topic(namespace)]


def migrate(settings: ReportingSettings | None = None) -> None:
    settings = settings or ReportingSettings()
    migrations.upgrade(MIGRATIONS, settings.database_url, settings.database_schema)
