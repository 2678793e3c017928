"""Fault injection: services on their own PostgreSQL schemas and a real broker; the parts that
get killed run as real processes. Each test reports its figures (see ``audit``) in the terminal
summary and as a ``fault_figures`` property of its report."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import func, select

from gatehouse.auth import DevIssuer
from gatehouse.database import Database
from gatehouse.events import intake as intake_events
from gatehouse.events.base import DomainEvent
from gatehouse.events.topics import intake_events_topic
from gatehouse.events.types import Money
from gatehouse.eventstore.schema import events
from gatehouse.eventstore.store import EventStore
from gatehouse.testing.harness import RunningService, eventually, running_service
from gatehouse.unit_of_work import UnitOfWork
from intake import domain
from intake.bootstrap import migrate as migrate_intake
from intake.domain import ApproveProject, QualifyProject, StartScreening, SubmitProject
from intake.main import create_app as create_intake
from intake.settings import IntakeSettings
from reporting.bootstrap import migrate as migrate_reporting
from reporting.bootstrap import projection_topics
from reporting.main import create_app as create_reporting
from reporting.settings import ReportingSettings
from reporting.tables import event_log

from .audit import RebuildFromScratch, RunFigures, audit_run

_FIGURES = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_FIGURES] = []


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(_FIGURES, [])
    if lines:
        terminalreporter.section("fault injection figures")
        for line in lines:
            terminalreporter.write_line(line)


ReportFigures = Callable[[RunFigures], None]


@pytest.fixture
def report_figures(
    request: pytest.FixtureRequest, record_property: Callable[[str, object], None]
) -> ReportFigures:
    """Print a run's figures, attach them to the test's report, and assert the pass criteria."""

    def report(figures: RunFigures) -> None:
        line = figures.line()
        record_property("fault_figures", line)
        request.config.stash[_FIGURES].append(line)
        print(line)
        assert figures.passed, line

    return report


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Databases:
    """Intake's and reporting's databases (each its own PostgreSQL schema), migrated."""

    url: str
    intake_schema: str
    reporting_schema: str
    intake: Database = field(init=False)
    reporting: Database = field(init=False)

    def __post_init__(self) -> None:
        self.intake = Database.from_url(self.url, schema=self.intake_schema)
        self.reporting = Database.from_url(self.url, schema=self.reporting_schema)


@pytest.fixture
async def databases(
    postgres_url: str, new_pg_schema: Callable[[], Awaitable[str]]
) -> AsyncIterator[Databases]:
    found = Databases(postgres_url, await new_pg_schema(), await new_pg_schema())
    common: dict[str, Any] = {"database_url": postgres_url}
    await asyncio.to_thread(
        migrate_intake, IntakeSettings(database_schema=found.intake_schema, **common)
    )
    await asyncio.to_thread(
        migrate_reporting, ReportingSettings(database_schema=found.reporting_schema, **common)
    )
    yield found
    await found.intake.dispose()
    await found.reporting.dispose()


async def audit(
    scenario: str,
    databases: Databases,
    bootstrap_servers: str,
    namespace: str,
    *,
    rebuild: RebuildFromScratch | None = None,
) -> RunFigures:
    return await audit_run(
        scenario,
        producer=databases.intake,
        source=intake_events.SOURCE,
        reporting=databases.reporting,
        bootstrap_servers=bootstrap_servers,
        namespace=namespace,
        topics=projection_topics(namespace),
        rebuild=rebuild,
    )


async def reporting_caught_up(databases: Databases, *, timeout: float) -> None:  # noqa: ASYNC109
    """Wait until reporting's log holds as many intake events as intake stored, and stays so."""
    seen: list[tuple[int, int]] = []

    async def caught_up() -> bool:
        async with databases.intake.engine.connect() as connection:
            stored = (
                await connection.execute(select(func.count()).select_from(events))
            ).scalar_one()
        async with databases.reporting.engine.connect() as connection:
            held = (
                await connection.execute(
                    select(func.count())
                    .select_from(event_log)
                    .where(event_log.c.source == intake_events.SOURCE)
                )
            ).scalar_one()
        seen.append((held, stored))
        return len(seen) > 2 and seen[-1][0] == seen[-1][1] and seen[-1] == seen[-2]

    try:
        await eventually(
            caught_up,
            timeout=timeout,
            interval=0.25,
            description="reporting applied every intake event",
        )
    except AssertionError:
        raise AssertionError(
            f"reporting holds {seen[-1][0]} intake events of {seen[-1][1]}"
        ) from None


@dataclass
class InProcess:
    intake: RunningService
    reporting: RunningService
    namespace: str
    bootstrap_servers: str


