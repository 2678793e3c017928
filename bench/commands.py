"""Commands over HTTP: intake's ``POST /v1/projects`` (bearer token, ``Idempotency-Key``).

* End-to-end latency: commands sent at a steady rate (open loop); for each, the time from its
  201 to the moment reporting's live stream (SSE, served from its read model's log) shows the
  project's ``ProjectRequested``.
* Throughput and latency at increasing concurrency (closed loop: each client sends its next
  command when the last one is answered).
* Resident memory of each service process, idle and at its peak under that load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.harness import BenchConfig, Deployment, Results, percentile, start_deployment
from gatehouse.auth import Role

__all__ = ["run"]

MAX_IN_FLIGHT = 64
RESEND_ATTEMPTS = 3


def project_request(n: int) -> dict[str, Any]:
    return {
        "title": f"Benchmark project {n}",
        "description": "Replace the legacy CRM",
        "sponsor": "carol",
        "business_unit": "Sales",
        "project_type": "standard",
        "estimated_cost": {"amount": "250000.00", "currency": "EUR"},
        "start_date": "2027-01-04",
        "target_date": "2027-09-30",
        "expected_benefits": "Halve quote-to-order time",
        "risk_level": "medium",
    }


@dataclass
class Client:
    """Sends project requests as one requester, each with a fresh idempotency key.

    The client is aiohttp's: the load generator shares the machine's CPUs with the services it
    measures, and httpx took about four times as much CPU per request (1.9 against 0.5 ms).
    """

    http: aiohttp.ClientSession
    url: str
    headers: dict[str, str]
    statuses: Counter[int] = field(default_factory=Counter)
    sent: int = 0
    # Requests sent again, with the same key, on a connection the server had just closed.
    resent: int = 0

    async def request_project(self) -> tuple[float, str | None]:
        """The request's latency, and the new project's id (None unless 201)."""
        self.sent += 1
        headers = {**self.headers, "Idempotency-Key": str(uuid.uuid4())}
        body = project_request(self.sent)
        started = time.perf_counter()
        for attempt in range(1, RESEND_ATTEMPTS + 1):
            try:
                async with self.http.post(
                    f"{self.url}/v1/projects", headers=headers, json=body
                ) as response:
                    answer = await response.json(content_type=None)  # problem+json too
                    status = response.status
                break
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                # A kept-alive connection the server closed as it was reused: what any client
                # does, send it again with the same key (a retry can never create twice).
                if attempt == RESEND_ATTEMPTS:
                    raise
                self.resent += 1
        elapsed = time.perf_counter() - started
        self.statuses[status] += 1
        return elapsed, answer["id"] if status == 201 else None


@dataclass
class MemoryWatch:
    """Samples every service's resident memory; keeps the peak."""

    deployment: Deployment
    peak: dict[str, float] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._sample())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sample(self) -> None:
        while True:
            for name, rss in self.deployment.rss_mib().items():
                self.peak[name] = max(self.peak.get(name, 0.0), rss)
            await asyncio.sleep(0.25)


async def closed_loop(
    client: Client, concurrency: int, seconds: float
) -> tuple[int, float, list[float]]:
    """Commands answered 201, elapsed seconds, latencies of all requests."""
    latencies: list[float] = []
    created = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal created
        while time.perf_counter() < deadline:
            latency, project_id = await client.request_project()
            latencies.append(latency)
            created += project_id is not None

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return created, time.perf_counter() - started, latencies


@dataclass
class Arrivals:
    """When each project was created (its 201) and when reporting showed it."""

    created: dict[str, float] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)
    all_seen: asyncio.Event = field(default_factory=asyncio.Event)
    # Times the live stream dropped and was resumed from the last event id seen.
    resumed: int = 0

    def saw(self, project_id: str) -> None:
        self.seen.setdefault(project_id, time.perf_counter())
        self._check()

    def made(self, project_id: str) -> None:
        self.created[project_id] = time.perf_counter()
        self._check()

    def missing(self) -> set[str]:
        return set(self.created) - set(self.seen)

    def _check(self) -> None:
        if not self.missing():
            self.all_seen.set()
        else:
            self.all_seen.clear()


async def watch_stream(
    http: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    arrivals: Arrivals,
    connected: asyncio.Event,
) -> None:
    """Record when each project's ProjectRequested shows up on reporting's live stream; a
    dropped stream is resumed from the last event id seen, as an SSE client does."""
    last_id: str | None = None
    while True:
        resume = {"Last-Event-ID": last_id} if last_id is not None else {}
        try:
            async with http.get(
                f"{url}/v1/events/stream",
                params={"type": "ProjectRequested"},
                headers={**headers, **resume},
                timeout=aiohttp.ClientTimeout(connect=10),
            ) as response:
                response.raise_for_status()
                connected.set()
                async for raw in response.content:
                    line = raw.decode().rstrip("\r\n")
                    if line.startswith("id: "):
                        last_id = line[4:]
                    elif line.startswith("data: "):
                        arrivals.saw(json.loads(line[6:])["project_id"])
        except (
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientPayloadError,
            aiohttp.ClientOSError,
        ) as error:
            arrivals.resumed += 1
            print(f"  live stream dropped ({error!r}); resuming after {last_id}", flush=True)
            await asyncio.sleep(0.5)


