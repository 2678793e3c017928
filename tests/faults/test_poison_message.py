"""A record nobody can decode, in the middle of a project's stream: it goes to the dead-letter
topic with the reason, the project's later events on the same partition are applied, and the
consumer's lag returns to 0."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from sqlalchemy import select

from gatehouse.auth import DevIssuer, Role
from gatehouse.events.topics import dead_letter_topic, intake_events_topic
from gatehouse.eventstore.schema import dead_letters
from gatehouse.messaging.kafka import KafkaAdmin
from gatehouse.testing.harness import eventually

from .conftest import (
    Databases,
    ReportFigures,
    audit,
    in_process,
    project_request,
    reporting_caught_up,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

POISON = b'{"project_id": "not even a uuid", "truncated'


async def test_a_poison_message_is_dead_lettered_and_its_partition_keeps_flowing(
    databases: Databases,
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
    report_figures: ReportFigures,
) -> None:
    topic = intake_events_topic(namespace)
    async with in_process(
        databases, bootstrap_servers=kafka_bootstrap, namespace=namespace, issuer=dev_issuer
    ) as services:
        intake = services.intake
        alice = intake.auth("alice", Role.REQUESTER)
        created = await intake.client.post("/v1/projects", headers=alice, json=project_request(1))
        assert created.status_code == 201, created.text
        project_id = created.json()["id"]
        await reporting_caught_up(databases, timeout=30)

        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            poisoned = await producer.send_and_wait(
                topic,
                value=POISON,
                key=f"project-{project_id}".encode(),
                headers=[("ce_type", b"gatehouse.intake.ProjectSubmitted")],
            )
        finally:
            await producer.stop()
        partition = TopicPartition(topic, poisoned.partition)

        for step in ("submit", "withdraw"):
            project = await intake.client.get(f"/v1/projects/{project_id}", headers=alice)
            moved = await intake.client.post(
                f"/v1/projects/{project_id}/{step}",
                headers={**alice, "If-Match": project.headers["etag"]},
            )
            assert moved.status_code == 200, moved.text
        await reporting_caught_up(databases, timeout=30)
        view = await services.reporting.client.get(f"/v1/projects/{project_id}", headers=alice)
        assert view.json()["demand_status"] == "withdrawn", view.text

        consumer = services.reporting.app.state.runtime.consumers[0]

        async def caught_up_on_the_partition() -> bool:
            status = {(s.topic, s.partition): s for s in consumer.partitions()}
            mine = status.get((partition.topic, partition.partition))
            return (
                mine is not None
                and mine.lag_events == 0
                and mine.next_offset == mine.end_offset > poisoned.offset
            )

        await eventually(
            caught_up_on_the_partition, timeout=15, description="lag back to 0 past the poison"
        )

    async with databases.reporting.engine.connect() as connection:
        recorded = (await connection.execute(select(dead_letters))).all()
    assert [(row.topic, row.partition, row.offset) for row in recorded] == [
        (topic, poisoned.partition, poisoned.offset)
    ]

    dead = await _read_all(kafka_bootstrap, dead_letter_topic(topic))
    assert [record.value for record in dead] == [POISON]
    headers = dict(dead[0].headers)
    assert headers["dlq_original_offset"] == str(poisoned.offset).encode()
    assert headers["dlq_consumer"] == b"reporting.projections"
    assert headers["dlq_error"].startswith(b"EnvelopeDecodeError")

    figures = await audit("poison message to the DLQ", databases, kafka_bootstrap, namespace)
    assert (figures.acknowledged, figures.dead_lettered) == (3, 1)
    report_figures(figures)


async def _read_all(bootstrap_servers: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic``, from the beginning to its current end."""
    admin = KafkaAdmin(bootstrap_servers, client_id="fault-injection")
    await admin.start()
    try:
        partitions = await admin.partitions([topic])
    finally:
        await admin.close()
    assert partitions, f"{topic} does not exist"
    consumer: AIOKafkaConsumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            batches = await consumer.getmany(timeout_ms=1000)
            for batch in batches.values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()
