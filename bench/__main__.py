"""Run the benchmarks and print one table (also written to ``--output``).

Usage: python -m bench --database-url URL --kafka HOST:PORT [--events N] [--only NAME ...]

Needs PostgreSQL and a Kafka broker; ``make bench`` (deploy/bench.sh) starts both. Figures are
printed, never asserted: they depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import commands, eventstore, rebuild
from bench.harness import BenchConfig, Results

BENCHMARKS: dict[str, Callable[[BenchConfig, Results], Awaitable[None]]] = {
    "append": eventstore.run,
    "commands": commands.run,
    "rebuild": rebuild.run,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        required=True,
        help="PostgreSQL, e.g. postgresql+asyncpg://user:pw@127.0.0.1/db",
    )
    parser.add_argument("--kafka", required=True, help="bootstrap servers, e.g. 127.0.0.1:9092")
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        help="events in the log for the rebuild and audit figures",
    )
    parser.add_argument(
        "--append-events", type=int, default=20_000, help="events appended per append case"
    )
    parser.add_argument(
        "--command-seconds", type=float, default=10.0, help="seconds of load at each concurrency"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--e2e-rate", type=float, default=200.0, help="commands per second")
    parser.add_argument("--e2e-seconds", type=float, default=30.0)
    parser.add_argument("--audit-queries", type=int, default=1000)
    parser.add_argument(
        "--base-port",
        type=int,
        default=18001,
        help="intake's port; governance and reporting take the next two",
    )
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=list(BENCHMARKS))
    parser.add_argument("--output", type=Path, default=Path("var/bench.txt"))
    return parser.parse_args()


async def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="gatehouse-bench-") as workdir:
        config = BenchConfig(
            database_url=args.database_url,
            kafka=args.kafka,
            workdir=Path(workdir),
            events=args.events,
            append_events=args.append_events,
            command_seconds=args.command_seconds,
            concurrencies=tuple(args.concurrency),
            e2e_rate=args.e2e_rate,
            e2e_seconds=args.e2e_seconds,
            audit_queries=args.audit_queries,
            base_port=args.base_port,
        )
        results = Results()
        load = os.getloadavg()[0]
        results.note(
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
            f"{os.cpu_count()} CPUs, load average {load:.1f} at the start"
        )
        for name in args.only:
            started = time.perf_counter()
            print(f"== {name}", flush=True)
            await BENCHMARKS[name](config, results)
            print(f"== {name}: {time.perf_counter() - started:.0f} s", flush=True)
    table = results.table()
    print(f"\n{table}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table + "\n")
    print(f"\n(written to {args.output})")


if __name__ == "__main__":
    # SIGTERM (e.g. from timeout) ends like Ctrl-C: cleanup runs, service processes stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(main())
