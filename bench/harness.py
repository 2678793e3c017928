"""What every benchmark needs: the run's configuration, percentiles, the results table, and the
three services started as real processes (uvicorn via ``python -m <service>``) on PostgreSQL."""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text

from gatehouse.auth import DevIssuer, Role
from gatehouse.database import Database

__all__ = [
    "SERVICES",
    "BenchConfig",
    "Deployment",
    "Figure",
    "Results",
    "fresh_schema",
    "percentile",
    "start_deployment",
]

SERVICES = ("intake", "governance", "reporting")
BIN = Path(sys.executable).parent
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0


@dataclass(frozen=True)
class BenchConfig:
    """Where the benchmarks run and how big they are."""

    database_url: str
    kafka: str
    workdir: Path
    events: int = 1_000_000
    append_events: int = 20_000
    command_seconds: float = 10.0
    concurrencies: tuple[int, ...] = (1, 4, 16, 64)
    e2e_rate: float = 200.0
    e2e_seconds: float = 30.0
    audit_queries: int = 1000
    base_port: int = 18001


@dataclass(frozen=True)
class Figure:
    """One row of the table: what was measured, against which target (if any)."""

    name: str
    measured: float
    unit: str
    target: str = ""
    met: bool | None = None

    def cells(self) -> tuple[str, str, str, str]:
        verdict = "" if self.met is None else ("yes" if self.met else "NO")
        value = f"{self.measured:,.2f}" if abs(self.measured) < 100 else f"{self.measured:,.0f}"
        return self.name, f"{value} {self.unit}", self.target, verdict


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        name: str,
        measured: float,
        unit: str,
        *,
        at_least: float | None = None,
        at_most: float | None = None,
    ) -> Figure:
        target, met = "", None
        if at_least is not None:
            target, met = f">= {at_least:,g} {unit}", measured >= at_least
        if at_most is not None:
            target, met = f"<= {at_most:,g} {unit}", measured <= at_most
        figure = Figure(name, measured, unit, target, met)
        self.figures.append(figure)
        print(f"  {' | '.join(cell for cell in figure.cells() if cell)}", flush=True)
        return figure

    def note(self, line: str) -> None:
        self.notes.append(line)
        print(f"  note: {line}", flush=True)

    def table(self) -> str:
        header = ("figure", "measured", "target", "met?")
        rows = [header, *(figure.cells() for figure in self.figures)]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        lines.insert(1, "-+-".join("-" * width for width in widths))
        return "\n".join([*lines, *(f"* {note}" for note in self.notes)])


def percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0 < p < 100) of the samples, by linear interpolation."""
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=1000, method="inclusive")[round(p * 10) - 1]


async def fresh_schema(url: str, prefix: str) -> str:
    """A new, empty PostgreSQL schema for one benchmark's tables."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    database = Database.from_url(url)
    try:
        async with database.transaction() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        await database.dispose()
    return schema


@dataclass
class ServiceProcess:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used so far (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        """Resident memory of the process now (Linux ``/proc``)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


@dataclass(eq=False)
class Deployment:
    """The three services running as processes, each on its own PostgreSQL schema."""

    services: dict[str, ServiceProcess]
    env: dict[str, str]
    issuer: DevIssuer
    namespace: str

    def url(self, service: str) -> str:
        return self.services[service].url

    def auth(self, subject: str, *roles: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, roles)}"}

    def rss_mib(self) -> dict[str, float]:
        return {name: service.rss_mib() for name, service in self.services.items()}

    def cpu_seconds(self) -> dict[str, float]:
        return {name: service.cpu_seconds() for name, service in self.services.items()}

    def stop(self) -> None:
        _running.discard(self)
        for service in self.services.values():
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        for service in self.services.values():
            try:
                service.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()


def service_env(
    config: BenchConfig, *, namespace: str, schemas: dict[str, str], services: Iterable[str]
) -> dict[str, str]:
    """The environment the services read their settings from (rate limits off)."""
    env = {**os.environ, "XDG_DATA_HOME": str(config.workdir / "data")}
    for offset, service in enumerate(SERVICES):
        if service not in services:
            continue
        prefix = service.upper()
        env |= {
            f"{prefix}_PORT": str(config.base_port + offset),
            f"{prefix}_DATABASE_URL": config.database_url,
            f"{prefix}_DATABASE_SCHEMA": schemas[service],
            f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": config.kafka,
            f"{prefix}_TOPIC_NAMESPACE": namespace,
            f"{prefix}_RATE_LIMIT_PER_SECOND": "0",
            f"{prefix}_LOG_LEVEL": "WARNING",
        }
    return env


async def start_deployment(
    config: BenchConfig,
    *,
    namespace: str | None = None,
    schemas: dict[str, str] | None = None,
    services: Sequence[str] = SERVICES,
) -> Deployment:
    """Migrate and start ``services`` (fresh schemas and topics unless given), wait until
    each answers ``/readyz``."""
    namespace = namespace or f"bench{uuid.uuid4().hex[:8]}"
    schemas = dict(schemas or {})
    for service in services:
        schemas.setdefault(service, f"bench_{service}_{uuid.uuid4().hex[:8]}")
    env = service_env(config, namespace=namespace, schemas=schemas, services=services)
    logs = config.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for service in services:
        await asyncio.to_thread(_migrate, service, env)
    # The services load the development issuer's key; create it before they race to.
    issuer = DevIssuer(
        config.workdir / "data" / "gatehouse" / "dev-issuer-es256.pem",
        issuer="gatehouse-dev",
        audience="gatehouse",
    )
    started: dict[str, ServiceProcess] = {}
    for service in services:
        port = env[f"{service.upper()}_PORT"]
        with (logs / f"{service}-{namespace}.log").open("wb") as log:
            process = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
                [sys.executable, "-m", service], env=env, stdout=log, stderr=log
            )
        started[service] = ServiceProcess(service, f"http://127.0.0.1:{port}", process)
    deployment = Deployment(started, env, issuer, namespace)
    _running.add(deployment)
    try:
        await _wait_ready(deployment)
    except BaseException:
        deployment.stop()
        raise
    return deployment


def _migrate(service: str, env: dict[str, str]) -> None:
    subprocess.run(
        [BIN / "gatehouse", "migrate", service], env=env, check=True, capture_output=True
    )


_running: set[Deployment] = set()


@atexit.register
def _stop_running() -> None:
    """Also when the benchmark is interrupted: no service process outlives it."""
    for deployment in list(_running):
        deployment.stop()


async def _wait_ready(deployment: Deployment) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    async with httpx.AsyncClient(timeout=2) as http:
        for service in deployment.services.values():
            while True:
                if service.process.poll() is not None:
                    raise RuntimeError(
                        f"{service.name} exited during start-up "
                        f"(status {service.process.returncode})"
                    )
                try:
                    if (await http.get(f"{service.url}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{service.name} not ready after {READY_TIMEOUT} s")
                await asyncio.sleep(0.2)
