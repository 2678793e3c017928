"""A Kafka client whose start fails is stopped again: a relay or consumer retrying through a
broker outage must not leave a client (its connections, its metadata task) behind per attempt."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from gatehouse.messaging.kafka import create_idempotent_producer, started
from gatehouse.testing.harness import kafka_clients_left_unclosed

NO_BROKER = "127.0.0.1:1"

CLIENTS: dict[str, Callable[[], AIOKafkaProducer | AIOKafkaConsumer]] = {
    "producer": lambda: create_idempotent_producer(NO_BROKER, client_id="test"),
    "consumer": lambda: AIOKafkaConsumer("events", bootstrap_servers=NO_BROKER, group_id=None),
}


@pytest.mark.parametrize("kind", sorted(CLIENTS))
async def test_a_client_that_cannot_start_is_stopped_and_its_error_passes_on(kind: str) -> None:
    with kafka_clients_left_unclosed() as unclosed, pytest.raises(KafkaConnectionError):
        await started(CLIENTS[kind]())

    assert unclosed == []
