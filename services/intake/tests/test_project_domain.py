"""The project aggregate: given these events, when this command, then these events."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from gatehouse.events.intake import ProjectRequested
from gatehouse.events.types import Money
from intake.domain import DemandStatus, ProjectAlreadyExists, RequestProject, decide, replay

PROJECT_ID = uuid4()


def request_project() -> RequestProject:
    return RequestProject(
        project_id=PROJECT_ID, title="New CRM", description="Replace the legacy CRM",
        sponsor="carol", business_unit="Sales", project_type="standard",
        estimated_cost=Money(Decimal("250000.00"), "EUR"), requested_by="alice")


def project_requested() -> ProjectRequested:
    return ProjectRequested(
        project_id=PROJECT_ID, title="New CRM", description="Replace the legacy CRM",
        sponsor="carol", business_unit="Sales", project_type="standard",
        estimated_cost=Money(Decimal("250000.00"), "EUR"), requested_by="alice")


def test_given_no_project_when_requested_then_project_requested() -> None:
    assert decide(replay([]), request_project()) == [project_requested()]


def test_given_a_requested_project_when_requested_again_then_refused() -> None:
    with pytest.raises(ProjectAlreadyExists):
        decide(replay([project_requested()]), request_project())


def test_a_requested_project_starts_as_a_draft_with_its_details() -> None:
    project = replay([project_requested()])

    assert project is not None
    assert project.status is DemandStatus.DRAFT
    assert project.requested_by == "alice"
    assert project.estimated_cost == Money(Decimal("250000.00"), "EUR")
