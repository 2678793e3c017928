"""Reporting SIGKILLed three times in the middle of a batch while 20,000 events stream through:
intake runs as a process (its relay publishes), reporting as a process that is killed while its
consumer holds an open transaction on the read model, and started again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text

from gatehouse.events import intake as intake_events
from gatehouse.testing.harness import eventually
from reporting.bootstrap import projection_topics
from reporting.tables import event_log

from .audit import RebuildFromScratch, pending_outbox
from .conftest import (
    EVENTS_PER_PROJECT,
    Databases,
    ReportFigures,
    ServiceProcess,
    append_projects,
    audit,
    reporting_caught_up,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PROJECTS = 4_000
KILL_WHEN_APPLIED = (3_000, 8_000, 13_000)


async def applied_count(databases: Databases) -> int:
    async with databases.reporting.engine.connect() as connection:
        return int(
            (
                await connection.execute(
                    select(func.count())
                    .select_from(event_log)
                    .where(event_log.c.source == intake_events.SOURCE)
                )
            ).scalar_one()
        )


async def read_model_write_open(databases: Databases) -> bool:
    """Whether some transaction is writing reporting's event log right now (uncommitted)."""
    async with databases.reporting.engine.connect() as connection:
        return bool(
            (
                await connection.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE granted AND mode = 'RowExclusiveLock' "
                        "AND relation = to_regclass(:table)"
                    ),
                    {"table": f'"{databases.reporting_schema}".event_log'},
                )
            ).scalar_one()
        )


async def kill_mid_batch(reporting: ServiceProcess, databases: Databases, at_least: int) -> int:
    """SIGKILL reporting once it applied ``at_least`` events, while it is inside a batch's
    transaction; answers how many events it had committed."""

    async def applied_enough() -> bool:
        return await applied_count(databases) >= at_least

    async def killed_mid_batch() -> bool:
        if await read_model_write_open(databases):
            reporting.kill()
            return True
        return False

    await eventually(
        applied_enough,
        timeout=600,
        interval=0.2,
        description=f"reporting applied {at_least} events",
    )
    await eventually(
        killed_mid_batch, timeout=60, interval=0.005, description="reporting inside a batch"
    )
    return await applied_count(databases)


async def test_reporting_sigkilled_three_times_mid_batch_applies_every_event_once(
    databases: Databases,
    kafka_bootstrap: str,
    namespace: str,
    service_processes: Callable[..., ServiceProcess],
    report_figures: ReportFigures,
) -> None:
    on = {
        "database_url": databases.url,
        "bootstrap_servers": kafka_bootstrap,
        "namespace": namespace,
    }
    intake = service_processes("intake", schema=databases.intake_schema, **on)
    reporting = service_processes("reporting", schema=databases.reporting_schema, **on)
    intake.start()
    reporting.start()
    await asyncio.gather(intake.ready(), reporting.ready())

    started = time.monotonic()
    producing = asyncio.create_task(append_projects(databases.intake, namespace, PROJECTS))
    killed_at = []
    for threshold in KILL_WHEN_APPLIED:
        killed_at.append(await kill_mid_batch(reporting, databases, threshold))
        reporting.start()
    stored = await producing
    assert stored == PROJECTS * EVENTS_PER_PROJECT >= 20_000

    async def all_published() -> bool:
        return await pending_outbox(databases.intake) == 0

    await eventually(all_published, timeout=600, interval=0.2, description="outbox drained")
    # The rebuild from scratch reads beside the live consumer from here on, never past it.
    rebuild = RebuildFromScratch(
        databases.reporting, kafka_bootstrap, projection_topics(namespace), namespace=namespace
    )
    await rebuild.start()
    await reporting_caught_up(databases, timeout=600)
    print(
        f"reporting SIGKILLed with {killed_at} events applied; {stored} events through in "
        f"{time.monotonic() - started:.1f} s"
    )

    figures = await audit(
        "reporting SIGKILLed 3x mid-batch", databases, kafka_bootstrap, namespace, rebuild=rebuild
    )
    assert figures.acknowledged == stored
    report_figures(figures)
