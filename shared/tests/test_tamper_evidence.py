"""Log heads from the relay, and ``gatehouse verify`` reading the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json

import pytest
from aiokafka.errors import KafkaConnectionError
from sqlalchemy import select, update

from gatehouse import cli
from gatehouse.database import Database
from gatehouse.eventstore import EventStore, NewEvent
from gatehouse.eventstore.chain import GENESIS_HASH, BreakKind, next_log_head
from gatehouse.eventstore.schema import events, outbox
from gatehouse.messaging.kafka import KafkaAdmin, create_idempotent_producer
from gatehouse.messaging.relay import OutboxRelay, PendingEvent
from gatehouse.messaging.verify import verify_topic
from gatehouse.observability import Metrics
from gatehouse.testing.harness import kafka_clients_left_unclosed

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


class SimulatedCrash(Exception):
    """The relay dies after the broker acknowledged, before marking."""


@pytest.fixture
async def topic(kafka_bootstrap: str, namespace: str) -> str:
    name = f"{namespace}events"
    admin = KafkaAdmin(kafka_bootstrap, client_id="test-admin")
    await admin.start()
    await admin.ensure_topics([name], partitions=3)
    await admin.close()
    return name


@pytest.fixture
def ledger(topic: str) -> EventStore:
    return EventStore(source="/gatehouse/test", topic=topic)


def make_relay(database: Database, kafka_bootstrap: str, **options: object) -> OutboxRelay:
    return OutboxRelay(
        database=database,
        source="/gatehouse/test",
        metrics=Metrics("test"),
        producer_factory=lambda: create_idempotent_producer(
            kafka_bootstrap, client_id="test-relay"
        ),
        **options,
    )  # type: ignore[arg-type]


async def append(
    database: Database, store: EventStore, streams: int, per_stream: int, *, first_version: int = 1
) -> None:
    for version in range(first_version, first_version + per_stream):
        for stream in range(streams):
            async with database.transaction() as connection:
                await store.append(
                    connection,
                    f"s-{stream}",
                    [NewEvent(type="test.Happened", data={"n": version, "who": f"user-{stream}"})],
                    expected_version=version - 1,
                )


async def publish(database: Database, kafka_bootstrap: str, **options: object) -> int:
    relay = make_relay(database, kafka_bootstrap, **options)
    try:
        return await relay.publish_pending()
    finally:
        await relay.close()


async def test_log_heads_continue_across_a_relay_restart_and_repeat_on_republish(
    database: Database, ledger: EventStore, topic: str, kafka_bootstrap: str
) -> None:
    await append(database, ledger, streams=2, per_stream=2)
    assert await publish(database, kafka_bootstrap) == 4
    await append(database, ledger, streams=2, per_stream=2, first_version=3)

    async def crash(_: list[PendingEvent]) -> None:
        raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        await publish(database, kafka_bootstrap, after_publish=crash)
    assert await publish(database, kafka_bootstrap) == 4, "a new relay, after the crash"

    result = await verify_topic(kafka_bootstrap, topic)
    assert result.report.intact, result.report.breaks
    assert result.report.records == 12, "the four events of the crashed batch twice"
    assert result.report.events_checked == 8

    async with database.engine.connect() as connection:
        stored = list(
            await connection.execute(
                select(outbox.c.position, events.c.hash, outbox.c.log_head)
                .join(events, events.c.position == outbox.c.position)
                .order_by(outbox.c.position)
            )
        )
    head = GENESIS_HASH
    for _, hash_, log_head in stored:
        head = next_log_head(head, hash_)
        assert log_head == head
    assert result.report.log_head == head
    assert result.report.log_position == stored[-1].position


async def run_cli(*argv: str) -> tuple[int, str]:
    """``gatehouse verify ...`` as an auditor runs it, in its own thread and event loop."""
    output = io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(output):
            return cli.main(["verify", *argv])

    code = await asyncio.to_thread(run)
    return code, output.getvalue()


async def test_gatehouse_verify_finds_an_event_edited_in_the_database(
    database: Database, ledger: EventStore, topic: str, kafka_bootstrap: str
) -> None:
    await append(database, ledger, streams=3, per_stream=3)
    assert await publish(database, kafka_bootstrap) == 9

    code, output = await run_cli("--bootstrap-servers", kafka_bootstrap, "--topic", topic)
    assert code == 0, output
    assert "chain intact" in output
    assert "events checked:  9" in output
    assert "streams checked: 3" in output

    # Someone with database access rewrites history, and the record goes out again.
    async with database.transaction() as connection:
        position = (
            await connection.execute(
                update(events)
                .where(events.c.stream_id == "s-1", events.c.version == 2)
                .values(data={"n": 2, "who": "mallory"})
                .returning(events.c.position)
            )
        ).scalar_one()
        await connection.execute(
            update(outbox).where(outbox.c.position == position).values(published_at=None)
        )
    assert await publish(database, kafka_bootstrap) == 1

    code, output = await run_cli("--bootstrap-servers", kafka_bootstrap, "--topic", topic)
    assert code == 1, output
    assert "CHAIN BROKEN: hash mismatch at stream s-1 version 2" in output
    assert f"position {position}" in output

    code, output = await run_cli("--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--json")
    assert code == 1
    answer = json.loads(output)
    assert answer["intact"] is False
    [checked] = answer["topics"]
    assert checked["first_break"]["kind"] == BreakKind.HASH_MISMATCH.name.lower()
    assert (checked["first_break"]["stream_id"], checked["first_break"]["version"]) == ("s-1", 2)
    assert checked["events_checked"] == 9


async def test_gatehouse_verify_defaults_to_the_service_topics_and_reports_errors(
    kafka_bootstrap: str, namespace: str
) -> None:
    code, _ = await run_cli("--bootstrap-servers", kafka_bootstrap, "--namespace", namespace)
    assert code == 2, "the namespace's intake and governance topics do not exist"

    admin = KafkaAdmin(kafka_bootstrap, client_id="test-admin")
    await admin.start()
    await admin.ensure_topics(
        [f"{namespace}gatehouse.intake.events", f"{namespace}gatehouse.governance.events"],
        partitions=1,
    )
    await admin.close()
    code, output = await run_cli("--bootstrap-servers", kafka_bootstrap, "--namespace", namespace)
    assert code == 0, output
    assert output.count("chain intact") == 2
    assert f"{namespace}gatehouse.governance.events:" in output


async def test_an_unreachable_broker_is_exit_code_2() -> None:
    code, _ = await run_cli("--bootstrap-servers", "127.0.0.1:1", "--timeout", "10")
    assert code == 2


async def test_a_check_that_cannot_reach_the_broker_leaves_no_client_open() -> None:
    with kafka_clients_left_unclosed() as unclosed, pytest.raises(KafkaConnectionError):
        await verify_topic("127.0.0.1:1", "gatehouse.intake.events")

    assert unclosed == []
