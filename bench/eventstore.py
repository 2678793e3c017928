"""Event-store figures: append throughput and latency at several concurrencies, feed read rate.

Prints a table; asserts nothing. Usage: python bench/eventstore.py <database-url> [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from sqlalchemy import MetaData, text

from gatehouse.database import Database
from gatehouse.eventstore import EventStore, GapFreeFeedReader, NewEvent
from gatehouse.eventstore.schema import NAMING_CONVENTION, include_event_store_tables


async def fresh_database(url: str) -> Database:
    schema = None if url.startswith("sqlite") else f"bench_{uuid.uuid4().hex[:8]}"
    if schema:
        setup = Database.from_url(url)
        async with setup.transaction() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        await setup.dispose()
    database = Database.from_url(url, schema=schema)
    metadata = include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION))
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    return database


async def appends(database: Database, store: EventStore, total: int, concurrency: int,
                  per_transaction: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = iter(range(total // per_transaction))

    async def worker() -> None:
        for n in queue:
            started = time.perf_counter()
            async with database.transaction() as connection:
                await store.append(connection, f"bench-{uuid.uuid4()}", [
                    NewEvent(type="bench.Happened", data={"n": n, "i": i})
                    for i in range(per_transaction)], expected_version=0)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


async def feed_rate(database: Database, store: EventStore) -> tuple[int, float]:
    reader = GapFreeFeedReader(source=store.source, page_size=1000)
    after, count = 0, 0
    started = time.perf_counter()
    while True:
        async with database.engine.connect() as connection:
            page = await reader.read(connection, after)
        if not page.events:
            return count, time.perf_counter() - started
        count += len(page.events)
        after = page.last_position


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    database = await fresh_database(args.url)
    store = EventStore(source="/bench", topic="bench.events")
    print(f"event store on {database.dialect}, {args.events} events per row")
    print(f"{'concurrency':>11} {'events/tx':>9} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for concurrency in (1, 4, 16):
        for per_transaction in (1, 10):
            elapsed, latencies = await appends(database, store, args.events, concurrency,
                                               per_transaction)
            quantiles = statistics.quantiles(latencies, n=100)
            print(f"{concurrency:>11} {per_transaction:>9} {args.events / elapsed:>10.0f} "
                  f"{quantiles[49] * 1000:>8.2f} {quantiles[98] * 1000:>8.2f}")
    count, elapsed = await feed_rate(database, store)
    print(f"gap-free feed read: {count} events in {elapsed:.2f} s = {count / elapsed:.0f} events/s")
    await database.dispose()


if __name__ == "__main__":
    asyncio.run(main())
