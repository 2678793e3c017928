"""Governance's view of intake's projects, folded from a batch of intake's events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import event, select

from gatehouse.events.base import DomainEvent
from gatehouse.events.envelope import EventEnvelope
from gatehouse.events.intake import SOURCE as INTAKE_SOURCE
from gatehouse.events.intake import (
    ProjectChanges,
    ProjectEdited,
    ProjectRequested,
    ProjectSubmitted,
    intake_events,
)
from gatehouse.events.types import Money
from gatehouse.runtime import ServiceRuntime
from governance.projections import intake_event_handler
from governance.tables import known_projects

from .conftest import Governance


def requested(project_id: UUID, title: str) -> ProjectRequested:
    return ProjectRequested(
        project_id=project_id,
        title=title,
        description="Replace the legacy CRM",
        sponsor="carol",
        business_unit="Sales",
        project_type="standard",
        estimated_cost=Money(amount=Decimal("250000.00"), currency="EUR"),
        requested_by="alice",
        start_date=date(2027, 1, 4),
        target_date=date(2027, 9, 30),
        expected_benefits="Faster quotes",
        risk_level="medium",
    )


def envelope(event: DomainEvent, project_id: UUID, version: int) -> EventEnvelope:
    stream = f"project-{project_id}"
    return EventEnvelope(
        source=INTAKE_SOURCE,
        type=event.event_type,
        time=datetime.now(UTC),
        subject=stream,
        data=intake_events.serialize(event),
        stream_id=stream,
        stream_version=version,
        actor="alice",
    )


async def test_a_batch_writes_its_new_projects_together_and_each_change_in_its_place(
    governance: Governance,
) -> None:
    runtime: ServiceRuntime = governance.service.app.state.runtime
    assert runtime.event_store is not None
    first, second, third = uuid4(), uuid4(), uuid4()
    batch = [
        envelope(requested(first, "New CRM"), first, 1),
        envelope(requested(second, "New ERP"), second, 1),
        envelope(
            ProjectEdited(
                project_id=first,
                changed_fields=("title",),
                changes=ProjectChanges(title="Hosted CRM"),
            ),
            first,
            2,
        ),
        envelope(requested(third, "New HR system"), third, 1),
        envelope(
            ProjectSubmitted(project_id=second, from_status="draft", to_status="submitted"),
            second,
            2,
        ),
    ]
    statements: list[str] = []

    def note(*args: Any) -> None:
        statements.append(args[2])

    async with runtime.database.transaction() as connection:
        # The batch's own statements: the service's reads go on beside it (on SQLite too).
        event.listen(connection.sync_connection, "before_cursor_execute", note)
        await intake_event_handler(runtime.event_store)(connection, batch)

    writes = [
        statement.split()[0]
        for statement in statements
        if statement.split()[0] in ("INSERT", "UPDATE", "DELETE")
    ]
    assert writes == ["INSERT", "UPDATE", "INSERT", "UPDATE"], (
        "the first two projects in one statement, the edit, the third, the submission"
    )
    async with runtime.database.engine.connect() as connection:
        rows = {
            row.project_id: (row.title, row.status, row.version)
            for row in await connection.execute(select(known_projects))
        }
    assert rows == {
        first: ("Hosted CRM", "draft", 2),
        second: ("New ERP", "submitted", 2),
        third: ("New HR system", "draft", 1),
    }
