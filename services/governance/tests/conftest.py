"""Fixtures for governance's API tests: a running governance on SQLite or PostgreSQL whose
projects come from intake's events on the real broker, and the people who use it.

The tests play intake: they publish ``ProjectRequested`` and the lifecycle steps on intake's
topic, exactly as intake's outbox relay does, and governance learns of the projects from there.
Time is a clock the test moves, so that SLAs and due dates can pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from gatehouse.auth import DevIssuer, Role
from gatehouse.events.base import DomainEvent
from gatehouse.events.envelope import EventEnvelope, to_kafka_record
from gatehouse.events.intake import SOURCE as INTAKE_SOURCE
from gatehouse.events.intake import (
    ProjectRequested,
    ProjectScreeningStarted,
    ProjectSubmitted,
    intake_events,
)
from gatehouse.events.topics import intake_events_topic
from gatehouse.events.types import Money
from gatehouse.eventstore.schema import events
from gatehouse.idempotency import idempotency_keys
from gatehouse.testing.harness import RunningService, TestDatabase, eventually, running_service
from gatehouse.testing.migrated import MigratedDatabases
from governance.bootstrap import migrate
from governance.main import create_app
from governance.settings import GovernanceSettings
from governance.tables import delegations, gate_reviews

START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class MovableClock:
    """The service's now; a test moves it forward to let time pass."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class IntakePlayer:
    """Publishes a project's events on intake's topic the way intake's relay does."""

    producer: AIOKafkaProducer
    topic: str
    versions: dict[UUID, int] = field(default_factory=dict)

    async def publish(self, project_id: UUID, event: DomainEvent) -> None:
        version = self.versions.get(project_id, 0) + 1
        self.versions[project_id] = version
        stream = f"project-{project_id}"
        envelope = EventEnvelope(
            source=INTAKE_SOURCE,
            type=event.event_type,
            time=datetime.now(UTC),
            subject=stream,
            data=intake_events.serialize(event),
            stream_id=stream,
            stream_version=version,
            actor="alice",
        )
        record = to_kafka_record(envelope)
        await self.producer.send_and_wait(
            self.topic, value=record.value, key=record.key, headers=record.headers
        )

    async def request(
        self,
        *,
        requested_by: str = "alice",
        sponsor: str = "carol",
        project_type: str = "standard",
        submit: bool = True,
    ) -> UUID:
        project_id = uuid4()
        await self.publish(
            project_id,
            ProjectRequested(
                project_id=project_id,
                title="New CRM",
                description="Replace the legacy CRM",
                sponsor=sponsor,
                business_unit="Sales",
                project_type=project_type,
                estimated_cost=Money(amount=Decimal("250000.00"), currency="EUR"),
                requested_by=requested_by,
                start_date=date(2027, 1, 4),
                target_date=date(2027, 9, 30),
                expected_benefits="Faster quotes",
                risk_level="medium",
            ),
        )
        if submit:
            await self.publish(
                project_id,
                ProjectSubmitted(project_id=project_id, from_status="draft", to_status="submitted"),
            )
        return project_id

    async def start_screening(self, project_id: UUID) -> None:
        await self.publish(
            project_id,
            ProjectScreeningStarted(
                project_id=project_id, from_status="submitted", to_status="screening"
            ),
        )


def template(*gates: dict[str, Any], name: str = "Standard stage gates") -> dict[str, Any]:
    return {"name": name, "gates": list(gates)}


