"""Outbox relay and tracking consumer against the real Kafka broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import Database
from gatehouse.events.envelope import EventEnvelope, to_kafka_record
from gatehouse.eventstore import EventStore, NewEvent
from gatehouse.eventstore.feed import FeedPage, GapFreeFeedReader
from gatehouse.eventstore.schema import (
    NAMING_CONVENTION,
    consumer_offsets,
    dead_letters,
    include_event_store_tables,
    outbox,
)
from gatehouse.eventstore.store import OUTBOX_CHANNEL
from gatehouse.messaging.consumer import EventHandler, TrackingConsumer, one_by_one
from gatehouse.messaging.kafka import KafkaAdmin, create_idempotent_producer
from gatehouse.messaging.relay import OutboxRelay, PendingEvent
from gatehouse.observability import Metrics
from gatehouse.testing.harness import (
    TestDatabase,
    drop_listening_sessions,
    eventually,
    kafka_clients_left_unclosed,
    listening_sessions,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

applied = Table(
    "applied",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("stream_id", String(200)),
    Column("version", Integer),
    Column("event_id", String(64)),
)


class SimulatedCrash(Exception):
    """Stands for the relay process dying after the broker acknowledged, before marking."""


@pytest.fixture
def any_database(postgres_url: str, pg_schema: str) -> TestDatabase:
    return TestDatabase(url=postgres_url, schema=pg_schema)


@pytest.fixture
async def topic(kafka_bootstrap: str, namespace: str) -> AsyncIterator[str]:
    name = f"{namespace}events"
    admin = KafkaAdmin(kafka_bootstrap, client_id="test-admin")
    await admin.start()
    await admin.ensure_topics([name, f"{name}.dlq"], partitions=3)
    await admin.close()
    return name


@pytest.fixture
async def ledger(database: Database, topic: str) -> EventStore:
    async with database.transaction() as connection:
        await connection.run_sync(applied.metadata.create_all)
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


async def publish_all(database: Database, kafka_bootstrap: str) -> None:
    relay = make_relay(database, kafka_bootstrap)
    await relay.publish_pending()
    await relay.close()


async def record_application(connection: AsyncConnection, envelope: EventEnvelope) -> None:
    if envelope.data.get("poison"):
        raise ValueError("this event always fails")
    await connection.execute(
        insert(applied).values(
            stream_id=envelope.stream_id, version=envelope.stream_version, event_id=str(envelope.id)
        )
    )


def make_consumer(
    database: Database,
    kafka_bootstrap: str,
    topic: str,
    namespace: str,
    *,
    handler: EventHandler = record_application,
) -> TrackingConsumer:
    return TrackingConsumer(
        name="test.applier",
        topics=[topic],
        database=database,
        handler=one_by_one(handler),
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{namespace}applier",
        dlq_producer_factory=lambda: create_idempotent_producer(
            kafka_bootstrap, client_id="test-dlq"
        ),
        metrics=Metrics("test"),
        retry_backoff=0.01,
    )


async def append_events(
    database: Database, store: EventStore, streams: int, per_stream: int, first_stream: int = 0
) -> None:
    for version in range(per_stream):
        for stream in range(first_stream, first_stream + streams):
            async with database.transaction() as connection:
                await store.append(
                    connection,
                    f"s-{stream}",
                    [NewEvent(type="test.Happened", data={"n": version})],
                    expected_version=version,
                )


async def read_topic(
    kafka_bootstrap: str, topic: str, expected: int
) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[tuple[bytes, bytes, dict[str, bytes]]] = []
    try:
        async with asyncio.timeout(20):
            while len(records) < expected:
                batches = await consumer.getmany(timeout_ms=200)
                for batch in batches.values():
                    records.extend((r.key, r.value, dict(r.headers)) for r in batch)
    finally:
        await consumer.stop()
    return records


async def topic_size(kafka_bootstrap: str, topic: str) -> int:
    """How many records the topic holds, from its partitions' end offsets."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions, f"topic {topic} has no partitions"
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def count(database: Database, query: object) -> int:
    async with database.engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())  # type: ignore[call-overload]


