"""Fixtures for reporting's API tests: a running reporting on SQLite or PostgreSQL, and the
intake and governance it reads, played by the test.

The tests play both producers: they publish intake's events (stream ``project-<id>``) and
governance's (stream ``gates-<id>``) on the real broker, exactly as the two outbox relays do,
with event times of the test's choosing, so that cycle times, ages, ``as_of`` and months are
exact. Reporting's clock stands still at :data:`NOW`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
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
from gatehouse.events.governance import SOURCE as GOVERNANCE_SOURCE
from gatehouse.events.governance import (
    ApprovalRule,
    ApproverSeat,
    ConditionBreached,
    ConditionMet,
    EvidenceLink,
    GateCondition,
    GateDecided,
    GateDefinition,
    GateReviewEscalated,
    GateReviewOpened,
    GateReviewWithdrawn,
    VoteCast,
    VoteRevised,
    governance_events,
)
from gatehouse.events.intake import SOURCE as INTAKE_SOURCE
from gatehouse.events.intake import (
    ProjectApproved,
    ProjectRequested,
    ProjectScored,
    ProjectSubmitted,
    ProjectTransitioned,
    RaidItemAdded,
    RaidItemClosed,
    StatusReported,
    ToleranceBreached,
    ToleranceRecovered,
    intake_events,
)
from gatehouse.events.topics import governance_events_topic, intake_events_topic
from gatehouse.events.types import Money
from gatehouse.testing.harness import RunningService, TestDatabase, eventually, running_service
from gatehouse.testing.migrated import MigratedDatabases
from reporting.bootstrap import migrate
from reporting.main import create_app
from reporting.settings import ReportingSettings
from reporting.tables import (
    condition_records,
    decision_records,
    event_log,
    project_views,
    review_records,
)

# What reporting takes for now: the ages, waits and "overdue" of the tests are measured here.
NOW = datetime(2027, 3, 15, 12, 0, tzinfo=UTC)


def hours(value: float) -> timedelta:
    return timedelta(hours=value)


def eur(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="EUR")


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


@dataclass(frozen=True)
class Review:
    """A gate review the test opened, to vote on and decide."""

    review_id: UUID
    project_id: UUID
    gate: str
    opened_at: datetime
    sla_due_at: datetime


@dataclass
class Producers:
    """Publishes intake's and governance's events the way their outbox relays do.

    Keeps each stream's version, every envelope published (for redelivery) and how many
    records went onto each topic (to know when reporting has read them all).
    """

    producer: AIOKafkaProducer
    namespace: str
    versions: dict[str, int] = field(default_factory=dict)
    published: list[tuple[str, EventEnvelope]] = field(default_factory=list)
    records: Counter[str] = field(default_factory=Counter)

    @property
    def intake_topic(self) -> str:
        return intake_events_topic(self.namespace)

    @property
    def governance_topic(self) -> str:
        return governance_events_topic(self.namespace)

    @property
    def events(self) -> int:
        """Distinct events published (redelivered copies not counted)."""
        return len(self.published)

    async def publish(self, topic: str, envelope: EventEnvelope) -> None:
        record = to_kafka_record(envelope)
        await self.producer.send_and_wait(
            topic, value=record.value, key=record.key, headers=record.headers
        )
        self.records[topic] += 1

    async def _emit(
        self,
        topic: str,
        source: str,
        stream: str,
        event: DomainEvent,
        data: dict[str, Any],
        at: datetime,
        actor: str | None,
    ) -> EventEnvelope:
        version = self.versions.get(stream, 0) + 1
        self.versions[stream] = version
        envelope = EventEnvelope(
            source=source,
            type=event.event_type,
            time=at,
            subject=stream,
            data=data,
            stream_id=stream,
            stream_version=version,
            actor=actor,
        )
        await self.publish(topic, envelope)
        self.published.append((topic, envelope))
        return envelope

    async def intake(
        self, project_id: UUID, event: DomainEvent, at: datetime, actor: str = "alice"
    ) -> EventEnvelope:
        return await self._emit(
            self.intake_topic,
            INTAKE_SOURCE,
            f"project-{project_id}",
            event,
            intake_events.serialize(event),
            at,
            actor,
        )

    async def governance(
        self, stream: str, event: DomainEvent, at: datetime, actor: str = "gina"
    ) -> EventEnvelope:
        return await self._emit(
            self.governance_topic,
            GOVERNANCE_SOURCE,
            stream,
            event,
            governance_events.serialize(event),
            at,
            actor,
        )

    async def redeliver(self, envelopes: Iterable[tuple[str, EventEnvelope]]) -> None:
        """Publish the very same envelopes again (same id, stream and version)."""
        for topic, envelope in list(envelopes):
            await self.publish(topic, envelope)

    # --- Intake ----------------------------------------------------------------------------

    async def request(
        self,
        at: datetime,
        *,
        title: str = "New CRM",
        business_unit: str = "Sales",
        project_type: str = "standard",
        cost: Money | None = None,
        sponsor: str = "carol",
        requested_by: str = "alice",
        project_id: UUID | None = None,
    ) -> UUID:
        project_id = project_id or uuid4()
        await self.intake(
            project_id,
            ProjectRequested(
                project_id=project_id,
                title=title,
                description=f"{title}: the description",
                sponsor=sponsor,
                business_unit=business_unit,
                project_type=project_type,
                estimated_cost=cost or eur("100000.00"),
                requested_by=requested_by,
                start_date=date(2027, 1, 4),
                target_date=date(2027, 12, 31),
            ),
            at,
            actor=requested_by,
        )
        return project_id

    async def step(
        self,
        project_id: UUID,
        kind: type[ProjectTransitioned],
        at: datetime,
        *,
        from_status: str,
        to_status: str,
        from_stage: str | None = None,
        to_stage: str | None = None,
        actor: str = "pat",
    ) -> EventEnvelope:
        event = kind(
            project_id=project_id,
            from_status=from_status,  # type: ignore[arg-type]
            to_status=to_status,  # type: ignore[arg-type]
            from_stage=from_stage,  # type: ignore[arg-type]
            to_stage=to_stage,  # type: ignore[arg-type]
        )
        return await self.intake(project_id, event, at, actor=actor)

    async def submit(self, project_id: UUID, at: datetime) -> None:
        await self.step(
            project_id,
            ProjectSubmitted,
            at,
            from_status="draft",
            to_status="submitted",
            actor="alice",
        )

    async def approve(self, project_id: UUID, at: datetime, *, from_status: str) -> None:
        await self.step(
            project_id,
            ProjectApproved,
            at,
            from_status=from_status,
            to_status="approved",
            to_stage="initiating",
        )

    async def score(
        self, project_id: UUID, score: str, at: datetime, *, mandatory: bool = False
    ) -> None:
        await self.intake(
            project_id,
            ProjectScored(
                project_id=project_id,
                assessment_id=uuid4(),
                model_key="value",
                model_version=2,
                method="weighted",
                ratings={"value": Decimal(3)},
                knockouts={},
                score=Decimal(score),
                knocked_out=False,
                mandatory=mandatory,
                mandatory_reason="regulator" if mandatory else "",
                assessed_by="pat",
            ),
            at,
            actor="pat",
        )

    async def report_status(
        self,
        project_id: UUID,
        at: datetime,
        overall: str,
        *,
        schedule: str = "green",
        cost: str = "green",
        scope: str = "green",
    ) -> UUID:
        report_id = uuid4()
        await self.intake(
            project_id,
            StatusReported(
                project_id=project_id,
                report_id=report_id,
                overall=overall,  # type: ignore[arg-type]
                schedule=schedule,  # type: ignore[arg-type]
                cost=cost,  # type: ignore[arg-type]
                scope=scope,  # type: ignore[arg-type]
                summary="on its way",
                forecast_cost=eur("120000.00"),
                forecast_end_date=date(2027, 12, 31),
                reported_by="mia",
            ),
            at,
            actor="mia",
        )
        return report_id

    async def breach(self, project_id: UUID, dimension: str, at: datetime) -> None:
        await self.intake(
            project_id,
            ToleranceBreached(
                project_id=project_id,
                report_id=uuid4(),
                dimension=dimension,  # type: ignore[arg-type]
                variance=Decimal("15"),
                tolerance=Decimal("10"),
            ),
            at,
            actor="mia",
        )

    async def recover(self, project_id: UUID, dimension: str, at: datetime) -> None:
        await self.intake(
            project_id,
            ToleranceRecovered(
                project_id=project_id,
                report_id=uuid4(),
                dimension=dimension,  # type: ignore[arg-type]
            ),
            at,
            actor="mia",
        )

    async def add_raid(self, project_id: UUID, at: datetime) -> UUID:
        item_id = uuid4()
        await self.intake(
            project_id,
            RaidItemAdded(
                project_id=project_id,
                item_id=item_id,
                kind="risk",
                title="Vendor late",
                description="The vendor may deliver late",
                owner="mia",
                probability=3,
                impact=4,
            ),
            at,
            actor="mia",
        )
        return item_id

    async def close_raid(self, project_id: UUID, item_id: UUID, at: datetime) -> None:
        await self.intake(
            project_id,
            RaidItemClosed(project_id=project_id, item_id=item_id, resolution="mitigated"),
            at,
            actor="mia",
        )

    # --- Governance ------------------------------------------------------------------------

    async def open_review(
        self,
        project_id: UUID,
        gate: str,
        at: datetime,
        *,
        seats: Sequence[str] = ("user:gina",),
        order: str = "parallel",
        sla_hours: int = 48,
        project_type: str = "standard",
    ) -> Review:
        review = Review(
            review_id=uuid4(),
            project_id=project_id,
            gate=gate,
            opened_at=at,
            sla_due_at=at + hours(sla_hours),
        )
        approvers = tuple(
            ApproverSeat(user=label.removeprefix("user:"))
            if label.startswith("user:")
            else ApproverSeat(role=label.removeprefix("role:"))
            for label in seats
        )
        definition = GateDefinition(
            key=gate,
            name=f"Gate {gate}",
            approval=ApprovalRule(seats=approvers, order=order),  # type: ignore[arg-type]
            sla_hours=sla_hours,
        )
        await self.governance(
            f"gates-{project_id}",
            GateReviewOpened(
                review_id=review.review_id,
                project_id=project_id,
                project_type=project_type,
                template_version=1,
                gate=definition,
                opened_by="alice",
                sla_due_at=review.sla_due_at,
            ),
            at,
            actor="alice",
        )
        return review

    async def vote(
        self,
        review: Review,
        approver: str,
        decision: str,
        at: datetime,
        *,
        seat: str | None = None,
        cast_by: str | None = None,
        conditions: Sequence[GateCondition] = (),
        revises: UUID | None = None,
    ) -> UUID:
        vote_id = uuid4()
        common: dict[str, Any] = {
            "review_id": review.review_id,
            "project_id": review.project_id,
            "vote_id": vote_id,
            "seat": seat or f"user:{approver}",
            "approver": approver,
            "cast_by": cast_by or approver,
            "decision": decision,
            "rationale": "" if decision == "go" else f"because {decision}",
            "conditions": tuple(conditions),
        }
        event: DomainEvent = (
            VoteCast(**common)
            if revises is None
            else VoteRevised(**common, revises=revises, reason="new facts")
        )
        await self.governance(f"gates-{review.project_id}", event, at, actor=cast_by or approver)
        return vote_id

    async def decide(
        self,
        review: Review,
        outcome: str,
        at: datetime,
        *,
        decided_by: Sequence[str] = ("gina",),
        votes: Sequence[UUID] = (),
        conditions: Sequence[GateCondition] = (),
    ) -> None:
        await self.governance(
            f"gates-{review.project_id}",
            GateDecided(
                review_id=review.review_id,
                project_id=review.project_id,
                gate=review.gate,
                outcome=outcome,  # type: ignore[arg-type]
                rationale=f"panel said {outcome}",
                decided_by=tuple(decided_by),
                votes=tuple(votes),
                conditions=tuple(conditions),
                rule="all",
            ),
            at,
            actor=decided_by[0] if decided_by else None,
        )

    async def escalate(self, review: Review, at: datetime) -> None:
        await self.governance(
            f"gates-{review.project_id}",
            GateReviewEscalated(
                review_id=review.review_id,
                project_id=review.project_id,
                gate=review.gate,
                escalation_role="pmo_admin",
                sla_due_at=review.sla_due_at,
            ),
            at,
            actor=None,
        )

    async def withdraw(self, review: Review, at: datetime) -> None:
        await self.governance(
            f"gates-{review.project_id}",
            GateReviewWithdrawn(
                review_id=review.review_id,
                project_id=review.project_id,
                gate=review.gate,
                reason="not ready",
                withdrawn_by="alice",
            ),
            at,
            actor="alice",
        )

    async def condition_met(self, review: Review, condition: GateCondition, at: datetime) -> None:
        await self.governance(
            f"gates-{review.project_id}",
            ConditionMet(
                review_id=review.review_id,
                project_id=review.project_id,
                condition_id=condition.condition_id,
                evidence=(EvidenceLink(url="https://docs.example/evidence"),),
                met_by=condition.owner,
            ),
            at,
            actor=condition.owner,
        )

    async def condition_breached(
        self, review: Review, condition: GateCondition, at: datetime
    ) -> None:
        await self.governance(
            f"gates-{review.project_id}",
            ConditionBreached(
                review_id=review.review_id,
                project_id=review.project_id,
                condition_id=condition.condition_id,
                gate=review.gate,
                description=condition.description,
                owner=condition.owner,
                due_date=condition.due_date,
            ),
            at,
            actor=None,
        )


def condition(description: str, owner: str = "omar", due: date = date(2027, 2, 1)) -> GateCondition:
    return GateCondition(condition_id=uuid4(), description=description, owner=owner, due_date=due)


@dataclass
class FixedClock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


class Reporting:
    """A running reporting service, the people who read it, and the producers it reads."""

    def __init__(self, service: RunningService, producers: Producers) -> None:
        self.service = service
        self.client = service.client
        self.producers = producers
        self.alice = service.auth("alice", Role.REQUESTER)
        self.pmo = service.auth("pat", Role.PMO_ADMIN)
        self.auditor = service.auth("eve", Role.AUDITOR)

    async def get(
        self, path: str, *, headers: dict[str, str] | None = None, **params: Any
    ) -> dict[str, Any]:
        response = await self.client.get(path, params=params, headers=headers or self.pmo)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def caught_up(self, timeout: float = 30) -> dict[str, Any]:  # noqa: ASYNC109
        """Once reporting has read every record published and applied every distinct event:
        its projection."""
        expected = self.producers.events
        records = {
            topic: self.producers.records[topic]
            for topic in (self.producers.intake_topic, self.producers.governance_topic)
        }

        async def done() -> dict[str, Any] | None:
            response = await self.client.get("/v1/projections", headers=self.pmo)
            assert response.status_code == 200, response.text
            (projection,) = response.json()
            read = dict.fromkeys(records, 0)
            for partition in projection["partitions"]:
                read[partition["topic"]] += partition["next_offset"] or 0
            if (
                projection["lag_events"] == 0
                and projection["events_applied"] == expected
                and read == records
            ):
                return dict(projection)
            return None

        return await eventually(
            done, timeout=timeout, interval=0.1, description=f"reporting applied {expected} events"
        )

    async def row_counts(self) -> dict[str, int]:
        """How many rows each read model holds."""
        database = self.service.app.state.runtime.database
        counts: dict[str, int] = {}
        async with database.engine.connect() as connection:
            for table in (
                event_log,
                project_views,
                review_records,
                decision_records,
                condition_records,
            ):
                counts[table.name] = int(
                    (await connection.execute(select(func.count()).select_from(table))).scalar_one()
                )
        return counts


@pytest.fixture
async def producers(kafka_bootstrap: str, namespace: str) -> AsyncIterator[Producers]:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        yield Producers(producer, namespace)
    finally:
        await producer.stop()


def reporting_settings(
    database: TestDatabase, kafka_bootstrap: str, namespace: str, dev_issuer: DevIssuer
) -> ReportingSettings:
    return ReportingSettings(
        database_url=database.url,
        database_schema=database.schema,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_namespace=namespace,
        auth_dev_key_file=dev_issuer.key_file,
        log_json=False,
    )


@pytest.fixture
async def reporting(
    any_database: TestDatabase,
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
    producers: Producers,
    migrated_databases: MigratedDatabases,
) -> AsyncIterator[Reporting]:
    """Reporting, started (its topics exist) before the test publishes anything."""
    settings = reporting_settings(any_database, kafka_bootstrap, namespace, dev_issuer)
    await asyncio.to_thread(migrated_databases.migrate, migrate, settings)
    async with running_service(
        create_app(settings, clock=FixedClock()), dev_issuer, ready_timeout=60
    ) as service:
        yield Reporting(service, producers)


def assert_problem(
    response: httpx.Response, status: int, *, field: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    if field is not None:
        assert field in [error["field"] for error in problem.get("errors", [])], problem
    return problem
