"""Intake's public event schema round-trips through its JSON form unchanged.

One sample per registered event type, every field set away from its default, nested values
(money, tolerances, changes, criteria) included; each goes through ``serialize``, JSON text and
``deserialize`` and must come back equal, with the same types.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from gatehouse.events.base import DomainEvent
from gatehouse.events.intake import (
    ApiKeyIssued,
    ApiKeyRevoked,
    CustomFieldDefinition,
    CustomFieldsDefined,
    KnockoutCriterion,
    PersonalDataErased,
    ProjectApproved,
    ProjectChanges,
    ProjectClosed,
    ProjectDeferred,
    ProjectEdited,
    ProjectKilled,
    ProjectPutOnHold,
    ProjectQualified,
    ProjectReactivated,
    ProjectRecycled,
    ProjectRejected,
    ProjectRequested,
    ProjectResumed,
    ProjectScored,
    ProjectScreeningStarted,
    ProjectStageAdvanced,
    ProjectSubmitted,
    ProjectTolerancesChanged,
    ProjectTransitioned,
    ProjectWithdrawn,
    RaidChanges,
    RaidItemAdded,
    RaidItemClosed,
    RaidItemUpdated,
    ScoringModelDefined,
    StatusReported,
    ToleranceBreached,
    ToleranceRecovered,
    Tolerances,
    WeightedCriterion,
    intake_events,
)
from gatehouse.events.types import Money

PROJECT = UUID("6f1c2a64-0d7e-4e43-9a55-2f0b7c1e9d01")
REVIEW = UUID("0b7e3a1c-8f2d-4c6e-a1b9-5d3f7e2c4a10")
REPORT = UUID("a3c5e7f9-1b2d-4f6a-8c0e-9d7b5a3c1e20")
ITEM = UUID("c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e30")
ASSESSMENT = UUID("d4c3b2a1-f6e5-4d8c-9b0a-1f2e3d4c5b40")
COST = Money(Decimal("250000.10"), "EUR")
TIGHT = Tolerances(cost_percent=Decimal("7.25"), schedule_days=14)
CUSTOM: dict[str, bool | int | float | str] = {
    "regulatory": True,
    "headcount": 12,
    "npv": 1234.5,
    "whole_number": 2.0,
    "cost_centre": "CC-100",
    "zero": 0,
    "off": False,
}

_TRANSITION: dict[str, Any] = {
    "project_id": PROJECT,
    "reason": "gate G2 said so",
    "gate_review_id": REVIEW,
    "gate": "G2",
}

SAMPLES: list[DomainEvent] = [
    ProjectRequested(
        project_id=PROJECT,
        title="New CRM",
        description="Replace the legacy CRM",
        sponsor="carol",
        business_unit="Sales",
        project_type="standard",
        estimated_cost=COST,
        requested_by="alice",
        start_date=date(2027, 1, 4),
        target_date=date(2027, 9, 30),
        expected_benefits="Halve quote-to-order time",
        risk_level="critical",
        strategic_objectives=("customer-experience", "cost"),
        custom=CUSTOM,
        tolerances=TIGHT,
    ),
    ProjectEdited(
        project_id=PROJECT,
        changed_fields=(
            "business_unit",
            "custom",
            "description",
            "estimated_cost",
            "expected_benefits",
            "project_type",
            "risk_level",
            "sponsor",
            "start_date",
            "strategic_objectives",
            "target_date",
            "title",
            "tolerances",
        ),
        changes=ProjectChanges(
            title="New CRM (phase 1)",
            description="Phase 1 only",
            sponsor="dan",
            business_unit="Sales & Marketing",
            project_type="major",
            estimated_cost=Money(Decimal("0.10"), "USD"),
            start_date=date(2027, 2, 1),
            target_date=date(2028, 2, 29),
            expected_benefits="More leads",
            risk_level="low",
            strategic_objectives=("growth",),
            custom=CUSTOM,
            tolerances=TIGHT,
        ),
    ),
    ProjectSubmitted(**_TRANSITION, from_status="recycled", to_status="submitted"),
    ProjectScreeningStarted(**_TRANSITION, from_status="submitted", to_status="screening"),
    ProjectQualified(**_TRANSITION, from_status="screening", to_status="qualified"),
    ProjectApproved(
        **_TRANSITION,
        from_status="qualified",
        to_status="approved",
        to_stage="initiating",
        baseline_cost=COST,
        baseline_end_date=date(2027, 9, 30),
    ),
    ProjectDeferred(**_TRANSITION, from_status="qualified", to_status="deferred"),
    ProjectReactivated(**_TRANSITION, from_status="deferred", to_status="submitted"),
    ProjectRejected(**_TRANSITION, from_status="deferred", to_status="rejected"),
    ProjectWithdrawn(**_TRANSITION, from_status="screening", to_status="withdrawn"),
    ProjectRecycled(
        **_TRANSITION,
        from_status="approved",
        to_status="approved",
        from_stage="planning",
        to_stage="planning",
    ),
    ProjectStageAdvanced(
        **_TRANSITION,
        from_status="approved",
        to_status="approved",
        from_stage="initiating",
        to_stage="planning",
    ),
    ProjectClosed(
        **_TRANSITION,
        from_status="approved",
        to_status="approved",
        from_stage="closing",
        to_stage="closed",
    ),
    ProjectPutOnHold(
        **_TRANSITION,
        from_status="approved",
        to_status="approved",
        from_stage="executing",
        to_stage="on_hold",
    ),
    ProjectResumed(
        **_TRANSITION,
        from_status="approved",
        to_status="approved",
        from_stage="on_hold",
        to_stage="executing",
    ),
    ProjectKilled(
        **_TRANSITION,
        from_status="approved",
        to_status="approved",
        from_stage="on_hold",
        to_stage="killed",
    ),
    CustomFieldsDefined(
        fields=(
            CustomFieldDefinition(
                key="tier",
                label="Tier",
                type="choice",
                required=True,
                choices=("gold", "silver"),
                description="service tier",
            ),
            CustomFieldDefinition(
                key="cost_centre", label="Cost centre", type="text", max_length=8
            ),
            CustomFieldDefinition(key="go_live", label="Go-live", type="date"),
        )
    ),
    ScoringModelDefined(
        model_key="value",
        version=3,
        name="Business value",
        method="weighted",
        criteria=(
            WeightedCriterion(
                key="strategy",
                name="Strategic fit",
                weight=Decimal("3.5"),
                scale=5,
                description="fit with the strategy",
            ),
            WeightedCriterion(key="roi", name="Return", weight=Decimal("1"), scale=10),
        ),
        knockouts=(
            KnockoutCriterion(
                key="legal", name="Legally possible", description="no law against it"
            ),
        ),
        description="the PMO's model",
    ),
    ProjectScored(
        project_id=PROJECT,
        assessment_id=ASSESSMENT,
        model_key="value",
        model_version=3,
        method="weighted",
        ratings={"strategy": Decimal("4.50"), "roi": Decimal("10")},
        knockouts={"legal": True, "budget": False},
        score=Decimal("0.00"),
        knocked_out=True,
        failed_knockouts=("budget",),
        mandatory=True,
        mandatory_reason="regulation XY",
        rationale="strong fit",
        assessed_by="pat",
    ),
    ProjectTolerancesChanged(project_id=PROJECT, tolerances=TIGHT, reason="critical path"),
    StatusReported(
        project_id=PROJECT,
        report_id=REPORT,
        overall="amber",
        schedule="red",
        cost="green",
        scope="amber",
        summary="vendor late",
        forecast_cost=Money(Decimal("260000.01"), "EUR"),
        forecast_end_date=date(2027, 11, 15),
        reported_by="dave",
    ),
    ToleranceBreached(
        project_id=PROJECT,
        report_id=REPORT,
        dimension="cost",
        variance=Decimal("12.35"),
        tolerance=Decimal("10.00"),
        baseline_cost=COST,
        forecast_cost=Money(Decimal("280875.11"), "EUR"),
        baseline_end_date=date(2027, 9, 30),
        forecast_end_date=date(2027, 11, 15),
    ),
    ToleranceRecovered(project_id=PROJECT, report_id=REPORT, dimension="schedule"),
    RaidItemAdded(
        project_id=PROJECT,
        item_id=ITEM,
        kind="risk",
        title="Vendor insolvency",
        description="Main vendor may go bust",
        owner="dave",
        probability=2,
        impact=5,
        due_date=date(2027, 3, 1),
    ),
    RaidItemUpdated(
        project_id=PROJECT,
        item_id=ITEM,
        changed_fields=("description", "due_date", "impact", "owner", "probability", "title"),
        changes=RaidChanges(
            title="Vendor exit",
            description="Vendor may leave the market",
            owner="erin",
            probability=3,
            impact=4,
            due_date=date(2027, 4, 1),
        ),
    ),
    RaidItemClosed(project_id=PROJECT, item_id=ITEM, resolution="second vendor contracted"),
    ApiKeyIssued(
        key_id="0123456789abcdef",
        name="ERP connector",
        subject="erp",
        roles=("requester", "finance"),
        secret_sha256="ab" * 32,
        issued_by="pat",
        expires_at=datetime(2027, 6, 30, 12, 0, tzinfo=UTC),
    ),
    ApiKeyRevoked(key_id="0123456789abcdef", reason="connector retired", revoked_by="pat"),
    PersonalDataErased(
        erasure_id=UUID("5a1b0c2d-0000-4000-8000-000000000001"),
        refs=("p" + "0" * 32,),
        reason="erasure request 2026-118",
        requested_by="pat",
    ),
]


def through_the_wire(event: DomainEvent) -> DomainEvent:
    """Serialise to JSON text and back, as the event store and Kafka do."""
    text = json.dumps(intake_events.serialize(event))
    return intake_events.deserialize(event.event_type, json.loads(text))


def test_there_is_a_sample_of_every_registered_event_type() -> None:
    assert sorted(type(event).event_type for event in SAMPLES) == intake_events.event_types


def meaningless(event: DomainEvent, field: str) -> bool:
    """A request (not approved) has no delivery stage: that field stays at its default."""
    if isinstance(event, ProjectTransitioned) and field in ("from_stage", "to_stage"):
        return bool(getattr(event, field.replace("stage", "status")) != "approved")
    return False


@pytest.mark.parametrize("event", SAMPLES, ids=lambda event: type(event).__name__)
def test_every_sample_sets_every_field_away_from_its_default(event: DomainEvent) -> None:
    for field in dataclasses.fields(event):
        if meaningless(event, field.name):
            continue
        if field.default is not dataclasses.MISSING:
            default: Any = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            continue
        assert getattr(event, field.name) != default, field.name


@pytest.mark.parametrize("event", SAMPLES, ids=lambda event: type(event).__name__)
def test_every_event_type_round_trips_to_an_equal_event(event: DomainEvent) -> None:
    back = through_the_wire(event)

    assert type(back) is type(event)
    assert back == event


def test_amounts_and_dates_keep_their_exact_json_form() -> None:
    [approved] = [event for event in SAMPLES if isinstance(event, ProjectApproved)]

    data = intake_events.serialize(approved)

    assert data["baseline_cost"] == {"amount": "250000.10", "currency": "EUR"}
    assert data["baseline_end_date"] == "2027-09-30"
    assert data["gate_review_id"] == str(REVIEW)


def test_decimals_keep_their_places_through_the_wire() -> None:
    [scored] = [event for event in SAMPLES if isinstance(event, ProjectScored)]

    back = through_the_wire(scored)

    assert isinstance(back, ProjectScored)
    assert [str(rating) for rating in back.ratings.values()] == ["4.50", "10"]
    assert str(back.score) == "0.00"


@pytest.mark.parametrize(
    "event_class", [ProjectRequested, ProjectEdited], ids=lambda cls: cls.__name__
)
def test_custom_values_keep_their_type_through_the_wire(event_class: type[DomainEvent]) -> None:
    [event] = [event for event in SAMPLES if isinstance(event, event_class)]

    back = through_the_wire(event)

    if isinstance(back, ProjectEdited):
        custom = back.changes.custom
    else:
        assert isinstance(back, ProjectRequested)
        custom = back.custom
    assert custom is not None
    assert {key: type(value) for key, value in custom.items()} == {
        "regulatory": bool,
        "headcount": int,
        "npv": float,
        "whole_number": float,
        "cost_centre": str,
        "zero": int,
        "off": bool,
    }
    assert custom == CUSTOM


def test_nested_values_come_back_as_their_own_types() -> None:
    [edited] = [event for event in SAMPLES if isinstance(event, ProjectEdited)]

    back = through_the_wire(edited)

    assert isinstance(back, ProjectEdited)
    assert isinstance(back.changes, ProjectChanges)
    assert isinstance(back.changes.estimated_cost, Money)
    assert isinstance(back.changes.tolerances, Tolerances)
    assert back.changes.strategic_objectives == ("growth",)
    assert isinstance(back.changed_fields, tuple)


def test_optional_fields_left_at_their_defaults_round_trip_too() -> None:
    bare = ProjectRequested(
        project_id=PROJECT,
        title="t",
        description="d",
        sponsor="s",
        business_unit="b",
        project_type="standard",
        estimated_cost=Money(Decimal("0.10"), "USD"),
        requested_by="a",
    )

    data = intake_events.serialize(bare)

    assert data["estimated_cost"] == {"amount": "0.10", "currency": "USD"}
    assert data["tolerances"] == {"cost_percent": "10", "schedule_days": 30}
    assert through_the_wire(bare) == bare
