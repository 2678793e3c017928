"""A large log: projection rebuild rate beside a bare consumer, and audit queries over it.

The log is written straight to the topics, the way the outbox relays publish it: real event
schemas (the samples are built with the event classes and serialised by their registries), each
stream hash-chained, each producer's log head carried along, CloudEvents binary mode. Each
project has six events: ``ProjectRequested`` and ``ProjectSubmitted`` from intake,
``GateReviewOpened``, two ``VoteCast`` and ``GateDecided`` from governance, so half the events
become audit records.

* Rebuild: reporting's :class:`~reporting.rebuild.Rebuilder` replays both topics into shadow
  tables and swaps them in, as ``POST /v1/admin/projections/.../rebuild`` does (the live
  consumer's positions are set to the end: it is caught up).
* Ceiling: a bare aiokafka consumer reading the same partitions from the beginning.
* Audit: reporting runs as a process on the rebuilt tables; ``GET /v1/audit/decisions`` with a
  mix of filters, sorts and next pages, one at a time.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import insert

from bench.harness import BenchConfig, Results, percentile, start_deployment
from gatehouse.auth import Role
from gatehouse.database import Database
from gatehouse.events.envelope import EventEnvelope, to_kafka_record
from gatehouse.events.governance import SOURCE as GOVERNANCE_SOURCE
from gatehouse.events.governance import (
    ApprovalRule,
    ApproverSeat,
    GateDecided,
    GateDefinition,
    GateReviewOpened,
    VoteCast,
    governance_events,
)
from gatehouse.events.intake import SOURCE as INTAKE_SOURCE
from gatehouse.events.intake import ProjectRequested, ProjectSubmitted, intake_events
from gatehouse.events.topics import governance_events_topic, intake_events_topic
from gatehouse.events.types import Money
from gatehouse.eventstore.chain import GENESIS_HASH, event_hash, next_log_head
from gatehouse.eventstore.schema import consumer_offsets
from gatehouse.messaging.kafka import KafkaAdmin
from gatehouse.runtime import tune_garbage_collector
from reporting.bootstrap import migrate
from reporting.projections import PROJECTIONS_CONSUMER
from reporting.queries import DecisionFilter, decision_page
from reporting.rebuild import Rebuilder
from reporting.settings import ReportingSettings

__all__ = ["run"]

EVENTS_PER_PROJECT = 6
GATES = ("G0", "G1", "G2", "G3", "G4")
APPROVERS = tuple(f"approver-{n:03}" for n in range(200))
OUTCOMES = ("go", "go", "go", "conditional_go", "hold", "recycle", "kill")
PARTITIONS = 3


@dataclass(frozen=True)
class Log:
    namespace: str
    topics: tuple[str, str]
    events: int
    projects: list[uuid.UUID]
    first: datetime
    last: datetime


def templates() -> dict[str, dict[str, Any]]:
    """One serialised event of each kind; the generator swaps in ids, names and outcomes."""
    project, review, vote = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    gate = GateDefinition(
        key="G1",
        name="Gate G1",
        sla_hours=48,
        approval=ApprovalRule(
            seats=(ApproverSeat(user="approver-000"), ApproverSeat(role="finance"))
        ),
    )
    return {
        "requested": intake_events.serialize(
            ProjectRequested(
                project_id=project,
                title="Benchmark project",
                description="Replace the legacy CRM",
                sponsor="carol",
                business_unit="Sales",
                project_type="standard",
                estimated_cost=Money(Decimal("250000.00"), "EUR"),
                requested_by="alice",
                start_date=date(2027, 1, 4),
                target_date=date(2027, 9, 30),
                expected_benefits="Halve quote-to-order time",
            )
        ),
        "submitted": intake_events.serialize(
            ProjectSubmitted(project_id=project, from_status="draft", to_status="submitted")
        ),
        "opened": governance_events.serialize(
            GateReviewOpened(
                review_id=review,
                project_id=project,
                project_type="standard",
                template_version=1,
                gate=gate,
                opened_by="alice",
                sla_due_at=datetime(2027, 1, 6, tzinfo=UTC),
            )
        ),
        "vote": governance_events.serialize(
            VoteCast(
                review_id=review,
                project_id=project,
                vote_id=vote,
                seat="user:approver-000",
                approver="approver-000",
                cast_by="approver-000",
                decision="go",
                rationale="fits the strategy",
            )
        ),
        "decided": governance_events.serialize(
            GateDecided(
                review_id=review,
                project_id=project,
                gate="G1",
                outcome="go",
                rationale="panel said go",
                decided_by=("approver-000",),
                votes=(vote,),
                rule="all",
            )
        ),
    }


class Chains:
    """Hash-chains streams and keeps each producer's position and log head, as the store and
    the relay do."""

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}
        self.heads: dict[str, str] = {}

    def envelope(
        self,
        source: str,
        stream: str,
        version: int,
        prev_hash: str,
        type_: str,
        data: dict[str, Any],
        at: datetime,
        actor: str,
    ) -> EventEnvelope:
        event_id = uuid.uuid4()
        digest = event_hash(
            event_id=event_id,
            source=source,
            stream_id=stream,
            version=version,
            type=type_,
            schema_version=1,
            data=data,
            recorded_at=at,
            actor=actor,
            correlation_id=None,
            causation_id=None,
            prev_hash=prev_hash,
        )
        position = self.positions[source] = self.positions.get(source, 0) + 1
        head = self.heads[source] = next_log_head(self.heads.get(source, GENESIS_HASH), digest)
        return EventEnvelope(
            id=event_id,
            source=source,
            type=type_,
            time=at,
            subject=stream,
            data=data,
            stream_id=stream,
            stream_version=version,
            position=position,
            actor=actor,
            hash=digest,
            prev_hash=prev_hash,
            log_head=head,
        )


def project_events(
    chains: Chains,
    samples: dict[str, dict[str, Any]],
    project: uuid.UUID,
    at: datetime,
    rng: random.Random,
) -> Iterator[tuple[str, EventEnvelope]]:
    """The six events of one project, as (intake|governance, envelope)."""
    review = str(uuid.uuid4())
    votes = [str(uuid.uuid4()), str(uuid.uuid4())]
    gate = rng.choice(GATES)
    approvers = rng.sample(APPROVERS, 2)
    outcome = rng.choice(OUTCOMES)
    ids = {"project_id": str(project), "review_id": review}
    intake_stream, gates_stream = f"project-{project}", f"gates-{project}"
    prev = GENESIS_HASH
    for version, (kind, type_) in enumerate(
        ((("requested", ProjectRequested.event_type), ("submitted", ProjectSubmitted.event_type))),
        start=1,
    ):
        data = {**samples[kind], "project_id": str(project)}
        envelope = chains.envelope(
            INTAKE_SOURCE, intake_stream, version, prev, type_, data, at, "alice"
        )
        prev = envelope.hash or GENESIS_HASH
        at += timedelta(seconds=1)
        yield "intake", envelope
    opened = {
        **samples["opened"],
        **ids,
        "gate": {**samples["opened"]["gate"], "key": gate, "name": f"Gate {gate}"},
    }
    steps: list[tuple[str, dict[str, Any], str]] = [(GateReviewOpened.event_type, opened, "alice")]
    for vote_id, approver in zip(votes, approvers, strict=True):
        steps.append(
            (
                VoteCast.event_type,
                {
                    **samples["vote"],
                    **ids,
                    "vote_id": vote_id,
                    "seat": f"user:{approver}",
                    "approver": approver,
                    "cast_by": approver,
                    "decision": outcome,
                },
                approver,
            )
        )
    steps.append(
        (
            GateDecided.event_type,
            {
                **samples["decided"],
                **ids,
                "gate": gate,
                "outcome": outcome,
                "rationale": f"panel said {outcome}",
                "decided_by": approvers,
                "votes": votes,
            },
            approvers[0],
        )
    )
    prev = GENESIS_HASH
    for version, (step_type, data, actor) in enumerate(steps, start=1):
        at += timedelta(minutes=rng.randint(1, 600))
        envelope = chains.envelope(
            GOVERNANCE_SOURCE, gates_stream, version, prev, step_type, data, at, actor
        )
        prev = envelope.hash or GENESIS_HASH
        yield "governance", envelope


async def write_log(config: BenchConfig) -> Log:
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    topics = {
        "intake": intake_events_topic(namespace),
        "governance": governance_events_topic(namespace),
    }
    admin = KafkaAdmin(config.kafka, client_id="bench")
    try:
        await admin.start()
        await admin.ensure_topics(topics.values(), partitions=PARTITIONS)
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=config.kafka,
        acks="all",
        enable_idempotence=True,
        linger_ms=50,
        max_batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    rng = random.Random(42)
    samples = templates()
    chains = Chains()
    projects: list[uuid.UUID] = []
    first = datetime(2026, 1, 1, tzinfo=UTC)
    span = timedelta(days=365)
    count = config.events // EVENTS_PER_PROJECT
    await producer.start()
    try:
        pending: list[asyncio.Future[Any]] = []
        started = time.perf_counter()
        for n in range(count):
            project = uuid.uuid4()
            projects.append(project)
            at = first + span * n / count
            for producer_name, envelope in project_events(chains, samples, project, at, rng):
                record = to_kafka_record(envelope)
                pending.append(
                    await producer.send(
                        topics[producer_name],
                        value=record.value,
                        key=record.key,
                        headers=record.headers,
                    )
                )
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
                done = (n + 1) * EVENTS_PER_PROJECT
                print(
                    f"  written {done:,} events ({done / (time.perf_counter() - started):,.0f}/s)",
                    flush=True,
                )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return Log(
        namespace,
        (topics["intake"], topics["governance"]),
        count * EVENTS_PER_PROJECT,
        projects,
        first,
        first + span,
    )


@dataclass(frozen=True)
class Rate:
    """Events per second, and CPU time per event (this process: less sensitive to what else
    runs on the machine)."""

    per_second: float
    cpu_us_per_event: float


class Stopwatch:
    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def rate(self, events: int) -> Rate:
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        return Rate(events / wall, cpu / max(events, 1) * 1e6)


async def bare_consumer(config: BenchConfig, log: Log) -> Rate:
    """How fast a plain consumer reads the log from the beginning to the end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=config.kafka,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for topic in log.topics for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        positions = dict.fromkeys(partitions, 0)
        read = 0
        stopwatch = Stopwatch()
        while any(positions[tp] < end[tp] for tp in partitions):
            for partition, records in (await consumer.getmany(timeout_ms=500)).items():
                read += len(records)
                positions[partition] = records[-1].offset + 1
        return stopwatch.rate(read)
    finally:
        await consumer.stop()


