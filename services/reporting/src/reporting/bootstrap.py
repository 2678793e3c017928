"""Wires reporting together: settings → database, consumers of every topic, runtime."""

from __future__ import annotations

from pathlib import Path

from gatehouse import migrations
from gatehouse.events.topics import governance_events_topic, intake_events_topic
from gatehouse.runtime import ConsumerSpec, ServiceRuntime
from reporting.projections import apply_to_portfolio
from reporting.settings import ReportingSettings

__all__ = ["MIGRATIONS", "build_runtime", "migrate"]

MIGRATIONS = Path(__file__).parent / "migrations"


def build_runtime(settings: ReportingSettings) -> ServiceRuntime:
    namespace = settings.topic_namespace
    portfolio = ConsumerSpec(
        name="reporting.portfolio",
        topics=[intake_events_topic(namespace), governance_events_topic(namespace)],
        handler=apply_to_portfolio)
    return ServiceRuntime.build(name="reporting", settings=settings, event_store=None,
                                consumer_specs=[portfolio])


def migrate(settings: ReportingSettings | None = None) -> None:
    settings = settings or ReportingSettings()
    migrations.upgrade(MIGRATIONS, settings.database_url, settings.database_schema)
