"""Verify a service's published log straight from Kafka (``gatehouse verify``).

Reads every partition of a topic from its beginning to the end offsets it has when the check
starts, with a plain consumer (no group, nothing committed), and feeds each event to a
:class:`~gatehouse.eventstore.chain.ChainVerifier`. Nothing here reads a Gatehouse database: an
auditor needs only the broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from gatehouse.events.envelope import EnvelopeDecodeError, from_kafka_record
from gatehouse.eventstore.chain import ChainReport, ChainVerifier
from gatehouse.messaging.kafka import started

__all__ = ["TopicNotFoundError", "TopicVerification", "verify_topic"]


class TopicNotFoundError(KafkaError):  # type: ignore[misc]
    """The broker does not know the topic."""


@dataclass(frozen=True)
class TopicVerification:
    topic: str
    report: ChainReport
    not_events: int
    """Records that are not Gatehouse CloudEvents (skipped, not part of any chain)."""

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, **self.report.as_dict(), "not_events": self.not_events}


async def verify_topic(bootstrap_servers: str, topic: str) -> TopicVerification:
    """Check every event on ``topic`` up to its current end; raises KafkaError when unreachable."""
    # Listing topics never creates one; subscribing to a missing topic might (auto-creation).
    probe = await started(_consumer(bootstrap_servers))
    try:
        if topic not in await probe.topics():
            raise TopicNotFoundError(f"topic {topic!r} does not exist")
    finally:
        await probe.stop()
    # Without a group, a subscribed consumer is assigned every partition when it starts.
    consumer = await started(_consumer(bootstrap_servers, topic))
    try:
        partitions: list[TopicPartition] = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        verifier = ChainVerifier()
        not_events = 0
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    try:
                        verifier.add(from_kafka_record(record.value, record.headers))
                    except EnvelopeDecodeError:
                        not_events += 1
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
        return TopicVerification(topic, verifier.report(), not_events)
    finally:
        await consumer.stop()


def _consumer(bootstrap_servers: str, *topics: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="gatehouse-verify",
        request_timeout_ms=15000,
    )