async def test_relay_publishes_stored_events_as_binary_cloudevents_keyed_by_stream(
    database: Database, ledger: EventStore, topic: str, kafka_bootstrap: str
) -> None:
    await append_events(database, ledger, streams=2, per_stream=2)
    relay = make_relay(database, kafka_bootstrap)

    assert await relay.publish_pending() == 4
    await relay.close()

    records = await read_topic(kafka_bootstrap, topic, expected=4)
    assert sorted(key for key, _, _ in records) == [b"s-0", b"s-0", b"s-1", b"s-1"]
    key, value, headers = records[0]
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"test.Happened"
    assert headers["ce_source"] == b"/gatehouse/test"
    assert headers["ce_streamid"] == key
    assert headers["ce_subject"] == key
    assert headers["content-type"] == b"application/json"
    assert {"ce_id", "ce_time", "ce_streamversion", "ce_position", "ce_schemaversion"} <= set(
        headers
    )
    assert "n" in json.loads(value)
    per_stream = {}
    for key, _, headers in records:
        per_stream.setdefault(key, []).append(int(headers["ce_streamversion"]))
    assert all(versions == [1, 2] for versions in per_stream.values()), "in order per stream"
    assert (
        await count(
            database,
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)),
        )
        == 0
    )


async def test_relay_killed_between_publish_and_mark_republishes_and_consumer_applies_once(
    database: Database, ledger: EventStore, topic: str, kafka_bootstrap: str, namespace: str
) -> None:
    await append_events(database, ledger, streams=5, per_stream=4)

    async def crash(_: list[PendingEvent]) -> None:
        raise SimulatedCrash

    crashing = make_relay(database, kafka_bootstrap, after_publish=crash)
    with pytest.raises(SimulatedCrash):
        await crashing.publish_pending()
    await crashing.close()
    assert await crashing.pending_count() == 20, "nothing was marked"

    restarted = make_relay(database, kafka_bootstrap)
    assert await restarted.publish_pending() == 20
    await restarted.close()
    assert len(await read_topic(kafka_bootstrap, topic, expected=40)) == 40, "all twice"

    await consume_until_offset(
        make_consumer(database, kafka_bootstrap, topic, namespace), database, total=40
    )

    async with database.engine.connect() as connection:
        rows = list(await connection.execute(select(applied.c.stream_id, applied.c.version)))
    assert len(rows) == 20, "each event applied exactly once"
    assert sorted(rows) == sorted((f"s-{s}", v) for s in range(5) for v in range(1, 5))