async def rebuild(config: BenchConfig, log: Log, schema: str) -> tuple[Rate, int]:
    """How fast reporting's projections are rebuilt, and how many events were applied."""
    settings = ReportingSettings(
        database_url=config.database_url,
        database_schema=schema,
        kafka_bootstrap_servers=config.kafka,
        topic_namespace=log.namespace,
    )
    await asyncio.to_thread(migrate, settings)
    database = Database.from_url(config.database_url, schema=schema)
    try:
        consumer = AIOKafkaConsumer(bootstrap_servers=config.kafka)
        await consumer.start()
        try:
            partitions = [
                TopicPartition(topic, p) for topic in log.topics for p in range(PARTITIONS)
            ]
            end = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
        async with database.transaction() as connection:
            await connection.execute(
                insert(consumer_offsets),
                [
                    {
                        "consumer": PROJECTIONS_CONSUMER,
                        "topic": tp.topic,
                        "partition": tp.partition,
                        "next_offset": offset,
                        "updated_at": datetime.now(UTC),
                    }
                    for tp, offset in end.items()
                ],
            )
        rebuilder = Rebuilder(
            database=database,
            bootstrap_servers=config.kafka,
            consumer_name=PROJECTIONS_CONSUMER,
            topics=log.topics,
        )
        tune_garbage_collector()  # as the reporting service's process does (serve)
        stopwatch = Stopwatch()
        rebuilder.start()
        status = await rebuilder.wait()
        if status.state != "done":
            raise RuntimeError(f"rebuild {status.state}: {status.error}")
        # The rate the rebuild reports itself (shadow tables and swap included).
        measured = stopwatch.rate(status.read)
        return Rate(status.events_per_second or 0.0, measured.cpu_us_per_event), status.applied
    finally:
        await database.dispose()


