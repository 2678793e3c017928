"""Event-store append throughput beside the ``eventsourcing`` library's PostgreSQL recorder.

Both write to the same PostgreSQL database (each in its own schema), the same JSON payloads,
one or ten events per transaction, each transaction a new stream, from the same number of
concurrent writers (asyncio tasks for Gatehouse's async store, threads for the synchronous
recorder). Gatehouse's append does more per event: the hash chain, an outbox row and a NOTIFY.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url

from bench.harness import BenchConfig, Results, fresh_schema
from gatehouse.database import Database
from gatehouse.eventstore import EventStore, NewEvent
from gatehouse.eventstore.schema import NAMING_CONVENTION, include_event_store_tables

__all__ = ["run"]

CONCURRENCIES = (1, 8)
PER_TRANSACTION = (1, 10)
EVENT_TYPE = "gatehouse.intake.ProjectRequested"


def payload(n: int) -> dict[str, Any]:
    """An event the size of a typical project request (about 500 bytes of JSON)."""
    return {
        "project_id": str(uuid.uuid4()),
        "title": f"Project {n}",
        "description": "Replace the legacy CRM with a hosted one " * 3,
        "sponsor": "carol",
        "business_unit": "Sales",
        "project_type": "standard",
        "estimated_cost": {"amount": "250000.00", "currency": "EUR"},
        "requested_by": "alice",
        "start_date": "2027-01-04",
        "target_date": "2027-09-30",
        "expected_benefits": "Halve quote-to-order time",
        "risk_level": "medium",
    }


async def gatehouse_appends(
    database: Database,
    total: int,
    concurrency: int,
    per_transaction: int,
    *,
    on_its_own: bool = False,
) -> float:
    """Events per second appended by ``concurrency`` tasks: each append in a transaction
    block (BEGIN, append, COMMIT), as a command runs it among its other statements, or
    ``on_its_own`` (the append is one statement on PostgreSQL, a transaction by itself)."""
    store = EventStore(source="/bench", topic="bench.events")
    transactions = iter(range(total // per_transaction))
    connect = database.autocommit if on_its_own else database.transaction

    async def writer() -> None:
        for n in transactions:
            async with connect() as connection:
                await store.append(
                    connection,
                    f"bench-{uuid.uuid4()}",
                    [NewEvent(type=EVENT_TYPE, data=payload(n)) for _ in range(per_transaction)],
                    expected_version=0,
                )

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(concurrency)))
    return (total // per_transaction * per_transaction) / (time.perf_counter() - started)


def recorder_appends(
    recorder: PostgresApplicationRecorder, total: int, concurrency: int, per_transaction: int
) -> float:
    """Events per second recorded by ``concurrency`` threads."""
    transactions = iter(range(total // per_transaction))
    lock = threading.Lock()

    def writer() -> None:
        while True:
            with lock:
                n = next(transactions, None)
            if n is None:
                return
            stream = uuid.uuid4()
            recorder.insert_events(
                [
                    StoredEvent(
                        originator_id=stream,
                        originator_version=version,
                        topic=EVENT_TYPE,
                        state=json.dumps(payload(n)).encode(),
                    )
                    for version in range(1, per_transaction + 1)
                ]
            )

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(writer) for _ in range(concurrency)]:
            future.result()
    return (total // per_transaction * per_transaction) / (time.perf_counter() - started)


async def gatehouse_store(url: str) -> Database:
    schema = await fresh_schema(url, "bench_store")
    database = Database.from_url(url, schema=schema)
    metadata = include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION))
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    return database


async def eventsourcing_recorder(url: str, pool_size: int) -> PostgresApplicationRecorder:
    schema = await fresh_schema(url, "bench_es")
    parsed = make_url(url)
    if parsed.query.get("ssl") == "disable":
        os.environ["PGSSLMODE"] = "disable"  # as our store connects: no TLS on the loopback
    datastore = PostgresDatastore(
        dbname=parsed.database or "",
        host=parsed.host or "127.0.0.1",
        port=str(parsed.port or 5432),
        user=parsed.username or "",
        password=parsed.password or "",
        pool_size=pool_size,
        max_overflow=0,
        schema=schema,
    )
    recorder = PostgresApplicationRecorder(datastore, events_table_name="stored_events")
    recorder.create_table()
    return recorder


async def run(config: BenchConfig, results: Results) -> None:
    print(f"append: {config.append_events} events per case", flush=True)
    total = config.append_events
    for concurrency in CONCURRENCIES:
        for per_transaction in PER_TRANSACTION:
            database = await gatehouse_store(config.database_url)
            recorder = await eventsourcing_recorder(config.database_url, concurrency)
            try:
                # Warm both up (connections, prepared statements), then measure.
                await gatehouse_appends(database, 100, concurrency, per_transaction)
                await asyncio.to_thread(
                    recorder_appends, recorder, 100, concurrency, per_transaction
                )
                ours = await gatehouse_appends(database, total, concurrency, per_transaction)
                alone = await gatehouse_appends(
                    database, total, concurrency, per_transaction, on_its_own=True
                )
                theirs = await asyncio.to_thread(
                    recorder_appends, recorder, total, concurrency, per_transaction
                )
            finally:
                await database.dispose()
                recorder.datastore.close()
            case = f"{per_transaction}/tx, {concurrency} writer{'s' * (concurrency > 1)}"
            results.add(f"append, {case}: Gatehouse", ours, "events/s")
            results.add(f"append, {case}: Gatehouse, on its own", alone, "events/s")
            results.add(f"append, {case}: eventsourcing", theirs, "events/s")
            results.add(f"append, {case}: ratio", ours / theirs, "x", at_least=2)
            results.add(f"append, {case}: ratio, on its own", alone / theirs, "x", at_least=2)