async def test_poison_messages_go_to_the_dead_letter_topic_and_the_partition_moves_on(
    database: Database, ledger: EventStore, topic: str, kafka_bootstrap: str, namespace: str
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    # Not a CloudEvent at all, on the partition of stream "p".
    await producer.send_and_wait(topic, b"garbage", key=b"p", partition=0)
    await producer.stop()
    async with database.transaction() as connection:
        await ledger.append(
            connection,
            "p",
            [
                NewEvent(type="test.Happened", data={"poison": True}),
                NewEvent(type="test.Happened", data={"n": 2}),
            ],
            expected_version=0,
        )
    await publish_all(database, kafka_bootstrap)

    await consume_until_offset(
        make_consumer(database, kafka_bootstrap, topic, namespace), database, total=3
    )

    dead = await read_topic(kafka_bootstrap, f"{topic}.dlq", expected=2)
    errors = sorted(headers["dlq_error"].decode() for _, _, headers in dead)
    assert errors[0].startswith("EnvelopeDecodeError")
    assert errors[1] == "ValueError: this event always fails"
    assert all(headers["dlq_original_topic"] == topic.encode() for _, _, headers in dead)
    assert await count(database, select(func.count()).select_from(dead_letters)) == 2
    async with database.engine.connect() as connection:
        rows = list(await connection.execute(select(applied.c.stream_id, applied.c.version)))
    assert rows == [("p", 2)], "the event after the poisoned one still applies"


async def test_a_relay_that_cannot_reach_the_broker_leaves_no_client_behind_per_attempt(
    database: Database, ledger: EventStore
) -> None:
    await append_events(database, ledger, streams=1, per_stream=1)
    relay = make_relay(database, "127.0.0.1:1")

    with kafka_clients_left_unclosed() as unclosed:
        for _ in range(3):
            with pytest.raises(KafkaConnectionError):
                await relay.publish_pending()
        await relay.close()

    assert unclosed == []
    assert await relay.pending_count() == 1


async def test_a_running_relay_republishes_a_row_put_back_by_hand_within_its_idle_interval(
    database: Database, ledger: EventStore, topic: str, kafka_bootstrap: str
) -> None:
    relay = make_relay(database, kafka_bootstrap, idle_poll_interval=0.3)
    async with running(relay):
        await append_events(database, ledger, streams=2, per_stream=2)
        await eventually(
            lambda: _all_published(relay),
            timeout=20,
            description="the relay published the first events",
        )
        async with database.transaction() as connection:
            await connection.execute(
                update(outbox).where(outbox.c.position == 2).values(published_at=None)
            )
        # New events keep the relay busy: the row put back still goes out within the interval.
        for n in range(5):
            await append_events(database, ledger, streams=1, per_stream=1, first_stream=10 + n)
            await asyncio.sleep(0.1)
        await eventually(
            lambda: _all_published(relay),
            timeout=20,
            description="the relay published the row put back",
        )
    records = await read_topic(kafka_bootstrap, topic, expected=10)
    copies = [headers for _, _, headers in records if headers["ce_position"] == b"2"]
    assert len(copies) == 2, "published, put back, published again"
    assert copies[0]["ce_gatehouseloghead"] == copies[1]["ce_gatehouseloghead"]


class HurriedRelay(OutboxRelay):
    """Finds its look for put-back rows due at every other question, as a short idle interval
    running out between two questions would."""

    asked = 0

    def _republishing_due(self) -> bool:
        self.asked += 1
        return self._tip is None or self.asked % 2 == 0


async def test_batches_in_flight_are_never_taken_for_rows_put_back(
    database: Database, ledger: EventStore, topic: str, kafka_bootstrap: str
) -> None:
    """A batch is marked while the next one is read: a look for put-back rows waits for it,
    or the batch's unmarked rows would go out again without their log heads."""
    await append_events(database, ledger, streams=20, per_stream=3)
    relay = HurriedRelay(
        database=database,
        source="/gatehouse/test",
        metrics=Metrics("test"),
        producer_factory=lambda: create_idempotent_producer(
            kafka_bootstrap, client_id="test-relay"
        ),
        batch_size=4,
    )
    try:
        assert await relay.publish_pending() == 60
    finally:
        await relay.close()
    records = await read_topic(kafka_bootstrap, topic, expected=60)
    assert len(records) == 60, "each event once"
    assert all(headers.get("ce_gatehouseloghead") for _, _, headers in records)


@pytest.mark.parametrize(("events", "pages"), [(2, [2]), (6, [3, 3, 0]), (7, [3, 3, 1])])
async def test_a_relay_reads_again_only_after_a_full_page(
    database: Database,
    ledger: EventStore,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    events: int,
    pages: list[int],
) -> None:
    """A page shorter than the batch is the feed's end as of its snapshot: what commits after
    it wakes the relay, which need not read once more to find nothing."""
    read = GapFreeFeedReader.read
    sizes: list[int] = []

    async def counted(reader: GapFreeFeedReader, *args: object, **kwargs: object) -> FeedPage:
        page = await read(reader, *args, **kwargs)  # type: ignore[arg-type]
        sizes.append(len(page.events))
        return page

    monkeypatch.setattr(GapFreeFeedReader, "read", counted)
    relay = make_relay(database, kafka_bootstrap, batch_size=3)
    try:
        await append_events(database, ledger, streams=events, per_stream=1)
        assert await relay.publish_pending() == events
        assert sizes == pages
    finally:
        await relay.close()


async def test_the_step_before_publishing_runs_only_while_its_condition_says_work_waits(
    database: Database, ledger: EventStore, kafka_bootstrap: str
) -> None:
    waiting = Table("waiting", MetaData(), Column("id", Integer, primary_key=True))
    async with database.transaction() as connection:
        await connection.run_sync(waiting.metadata.create_all)
    steps: list[int] = []

    async def before_publish(_: AIOKafkaProducer) -> None:
        steps.append(1)

    relay = make_relay(
        database,
        kafka_bootstrap,
        before_publish=before_publish,
        before_publish_waiting=select(waiting.c.id).exists(),
    )
    try:
        await append_events(database, ledger, streams=2, per_stream=1)
        assert await relay.publish_pending() == 2
        assert steps == [], "nothing waited: no round trip for it"

        async with database.transaction() as connection:
            await connection.execute(insert(waiting).values(id=1))
        await append_events(database, ledger, streams=2, per_stream=1, first_stream=5)
        assert await relay.publish_pending() == 2
        assert steps == [1]
    finally:
        await relay.close()


async def test_a_fetch_from_several_partitions_is_applied_in_one_transaction(
    database: Database, ledger: EventStore, topic: str, kafka_bootstrap: str, namespace: str
) -> None:
    await append_events(database, ledger, streams=6, per_stream=3)
    await publish_all(database, kafka_bootstrap)
    transactions = await consume_noting(
        database,
        kafka_bootstrap,
        topic,
        namespace,
        total=18,
        query="SELECT pg_current_xact_id()::text",
    )

    partitions = await count(database, select(func.count()).select_from(consumer_offsets))
    assert partitions > 1, "the streams' events spread over several partitions"
    assert len(set(transactions)) < partitions, "one transaction took several partitions"
    rows = await applications(database)
    assert sorted(rows) == [(f"s-{s}", v) for s in range(6) for v in range(1, 4)]
    for stream in range(6):
        assert [v for s, v in rows if s == f"s-{stream}"] == [1, 2, 3], "in version order"


async def test_a_consumers_transaction_plans_its_statements_for_each_batch(
    database: Database, ledger: EventStore, topic: str, kafka_bootstrap: str, namespace: str
) -> None:
    """Generic plans made while the tables were small would outlive their growth."""
    await append_events(database, ledger, streams=2, per_stream=1)
    await publish_all(database, kafka_bootstrap)
    modes = await consume_noting(
        database,
        kafka_bootstrap,
        topic,
        namespace,
        total=2,
        query="SELECT current_setting('plan_cache_mode')",
    )

    assert modes == ["force_custom_plan"] * 2
    async with database.engine.connect() as connection:
        setting = (
            await connection.execute(text("SELECT current_setting('plan_cache_mode')"))
        ).scalar_one()
    assert setting == "auto", "only for the consumer's transaction"


async def test_a_failing_event_in_one_partition_holds_back_none_of_the_others(
    database: Database, ledger: EventStore, topic: str, kafka_bootstrap: str, namespace: str
) -> None:
    await append_events(database, ledger, streams=6, per_stream=2)
    async with database.transaction() as connection:
        await ledger.append(
            connection,
            "poisoned",
            [
                NewEvent(type="test.Happened", data={"poison": True}),
                NewEvent(type="test.Happened", data={"n": 2}),
            ],
            expected_version=0,
        )
    await publish_all(database, kafka_bootstrap)

    await consume_until_offset(
        make_consumer(database, kafka_bootstrap, topic, namespace), database, total=14
    )

    assert await count(database, select(func.count()).select_from(dead_letters)) == 1
    assert sorted(await applications(database)) == sorted(
        [("poisoned", 2), *((f"s-{s}", v) for s in range(6) for v in range(1, 3))]
    )


async def consume_noting(
    database: Database, kafka_bootstrap: str, topic: str, namespace: str, *, total: int, query: str
) -> list[str]:
    """Consume up to offset ``total``, noting what ``query`` answers in the transaction that
    applies each event."""
    noted: list[str] = []

    async def apply_noting(connection: AsyncConnection, envelope: EventEnvelope) -> None:
        await record_application(connection, envelope)
        noted.append(str((await connection.execute(text(query))).scalar_one()))

    await consume_until_offset(
        make_consumer(database, kafka_bootstrap, topic, namespace, handler=apply_noting),
        database,
        total=total,
    )
    return noted


async def applications(database: Database) -> list[tuple[str, int]]:
    """(stream, version) of each event the handler applied, in the order applied."""
    async with database.engine.connect() as connection:
        return [
            (row.stream_id, row.version)
            for row in await connection.execute(
                select(applied.c.stream_id, applied.c.version).order_by(applied.c.id)
            )
        ]


async def consume_until_offset(
    consumer: TrackingConsumer, database: Database, *, total: int
) -> None:
    """Run the consumer until its recorded offsets, summed over partitions, reach ``total``."""
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(
            lambda: _offsets_at_end(database, total),
            timeout=30,
            description=f"consumer recorded {total} offsets",
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _offsets_at_end(database: Database, total: int) -> bool:
    async with database.engine.connect() as connection:
        offsets = (
            await connection.execute(
                select(func.coalesce(func.sum(consumer_offsets.c.next_offset), 0))
            )
        ).scalar_one()
    return int(offsets) >= total


async def test_two_relays_on_one_database_publish_each_event_once_woken_by_notify(
    any_database: TestDatabase,
    database: Database,
    ledger: EventStore,
    topic: str,
    kafka_bootstrap: str,
) -> None:
    # The relays get their own Database objects: only PostgreSQL's NOTIFY can wake them, and
    # the idle poll is far longer than the test waits.
    relay_databases = [
        Database.from_url(any_database.url, schema=any_database.schema) for _ in range(2)
    ]
    relays = [make_relay(db, kafka_bootstrap, idle_poll_interval=60.0) for db in relay_databases]
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        await asyncio.sleep(0.5)  # both relays running; one holds the lock
        started = asyncio.get_running_loop().time()
        await append_events(database, ledger, streams=4, per_stream=5)
        await eventually(
            lambda: _all_published(relays[0]), timeout=10, description="outbox drained"
        )
        drained_after = asyncio.get_running_loop().time() - started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for relay, relay_database in zip(relays, relay_databases, strict=True):
            await relay.close()
            await relay_database.dispose()

    assert drained_after < 10, "woken by NOTIFY, not by the 60 s idle poll"
    assert sorted(relay.published_total for relay in relays) == [0, 20], "one leader"
    assert await topic_size(kafka_bootstrap, topic) == 20, "no event published twice"
    records = await read_topic(kafka_bootstrap, topic, expected=20)
    assert len({headers["ce_id"] for _, _, headers in records}) == 20


async def _all_published(relay: OutboxRelay) -> bool:
    return await relay.pending_count() == 0


class CountingRelay(OutboxRelay):
    """Counts the times it looked for events to publish."""

    looked = 0

    async def publish_pending(self) -> int:
        self.looked += 1
        return await super().publish_pending()


async def test_a_relay_is_woken_by_its_own_event_stores_appends_only(
    database: Database,
    ledger: EventStore,
    kafka_bootstrap: str,
    new_pg_schema: Callable[[], Awaitable[str]],
    postgres_url: str,
) -> None:
    """Services sharing a database (each in its own schema) share the NOTIFY channel: another
    schema's appends, and this service's commits that append nothing, leave the relay asleep."""
    neighbour = Database.from_url(postgres_url, schema=await new_pg_schema())
    async with neighbour.transaction() as connection:
        await connection.run_sync(
            include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION)).create_all
        )
    relay = counting_relay(database, kafka_bootstrap)
    try:
        async with running(relay):
            await eventually(lambda: _looked(relay, 1), timeout=10, description="relay started")
            await append_events(neighbour, ledger, streams=3, per_stream=2)
            async with database.transaction() as connection:
                await connection.execute(insert(applied).values(stream_id="x", version=1))
            await asyncio.sleep(0.5)
            looked_while_others_wrote = relay.looked
            await append_events(database, ledger, streams=1, per_stream=1)
            await eventually(lambda: _all_published(relay), timeout=10, description="published")
    finally:
        await neighbour.dispose()

    assert looked_while_others_wrote == 1, "not woken by the neighbour or a commit without events"
    assert relay.published_total == 1


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[None]:
    """The relay runs in the background while the block runs; then it is stopped and closed."""
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await relay.close()


