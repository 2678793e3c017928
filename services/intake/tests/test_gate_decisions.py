"""Governance's gate outcomes, published on Kafka, move intake's projects.

These tests play governance: they publish ``GateDecided`` on the governance topic of the real
broker, and watch intake's consumer act on it. Intake never calls governance over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from gatehouse.events.envelope import EventEnvelope, to_kafka_record
from gatehouse.events.governance import SOURCE, GateDecided, GateOutcome, governance_events
from gatehouse.events.topics import governance_events_topic
from gatehouse.eventstore.schema import dead_letters
from gatehouse.testing.harness import eventually

from .conftest import Intake

pytestmark = pytest.mark.kafka


class Governance:
    """Publishes gate decisions the way the governance service does."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    def decision(
        self,
        project_id: str,
        outcome: GateOutcome,
        *,
        gate: str = "screening",
        rationale: str = "board decision",
    ) -> EventEnvelope:
        review_id = uuid4()
        event = GateDecided(
            review_id=review_id,
            project_id=UUID(project_id),
            gate=gate,
            outcome=outcome,
            rationale=rationale,
            decided_by=("gina", "hal"),
        )
        return EventEnvelope(
            source=SOURCE,
            type=event.event_type,
            time=datetime.now(UTC),
            subject=f"gate-review/{review_id}",
            data=governance_events.serialize(event),
            stream_id=f"gate-review-{review_id}",
            stream_version=1,
            correlation_id=f"review-{review_id}",
            actor="gina",
        )

    async def publish(self, envelope: EventEnvelope) -> None:
        record = to_kafka_record(envelope)
        await self._producer.send_and_wait(
            self._topic, value=record.value, key=record.key, headers=record.headers
        )

    async def decide(self, project_id: str, outcome: GateOutcome, **details: Any) -> EventEnvelope:
        envelope = self.decision(project_id, outcome, **details)
        await self.publish(envelope)
        return envelope


@pytest.fixture
async def governance(kafka_bootstrap: str, namespace: str) -> AsyncIterator[Governance]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        yield Governance(producer, governance_events_topic(namespace))
    finally:
        await producer.stop()


async def submitted_project(intake: Intake) -> str:
    project_id = await intake.new_project()
    await intake.act(project_id, "submit", headers=intake.alice)
    return project_id


async def status_becomes(
    intake: Intake, project_id: str, status: str, stage: str | None = None
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        body: dict[str, Any] = (await intake.read(project_id)).json()
        return body if (body["status"], body["stage"]) == (status, stage) else None

    return await eventually(
        reached, timeout=20, description=f"project {project_id} {status}/{stage}"
    )


async def recorded_event(intake: Intake, project_id: str, version: int) -> EventEnvelope:
    """The stored event as the service reads it (its people opened)."""
    runtime = intake.service.app.state.runtime
    async with runtime.database.engine.connect() as connection:
        stream = await runtime.event_store.load_stream(connection, f"project-{project_id}")
    return next(envelope for envelope in stream if envelope.stream_version == version)


async def test_go_decisions_move_a_request_through_review_to_approval(
    intake: Intake, governance: Governance
) -> None:
    project_id = await submitted_project(intake)

    screening = await governance.decide(project_id, "go", gate="screening")
    await status_becomes(intake, project_id, "screening")
    await governance.decide(project_id, "conditional_go", gate="business-case")
    await status_becomes(intake, project_id, "qualified")
    await governance.decide(project_id, "go", gate="investment")
    approved = await status_becomes(intake, project_id, "approved", "initiating")

    assert approved["baseline"]["cost"] == {"amount": "250000.00", "currency": "EUR"}
    moved = await recorded_event(intake, project_id, 3)
    assert moved.type == "gatehouse.intake.ProjectScreeningStarted"
    assert moved.causation_id == str(screening.id)
    assert moved.correlation_id == screening.correlation_id
    assert moved.actor == "gina"
    assert moved.data["gate"] == "screening"
    assert moved.data["gate_review_id"] == screening.data["review_id"]
    assert moved.data["reason"] == "board decision"


async def test_kill_hold_and_recycle_end_pause_or_return_a_project(
    intake: Intake, governance: Governance
) -> None:
    killed, recycled, held = [await submitted_project(intake) for _ in range(3)]
    await intake.walk(held, "start-screening", "qualify", "approve")

    await governance.decide(killed, "kill", rationale="no strategic fit")
    await governance.decide(recycled, "recycle", rationale="rework the business case")
    await governance.decide(held, "hold", gate="planning", rationale="budget freeze")

    assert (await status_becomes(intake, killed, "rejected"))["allowed_actions"] == []
    reworked = await status_becomes(intake, recycled, "recycled")
    assert "edit" in reworked["allowed_actions"]
    await status_becomes(intake, held, "approved", "on_hold")


async def consumed(intake: Intake, outcome: str) -> float:
    """How many events intake's gate-decision consumer handled with ``outcome``."""
    metrics = (await intake.client.get("/metrics")).text
    wanted = (
        f'gatehouse_consumer_events_total{{consumer="intake.gate-decisions",outcome="{outcome}"}}'
    )
    for line in metrics.splitlines():
        if line.startswith(wanted):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_redelivered_decision_is_applied_once(
    intake: Intake, governance: Governance
) -> None:
    project_id = await submitted_project(intake)
    decision = await governance.decide(project_id, "go")
    await status_becomes(intake, project_id, "screening")

    await governance.publish(decision)

    await eventually(
        lambda: _at_least(intake, "duplicate", 1), timeout=20, description="the copy was seen"
    )
    assert (await intake.read(project_id)).json()["status"] == "screening"
    assert await intake.stored_types(project_id) == [
        "ProjectRequested",
        "ProjectSubmitted",
        "ProjectScreeningStarted",
    ]


async def test_a_decision_for_an_unknown_project_is_skipped_without_dead_lettering(
    intake: Intake, governance: Governance
) -> None:
    project_id = await submitted_project(intake)

    await governance.decide(str(uuid4()), "go")
    await governance.decide(project_id, "go")

    await status_becomes(intake, project_id, "screening")
    await eventually(
        lambda: _at_least(intake, "applied", 2), timeout=20, description="both decisions handled"
    )
    database = intake.service.app.state.runtime.database
    async with database.engine.connect() as connection:
        assert list(await connection.execute(select(dead_letters))) == []


async def _at_least(intake: Intake, outcome: str, count: float) -> bool:
    return await consumed(intake, outcome) >= count


async def test_a_decision_that_does_not_fit_the_state_changes_nothing(
    intake: Intake, governance: Governance
) -> None:
    withdrawn = await submitted_project(intake)
    await intake.act(withdrawn, "withdraw", {"reason": "merged"}, headers=intake.alice)
    marker = await submitted_project(intake)

    await governance.decide(withdrawn, "go")
    await governance.decide(marker, "go")
    await status_becomes(intake, marker, "screening")
    await eventually(
        lambda: _at_least(intake, "applied", 2), timeout=20, description="both decisions handled"
    )

    assert (await intake.read(withdrawn)).json()["status"] == "withdrawn"
    assert (await intake.read(withdrawn)).headers["etag"] == '"3"'
