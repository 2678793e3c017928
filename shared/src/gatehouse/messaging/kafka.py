"""Kafka clients configured the way Gatehouse needs them, and topic administration."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Protocol, TypeVar

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

__all__ = ["KafkaAdmin", "create_idempotent_producer", "started"]

log = logging.getLogger(__name__)

# The log is the record: topics keep every event for ever.
UNLIMITED_RETENTION = {"retention.ms": "-1", "retention.bytes": "-1"}


class _Client(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


ClientT = TypeVar("ClientT", bound=_Client)


async def started(client: ClientT) -> ClientT:
    """``client`` (an aiokafka producer or consumer), started. A start that fails or is
    cancelled stops it again: aiokafka leaves what a failed start opened (connections, the
    metadata task) to ``stop``, and a client retried through a broker outage would otherwise
    leave one of each behind per attempt."""
    try:
        await client.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await client.stop()
        raise
    return client


def create_idempotent_producer(bootstrap_servers: str, *, client_id: str) -> AIOKafkaProducer:
    """A producer that neither loses nor duplicates what it was handed within its session.

    aiokafka's defaults differ from the Java client's (acks=1, no idempotence): set both.
    """
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        request_timeout_ms=15000,
    )


class KafkaAdmin:
    """Creates topics and answers whether the cluster is reachable."""

    def __init__(self, bootstrap_servers: str, *, client_id: str) -> None:
        self._client = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers, client_id=client_id, request_timeout_ms=10000
        )

    async def start(self) -> None:
        await self._client.start()

    async def close(self) -> None:
        # Also after a start that failed or was cancelled half-way: bootstrapping may already
        # have opened connections and a metadata task.
        await self._client.close()

    async def ensure_topics(
        self,
        topics: Iterable[str],
        *,
        partitions: int,
        replication_factor: int = 1,
        configs: Mapping[str, str] | None = None,
    ) -> None:
        """Create the topics that do not exist yet, one partition count, retention unlimited
        unless ``configs`` says otherwise (e.g. a compacted topic).

        Topics that exist are left as they are (more partitions would move keys between them).
        """
        wanted = sorted(set(topics))
        if not wanted:
            return
        # Asking to create every topic is one request; listing the cluster's topics first would
        # be one more, and grows with the cluster.
        new_topics = [
            NewTopic(
                name=topic,
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs={**UNLIMITED_RETENTION, **(configs or {})},
            )
            for topic in wanted
        ]
        created = []
        try:
            response = await self._client.create_topics(new_topics)
        except TopicAlreadyExistsError:
            pass
        else:
            for topic, code, message in _topic_errors(response):
                if code == 0:
                    created.append(topic)
                elif code != TopicAlreadyExistsError.errno:
                    raise KafkaError(f"cannot create topic {topic}: error {code} {message}")
        # Also the topics that existed: another service may have made one a moment ago.
        await self._until_known(wanted)
        if created:
            log.info(
                "created topics",
                extra={
                    "topics": created,
                    "partitions": partitions,
                    "replication_factor": replication_factor,
                },
            )

    async def until_coordinators(self, groups: Iterable[str], within_seconds: float = 30.0) -> bool:
        """Wait until the cluster names a coordinator for each consumer group; False when it
        has not within ``within_seconds``. A fresh cluster makes its group-offsets topic when
        the first group asks, and until then a starting consumer logs every retry."""
        deadline = asyncio.get_running_loop().time() + within_seconds
        for group in sorted(set(groups)):
            while True:
                try:
                    await self._client.find_coordinator(group)
                    break
                except KafkaError:
                    if asyncio.get_running_loop().time() > deadline:
                        return False
                    await asyncio.sleep(0.1)
        return True

    async def _until_known(self, topics: list[str], within_seconds: float = 10.0) -> None:
        """Wait until the broker's metadata has the topics, just created here or by another
        service: the controller accepts a creation before every broker knows of it, and
        "ensured" should mean usable."""
        deadline = asyncio.get_running_loop().time() + within_seconds
        while True:
            described = await self._client.describe_topics(topics)
            if all(topic.get("error_code", 0) == 0 for topic in described):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise KafkaError(f"topics {topics} were created but are not known yet")
            await asyncio.sleep(0.05)

    async def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        """Every partition of the topics that exist, in order; asking never creates a topic."""
        wanted = set(topics)
        described = await self._client.describe_topics()  # all topics: no auto-creation
        return sorted(
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            if topic["topic"] in wanted
            for partition in topic["partitions"]
        )

    async def is_reachable(self, within_seconds: float = 2.0) -> bool:
        try:
            await asyncio.wait_for(self._client.describe_cluster(), within_seconds)
        except (KafkaError, TimeoutError, OSError):
            return False
        return True


def _topic_errors(response: object) -> list[tuple[str, int, str | None]]:
    errors = getattr(response, "topic_errors", [])
    return [(str(e[0]), int(e[1]), e[2] if len(e) > 2 else None) for e in errors]
