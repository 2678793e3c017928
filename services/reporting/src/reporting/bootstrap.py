"""Wires reporting together: settings → database, consumers of every topic, runtime."""

from __future__ import annotations

from pathlib import Path

from gatehouse import migrations
from gatehouse.apikeys import learning_api_keys
from gatehouse.events.topics import governance_events_topic, intake_events_topic
from gatehouse.runtime import Clock, ConsumerSpec, ServiceRuntime, utc_now
from reporting.projections import PROJECTIONS_CONSUMER, apply_event, keep_hashes
from reporting.settings import ReportingSettings

__all__ = ["MIGRATIONS", "build_runtime", "migrate", "projection_topics"]

MIGRATIONS = Path(__file__).parent / "migrations"


def build_runtime(settings: ReportingSettings, *, clock: Clock = utc_now) -> ServiceRuntime:
    namespace = settings.topic_namespace
    projections = ConsumerSpec(
        name=PROJECTIONS_CONSUMER,
        topics=projection_topics(namespace),
        handler=learning_api_keys(apply_event), on_duplicate=keep_hashes)
    return ServiceRuntime.build(name="reporting", settings=settings, event_store=None,
                                consumer_specs=[projections], clock=clock)


def projection_topics(namespace: str) -> list[str]:
    """Every topic reporting projects: each producing service's."""
    return [intake_events_topic(namespace), governance_events_topic(namespace)]


def migrate(settings: ReportingSettings | None = None) -> None:
    settings = settings or ReportingSettings()
    migrations.upgrade(MIGRATIONS, settings.database_url, settings.database_schema)
