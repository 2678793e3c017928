"""An outbox relay alone in a process, to be killed for real.

``python relay_process.py DATABASE_URL SCHEMA BOOTSTRAP_SERVERS --die-after-publish`` publishes
the first batch of pending events and, once the broker has acknowledged it and before the batch
is marked published, SIGKILLs itself: the crash the relay's at-least-once promise is about. It
prints how many events the broker had acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from gatehouse.database import Database
from gatehouse.events.intake import SOURCE
from gatehouse.messaging.kafka import create_idempotent_producer
from gatehouse.messaging.relay import OutboxRelay, PendingEvent
from gatehouse.observability import Metrics


async def run(database_url: str, schema: str, bootstrap_servers: str) -> None:
    database = Database.from_url(database_url, schema=schema)

    async def die(published: list[PendingEvent]) -> None:
        print(len(published), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    relay = OutboxRelay(
        database=database,
        source=SOURCE,
        metrics=Metrics("fault-relay"),
        after_publish=die,
        producer_factory=lambda: create_idempotent_producer(
            bootstrap_servers, client_id="fault-relay"
        ),
    )
    await relay.publish_pending()
    raise SystemExit("nothing was pending")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("schema")
    parser.add_argument("bootstrap_servers")
    parser.add_argument("--die-after-publish", action="store_true", required=True)
    args = parser.parse_args(argv)
    asyncio.run(run(args.database_url, args.schema, args.bootstrap_servers))


if __name__ == "__main__":
    main(sys.argv[1:])