def audit_queries(log: Log, rng: random.Random) -> Iterator[dict[str, Any]]:
    """An endless mix of the questions an auditor asks."""
    while True:
        since = log.first + (log.last - log.first) * rng.random()
        yield from (
            {},
            {"sort": "-time"},
            {"project_id": str(rng.choice(log.projects))},
            {"approver": rng.choice(APPROVERS)},
            {"gate": rng.choice(GATES), "outcome": ["kill", "hold"], "sort": "-time"},
            {
                "kind": "decision",
                "since": since.isoformat(),
                "until": (since + timedelta(days=7)).isoformat(),
            },
        )


async def audit(config: BenchConfig, log: Log, schema: str) -> list[float]:
    deployment = await start_deployment(
        config, namespace=log.namespace, schemas={"reporting": schema}, services=("reporting",)
    )
    try:
        url = f"{deployment.url('reporting')}/v1/audit/decisions"
        headers = deployment.auth("audrey", Role.AUDITOR)
        latencies: list[float] = []
        rng = random.Random(7)
        async with httpx.AsyncClient(timeout=60) as http:
            queries = audit_queries(log, rng)
            for n in range(config.audit_queries + 20):
                params = next(queries)
                started = time.perf_counter()
                response = await http.get(url, params=params, headers=headers)
                response.raise_for_status()
                cursor = response.json()["next_cursor"]
                if cursor and n % 3 == 0:  # and its next page
                    response = await http.get(
                        url, params={**params, "cursor": cursor}, headers=headers
                    )
                    response.raise_for_status()
                if n >= 20:  # the first few warm the connection pool and caches
                    latencies.append(time.perf_counter() - started)
        return latencies
    finally:
        deployment.stop()


