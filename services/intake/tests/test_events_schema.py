"""Intake's public event schema round-trips through its JSON form unchanged."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

from gatehouse.events.intake import ProjectRequested, intake_events
from gatehouse.events.types import Money


def test_project_requested_round_trips_with_exact_money() -> None:
    event = ProjectRequested(
        project_id=uuid4(), title="t", description="d", sponsor="s", business_unit="b",
        project_type="standard", estimated_cost=Money(Decimal("0.10"), "USD"), requested_by="a")

    data = intake_events.serialize(event)

    assert data["estimated_cost"] == {"amount": "0.10", "currency": "USD"}
    assert intake_events.deserialize(ProjectRequested.event_type, data) == event