async def end_to_end(
    deployment: Deployment, client: Client, rate: float, seconds: float
) -> tuple[list[float], float, Arrivals]:
    """Latencies from 201 to visible in reporting, the rate achieved, and how many never
    showed up. Sends on a fixed schedule; when the service falls behind, at most
    ``MAX_IN_FLIGHT`` commands wait and the schedule slips (the achieved rate says so)."""
    arrivals = Arrivals()
    connected = asyncio.Event()
    headers = deployment.auth("dashboard", Role.AUDITOR)
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    async with aiohttp.ClientSession() as stream_http:
        watcher = asyncio.create_task(
            watch_stream(stream_http, deployment.url("reporting"), headers, arrivals, connected)
        )
        await asyncio.wait_for(connected.wait(), timeout=30)

        async def send() -> None:
            try:
                _, project_id = await client.request_project()
                if project_id is not None:
                    arrivals.made(project_id)
            finally:
                in_flight.release()

        tasks: list[asyncio.Task[None]] = []
        started = time.perf_counter()
        for n in range(round(rate * seconds)):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            await in_flight.acquire()
            tasks.append(asyncio.create_task(send()))
        await asyncio.gather(*tasks)
        achieved = len(tasks) / (time.perf_counter() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrivals.all_seen.wait(), timeout=30)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    latencies = [
        max(0.0, arrivals.seen[p] - at) for p, at in arrivals.created.items() if p in arrivals.seen
    ]
    return latencies, achieved, arrivals


async def run(config: BenchConfig, results: Results) -> None:
    deployment = await start_deployment(config)
    try:
        await asyncio.sleep(3)  # let start-up settle before the idle reading
        idle = deployment.rss_mib()
        memory = MemoryWatch(deployment)
        intake = deployment.services["intake"]
        connections = max(*config.concurrencies, MAX_IN_FLIGHT)
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=60),
        ) as http:
            client = Client(
                http, deployment.url("intake"), deployment.auth("alice", Role.REQUESTER)
            )
            await closed_loop(client, 4, 2)  # warm-up: connections, caches
            async with memory.watching():
                print(
                    f"end-to-end: {config.e2e_rate:g} commands/s for {config.e2e_seconds:g} s",
                    flush=True,
                )
                latencies, achieved, arrivals = await end_to_end(
                    deployment, client, config.e2e_rate, config.e2e_seconds
                )
                missing = len(arrivals.missing())
                results.add(
                    "end-to-end 201 -> reporting, p50", percentile(latencies, 50) * 1000, "ms"
                )
                results.add(
                    f"end-to-end 201 -> reporting, p99 at {achieved:.0f}/s",
                    percentile(latencies, 99) * 1000,
                    "ms",
                    at_most=250,
                )
                if achieved < config.e2e_rate * 0.95:
                    results.note(
                        f"end-to-end: intake kept up with {achieved:.0f} of the "
                        f"{config.e2e_rate:g} commands/s asked for"
                    )
                if missing:
                    results.note(f"end-to-end: {missing} commands not visible within 30 s")
                if arrivals.resumed:
                    results.note(
                        f"end-to-end: reporting's live stream dropped "
                        f"{arrivals.resumed} times and was resumed"
                    )
                for concurrency in config.concurrencies:
                    before, intake_before = time.process_time(), intake.cpu_seconds()
                    created, elapsed, latencies = await closed_loop(
                        client, concurrency, config.command_seconds
                    )
                    client_cpu = (time.process_time() - before) / elapsed
                    intake_cpu = (intake.cpu_seconds() - intake_before) / max(created, 1)
                    rate = created / elapsed
                    results.add(
                        f"commands, {concurrency} concurrent", rate, "commands/s", at_least=1000
                    )
                    results.add(
                        f"commands, {concurrency} concurrent, p50",
                        percentile(latencies, 50) * 1000,
                        "ms",
                    )
                    results.add(
                        f"commands, {concurrency} concurrent, p99",
                        percentile(latencies, 99) * 1000,
                        "ms",
                    )
                    results.add(
                        f"commands, {concurrency} concurrent, intake CPU per command",
                        intake_cpu * 1000,
                        "ms",
                    )
                    results.note(
                        f"{concurrency} concurrent: the load generator used "
                        f"{client_cpu:.0%} of a core"
                    )
        for name in idle:
            results.add(f"RSS {name}, idle", idle[name], "MiB")
            results.add(f"RSS {name}, under load (peak)", memory.peak.get(name, idle[name]), "MiB")
        unexpected = {status: n for status, n in client.statuses.items() if status != 201}
        if unexpected:
            results.note(f"commands answered other than 201: {unexpected}")
        if client.resent:
            results.note(
                f"{client.resent} requests sent again with their key after the server "
                "closed a kept-alive connection"
            )
    finally:
        deployment.stop()
