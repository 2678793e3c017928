"""What a starting service waits for on Kafka: topics usable when ``ensure_topics`` returns (also
those another service made a moment before), and a coordinator for each consumer group (a fresh
cluster makes its group-offsets topic when the first group asks)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka.errors import GroupCoordinatorNotAvailableError, TopicAlreadyExistsError

from gatehouse.messaging.kafka import KafkaAdmin


class SlowCluster:
    """Stands in for the admin client of a cluster whose metadata and coordinators lag."""

    def __init__(self, *, unknown_for: int = 0, coordinator_after: int = 0) -> None:
        self.unknown_for = unknown_for
        self.coordinator_after = coordinator_after
        self.descriptions = 0
        self.coordinator_asks: list[str] = []

    async def create_topics(self, topics: list[Any]) -> Any:
        raise TopicAlreadyExistsError  # another service made them

    async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        self.descriptions += 1
        code = 3 if self.descriptions <= self.unknown_for else 0  # UNKNOWN_TOPIC_OR_PARTITION
        return [{"topic": topic, "error_code": code} for topic in topics]

    async def find_coordinator(self, group: str) -> int:
        self.coordinator_asks.append(group)
        if len(self.coordinator_asks) <= self.coordinator_after:
            raise GroupCoordinatorNotAvailableError
        return 1


def admin_of(cluster: SlowCluster) -> KafkaAdmin:
    admin = KafkaAdmin("127.0.0.1:1", client_id="test")
    admin._client = cluster  # type: ignore[assignment]
    return admin


async def test_a_topic_another_service_just_made_is_waited_for_until_the_cluster_knows_it() -> None:
    cluster = SlowCluster(unknown_for=2)

    await admin_of(cluster).ensure_topics(["gatehouse.personal-keys"], partitions=1)

    assert cluster.descriptions == 3


async def test_each_consumer_group_is_waited_for_until_it_has_a_coordinator() -> None:
    cluster = SlowCluster(coordinator_after=2)

    found = await admin_of(cluster).until_coordinators(["b-group", "a-group", "b-group"])

    assert found is True
    assert cluster.coordinator_asks == ["a-group", "a-group", "a-group", "b-group"]


async def test_waiting_for_a_coordinator_gives_up_after_its_time() -> None:
    cluster = SlowCluster(coordinator_after=10**6)

    assert await admin_of(cluster).until_coordinators(["a-group"], within_seconds=0.3) is False


@pytest.mark.kafka
async def test_a_running_broker_names_a_coordinator_for_a_new_group(kafka_bootstrap: str) -> None:
    admin = KafkaAdmin(kafka_bootstrap, client_id="test-admin")
    await admin.start()
    try:
        assert await admin.until_coordinators([f"test-{uuid.uuid4().hex}"], within_seconds=20)
    finally:
        await admin.close()