def decision_filter(params: dict[str, Any]) -> DecisionFilter:
    """The filter the API builds from these query parameters."""
    outcome = params.get("outcome", ())
    kind = params.get("kind")
    return DecisionFilter(
        project_id=uuid.UUID(params["project_id"]) if "project_id" in params else None,
        gate=params.get("gate"),
        approver=params.get("approver"),
        outcome=[outcome] if isinstance(outcome, str) else outcome,
        kind=[kind] if kind else (),
        since=datetime.fromisoformat(params["since"]) if "since" in params else None,
        until=datetime.fromisoformat(params["until"]) if "until" in params else None,
        newest_first=params.get("sort") == "-time",
    )


async def audit_in_database(config: BenchConfig, log: Log, schema: str) -> list[float]:
    """The same questions straight to the read model (reporting's query code, no HTTP)."""
    database = Database.from_url(config.database_url, schema=schema)
    latencies: list[float] = []
    try:
        queries = audit_queries(log, random.Random(7))
        async with database.engine.connect() as connection:
            for n in range(config.audit_queries + 20):
                where = decision_filter(next(queries))
                started = time.perf_counter()
                page = await decision_page(connection, where, cursor=None, limit=100)
                if page.next_cursor and n % 3 == 0:
                    await decision_page(connection, where, cursor=page.next_cursor, limit=100)
                if n >= 20:
                    latencies.append(time.perf_counter() - started)
    finally:
        await database.dispose()
    return latencies


async def run(config: BenchConfig, results: Results) -> None:
    print(f"log: writing {config.events:,} events to Kafka", flush=True)
    started = time.perf_counter()
    log = await write_log(config)
    results.note(f"log of {log.events:,} events written in {time.perf_counter() - started:.0f} s")
    ceiling = await bare_consumer(config, log)
    print(f"log: bare consumer {ceiling.per_second:,.0f} records/s; rebuilding", flush=True)
    schema = f"bench_reporting_{uuid.uuid4().hex[:8]}"
    rate, applied = await rebuild(config, log, schema)
    results.add(f"rebuild over {log.events:,} events", rate.per_second, "events/s", at_least=50_000)
    results.add("bare aiokafka consumer, same topics", ceiling.per_second, "events/s")
    results.add("rebuild / bare consumer", rate.per_second / ceiling.per_second, "x", at_least=0.3)
    results.add("rebuild, CPU per event", rate.cpu_us_per_event, "us")
    results.add("bare consumer, CPU per event", ceiling.cpu_us_per_event, "us")
    if applied != log.events:
        results.note(f"rebuild applied {applied:,} of {log.events:,} events")
    latencies = await audit(config, log, schema)
    results.add(f"audit query p50 ({log.events:,} events)", percentile(latencies, 50) * 1000, "ms")
    results.add(
        f"audit query p99 ({log.events:,} events)",
        percentile(latencies, 99) * 1000,
        "ms",
        at_most=50,
    )
    latencies = await audit_in_database(config, log, schema)
    results.add("audit query p50, database only", percentile(latencies, 50) * 1000, "ms")
    results.add("audit query p99, database only", percentile(latencies, 99) * 1000, "ms")