def counting_relay(database: Database, kafka_bootstrap: str) -> CountingRelay:
    """A counting relay whose idle poll (60 s) is longer than any test waits: only a wake
    moves it."""
    return CountingRelay(
        database=database,
        source="/gatehouse/test",
        metrics=Metrics("test"),
        producer_factory=lambda: create_idempotent_producer(
            kafka_bootstrap, client_id="test-relay"
        ),
        idle_poll_interval=60.0,
    )


async def _looked(relay: CountingRelay, times: int) -> bool:
    return relay.looked >= times


async def test_a_relay_whose_lock_connection_is_dropped_leads_again_and_is_woken_again(
    database: Database, ledger: EventStore, kafka_bootstrap: str
) -> None:
    """The database may close the relay's idle lock-and-LISTEN connection (a restart of that
    session, an idle timeout): the lock is gone with it and no NOTIFY comes. The relay takes
    the lead again on a new connection, without handing the closed one to anybody."""
    relay = counting_relay(database, kafka_bootstrap)
    async with running(relay):
        await eventually(lambda: _looked(relay, 1), timeout=10, description="relay started")
        assert await drop_listening_sessions(database, OUTBOX_CHANNEL) == 1
        await eventually(
            lambda: listening_sessions(database, OUTBOX_CHANNEL),
            timeout=20,
            description="listening again",
        )

        await append_events(database, ledger, streams=2, per_stream=1)

        await eventually(
            lambda: _all_published(relay),
            timeout=10,
            description="published at once, not at the 60 s idle poll",
        )
    assert relay.published_total == 2


