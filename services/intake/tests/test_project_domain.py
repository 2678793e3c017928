"""The project aggregate: given these events, when this command, then these events.

The lifecycle tables below are written by hand from the lifecycle the domain documents:

    request:  draft → submitted → screening → qualified → approved | deferred | rejected
              withdrawn from any state before approval; deferred → reactivate → submitted;
              a gate's recycle sends a request to recycled (editable, to be submitted again)
    delivery: approved ⇒ initiating → planning → executing → closing → closed
              hold from an active stage, resume back to the stage it paused;
              kill from an active stage or on hold

Every (state, command) pair not listed as allowed must be refused with a 409 that says where
the project stands and what may be done instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import pytest

from gatehouse.errors import Conflict, GatehouseError, InvalidInput
from gatehouse.events.base import DomainEvent
from gatehouse.events.intake import (
    DeliveryStageName,
    DemandStatusName,
    KnockoutCriterion,
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
    StatusReported,
    ToleranceBreached,
    ToleranceRecovered,
    Tolerances,
    WeightedCriterion,
)
from gatehouse.events.types import Money
from intake.domain import (
    AddRaidItem,
    AdvanceStage,
    ApplyGateDecision,
    ApproveProject,
    ChangeTolerances,
    CloseProject,
    CloseRaidItem,
    Command,
    DeferProject,
    DeliveryStage,
    DemandStatus,
    EditProject,
    InvalidTransition,
    KillProject,
    Project,
    ProjectAlreadyExists,
    PutProjectOnHold,
    QualifyProject,
    RaidItemNotFound,
    ReactivateProject,
    RejectProject,
    ReportStatus,
    RequestProject,
    ResumeProject,
    ScoreProject,
    StartScreening,
    SubmitProject,
    UpdateRaidItem,
    WithdrawProject,
    allowed_actions,
    decide,
    replay,
)
from intake.scoring import Assessment, ScoringModel

PROJECT_ID = UUID("00000000-0000-4000-8000-00000000c0de")
REVIEW_ID = UUID("00000000-0000-4000-8000-0000000000a1")
REPORT_ID = UUID("00000000-0000-4000-8000-0000000000b1")
ITEM_ID = UUID("00000000-0000-4000-8000-0000000000d1")
ASSESSMENT_ID = UUID("00000000-0000-4000-8000-0000000000e1")
START = date(2027, 1, 4)
TARGET = date(2027, 9, 30)
ESTIMATE = Money(Decimal("250000.00"), "EUR")
REASON = "as agreed in the portfolio board"
Step = TypeVar("Step", bound=ProjectTransitioned)


# --- Given / when -------------------------------------------------------------------------


def given(*events: DomainEvent) -> Project:
    """The project as these events left it."""
    project = replay(events)
    assert project is not None
    return project


def when(project: Project | None, command: Command) -> list[DomainEvent]:
    return decide(project, command)


def refused(project: Project, command: Command) -> InvalidTransition:
    """The 409 the command gets; it must say where the project stands."""
    with pytest.raises(InvalidTransition) as refusal:
        decide(project, command)
    return refusal.value


def invalid_field(error: GatehouseError) -> str:
    """The one field a 422 names."""
    assert isinstance(error, InvalidInput)
    assert error.status == 422
    [problem] = error.extensions["errors"]
    return str(problem["field"])


def request_project(**changes: Any) -> RequestProject:
    details: dict[str, Any] = {
        "project_id": PROJECT_ID,
        "title": "New CRM",
        "description": "Replace the legacy CRM",
        "sponsor": "carol",
        "business_unit": "Sales",
        "project_type": "standard",
        "estimated_cost": ESTIMATE,
        "requested_by": "alice",
        "start_date": START,
        "target_date": TARGET,
        **changes,
    }
    return RequestProject(**details)


def project_requested(**changes: Any) -> ProjectRequested:
    details: dict[str, Any] = {
        "project_id": PROJECT_ID,
        "title": "New CRM",
        "description": "Replace the legacy CRM",
        "sponsor": "carol",
        "business_unit": "Sales",
        "project_type": "standard",
        "estimated_cost": ESTIMATE,
        "requested_by": "alice",
        "start_date": START,
        "target_date": TARGET,
        **changes,
    }
    return ProjectRequested(**details)


def moved(event_class: type[Step], from_state: str, to_state: str, **extra: Any) -> Step:
    """A lifecycle event between two named states (see ``POSITION``)."""
    from_status, from_stage = POSITION[from_state]
    to_status, to_stage = POSITION[to_state]
    return event_class(
        project_id=PROJECT_ID,
        from_status=from_status,
        to_status=to_status,
        from_stage=from_stage,
        to_stage=to_stage,
        **extra,
    )


# Where each named state stands: (demand status, delivery stage).
POSITION: dict[str, tuple[DemandStatusName, DeliveryStageName | None]] = {
    "draft": ("draft", None),
    "submitted": ("submitted", None),
    "screening": ("screening", None),
    "qualified": ("qualified", None),
    "deferred": ("deferred", None),
    "recycled": ("recycled", None),
    "rejected": ("rejected", None),
    "withdrawn": ("withdrawn", None),
    "initiating": ("approved", "initiating"),
    "planning": ("approved", "planning"),
    "executing": ("approved", "executing"),
    "closing": ("approved", "closing"),
    "on_hold": ("approved", "on_hold"),
    "closed": ("approved", "closed"),
    "killed": ("approved", "killed"),
}
STATES = list(POSITION)
FINISHED = ["rejected", "withdrawn", "closed", "killed"]
REQUEST_STATES = ["draft", "submitted", "screening", "qualified", "deferred", "recycled"]
ACTIVE_STAGES = ["initiating", "planning", "executing", "closing"]
DELIVERY_STATES = [*ACTIVE_STAGES, "on_hold"]

REQUESTED = project_requested()
APPROVED = moved(
    ProjectApproved, "qualified", "initiating", baseline_cost=ESTIMATE, baseline_end_date=TARGET
)
_SUBMITTED = (REQUESTED, moved(ProjectSubmitted, "draft", "submitted"))
_SCREENING = (*_SUBMITTED, moved(ProjectScreeningStarted, "submitted", "screening"))
_QUALIFIED = (*_SCREENING, moved(ProjectQualified, "screening", "qualified"))
_INITIATING = (*_QUALIFIED, APPROVED)
_PLANNING = (*_INITIATING, moved(ProjectStageAdvanced, "initiating", "planning"))
_EXECUTING = (*_PLANNING, moved(ProjectStageAdvanced, "planning", "executing"))
_CLOSING = (*_EXECUTING, moved(ProjectStageAdvanced, "executing", "closing"))

# How a project got to each state. The one on hold was paused in planning.
HISTORY: dict[str, tuple[DomainEvent, ...]] = {
    "draft": (REQUESTED,),
    "submitted": _SUBMITTED,
    "screening": _SCREENING,
    "qualified": _QUALIFIED,
    "deferred": (*_QUALIFIED, moved(ProjectDeferred, "qualified", "deferred")),
    "recycled": (
        *_SUBMITTED,
        moved(ProjectRecycled, "submitted", "recycled", gate_review_id=REVIEW_ID, gate="G1"),
    ),
    "rejected": (*_SCREENING, moved(ProjectRejected, "screening", "rejected")),
    "withdrawn": (*_SUBMITTED, moved(ProjectWithdrawn, "submitted", "withdrawn")),
    "initiating": _INITIATING,
    "planning": _PLANNING,
    "executing": _EXECUTING,
    "closing": _CLOSING,
    "on_hold": (*_PLANNING, moved(ProjectPutOnHold, "planning", "on_hold")),
    "closed": (*_CLOSING, moved(ProjectClosed, "closing", "closed")),
    "killed": (*_EXECUTING, moved(ProjectKilled, "executing", "killed")),
}


def project_in(state: str, *more: DomainEvent) -> Project:
    return given(*HISTORY[state], *more)


# --- The lifecycle table ------------------------------------------------------------------

NEW_TITLE = "New CRM (phase 1)"
# The next stage each project would be asked to advance to; where there is none, a stage that
# cannot be next (the project on hold was paused in planning).
ADVANCE_TARGET: dict[str, DeliveryStage] = {
    "initiating": DeliveryStage.PLANNING,
    "planning": DeliveryStage.EXECUTING,
    "executing": DeliveryStage.CLOSING,
    "closing": DeliveryStage.CLOSED,
    "on_hold": DeliveryStage.EXECUTING,
    "closed": DeliveryStage.CLOSED,
    "killed": DeliveryStage.PLANNING,
}

STEP_COMMANDS: dict[str, Callable[[str], Command]] = {
    "submit": lambda _: SubmitProject(reason=REASON),
    "start_screening": lambda _: StartScreening(reason=REASON),
    "qualify": lambda _: QualifyProject(reason=REASON),
    "approve": lambda _: ApproveProject(reason=REASON),
    "defer": lambda _: DeferProject(reason=REASON),
    "reactivate": lambda _: ReactivateProject(reason=REASON),
    "reject": lambda _: RejectProject(reason=REASON),
    "withdraw": lambda _: WithdrawProject(reason=REASON),
    "advance": lambda state: AdvanceStage(
        to_stage=ADVANCE_TARGET.get(state, DeliveryStage.PLANNING), reason=REASON
    ),
    "close": lambda _: CloseProject(reason=REASON),
    "hold": lambda _: PutProjectOnHold(reason=REASON),
    "resume": lambda _: ResumeProject(reason=REASON),
    "kill": lambda _: KillProject(reason=REASON),
    "edit": lambda _: EditProject(changes={"title": NEW_TITLE}),
}
STEP_EVENTS: dict[str, type[ProjectTransitioned]] = {
    "submit": ProjectSubmitted,
    "start_screening": ProjectScreeningStarted,
    "qualify": ProjectQualified,
    "approve": ProjectApproved,
    "defer": ProjectDeferred,
    "reactivate": ProjectReactivated,
    "reject": ProjectRejected,
    "withdraw": ProjectWithdrawn,
    "advance": ProjectStageAdvanced,
    "close": ProjectClosed,
    "hold": ProjectPutOnHold,
    "resume": ProjectResumed,
    "kill": ProjectKilled,
}

# state → {command: the state it leads to}. Everything not listed is refused.
ALLOWED_STEPS: dict[str, dict[str, str]] = {
    "draft": {"edit": "draft", "submit": "submitted", "withdraw": "withdrawn"},
    "recycled": {"edit": "recycled", "submit": "submitted", "withdraw": "withdrawn"},
    "submitted": {"start_screening": "screening", "withdraw": "withdrawn"},
    "screening": {
        "qualify": "qualified",
        "defer": "deferred",
        "reject": "rejected",
        "withdraw": "withdrawn",
    },
    "qualified": {
        "approve": "initiating",
        "defer": "deferred",
        "reject": "rejected",
        "withdraw": "withdrawn",
    },
    "deferred": {"reactivate": "submitted", "reject": "rejected", "withdraw": "withdrawn"},
    "rejected": {},
    "withdrawn": {},
    "initiating": {"advance": "planning", "hold": "on_hold", "kill": "killed"},
    "planning": {"advance": "executing", "hold": "on_hold", "kill": "killed"},
    "executing": {"advance": "closing", "hold": "on_hold", "kill": "killed"},
    "closing": {"close": "closed", "hold": "on_hold", "kill": "killed"},
    "on_hold": {"resume": "planning", "kill": "killed"},
    "closed": {},
    "killed": {},
}

_WHILE_OPEN = {"change_tolerances", "add_raid_item", "update_raid_item", "close_raid_item"}
# What a project view (and a refusal) lists as possible next, by API command name.
ALLOWED_ACTIONS: dict[str, set[str]] = {
    "draft": {"edit", "submit", "withdraw", *_WHILE_OPEN},
    "recycled": {"edit", "submit", "withdraw", *_WHILE_OPEN},
    "submitted": {"start_screening", "score", "withdraw", *_WHILE_OPEN},
    "screening": {"qualify", "defer", "reject", "score", "withdraw", *_WHILE_OPEN},
    "qualified": {"approve", "defer", "reject", "score", "withdraw", *_WHILE_OPEN},
    "deferred": {"reactivate", "reject", "score", "withdraw", *_WHILE_OPEN},
    "rejected": set(),
    "withdrawn": set(),
    "initiating": {"advance", "hold", "kill", "report_status", *_WHILE_OPEN},
    "planning": {"advance", "hold", "kill", "report_status", *_WHILE_OPEN},
    "executing": {"advance", "hold", "kill", "report_status", *_WHILE_OPEN},
    "closing": {"close", "hold", "kill", "report_status", *_WHILE_OPEN},
    "on_hold": {"resume", "kill", "report_status", *_WHILE_OPEN},
    "closed": set(),
    "killed": set(),
}


def expected_step(state: str, command: str, to_state: str) -> DomainEvent:
    if command == "edit":
        return ProjectEdited(
            project_id=PROJECT_ID,
            changed_fields=("title",),
            changes=ProjectChanges(title=NEW_TITLE),
        )
    extra: dict[str, Any] = {"reason": REASON}
    if command == "approve":
        extra.update(baseline_cost=ESTIMATE, baseline_end_date=TARGET)
    return moved(STEP_EVENTS[command], state, to_state, **extra)


LIFECYCLE = [
    pytest.param(state, command, ALLOWED_STEPS[state].get(command), id=f"{state}-{command}")
    for state in STATES
    for command in STEP_COMMANDS
]


@pytest.mark.parametrize(("state", "command", "to_state"), LIFECYCLE)
def test_every_step_from_every_state_is_taken_or_refused_as_the_lifecycle_says(
    state: str, command: str, to_state: str | None
) -> None:
    project = project_in(state)

    if to_state is not None:
        assert when(project, STEP_COMMANDS[command](state)) == [
            expected_step(state, command, to_state)
        ]
    else:
        refusal = refused(project, STEP_COMMANDS[command](state))
        status, stage = POSITION[state]
        assert refusal.status == 409
        assert refusal.extensions["action"] == command
        assert refusal.extensions["current_status"] == status
        assert refusal.extensions["current_stage"] == stage
        assert set(refusal.extensions["allowed_actions"]) == ALLOWED_ACTIONS[state]


@pytest.mark.parametrize("state", STATES)
def test_each_state_lists_the_actions_it_allows(state: str) -> None:
    assert set(allowed_actions(project_in(state))) == ALLOWED_ACTIONS[state]


@pytest.mark.parametrize("state", STATES)
def test_each_state_replays_to_where_it_stands(state: str) -> None:
    project = project_in(state)
    status, stage = POSITION[state]

    assert project.status == DemandStatus(status)
    assert project.stage == (DeliveryStage(stage) if stage else None)
    assert project.lifecycle_state == (stage or status)
    assert project.is_finished is (state in FINISHED)


@pytest.mark.parametrize("state", FINISHED)
def test_a_finished_project_allows_nothing(state: str) -> None:
    assert allowed_actions(project_in(state)) == []


# --- Requesting ---------------------------------------------------------------------------


def test_given_no_project_when_requested_then_it_is_requested_with_all_its_details() -> None:
    command = request_project(
        expected_benefits="Halve quote-to-order time",
        risk_level="high",
        strategic_objectives=["customer-experience", "cost"],
        custom={"cost_centre": "CC-100", "regulatory": True},
        tolerances=Tolerances(cost_percent=Decimal("5"), schedule_days=10),
    )

    assert when(None, command) == [
        project_requested(
            expected_benefits="Halve quote-to-order time",
            risk_level="high",
            strategic_objectives=("customer-experience", "cost"),
            custom={"cost_centre": "CC-100", "regulatory": True},
            tolerances=Tolerances(cost_percent=Decimal("5"), schedule_days=10),
        )
    ]


def test_given_a_requested_project_when_requested_again_then_it_already_exists() -> None:
    with pytest.raises(ProjectAlreadyExists) as refusal:
        when(given(REQUESTED), request_project())

    assert refusal.value.status == 409


def test_given_no_project_when_anything_but_a_request_then_it_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="RequestProject"):
        when(None, SubmitProject())


def test_a_request_whose_target_date_is_before_its_start_date_is_invalid() -> None:
    with pytest.raises(InvalidInput) as invalid:
        when(None, request_project(start_date=date(2027, 6, 1), target_date=date(2027, 5, 31)))

    assert invalid_field(invalid.value) == "target_date"


def test_a_request_may_start_and_end_on_the_same_day() -> None:
    assert when(None, request_project(start_date=TARGET, target_date=TARGET)) == [
        project_requested(start_date=TARGET, target_date=TARGET)
    ]


def test_a_requested_project_starts_as_a_draft_with_its_details() -> None:
    project = given(REQUESTED)

    assert project.status is DemandStatus.DRAFT
    assert project.stage is None
    assert project.requested_by == "alice"
    assert project.estimated_cost == ESTIMATE
    assert project.tolerances == Tolerances()
    assert project.baseline_cost is None


# --- Editing ------------------------------------------------------------------------------


def test_given_a_draft_when_edited_then_only_the_fields_that_changed_are_recorded() -> None:
    changes = {
        "title": NEW_TITLE,
        "description": "Replace the legacy CRM",
        "sponsor": "carol",
        "estimated_cost": Money(Decimal("300000.00"), "EUR"),
        "business_unit": "Sales & Marketing",
    }

    assert when(given(REQUESTED), EditProject(changes=changes)) == [
        ProjectEdited(
            project_id=PROJECT_ID,
            changed_fields=("business_unit", "estimated_cost", "title"),
            changes=ProjectChanges(
                title=NEW_TITLE,
                business_unit="Sales & Marketing",
                estimated_cost=Money(Decimal("300000.00"), "EUR"),
            ),
        )
    ]


def test_given_a_draft_when_edited_to_what_it_already_says_then_nothing_happens() -> None:
    project = given(project_requested(custom={"regulatory": False}, strategic_objectives=("cost",)))
    same = {
        "title": "New CRM",
        "estimated_cost": Money(Decimal("250000"), "EUR"),
        "target_date": TARGET,
        "custom": {"regulatory": False},
        "strategic_objectives": ("cost",),
        "tolerances": Tolerances(),
    }

    assert when(project, EditProject(changes=same)) == []


def test_given_a_recycled_request_when_edited_then_the_edit_is_recorded() -> None:
    assert when(
        project_in("recycled"),
        EditProject(
            changes={"strategic_objectives": ("growth",), "custom": {"cost_centre": "CC-7"}}
        ),
    ) == [
        ProjectEdited(
            project_id=PROJECT_ID,
            changed_fields=("custom", "strategic_objectives"),
            changes=ProjectChanges(
                strategic_objectives=("growth",), custom={"cost_centre": "CC-7"}
            ),
        )
    ]


@pytest.mark.parametrize("state", [s for s in STATES if s not in ("draft", "recycled")])
def test_only_drafts_and_recycled_requests_may_be_edited(state: str) -> None:
    refusal = refused(project_in(state), EditProject(changes={"title": NEW_TITLE}))

    assert refusal.extensions["action"] == "edit"


def test_an_edit_moving_the_target_date_before_the_start_date_is_invalid() -> None:
    with pytest.raises(InvalidInput) as invalid:
        when(given(REQUESTED), EditProject(changes={"target_date": date(2026, 12, 31)}))

    assert invalid_field(invalid.value) == "target_date"


def test_an_edit_moving_both_dates_the_wrong_way_round_names_the_target_date() -> None:
    with pytest.raises(InvalidInput) as invalid:
        when(
            given(REQUESTED),
            EditProject(changes={"start_date": date(2028, 1, 1), "target_date": date(2027, 12, 1)}),
        )

    assert invalid_field(invalid.value) == "target_date"


def test_an_edit_moving_the_start_date_after_the_target_date_names_the_start_date() -> None:
    with pytest.raises(InvalidInput) as invalid:
        when(given(REQUESTED), EditProject(changes={"start_date": date(2027, 10, 1)}))

    assert invalid_field(invalid.value) == "start_date"


def test_an_edit_clearing_the_start_date_lifts_the_date_check() -> None:
    assert when(
        given(REQUESTED), EditProject(changes={"start_date": None, "target_date": date(2026, 1, 1)})
    ) == [
        ProjectEdited(
            project_id=PROJECT_ID,
            changed_fields=("start_date", "target_date"),
            changes=ProjectChanges(target_date=date(2026, 1, 1)),
        )
    ]


def test_an_edited_project_carries_its_new_values() -> None:
    edited = ProjectEdited(
        project_id=PROJECT_ID,
        changed_fields=("custom", "estimated_cost", "target_date"),
        changes=ProjectChanges(
            estimated_cost=Money(Decimal("1.00"), "EUR"),
            target_date=date(2028, 1, 1),
            custom={"regulatory": True},
            title="ignored: not named in changed_fields",
        ),
    )

    project = given(REQUESTED, edited)

    assert project.title == "New CRM"
    assert project.estimated_cost == Money(Decimal("1.00"), "EUR")
    assert project.target_date == date(2028, 1, 1)
    assert project.custom == {"regulatory": True}


def test_an_edit_of_a_field_that_is_not_editable_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="requested_by"):
        when(given(REQUESTED), EditProject(changes={"requested_by": "mallory"}))


# --- Approval and delivery ----------------------------------------------------------------


def test_given_a_qualified_request_when_approved_then_it_becomes_a_project_in_initiating() -> None:
    events = when(project_in("qualified"), ApproveProject(reason=REASON))

    assert events == [
        ProjectApproved(
            project_id=PROJECT_ID,
            from_status="qualified",
            to_status="approved",
            from_stage=None,
            to_stage="initiating",
            reason=REASON,
            baseline_cost=ESTIMATE,
            baseline_end_date=TARGET,
        )
    ]
    project = project_in("qualified", *events)
    assert project.status is DemandStatus.APPROVED
    assert project.stage is DeliveryStage.INITIATING
    assert project.is_in_delivery


def test_approval_baselines_the_estimate_and_target_date_as_edited_before_submission() -> None:
    edited = ProjectEdited(
        project_id=PROJECT_ID,
        changed_fields=("estimated_cost", "target_date"),
        changes=ProjectChanges(
            estimated_cost=Money(Decimal("90000"), "EUR"), target_date=date(2027, 6, 30)
        ),
    )
    project = given(REQUESTED, edited, *_QUALIFIED[1:])

    [approved] = when(project, ApproveProject())

    assert isinstance(approved, ProjectApproved)
    assert approved.baseline_cost == Money(Decimal("90000"), "EUR")
    assert approved.baseline_end_date == date(2027, 6, 30)
    assert project_in("qualified", edited, approved).baseline_cost == Money(Decimal("90000"), "EUR")


def test_a_request_without_a_target_date_is_approved_without_a_baseline_end_date() -> None:
    project = given(project_requested(target_date=None), *_QUALIFIED[1:])

    [approved] = when(project, ApproveProject())

    assert isinstance(approved, ProjectApproved)
    assert approved.baseline_end_date is None


@pytest.mark.parametrize(
    ("state", "wrong_stage", "next_stage"),
    [
        ("initiating", DeliveryStage.EXECUTING, "planning"),
        ("initiating", DeliveryStage.CLOSED, "planning"),
        ("planning", DeliveryStage.CLOSING, "executing"),
        ("planning", DeliveryStage.INITIATING, "executing"),
        ("executing", DeliveryStage.CLOSED, "closing"),
        ("executing", DeliveryStage.ON_HOLD, "closing"),
        ("executing", DeliveryStage.KILLED, "closing"),
    ],
)
def test_advancing_to_a_stage_that_is_not_the_next_one_is_refused_with_a_hint(
    state: str, wrong_stage: DeliveryStage, next_stage: str
) -> None:
    refusal = refused(project_in(state), AdvanceStage(to_stage=wrong_stage))

    assert f"the next stage after {state} is {next_stage}" in refusal.detail
    assert refusal.extensions["current_stage"] == state
    assert set(refusal.extensions["allowed_actions"]) == ALLOWED_ACTIONS[state]


@pytest.mark.parametrize("stage", ACTIVE_STAGES)
def test_a_project_put_on_hold_resumes_the_stage_it_was_paused_in(stage: str) -> None:
    [held] = when(project_in(stage), PutProjectOnHold(reason="funding review"))
    assert held == moved(ProjectPutOnHold, stage, "on_hold", reason="funding review")
    on_hold = project_in(stage, held)
    assert on_hold.stage is DeliveryStage.ON_HOLD
    assert on_hold.paused_stage == DeliveryStage(stage)

    [resumed] = when(on_hold, ResumeProject(reason="funded"))

    assert resumed == moved(ProjectResumed, "on_hold", stage, reason="funded")
    back = project_in(stage, held, resumed)
    assert back.stage == DeliveryStage(stage)
    assert back.paused_stage is None


def test_a_project_on_hold_may_be_killed() -> None:
    assert when(project_in("on_hold"), KillProject(reason="no funding")) == [
        moved(ProjectKilled, "on_hold", "killed", reason="no funding")
    ]


def test_a_project_walks_from_request_to_closure() -> None:
    commands: list[Command] = [
        SubmitProject(),
        StartScreening(),
        QualifyProject(),
        ApproveProject(),
        AdvanceStage(to_stage=DeliveryStage.PLANNING),
        AdvanceStage(to_stage=DeliveryStage.EXECUTING),
        AdvanceStage(to_stage=DeliveryStage.CLOSING),
        CloseProject(),
    ]
    events: list[DomainEvent] = [REQUESTED]
    for command in commands:
        events += when(given(*events), command)

    assert [type(event) for event in events] == [
        ProjectRequested,
        ProjectSubmitted,
        ProjectScreeningStarted,
        ProjectQualified,
        ProjectApproved,
        ProjectStageAdvanced,
        ProjectStageAdvanced,
        ProjectStageAdvanced,
        ProjectClosed,
    ]
    assert given(*events).lifecycle_state == "closed"
    assert allowed_actions(given(*events)) == []


def test_a_recycled_request_may_be_submitted_again_and_goes_round_once_more() -> None:
    [submitted] = when(project_in("recycled"), SubmitProject(reason="reworked"))

    assert submitted == moved(ProjectSubmitted, "recycled", "submitted", reason="reworked")
    assert project_in("recycled", submitted).status is DemandStatus.SUBMITTED


def test_a_deferred_request_reactivated_is_back_in_submitted() -> None:
    [reactivated] = when(project_in("deferred"), ReactivateProject(reason="budget freed"))

    assert reactivated == moved(ProjectReactivated, "deferred", "submitted", reason="budget freed")
    assert set(allowed_actions(project_in("deferred", reactivated))) == ALLOWED_ACTIONS["submitted"]


# --- Gate decisions -----------------------------------------------------------------------

GATE = "G2"
RATIONALE = "the business case holds"

# state → {outcome: (the event it causes, the state it leads to)}; conditional_go acts as go.
# Every outcome not listed does not fit where the project stands and changes nothing.
GATE_STEPS: dict[str, dict[str, tuple[type[ProjectTransitioned], str]]] = {
    "draft": {},
    "recycled": {},
    "submitted": {
        "go": (ProjectScreeningStarted, "screening"),
        "hold": (ProjectDeferred, "deferred"),
        "recycle": (ProjectRecycled, "recycled"),
        "kill": (ProjectRejected, "rejected"),
    },
    "screening": {
        "go": (ProjectQualified, "qualified"),
        "hold": (ProjectDeferred, "deferred"),
        "recycle": (ProjectRecycled, "recycled"),
        "kill": (ProjectRejected, "rejected"),
    },
    "qualified": {
        "go": (ProjectApproved, "initiating"),
        "hold": (ProjectDeferred, "deferred"),
        "recycle": (ProjectRecycled, "recycled"),
        "kill": (ProjectRejected, "rejected"),
    },
    "deferred": {
        "go": (ProjectReactivated, "submitted"),
        "recycle": (ProjectRecycled, "recycled"),
        "kill": (ProjectRejected, "rejected"),
    },
    "rejected": {},
    "withdrawn": {},
    "initiating": {
        "go": (ProjectStageAdvanced, "planning"),
        "hold": (ProjectPutOnHold, "on_hold"),
        "recycle": (ProjectRecycled, "initiating"),
        "kill": (ProjectKilled, "killed"),
    },
    "planning": {
        "go": (ProjectStageAdvanced, "executing"),
        "hold": (ProjectPutOnHold, "on_hold"),
        "recycle": (ProjectRecycled, "planning"),
        "kill": (ProjectKilled, "killed"),
    },
    "executing": {
        "go": (ProjectStageAdvanced, "closing"),
        "hold": (ProjectPutOnHold, "on_hold"),
        "recycle": (ProjectRecycled, "executing"),
        "kill": (ProjectKilled, "killed"),
    },
    "closing": {
        "go": (ProjectClosed, "closed"),
        "hold": (ProjectPutOnHold, "on_hold"),
        "recycle": (ProjectRecycled, "closing"),
        "kill": (ProjectKilled, "killed"),
    },
    "on_hold": {
        "go": (ProjectResumed, "planning"),
        "recycle": (ProjectRecycled, "on_hold"),
        "kill": (ProjectKilled, "killed"),
    },
    "closed": {},
    "killed": {},
}
OUTCOMES = ["go", "conditional_go", "hold", "recycle", "kill"]
GATE_DECISIONS = [
    pytest.param(
        state,
        outcome,
        GATE_STEPS[state].get("go" if outcome == "conditional_go" else outcome),
        id=f"{state}-{outcome}",
    )
    for state in STATES
    for outcome in OUTCOMES
]


@pytest.mark.parametrize(("state", "outcome", "expected"), GATE_DECISIONS)
def test_a_gate_decision_moves_the_project_as_its_outcome_says_or_not_at_all(
    state: str,
    outcome: Any,
    expected: tuple[type[ProjectTransitioned], str] | None,
) -> None:
    decision = ApplyGateDecision(
        review_id=REVIEW_ID, gate=GATE, outcome=outcome, rationale=RATIONALE
    )

    events = when(project_in(state), decision)

    if expected is None:
        assert events == []
    else:
        event_class, to_state = expected
        extra: dict[str, Any] = {"reason": RATIONALE, "gate_review_id": REVIEW_ID, "gate": GATE}
        if event_class is ProjectApproved:
            extra.update(baseline_cost=ESTIMATE, baseline_end_date=TARGET)
        assert events == [moved(event_class, state, to_state, **extra)]
        assert project_in(state, *events).lifecycle_state == to_state


def test_a_request_recycled_by_a_gate_is_editable_and_may_be_submitted_again() -> None:
    events = when(
        project_in("screening"),
        ApplyGateDecision(
            review_id=REVIEW_ID, gate=GATE, outcome="recycle", rationale="rework the benefits"
        ),
    )

    project = project_in("screening", *events)
    assert project.status is DemandStatus.RECYCLED
    assert {"edit", "submit"} <= set(allowed_actions(project))


def test_a_recycled_project_in_delivery_keeps_its_stage_and_where_it_paused() -> None:
    events = when(
        project_in("on_hold"), ApplyGateDecision(review_id=REVIEW_ID, gate="G4", outcome="recycle")
    )

    project = project_in("on_hold", *events)
    assert project.stage is DeliveryStage.ON_HOLD
    assert project.paused_stage is DeliveryStage.PLANNING
    assert when(project, ResumeProject()) == [moved(ProjectResumed, "on_hold", "planning")]


# --- Scoring ------------------------------------------------------------------------------

MODEL = ScoringModel(
    key="value",
    version=3,
    name="Business value",
    method="weighted",
    criteria=(
        WeightedCriterion(key="strategy", name="Strategic fit", weight=Decimal("3"), scale=5),
        WeightedCriterion(key="roi", name="Return", weight=Decimal("1"), scale=10),
    ),
    knockouts=(KnockoutCriterion(key="legal", name="Legally possible"),),
)
RATINGS = {"strategy": Decimal("4"), "roi": Decimal("5")}


def score_project(**changes: Any) -> ScoreProject:
    details: dict[str, Any] = {
        "assessment_id": ASSESSMENT_ID,
        "model": MODEL,
        "assessment": Assessment(ratings=RATINGS, knockouts={"legal": True}),
        "mandatory": True,
        "mandatory_reason": "regulation XY",
        "rationale": "fits strategy",
        "assessed_by": "pat",
        **changes,
    }
    return ScoreProject(**details)


def project_scored(**changes: Any) -> ProjectScored:
    details: dict[str, Any] = {
        "project_id": PROJECT_ID,
        "assessment_id": ASSESSMENT_ID,
        "model_key": "value",
        "model_version": 3,
        "method": "weighted",
        "ratings": RATINGS,
        "knockouts": {"legal": True},
        "score": Decimal("72.50"),
        "knocked_out": False,
        "failed_knockouts": (),
        "mandatory": True,
        "mandatory_reason": "regulation XY",
        "rationale": "fits strategy",
        "assessed_by": "pat",
        **changes,
    }
    return ProjectScored(**details)


@pytest.mark.parametrize("state", ["submitted", "screening", "qualified", "deferred"])
def test_a_request_under_review_is_scored_with_the_model_version_and_computed_score(
    state: str,
) -> None:
    assert when(project_in(state), score_project()) == [project_scored()]


@pytest.mark.parametrize(
    "state", [s for s in STATES if s not in ("submitted", "screening", "qualified", "deferred")]
)
def test_a_project_not_under_review_may_not_be_scored(state: str) -> None:
    refusal = refused(project_in(state), score_project())

    assert refusal.extensions["action"] == "score"


def test_a_request_failing_a_knock_out_scores_zero_and_is_knocked_out() -> None:
    command = score_project(
        assessment=Assessment(ratings=RATINGS, knockouts={"legal": False}),
        mandatory=False,
        mandatory_reason="",
    )

    assert when(project_in("screening"), command) == [
        project_scored(
            knockouts={"legal": False},
            score=Decimal("0.00"),
            knocked_out=True,
            failed_knockouts=("legal",),
            mandatory=False,
            mandatory_reason="",
        )
    ]


def test_an_assessment_that_does_not_fit_the_model_is_invalid() -> None:
    command = score_project(
        assessment=Assessment(
            ratings={"strategy": Decimal("6"), "roi": Decimal("5")}, knockouts={"legal": True}
        )
    )

    with pytest.raises(InvalidInput) as invalid:
        when(project_in("screening"), command)

    assert invalid_field(invalid.value) == "ratings.strategy"


def test_a_scored_project_keeps_its_latest_score() -> None:
    first = project_scored()
    second = project_scored(assessment_id=REVIEW_ID, score=Decimal("40.00"), mandatory=False)

    score = project_in("screening", first, second).score

    assert score is not None
    assert (score.assessment_id, score.value, score.mandatory) == (
        REVIEW_ID,
        Decimal("40.00"),
        False,
    )
    assert (score.model_key, score.model_version) == ("value", 3)


# --- Status reports and tolerances --------------------------------------------------------


def report_status(
    forecast: str = "250000.00",
    end: date = TARGET,
    currency: str = "EUR",
    report_id: UUID = REPORT_ID,
) -> ReportStatus:
    return ReportStatus(
        report_id=report_id,
        overall="amber",
        schedule="green",
        cost="red",
        scope="green",
        summary="vendor late",
        forecast_cost=Money(Decimal(forecast), currency),
        forecast_end_date=end,
        reported_by="dave",
    )


def status_reported(
    forecast: str = "250000.00", end: date = TARGET, report_id: UUID = REPORT_ID
) -> StatusReported:
    return StatusReported(
        project_id=PROJECT_ID,
        report_id=report_id,
        overall="amber",
        schedule="green",
        cost="red",
        scope="green",
        summary="vendor late",
        forecast_cost=Money(Decimal(forecast), "EUR"),
        forecast_end_date=end,
        reported_by="dave",
    )


def cost_breached(forecast: str, variance: str, tolerance: str = "10") -> ToleranceBreached:
    return ToleranceBreached(
        project_id=PROJECT_ID,
        report_id=REPORT_ID,
        dimension="cost",
        variance=Decimal(variance),
        tolerance=Decimal(tolerance),
        baseline_cost=ESTIMATE,
        forecast_cost=Money(Decimal(forecast), "EUR"),
    )


def schedule_breached(end: date, days: int, tolerance: int = 30) -> ToleranceBreached:
    return ToleranceBreached(
        project_id=PROJECT_ID,
        report_id=REPORT_ID,
        dimension="schedule",
        variance=Decimal(days),
        tolerance=Decimal(tolerance),
        baseline_end_date=TARGET,
        forecast_end_date=end,
    )


def recovered(dimension: Any) -> ToleranceRecovered:
    return ToleranceRecovered(project_id=PROJECT_ID, report_id=REPORT_ID, dimension=dimension)


@pytest.mark.parametrize("state", DELIVERY_STATES)
def test_a_project_in_delivery_reports_its_status(state: str) -> None:
    assert when(project_in(state), report_status()) == [status_reported()]


@pytest.mark.parametrize("state", [*REQUEST_STATES, *FINISHED])
def test_only_a_project_in_delivery_reports_status(state: str) -> None:
    assert refused(project_in(state), report_status()).extensions["action"] == "report_status"


def test_a_status_report_is_the_projects_latest_status() -> None:
    project = project_in("executing", status_reported())

    assert project.status_report is not None
    assert project.status_report.overall == "amber"
    assert project.status_report.forecast_cost == ESTIMATE


def test_a_cost_forecast_beyond_tolerance_breaches_it() -> None:
    assert when(project_in("executing"), report_status("280000.00")) == [
        status_reported("280000.00"),
        cost_breached("280000.00", "12.00"),
    ]


def test_a_cost_forecast_at_the_edge_of_tolerance_does_not_breach_it() -> None:
    assert when(project_in("executing"), report_status("275000.00")) == [
        status_reported("275000.00")
    ]


def test_a_cost_forecast_below_baseline_is_within_tolerance() -> None:
    assert when(project_in("executing"), report_status("1.00")) == [status_reported("1.00")]


def test_a_breached_tolerance_is_not_reported_again_while_it_stays_breached() -> None:
    project = project_in(
        "executing", status_reported("280000.00"), cost_breached("280000.00", "12.00")
    )

    assert project.breached == {"cost"}
    assert when(project, report_status("300000.00")) == [status_reported("300000.00")]


def test_a_breached_tolerance_recovers_when_the_forecast_is_back_within_it() -> None:
    project = project_in(
        "executing", status_reported("280000.00"), cost_breached("280000.00", "12.00")
    )

    events = when(project, report_status("260000.00"))

    assert events == [status_reported("260000.00"), recovered("cost")]
    assert project_in("executing", *events).breached == frozenset()


def test_a_schedule_forecast_beyond_tolerance_breaches_it() -> None:
    late = date(2027, 11, 15)

    assert when(project_in("planning"), report_status(end=late)) == [
        status_reported(end=late),
        schedule_breached(late, 46),
    ]


def test_a_schedule_forecast_at_the_edge_of_tolerance_does_not_breach_it() -> None:
    edge = date(2027, 10, 30)

    assert when(project_in("planning"), report_status(end=edge)) == [status_reported(end=edge)]


def test_a_breached_schedule_is_reported_once_and_recovers() -> None:
    late = date(2027, 12, 1)
    project = project_in("planning", status_reported(end=late), schedule_breached(late, 62))

    assert when(project, report_status(end=date(2028, 1, 1))) == [
        status_reported(end=date(2028, 1, 1))
    ]
    assert when(project, report_status(end=TARGET)) == [
        status_reported(end=TARGET),
        recovered("schedule"),
    ]


def test_cost_and_schedule_may_breach_in_one_report() -> None:
    late = date(2028, 3, 1)

    assert when(project_in("closing"), report_status("400000.00", late)) == [
        status_reported("400000.00", late),
        cost_breached("400000.00", "60.00"),
        schedule_breached(late, 153),
    ]


def test_a_project_without_a_target_date_has_no_schedule_tolerance() -> None:
    project = given(
        project_requested(target_date=None),
        *_INITIATING[1:-1],
        replace(APPROVED, baseline_end_date=None),
    )

    assert when(project, report_status(end=date(2040, 1, 1))) == [
        status_reported(end=date(2040, 1, 1))
    ]


def test_a_project_approved_at_no_cost_has_no_cost_percentage_to_breach() -> None:
    free = Money(Decimal("0.00"), "EUR")
    project = given(
        project_requested(estimated_cost=free),
        *_INITIATING[1:-1],
        replace(APPROVED, baseline_cost=free),
    )

    assert when(project, report_status("5000.00")) == [status_reported("5000.00")]


def test_a_forecast_in_another_currency_is_invalid() -> None:
    with pytest.raises(InvalidInput) as invalid:
        when(project_in("executing"), report_status(currency="USD"))

    assert invalid_field(invalid.value) == "forecast_cost.currency"


def test_changed_tolerances_are_what_later_reports_are_measured_against() -> None:
    tight = Tolerances(cost_percent=Decimal("5"), schedule_days=0)
    [changed] = when(
        project_in("executing"), ChangeTolerances(tolerances=tight, reason="critical path")
    )
    assert changed == ProjectTolerancesChanged(
        project_id=PROJECT_ID, tolerances=tight, reason="critical path"
    )
    project = project_in("executing", changed)
    late = date(2027, 10, 1)

    assert when(project, report_status("265000.00", late)) == [
        status_reported("265000.00", late),
        cost_breached("265000.00", "6.00", "5"),
        schedule_breached(late, 1, 0),
    ]


@pytest.mark.parametrize("state", FINISHED)
def test_a_finished_project_keeps_its_tolerances(state: str) -> None:
    refused(project_in(state), ChangeTolerances(tolerances=Tolerances()))


# --- RAID log -----------------------------------------------------------------------------


def add_raid_item(kind: str, **changes: Any) -> AddRaidItem:
    details: dict[str, Any] = {
        "item_id": ITEM_ID,
        "kind": kind,
        "title": f"a {kind}",
        "description": "details",
        "owner": "dave",
        **changes,
    }
    return AddRaidItem(**details)


def raid_item_added(kind: Any, **changes: Any) -> RaidItemAdded:
    details: dict[str, Any] = {
        "project_id": PROJECT_ID,
        "item_id": ITEM_ID,
        "kind": kind,
        "title": f"a {kind}",
        "description": "details",
        "owner": "dave",
        **changes,
    }
    return RaidItemAdded(**details)


RISK = raid_item_added("risk", probability=3, impact=4, due_date=date(2027, 3, 1))


@pytest.mark.parametrize(
    ("kind", "ratings"),
    [
        ("risk", {"probability": 3, "impact": 4}),
        ("issue", {"impact": 5}),
        ("issue", {}),
        ("assumption", {}),
        ("dependency", {}),
    ],
)
def test_each_kind_of_raid_item_may_be_logged(kind: str, ratings: dict[str, int]) -> None:
    command = add_raid_item(kind, due_date=date(2027, 3, 1), **ratings)

    assert when(project_in("executing"), command) == [
        raid_item_added(kind, due_date=date(2027, 3, 1), **ratings)
    ]


@pytest.mark.parametrize(
    ("kind", "ratings", "field"),
    [
        ("risk", {"impact": 4}, "probability"),
        ("risk", {"probability": 3}, "impact"),
        ("risk", {}, "probability"),
        ("issue", {"probability": 3, "impact": 4}, "probability"),
        ("assumption", {"probability": 3}, "probability"),
        ("assumption", {"impact": 3}, "impact"),
        ("dependency", {"probability": 3}, "probability"),
        ("dependency", {"impact": 3}, "impact"),
    ],
)
def test_a_raid_item_is_rated_as_its_kind_requires(
    kind: str, ratings: dict[str, int], field: str
) -> None:
    with pytest.raises(InvalidInput) as invalid:
        when(project_in("executing"), add_raid_item(kind, **ratings))

    assert invalid_field(invalid.value) == field


@pytest.mark.parametrize("state", [*REQUEST_STATES, *DELIVERY_STATES])
def test_a_raid_item_may_be_logged_on_any_project_that_is_not_finished(state: str) -> None:
    assert when(project_in(state), add_raid_item("assumption")) == [raid_item_added("assumption")]


@pytest.mark.parametrize("state", FINISHED)
def test_no_raid_item_is_logged_on_a_finished_project(state: str) -> None:
    refused(project_in(state), add_raid_item("assumption"))


def test_a_raid_update_records_only_the_fields_that_changed() -> None:
    project = project_in("executing", RISK)
    changes = {"title": "a risk", "owner": "erin", "impact": 5, "due_date": date(2027, 4, 1)}

    assert when(project, UpdateRaidItem(item_id=ITEM_ID, changes=changes)) == [
        RaidItemUpdated(
            project_id=PROJECT_ID,
            item_id=ITEM_ID,
            changed_fields=("due_date", "impact", "owner"),
            changes=RaidChanges(owner="erin", impact=5, due_date=date(2027, 4, 1)),
        )
    ]


def test_a_raid_update_that_changes_nothing_records_nothing() -> None:
    project = project_in("executing", RISK)

    assert (
        when(project, UpdateRaidItem(item_id=ITEM_ID, changes={"probability": 3, "owner": "dave"}))
        == []
    )


@pytest.mark.parametrize(
    ("item", "changes", "field"),
    [
        (RISK, {"probability": None}, "probability"),
        (RISK, {"impact": None}, "impact"),
        (raid_item_added("issue"), {"probability": 2}, "probability"),
        (raid_item_added("dependency"), {"impact": 2}, "impact"),
    ],
)
def test_a_raid_update_keeps_the_item_rated_as_its_kind_requires(
    item: RaidItemAdded, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as invalid:
        when(project_in("executing", item), UpdateRaidItem(item_id=ITEM_ID, changes=changes))

    assert invalid_field(invalid.value) == field


def test_an_updated_raid_item_carries_its_new_values() -> None:
    updated = RaidItemUpdated(
        project_id=PROJECT_ID,
        item_id=ITEM_ID,
        changed_fields=("impact", "owner"),
        changes=RaidChanges(owner="erin", impact=5),
    )

    item = project_in("executing", RISK, updated).raid_item(ITEM_ID)

    assert item is not None
    assert (item.owner, item.impact, item.probability, item.title) == ("erin", 5, 3, "a risk")


def test_a_closed_raid_item_keeps_its_resolution() -> None:
    project = project_in("executing", RISK)

    events = when(project, CloseRaidItem(item_id=ITEM_ID, resolution="mitigated"))

    assert events == [
        RaidItemClosed(project_id=PROJECT_ID, item_id=ITEM_ID, resolution="mitigated")
    ]
    item = project_in("executing", RISK, *events).raid_item(ITEM_ID)
    assert item is not None
    assert (item.open, item.resolution) == (False, "mitigated")


@pytest.mark.parametrize(
    "command",
    [
        UpdateRaidItem(item_id=REVIEW_ID, changes={"owner": "erin"}),
        CloseRaidItem(item_id=REVIEW_ID, resolution="gone"),
    ],
    ids=["update", "close"],
)
def test_an_unknown_raid_item_is_not_found(command: Command) -> None:
    with pytest.raises(RaidItemNotFound) as missing:
        when(project_in("executing", RISK), command)

    assert missing.value.status == 404


@pytest.mark.parametrize(
    "command",
    [
        UpdateRaidItem(item_id=ITEM_ID, changes={"owner": "erin"}),
        CloseRaidItem(item_id=ITEM_ID, resolution="again"),
    ],
    ids=["update", "close"],
)
def test_a_closed_raid_item_may_not_be_changed(command: Command) -> None:
    closed = RaidItemClosed(project_id=PROJECT_ID, item_id=ITEM_ID, resolution="mitigated")

    with pytest.raises(Conflict) as conflict:
        when(project_in("executing", RISK, closed), command)

    assert conflict.value.status == 409
    assert not isinstance(conflict.value, RaidItemNotFound | InvalidTransition)


@pytest.mark.parametrize(
    "command",
    [
        UpdateRaidItem(item_id=ITEM_ID, changes={"owner": "erin"}),
        CloseRaidItem(item_id=ITEM_ID, resolution="project over"),
    ],
    ids=["update", "close"],
)
@pytest.mark.parametrize("state", ["closed", "killed"])
def test_the_raid_log_of_a_finished_project_is_frozen(state: str, command: Command) -> None:
    project = given(*HISTORY["executing"], RISK, *HISTORY[state][len(HISTORY["executing"]) :])

    refused(project, command)