def gate(
    key: str,
    *seats: dict[str, str],
    quorum: str = "all",
    n: int | None = None,
    order: str = "parallel",
    kill_veto: bool = True,
    sla_hours: int = 48,
    criteria: list[dict[str, Any]] | None = None,
    evidence: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    approval: dict[str, Any] = {
        "approvers": list(seats) or [{"user": "gina"}],
        "quorum": quorum,
        "order": order,
        "kill_veto": kill_veto,
    }
    if n is not None:
        approval["n"] = n
    return {
        "key": key,
        "name": f"Gate {key}",
        "approval": approval,
        "sla_hours": sla_hours,
        "criteria": criteria or [],
        "evidence": evidence or [],
    }


class Governance:
    """A running governance service, the people who use it, and intake's events."""

    def __init__(self, service: RunningService, intake: IntakePlayer, clock: MovableClock) -> None:
        self.service = service
        self.client = service.client
        self.intake = intake
        self.clock = clock
        self.alice = service.auth("alice", Role.REQUESTER)  # requests projects
        self.carol = service.auth("carol", Role.REQUESTER, Role.APPROVER)  # sponsors them
        self.pmo = service.auth("pat", Role.PMO_ADMIN)
        self.auditor = service.auth("eve", Role.AUDITOR)

    def approver(self, name: str, *roles: str) -> dict[str, str]:
        return self.service.auth(name, Role.APPROVER, *roles)

    async def define_template(
        self,
        body: dict[str, Any],
        project_type: str = "standard",
    ) -> httpx.Response:
        response = await self.client.put(
            f"/v1/gate-templates/{project_type}", json=body, headers=self.pmo
        )
        assert response.status_code == 201, response.text
        return response

    async def known_project(self, **details: Any) -> UUID:
        """A project intake has published (submitted by default), once governance knows it."""
        project_id = await self.intake.request(**details)
        expected = "submitted" if details.get("submit", True) else "draft"

        async def known() -> bool:
            response = await self.client.get(f"/v1/projects/{project_id}", headers=self.pmo)
            return response.status_code == 200 and response.json()["status"] == expected

        await eventually(known, timeout=15, description="governance knows the project")
        return project_id

    async def open_review(
        self,
        project_id: UUID,
        *,
        headers: dict[str, str] | None = None,
        expect: int = 201,
        **body: Any,
    ) -> httpx.Response:
        response = await self.client.post(
            "/v1/gate-reviews",
            json={"project_id": str(project_id), **body},
            headers=headers or self.alice,
        )
        assert response.status_code == expect, response.text
        return response

    async def vote(
        self,
        review_id: str,
        who: dict[str, str],
        decision: str = "go",
        *,
        expect: int = 201,
        **body: Any,
    ) -> httpx.Response:
        if decision != "go":
            body.setdefault("rationale", f"because {decision}")
        response = await self.client.post(
            f"/v1/gate-reviews/{review_id}/votes", json={"decision": decision, **body}, headers=who
        )
        assert response.status_code == expect, response.text
        return response

    async def review(self, review_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/gate-reviews/{review_id}", headers=self.pmo)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def stored_types(self) -> list[str]:
        database = self.service.app.state.runtime.database
        async with database.engine.connect() as connection:
            rows = await connection.execute(select(events.c.type).order_by(events.c.position))
            return [row.type.removeprefix("gatehouse.governance.") for row in rows]

    async def row_counts(self) -> dict[str, int]:
        """How many events, reviews, delegations and idempotency records are stored."""
        database = self.service.app.state.runtime.database
        counts: dict[str, int] = {}
        async with database.engine.connect() as connection:
            for name, table in (
                ("events", events),
                ("reviews", gate_reviews),
                ("delegations", delegations),
                ("idempotency", idempotency_keys),
            ):
                counts[name] = int(
                    (await connection.execute(select(func.count()).select_from(table))).scalar_one()
                )
        return counts


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def intake_player(kafka_bootstrap: str, namespace: str) -> AsyncIterator[IntakePlayer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        yield IntakePlayer(producer, intake_events_topic(namespace))
    finally:
        await producer.stop()


def governance_settings(
    database: TestDatabase,
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
    **overrides: Any,
) -> GovernanceSettings:
    return GovernanceSettings(
        database_url=database.url,
        database_schema=database.schema,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_namespace=namespace,
        auth_dev_key_file=dev_issuer.key_file,
        log_json=False,
        **overrides,
    )


@pytest.fixture
async def governance(
    any_database: TestDatabase,
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
    intake_player: IntakePlayer,
    clock: MovableClock,
    migrated_databases: MigratedDatabases,
) -> AsyncIterator[Governance]:
    settings = governance_settings(
        any_database, kafka_bootstrap, namespace, dev_issuer, timer_interval_seconds=0.2
    )
    await asyncio.to_thread(migrated_databases.migrate, migrate, settings)
    async with running_service(create_app(settings, clock=clock), dev_issuer) as service:
        yield Governance(service, intake_player, clock)


def assert_problem(
    response: httpx.Response, status: int, *, field: str | None = None, rule: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    if field is not None:
        assert field in [error["field"] for error in problem.get("errors", [])], problem
    if rule is not None:
        assert problem.get("rule") == rule, problem
    return problem