async def test_two_owners_of_a_partition_during_a_rebalance_apply_each_event_once(
    database: Database, ledger: EventStore, topic: str, kafka_bootstrap: str, namespace: str
) -> None:
    """A rebalance does not wait for the batch in hand: the partition's old owner is still
    applying it when the new owner, starting from the last committed offset, applies it too."""
    async with database.transaction() as connection:
        stored = await ledger.append(
            connection,
            "s-0",
            [NewEvent(type="test.Happened", data={"n": n}) for n in range(3)],
            expected_version=0,
        )
    partition = TopicPartition(topic, 0)
    records = [
        _consumer_record(partition, offset, envelope) for offset, envelope in enumerate(stored)
    ]
    started = asyncio.Event()

    async def slow_application(connection: AsyncConnection, envelope: EventEnvelope) -> None:
        await record_application(connection, envelope)
        started.set()
        await asyncio.sleep(0.2)  # the other owner starts while this transaction is open

    old_owner, new_owner = (
        TrackingConsumer(
            name="test.applier",
            topics=[topic],
            database=database,
            handler=one_by_one(slow_application),
            bootstrap_servers=kafka_bootstrap,
            group_id=f"{namespace}applier",
            dlq_producer_factory=lambda: create_idempotent_producer(
                kafka_bootstrap, client_id="test-dlq"
            ),
            metrics=Metrics("test"),
        )
        for _ in range(2)
    )

    async def new_owner_applies() -> None:
        await started.wait()
        await new_owner._apply_in_transaction({partition: records})

    await asyncio.gather(old_owner._apply_in_transaction({partition: records}), new_owner_applies())

    async with database.engine.connect() as connection:
        applications = [
            (row.stream_id, row.version)
            for row in await connection.execute(
                select(applied.c.stream_id, applied.c.version).order_by(applied.c.id)
            )
        ]
    assert applications == [("s-0", 1), ("s-0", 2), ("s-0", 3)]


def _consumer_record(
    partition: TopicPartition, offset: int, envelope: EventEnvelope
) -> ConsumerRecord[bytes, bytes]:
    record = to_kafka_record(envelope)
    return ConsumerRecord(
        topic=partition.topic,
        partition=partition.partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=record.key,
        value=record.value,
        checksum=None,
        serialized_key_size=len(record.key),
        serialized_value_size=len(record.value),
        headers=record.headers,
    )
