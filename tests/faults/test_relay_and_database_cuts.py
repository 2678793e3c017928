"""Crashes around a commit: the relay killed after the broker acknowledged a batch but before it
marked it, and intake's database connection cut in the middle of a command."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import func, select, text

from gatehouse.auth import DevIssuer, Role
from gatehouse.database import Database
from gatehouse.events.topics import intake_events_topic
from gatehouse.eventstore.schema import events, outbox
from gatehouse.idempotency import idempotency_keys
from gatehouse.messaging.kafka import KafkaAdmin
from gatehouse.testing.harness import eventually
from intake.tables import project_registry
from reporting.bootstrap import projection_topics

from .audit import pending_outbox
from .conftest import (
    Databases,
    ReportFigures,
    append_projects,
    audit,
    in_process,
    project_request,
    reporting_caught_up,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

RELAY = Path(__file__).with_name("relay_process.py")


async def settled_topic_size(bootstrap_servers: str, topic: str) -> int:
    """The topic's size once it stops growing (a killed producer's last request may still be
    landing on the broker)."""
    size = await topic_size(bootstrap_servers, topic)
    while True:
        await asyncio.sleep(0.5)
        again = await topic_size(bootstrap_servers, topic)
        if again == size:
            return size
        size = again


async def topic_size(bootstrap_servers: str, topic: str) -> int:
    """How many records the topic holds (its end offsets: nothing is ever deleted)."""
    admin = KafkaAdmin(bootstrap_servers, client_id="fault-injection")
    await admin.start()
    try:
        partitions = await admin.partitions([topic])
    finally:
        await admin.close()
    consumer: AIOKafkaConsumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None
    )
    await consumer.start()
    try:
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def test_a_relay_killed_between_publish_and_mark_republishes_and_nothing_applies_twice(
    databases: Databases,
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
    report_figures: ReportFigures,
) -> None:
    topic = intake_events_topic(namespace)
    admin = KafkaAdmin(kafka_bootstrap, client_id="fault-injection")
    await admin.start()
    try:
        await admin.ensure_topics(projection_topics(namespace), partitions=3)
    finally:
        await admin.close()
    stored = await append_projects(databases.intake, namespace, 160)

    killed = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            str(RELAY),
            databases.url,
            databases.intake_schema,
            kafka_bootstrap,
            "--die-after-publish",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == -9, killed.stderr
    acknowledged_before_the_kill = int(killed.stdout)
    assert acknowledged_before_the_kill > 0
    # On PostgreSQL the relay sends the next batch while the first one settles, so what reached
    # the topic before the kill is the acknowledged batch and maybe some of the next one; none
    # of it was marked.
    sent_before_the_kill = await settled_topic_size(kafka_bootstrap, topic)
    assert sent_before_the_kill >= acknowledged_before_the_kill
    assert await pending_outbox(databases.intake) == stored, "the relay died before marking"

    async with in_process(
        databases, bootstrap_servers=kafka_bootstrap, namespace=namespace, issuer=dev_issuer
    ):
        await reporting_caught_up(databases, timeout=60)

        async def outbox_drained() -> bool:
            return await pending_outbox(databases.intake) == 0

        await eventually(outbox_drained, timeout=30, description="outbox drained")
    # The restarted relay published what was sent before again: the consumer had to skip it.
    assert await topic_size(kafka_bootstrap, topic) == stored + sent_before_the_kill

    figures = await audit(
        "relay SIGKILLed between publish and mark", databases, kafka_bootstrap, namespace
    )
    assert figures.acknowledged == stored
    report_figures(figures)


@pytest.mark.parametrize("cut_while_writing", ["outbox", "project_registry", "idempotency_keys"])
async def test_a_command_whose_database_connection_is_cut_leaves_nothing_half_written(
    cut_while_writing: str,
    databases: Databases,
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
    report_figures: ReportFigures,
) -> None:
    async with in_process(
        databases, bootstrap_servers=kafka_bootstrap, namespace=namespace, issuer=dev_issuer
    ) as services:
        intake = services.intake
        headers = {**intake.auth("alice", Role.REQUESTER), "Idempotency-Key": "cut-1"}
        body = project_request(7)
        locker = Database.from_url(databases.url, schema=databases.intake_schema)
        try:
            async with locker.transaction() as lock:
                # The command's transaction gets as far as this table, and waits there.
                await lock.execute(text(f'LOCK TABLE "{cut_while_writing}" IN EXCLUSIVE MODE'))
                me = (await lock.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                command = asyncio.create_task(
                    intake.client.post("/v1/projects", headers=headers, json=body)
                )

                async def blocked_command() -> int | None:
                    found = (
                        (
                            await lock.execute(
                                text(
                                    "SELECT pid FROM pg_stat_activity"
                                    " WHERE :me = ANY(pg_blocking_pids(pid))"
                                ),
                                {"me": me},
                            )
                        )
                        .scalars()
                        .all()
                    )
                    return found[0] if found else None

                victim = await eventually(
                    blocked_command, timeout=60, description="the command waits on the lock"
                )
                await lock.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
            cut = await command
        finally:
            await locker.dispose()

        assert cut.status_code == 503, cut.text
        assert cut.headers["content-type"] == "application/problem+json"
        assert cut.headers["retry-after"] == "1"
        assert await _rows_of_the_command(databases.intake) == {
            "events": 0,
            "outbox": 0,
            "project_registry": 0,
            "idempotency_keys": 0,
        }

        retried = await intake.client.post("/v1/projects", headers=headers, json=body)
        assert retried.status_code == 201, retried.text
        assert await _rows_of_the_command(databases.intake) == {
            "events": 1,
            "outbox": 1,
            "project_registry": 1,
            "idempotency_keys": 1,
        }
        await reporting_caught_up(databases, timeout=30)

    figures = await audit(
        f"database connection cut while writing {cut_while_writing}",
        databases,
        kafka_bootstrap,
        namespace,
    )
    assert figures.acknowledged == 1
    report_figures(figures)


async def _rows_of_the_command(database: Database) -> dict[str, int]:
    counts = {}
    async with database.engine.connect() as connection:
        for table in (events, outbox, project_registry, idempotency_keys):
            counts[table.name] = int(
                (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            )
    return counts
