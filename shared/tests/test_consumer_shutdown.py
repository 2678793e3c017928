"""A consumer ends when it is stopped, even if its Kafka client never finishes stopping."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from gatehouse.database import Database
from gatehouse.messaging import consumer as consumer_module
from gatehouse.messaging.consumer import TrackingConsumer
from gatehouse.observability import Metrics


class ClientThatNeverStops:
    """Stands in for an AIOKafkaConsumer stuck leaving its group (e.g. a join in progress)."""

    instances: list[ClientThatNeverStops] = []

    def __init__(self, *topics: str, **config: Any) -> None:
        self.stop_began = asyncio.Event()
        ClientThatNeverStops.instances.append(self)

    async def start(self) -> None:
        pass

    async def getmany(self, **options: Any) -> dict[Any, Any]:
        await asyncio.sleep(3600)
        return {}

    async def stop(self) -> None:
        self.stop_began.set()
        await asyncio.Event().wait()


async def test_a_client_that_never_stops_is_abandoned_and_the_consumer_ends(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(consumer_module, "AIOKafkaConsumer", ClientThatNeverStops)
    monkeypatch.setattr(consumer_module, "CLIENT_STOP_SECONDS", 0.2)
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/unused.db")

    async def apply(*_: Any) -> None:
        raise AssertionError("no events here")

    consumer = TrackingConsumer(
        name="test.stuck",
        topics=["t"],
        database=database,
        handler=apply,
        bootstrap_servers="127.0.0.1:1",
        group_id="stuck",
        dlq_producer_factory=lambda: None,  # type: ignore[arg-type,return-value]
        metrics=Metrics("test"),
    )
    running = asyncio.create_task(consumer.run())
    await asyncio.wait_for(consumer.started.wait(), 5)

    running.cancel()
    with caplog.at_level(logging.WARNING, logger="gatehouse.messaging.consumer"):
        done, _ = await asyncio.wait({running}, timeout=5)

    assert done == {running}, "the consumer's task did not end"
    assert running.cancelled()
    assert ClientThatNeverStops.instances[-1].stop_began.is_set()
    assert "Kafka client did not stop in time" in caplog.text
    await database.dispose()