@asynccontextmanager
async def in_process(
    databases: Databases,
    *,
    bootstrap_servers: str,
    namespace: str,
    issuer: DevIssuer,
    **intake_overrides: Any,
) -> AsyncIterator[InProcess]:
    """Intake and reporting in this process, on ``databases`` and the broker given."""
    common: dict[str, Any] = {
        "database_url": databases.url,
        "kafka_bootstrap_servers": bootstrap_servers,
        "topic_namespace": namespace,
        "auth_dev_key_file": issuer.key_file,
        "log_json": False,
    }
    async with AsyncExitStack() as stack:
        intake = await stack.enter_async_context(
            running_service(
                create_intake(
                    IntakeSettings(
                        database_schema=databases.intake_schema, **common, **intake_overrides
                    )
                ),
                issuer,
            )
        )
        reporting = await stack.enter_async_context(
            running_service(
                create_reporting(
                    ReportingSettings(database_schema=databases.reporting_schema, **common)
                ),
                issuer,
            )
        )
        yield InProcess(intake, reporting, namespace, bootstrap_servers)


# The lifecycle each bulk project goes through: requested, then these steps, 5 events in all.
LIFECYCLE: tuple[domain.Command, ...] = (
    SubmitProject(),
    StartScreening(),
    QualifyProject(),
    ApproveProject(),
)
EVENTS_PER_PROJECT = 1 + len(LIFECYCLE)


async def append_projects(
    database: Database, namespace: str, count: int, *, per_transaction: int = 100, writers: int = 2
) -> int:
    """Request ``count`` projects and take each through ``LIFECYCLE``, through intake's event
    store (the real append path: expected versions, hash chain, outbox rows, NOTIFY to the
    relay), without HTTP: ``writers`` concurrent transactions of ``per_transaction`` projects,
    so commits race each other as concurrent commands do. Returns the events appended."""
    store = EventStore(source=intake_events.SOURCE, topic=intake_events_topic(namespace))
    chunks = [
        range(first, min(first + per_transaction, count))
        for first in range(0, count, per_transaction)
    ]

    async def write(mine: list[range]) -> int:
        appended = 0
        for chunk in mine:
            async with database.transaction() as connection:
                uow = UnitOfWork.on(connection, store, intake_events.intake_events, actor="alice")
                for n in chunk:
                    history = _project_history(n)
                    await uow.append(
                        domain.stream_id(history.project_id), history.events, expected_version=0
                    )
                    appended += len(history.events)
        return appended

    return sum(await asyncio.gather(*(write(chunks[i::writers]) for i in range(writers))))


@dataclass(frozen=True)
class _History:
    project_id: UUID
    events: list[DomainEvent]


def _project_history(n: int) -> _History:
    """The events of project ``n``: requested, then ``LIFECYCLE``, decided by intake's domain."""
    history = domain.decide(None, _request_command(n))
    project = domain.replay(history)
    for command in LIFECYCLE:
        for event in domain.decide(project, command):
            history.append(event)
            project = domain.evolve(project, event)
    assert project is not None
    return _History(project.id, history)


def _request_command(n: int) -> domain.RequestProject:
    return domain.RequestProject(
        project_id=uuid4(),
        title=f"Bulk project {n}",
        description="fault injection",
        sponsor="carol",
        business_unit=f"BU{n % 3}",
        project_type="standard",
        estimated_cost=Money(Decimal(1000 + n), "EUR"),
        requested_by="alice",
        start_date=date(2027, 1, 4),
        target_date=date(2027, 9, 30),
        risk_level="low",
    )


def project_request(n: int) -> dict[str, Any]:
    return {
        "title": f"Project {n}",
        "description": "fault injection",
        "sponsor": "carol",
        "business_unit": f"BU{n % 3}",
        "project_type": "standard",
        "estimated_cost": {"amount": f"{1000 + n}.00", "currency": "EUR"},
        "start_date": "2027-01-04",
        "target_date": "2027-09-30",
        "expected_benefits": "b",
        "risk_level": "low",
    }


# --- services as processes ------------------------------------------------------------------


@dataclass
class ServiceProcess:
    """One service run as ``python -m <service>``: started, SIGKILLed, started again."""

    service: str
    env: dict[str, str]
    log_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"{self.service}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.service],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, open transactions die with the connection."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    async def ready(self, *, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        async with httpx.AsyncClient(timeout=2) as http:

            async def is_ready() -> bool:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"{self.service} exited: see {self.log_dir}")
                try:
                    return (await http.get(f"{self.url}/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(
                is_ready, timeout=timeout, interval=0.2, description=f"{self.service} ready"
            )


@pytest.fixture
def service_processes(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Makes service processes on the given database schema and broker; kills them after."""
    made: list[ServiceProcess] = []

    def make(
        service: str, *, database_url: str, schema: str, bootstrap_servers: str, namespace: str
    ) -> ServiceProcess:
        prefix = service.upper()
        port = free_port()
        env = {
            **os.environ,
            "XDG_DATA_HOME": str(tmp_path / "data"),
            f"{prefix}_PORT": str(port),
            f"{prefix}_DATABASE_URL": database_url,
            f"{prefix}_DATABASE_SCHEMA": schema,
            f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            f"{prefix}_TOPIC_NAMESPACE": namespace,
            f"{prefix}_LOG_JSON": "false",
        }
        process = ServiceProcess(service, env, tmp_path, port)
        made.append(process)
        return process

    yield make
    for process in made:
        process.stop()
