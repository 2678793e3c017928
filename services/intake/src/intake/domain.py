"""The project aggregate: commands in, events out. Plain Python, no framework.

``decide(state, command)`` answers which events a command causes (or raises why not);
``evolve(state, event)`` folds one event into the state. Replaying a stream is a fold.

A project lives two lifecycles. As a request (demand) it goes
``draft → submitted → screening → qualified → approved | deferred | rejected``, may be
``withdrawn`` by its requester before approval, and a gate's *recycle* sends it back to
``recycled`` for rework. Once approved it is delivered through the stages
``initiating → planning → executing → closing → closed``, and may be put ``on_hold`` or
``killed`` from any active stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from gatehouse.errors import Conflict, InvalidInput
from gatehouse.events.base import DomainEvent
from gatehouse.events.governance import GateOutcome
from gatehouse.events.intake import (
    CustomValue,
    DeliveryStageName,
    DemandStatusName,
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
)
from gatehouse.events.types import Money
from intake.scoring import Assessment, ScoringModel

__all__ = [
    "AddRaidItem",
    "AdvanceStage",
    "ApplyGateDecision",
    "ApproveProject",
    "ChangeTolerances",
    "CloseProject",
    "CloseRaidItem",
    "Command",
    "DeferProject",
    "DeliveryStage",
    "DemandStatus",
    "EditProject",
    "InvalidTransition",
    "KillProject",
    "Project",
    "ProjectAlreadyExists",
    "PutProjectOnHold",
    "QualifyProject",
    "RaidItem",
    "ReactivateProject",
    "RejectProject",
    "ReportStatus",
    "RequestProject",
    "ResumeProject",
    "ScoreProject",
    "StartScreening",
    "SubmitProject",
    "UpdateRaidItem",
    "WithdrawProject",
    "allowed_actions",
    "decide",
    "evolve",
    "replay",
    "stream_id",
]


class DemandStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    SCREENING = "screening"
    QUALIFIED = "qualified"
    APPROVED = "approved"
    DEFERRED = "deferred"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    RECYCLED = "recycled"


class DeliveryStage(StrEnum):
    INITIATING = "initiating"
    PLANNING = "planning"
    EXECUTING = "executing"
    CLOSING = "closing"
    CLOSED = "closed"
    ON_HOLD = "on_hold"
    KILLED = "killed"


NEXT_STAGE = {
    DeliveryStage.INITIATING: DeliveryStage.PLANNING,
    DeliveryStage.PLANNING: DeliveryStage.EXECUTING,
    DeliveryStage.EXECUTING: DeliveryStage.CLOSING,
}
ACTIVE_STAGES = frozenset(
    {
        DeliveryStage.INITIATING,
        DeliveryStage.PLANNING,
        DeliveryStage.EXECUTING,
        DeliveryStage.CLOSING,
    }
)
BEFORE_APPROVAL = frozenset(
    {
        DemandStatus.DRAFT,
        DemandStatus.SUBMITTED,
        DemandStatus.SCREENING,
        DemandStatus.QUALIFIED,
        DemandStatus.DEFERRED,
        DemandStatus.RECYCLED,
    }
)
EDITABLE = frozenset({DemandStatus.DRAFT, DemandStatus.RECYCLED})
SCORABLE = frozenset(
    {DemandStatus.SUBMITTED, DemandStatus.SCREENING, DemandStatus.QUALIFIED, DemandStatus.DEFERRED}
)


# --- State --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RaidItem:
    id: UUID
    kind: str
    title: str
    description: str
    owner: str
    probability: int | None
    impact: int | None
    due_date: date | None
    open: bool = True
    resolution: str = ""


@dataclass(frozen=True, kw_only=True)
class StatusSnapshot:
    report_id: UUID
    overall: str
    schedule: str
    cost: str
    scope: str
    summary: str
    forecast_cost: Money
    forecast_end_date: date


@dataclass(frozen=True, kw_only=True)
class Score:
    assessment_id: UUID
    model_key: str
    model_version: int
    value: Decimal
    knocked_out: bool
    failed_knockouts: tuple[str, ...]
    mandatory: bool
    mandatory_reason: str


@dataclass(frozen=True, kw_only=True)
class Project:
    id: UUID
    title: str
    description: str
    sponsor: str
    business_unit: str
    project_type: str
    estimated_cost: Money
    requested_by: str
    start_date: date | None
    target_date: date | None
    expected_benefits: str
    risk_level: str
    strategic_objectives: tuple[str, ...]
    custom: Mapping[str, CustomValue]
    tolerances: Tolerances
    status: DemandStatus = DemandStatus.DRAFT
    stage: DeliveryStage | None = None
    paused_stage: DeliveryStage | None = None
    baseline_cost: Money | None = None
    baseline_end_date: date | None = None
    score: Score | None = None
    status_report: StatusSnapshot | None = None
    breached: frozenset[str] = frozenset()
    raid: tuple[RaidItem, ...] = ()

    @property
    def is_in_delivery(self) -> bool:
        return self.status is DemandStatus.APPROVED

    @property
    def is_finished(self) -> bool:
        return self.status in (DemandStatus.REJECTED, DemandStatus.WITHDRAWN) or self.stage in (
            DeliveryStage.CLOSED,
            DeliveryStage.KILLED,
        )

    @property
    def lifecycle_state(self) -> str:
        """The one word for where the project stands: its stage once approved, else status."""
        return self.stage.value if self.stage is not None else self.status.value

    def raid_item(self, item_id: UUID) -> RaidItem | None:
        return next((item for item in self.raid if item.id == item_id), None)


# --- Commands -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RequestProject:
    """Capture a new project request."""

    project_id: UUID
    title: str
    description: str
    sponsor: str
    business_unit: str
    project_type: str
    estimated_cost: Money
    requested_by: str
    start_date: date | None = None
    target_date: date | None = None
    expected_benefits: str = ""
    risk_level: str = "medium"
    strategic_objectives: tuple[str, ...] = ()
    custom: Mapping[str, CustomValue] = field(default_factory=dict)
    tolerances: Tolerances = field(default_factory=Tolerances)


@dataclass(frozen=True, kw_only=True)
class EditProject:
    """Change some details of a draft or recycled request: ``changes`` maps field to value."""

    changes: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class _Step:
    """A lifecycle command: who asks is in the envelope; ``reason`` is the why."""

    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class SubmitProject(_Step):
    pass


@dataclass(frozen=True, kw_only=True)
class StartScreening(_Step):
    pass


@dataclass(frozen=True, kw_only=True)
class QualifyProject(_Step):
    pass


@dataclass(frozen=True, kw_only=True)
class ApproveProject(_Step):
    pass


@dataclass(frozen=True, kw_only=True)
class DeferProject(_Step):
    pass


@dataclass(frozen=True, kw_only=True)
class ReactivateProject(_Step):
    pass


@dataclass(frozen=True, kw_only=True)
class RejectProject(_Step):
    pass


@dataclass(frozen=True, kw_only=True)
class WithdrawProject(_Step):
    pass


@dataclass(frozen=True, kw_only=True)
class AdvanceStage(_Step):
    to_stage: DeliveryStage


@dataclass(frozen=True, kw_only=True)
class CloseProject(_Step):
    pass


@dataclass(frozen=True, kw_only=True)
class PutProjectOnHold(_Step):
    pass


@dataclass(frozen=True, kw_only=True)
class ResumeProject(_Step):
    pass


@dataclass(frozen=True, kw_only=True)
class KillProject(_Step):
    pass


@dataclass(frozen=True, kw_only=True)
class ApplyGateDecision:
    """A gate review's outcome, published by governance, applied to the project."""

    review_id: UUID
    gate: str
    outcome: GateOutcome
    rationale: str = ""


@dataclass(frozen=True, kw_only=True)
class ScoreProject:
    assessment_id: UUID
    model: ScoringModel
    assessment: Assessment
    mandatory: bool = False
    mandatory_reason: str = ""
    rationale: str = ""
    assessed_by: str = ""


@dataclass(frozen=True, kw_only=True)
class ChangeTolerances:
    tolerances: Tolerances
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ReportStatus:
    report_id: UUID
    overall: str
    schedule: str
    cost: str
    scope: str
    summary: str
    forecast_cost: Money
    forecast_end_date: date
    reported_by: str


@dataclass(frozen=True, kw_only=True)
class AddRaidItem:
    item_id: UUID
    kind: str
    title: str
    description: str
    owner: str
    probability: int | None = None
    impact: int | None = None
    due_date: date | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateRaidItem:
    item_id: UUID
    changes: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class CloseRaidItem:
    item_id: UUID
    resolution: str


Command = (
    RequestProject
    | EditProject
    | SubmitProject
    | StartScreening
    | QualifyProject
    | ApproveProject
    | DeferProject
    | ReactivateProject
    | RejectProject
    | WithdrawProject
    | AdvanceStage
    | CloseProject
    | PutProjectOnHold
    | ResumeProject
    | KillProject
    | ApplyGateDecision
    | ScoreProject
    | ChangeTolerances
    | ReportStatus
    | AddRaidItem
    | UpdateRaidItem
    | CloseRaidItem
)


# --- Errors -------------------------------------------------------------------------------


class ProjectAlreadyExists(Conflict):
    slug = "project-exists"


class InvalidTransition(Conflict):
    """The command is not allowed where the project stands; says what is."""

    slug, title = "invalid-transition", "Not allowed in the project's current state"

    def __init__(self, project: Project, action: str, *, hint: str = "") -> None:
        detail = f"cannot {action.replace('_', ' ')} a project that is {project.lifecycle_state}"
        super().__init__(
            f"{detail}; {hint}" if hint else detail,
            action=action,
            current_status=project.status.value,
            current_stage=project.stage.value if project.stage else None,
            allowed_actions=allowed_actions(project),
        )


class RaidItemNotFound(Conflict):
    status, slug, title = 404, "raid-item-not-found", "Not found"


# --- Deciding -----------------------------------------------------------------------------

# Lifecycle actions by where the project stands; the 409 of a refused step lists them.
_DEMAND_ACTIONS: dict[DemandStatus, tuple[str, ...]] = {
    DemandStatus.DRAFT: ("edit", "submit", "withdraw"),
    DemandStatus.RECYCLED: ("edit", "submit", "withdraw"),
    DemandStatus.SUBMITTED: ("start_screening", "score", "withdraw"),
    DemandStatus.SCREENING: ("qualify", "defer", "reject", "score", "withdraw"),
    DemandStatus.QUALIFIED: ("approve", "defer", "reject", "score", "withdraw"),
    DemandStatus.DEFERRED: ("reactivate", "reject", "score", "withdraw"),
    DemandStatus.REJECTED: (),
    DemandStatus.WITHDRAWN: (),
}
_DELIVERY_ACTIONS: dict[DeliveryStage, tuple[str, ...]] = {
    DeliveryStage.INITIATING: ("advance", "hold", "kill", "report_status"),
    DeliveryStage.PLANNING: ("advance", "hold", "kill", "report_status"),
    DeliveryStage.EXECUTING: ("advance", "hold", "kill", "report_status"),
    DeliveryStage.CLOSING: ("close", "hold", "kill", "report_status"),
    DeliveryStage.ON_HOLD: ("resume", "kill", "report_status"),
    DeliveryStage.CLOSED: (),
    DeliveryStage.KILLED: (),
}
_ALWAYS_WHILE_OPEN = ("add_raid_item", "update_raid_item", "close_raid_item")
# A gate may defer (hold) or reject (kill) a request as soon as it is submitted, as it may take
# it into screening (go); the PMO's own defer and reject come once screening has started.
_GATE_ONLY_STEPS: dict[DemandStatus, tuple[str, ...]] = {
    DemandStatus.SUBMITTED: ("defer", "reject")
}


def allowed_actions(project: Project) -> list[str]:
    """What may be done next, by the command names of the API."""
    if project.stage is not None:
        steps = _DELIVERY_ACTIONS[project.stage]
    else:
        steps = _DEMAND_ACTIONS[project.status]
    if project.is_finished:
        return []
    tolerances = ("change_tolerances",)
    return [*steps, *tolerances, *_ALWAYS_WHILE_OPEN]


def stream_id(project_id: UUID) -> str:
    return f"project-{project_id}"


def decide(state: Project | None, command: Command) -> list[DomainEvent]:
    if isinstance(command, RequestProject):
        if state is not None:
            raise ProjectAlreadyExists(f"project {command.project_id} already exists")
        return [_requested(command)]
    if state is None:
        raise ValueError("only RequestProject applies to a project that does not exist")
    match command:
        case EditProject():
            return _edit(state, command)
        case ApplyGateDecision():
            return _apply_gate_decision(state, command)
        case ScoreProject():
            return _score(state, command)
        case ChangeTolerances():
            _require(state, "change_tolerances")
            return [
                ProjectTolerancesChanged(
                    project_id=state.id, tolerances=command.tolerances, reason=command.reason
                )
            ]
        case ReportStatus():
            return _report_status(state, command)
        case AddRaidItem() | UpdateRaidItem() | CloseRaidItem():
            return _change_raid(state, command)
        case _Step():
            return [_step(state, command)]
    raise AssertionError(f"unhandled command {command!r}")


def _requested(command: RequestProject) -> ProjectRequested:
    _check_dates(command.start_date, command.target_date, field_name="target_date")
    return ProjectRequested(
        project_id=command.project_id,
        title=command.title,
        description=command.description,
        sponsor=command.sponsor,
        business_unit=command.business_unit,
        project_type=command.project_type,
        estimated_cost=command.estimated_cost,
        requested_by=command.requested_by,
        start_date=command.start_date,
        target_date=command.target_date,
        expected_benefits=command.expected_benefits,
        risk_level=command.risk_level,  # type: ignore[arg-type]
        strategic_objectives=tuple(command.strategic_objectives),
        custom=dict(command.custom),
        tolerances=command.tolerances,
    )


_EDITABLE_FIELDS = frozenset(f.name for f in fields(ProjectChanges))


def _edit(state: Project, command: EditProject) -> list[DomainEvent]:
    _require(state, "edit")
    unknown = set(command.changes) - _EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    changed = {
        name: value
        for name, value in command.changes.items()
        if _current_value(state, name) != value
    }
    if not changed:
        return []
    start = changed.get("start_date", state.start_date)
    target = changed.get("target_date", state.target_date)
    _check_dates(
        start, target, field_name="target_date" if "target_date" in changed else "start_date"
    )
    return [
        ProjectEdited(
            project_id=state.id,
            changed_fields=tuple(sorted(changed)),
            changes=ProjectChanges(**changed),
        )
    ]


def _current_value(state: Project, name: str) -> Any:
    value = getattr(state, name)
    return dict(value) if name == "custom" else value


def _check_dates(start: date | None, target: date | None, *, field_name: str) -> None:
    if start is not None and target is not None and target < start:
        raise InvalidInput.for_field(
            field_name, f"the target date {target} is before the start date {start}"
        )


_STEP_ACTIONS: dict[type[_Step], str] = {
    SubmitProject: "submit",
    StartScreening: "start_screening",
    QualifyProject: "qualify",
    ApproveProject: "approve",
    DeferProject: "defer",
    ReactivateProject: "reactivate",
    RejectProject: "reject",
    WithdrawProject: "withdraw",
    AdvanceStage: "advance",
    CloseProject: "close",
    PutProjectOnHold: "hold",
    ResumeProject: "resume",
    KillProject: "kill",
}


def action_of(command: _Step) -> str:
    return _STEP_ACTIONS[type(command)]


def _status_name(status: DemandStatus) -> DemandStatusName:
    return status.value


def _stage_name(stage: DeliveryStage | None) -> DeliveryStageName | None:
    return stage.value if stage is not None else None


def _step(
    state: Project, command: _Step, *, gate_review_id: UUID | None = None, gate: str | None = None
) -> ProjectTransitioned:
    action = action_of(command)
    if gate_review_id is None or action not in _GATE_ONLY_STEPS.get(state.status, ()):
        _require(state, action)
    common: dict[str, Any] = {
        "project_id": state.id,
        "from_status": state.status.value,
        "from_stage": state.stage.value if state.stage else None,
        "reason": command.reason,
        "gate_review_id": gate_review_id,
        "gate": gate,
    }
    status = _status_name(state.status)
    match command:
        case SubmitProject():
            return ProjectSubmitted(**common, to_status="submitted")
        case StartScreening():
            return ProjectScreeningStarted(**common, to_status="screening")
        case QualifyProject():
            return ProjectQualified(**common, to_status="qualified")
        case ApproveProject():
            return ProjectApproved(
                **common,
                to_status="approved",
                to_stage="initiating",
                baseline_cost=state.estimated_cost,
                baseline_end_date=state.target_date,
            )
        case DeferProject():
            return ProjectDeferred(**common, to_status="deferred")
        case ReactivateProject():
            return ProjectReactivated(**common, to_status="submitted")
        case RejectProject():
            return ProjectRejected(**common, to_status="rejected")
        case WithdrawProject():
            return ProjectWithdrawn(**common, to_status="withdrawn")
        case AdvanceStage():
            assert state.stage is not None
            expected = NEXT_STAGE[state.stage]
            if command.to_stage is not expected:
                raise InvalidTransition(
                    state,
                    f"advance to {command.to_stage.value}",
                    hint=f"the next stage after {state.stage.value} is {expected.value}",
                )
            return ProjectStageAdvanced(**common, to_status=status, to_stage=_stage_name(expected))
        case CloseProject():
            return ProjectClosed(**common, to_status=status, to_stage="closed")
        case PutProjectOnHold():
            return ProjectPutOnHold(**common, to_status=status, to_stage="on_hold")
        case ResumeProject():
            assert state.paused_stage is not None
            return ProjectResumed(
                **common, to_status=status, to_stage=_stage_name(state.paused_stage)
            )
        case KillProject():
            return ProjectKilled(**common, to_status=status, to_stage="killed")
    raise AssertionError(f"unhandled step {command!r}")


def _require(state: Project, action: str) -> None:
    if action not in allowed_actions(state):
        raise InvalidTransition(state, action)


def _apply_gate_decision(state: Project, command: ApplyGateDecision) -> list[DomainEvent]:
    """Go moves the project to its next step, hold defers (or pauses) it, recycle sends it
    back for rework, kill ends it. An outcome that does not fit where the project stands (it
    was withdrawn meanwhile, say) changes nothing."""
    step = _gate_step(state, command.outcome, command.rationale)
    if step is None:
        return []
    if isinstance(step, ProjectRecycled):
        return [replace(step, gate_review_id=command.review_id, gate=command.gate)]
    try:
        return [_step(state, step, gate_review_id=command.review_id, gate=command.gate)]
    except InvalidTransition:
        return []


def _gate_step(
    state: Project, outcome: GateOutcome, rationale: str
) -> _Step | ProjectRecycled | None:
    if state.is_finished:
        return None
    reason = rationale
    if outcome in ("go", "conditional_go"):
        if state.stage is None:
            demand_go: dict[DemandStatus, _Step] = {
                DemandStatus.SUBMITTED: StartScreening(reason=reason),
                DemandStatus.SCREENING: QualifyProject(reason=reason),
                DemandStatus.QUALIFIED: ApproveProject(reason=reason),
                DemandStatus.DEFERRED: ReactivateProject(reason=reason),
            }
            return demand_go.get(state.status)
        if state.stage is DeliveryStage.ON_HOLD:
            return ResumeProject(reason=reason)
        if state.stage is DeliveryStage.CLOSING:
            return CloseProject(reason=reason)
        return AdvanceStage(to_stage=NEXT_STAGE[state.stage], reason=reason)
    if outcome == "hold":
        return PutProjectOnHold(reason=reason) if state.stage else DeferProject(reason=reason)
    if outcome == "kill":
        return KillProject(reason=reason) if state.stage else RejectProject(reason=reason)
    # recycle: a request goes back for rework; a project in delivery stays in its stage.
    if state.status in (DemandStatus.DRAFT, DemandStatus.RECYCLED):
        return None
    stage = _stage_name(state.stage)
    to_status: Literal["recycled", "approved"] = "approved" if state.stage else "recycled"
    return ProjectRecycled(
        project_id=state.id,
        from_status=_status_name(state.status),
        to_status=to_status,
        from_stage=stage,
        to_stage=stage,
        reason=reason,
    )


def _score(state: Project, command: ScoreProject) -> list[DomainEvent]:
    _require(state, "score")
    result = command.model.score(command.assessment)
    return [
        ProjectScored(
            project_id=state.id,
            assessment_id=command.assessment_id,
            model_key=command.model.key,
            model_version=command.model.version,
            method=command.model.method,
            ratings=dict(command.assessment.ratings),
            knockouts=dict(command.assessment.knockouts),
            score=result.score,
            knocked_out=result.knocked_out,
            failed_knockouts=result.failed_knockouts,
            mandatory=command.mandatory,
            mandatory_reason=command.mandatory_reason,
            rationale=command.rationale,
            assessed_by=command.assessed_by,
        )
    ]


def _report_status(state: Project, command: ReportStatus) -> list[DomainEvent]:
    _require(state, "report_status")
    baseline_cost = state.baseline_cost or state.estimated_cost
    if command.forecast_cost.currency != baseline_cost.currency:
        raise InvalidInput.for_field(
            "forecast_cost.currency",
            f"forecasts must be in the project's currency {baseline_cost.currency}",
        )
    report: list[DomainEvent] = [
        StatusReported(
            project_id=state.id,
            report_id=command.report_id,
            overall=command.overall,  # type: ignore[arg-type]
            schedule=command.schedule,  # type: ignore[arg-type]
            cost=command.cost,  # type: ignore[arg-type]
            scope=command.scope,  # type: ignore[arg-type]
            summary=command.summary,
            forecast_cost=command.forecast_cost,
            forecast_end_date=command.forecast_end_date,
            reported_by=command.reported_by,
        )
    ]
    tolerances = state.tolerances
    # A zero baseline has no percentage to overrun (and an infinite variance has no JSON form).
    if baseline_cost.amount > 0:
        cost_variance = _percent_over(command.forecast_cost.amount, baseline_cost.amount)
        if cost_variance > tolerances.cost_percent:
            if "cost" not in state.breached:
                report.append(
                    ToleranceBreached(
                        project_id=state.id,
                        report_id=command.report_id,
                        dimension="cost",
                        variance=cost_variance,
                        tolerance=tolerances.cost_percent,
                        baseline_cost=baseline_cost,
                        forecast_cost=command.forecast_cost,
                    )
                )
        elif "cost" in state.breached:
            report.append(
                ToleranceRecovered(
                    project_id=state.id, report_id=command.report_id, dimension="cost"
                )
            )
    baseline_end = state.baseline_end_date or state.target_date
    if baseline_end is not None:
        days_late = (command.forecast_end_date - baseline_end).days
        if days_late > tolerances.schedule_days:
            if "schedule" not in state.breached:
                report.append(
                    ToleranceBreached(
                        project_id=state.id,
                        report_id=command.report_id,
                        dimension="schedule",
                        variance=Decimal(days_late),
                        tolerance=Decimal(tolerances.schedule_days),
                        baseline_end_date=baseline_end,
                        forecast_end_date=command.forecast_end_date,
                    )
                )
        elif "schedule" in state.breached:
            report.append(
                ToleranceRecovered(
                    project_id=state.id, report_id=command.report_id, dimension="schedule"
                )
            )
    return report


def _percent_over(forecast: Decimal, baseline: Decimal) -> Decimal:
    """How far ``forecast`` is above a positive ``baseline``, in percent (0 when at or below)."""
    if forecast <= baseline:
        return Decimal("0.00")
    return ((forecast - baseline) * 100 / baseline).quantize(Decimal("0.01"))


_RAID_CHANGE_FIELDS = frozenset(f.name for f in fields(RaidChanges))


def _change_raid(
    state: Project, command: AddRaidItem | UpdateRaidItem | CloseRaidItem
) -> list[DomainEvent]:
    if isinstance(command, AddRaidItem):
        _require(state, "add_raid_item")
        _check_raid_ratings(command.kind, command.probability, command.impact)
        return [
            RaidItemAdded(
                project_id=state.id,
                item_id=command.item_id,
                kind=command.kind,  # type: ignore[arg-type]
                title=command.title,
                description=command.description,
                owner=command.owner,
                probability=command.probability,
                impact=command.impact,
                due_date=command.due_date,
            )
        ]
    item = state.raid_item(command.item_id)
    if item is None:
        raise RaidItemNotFound(f"project {state.id} has no RAID item {command.item_id}")
    if not item.open:
        raise Conflict(f"RAID item {item.id} is closed", item_id=str(item.id))
    if isinstance(command, CloseRaidItem):
        _require(state, "close_raid_item")
        return [RaidItemClosed(project_id=state.id, item_id=item.id, resolution=command.resolution)]
    _require(state, "update_raid_item")
    unknown = set(command.changes) - _RAID_CHANGE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    changed = {
        name: value for name, value in command.changes.items() if getattr(item, name) != value
    }
    if not changed:
        return []
    _check_raid_ratings(
        item.kind, changed.get("probability", item.probability), changed.get("impact", item.impact)
    )
    return [
        RaidItemUpdated(
            project_id=state.id,
            item_id=item.id,
            changed_fields=tuple(sorted(changed)),
            changes=RaidChanges(**changed),
        )
    ]


def _check_raid_ratings(kind: str, probability: int | None, impact: int | None) -> None:
    if kind == "risk":
        if probability is None:
            raise InvalidInput.for_field("probability", "a risk needs a probability (1-5)")
        if impact is None:
            raise InvalidInput.for_field("impact", "a risk needs an impact (1-5)")
    elif probability is not None:
        raise InvalidInput.for_field("probability", f"only risks have a probability, not {kind}")
    if kind in ("assumption", "dependency") and impact is not None:
        raise InvalidInput.for_field("impact", f"only risks and issues have an impact, not {kind}")


# --- Evolving -----------------------------------------------------------------------------


def evolve(state: Project | None, event: DomainEvent) -> Project | None:
    if isinstance(event, ProjectRequested):
        return Project(
            id=event.project_id,
            title=event.title,
            description=event.description,
            sponsor=event.sponsor,
            business_unit=event.business_unit,
            project_type=event.project_type,
            estimated_cost=event.estimated_cost,
            requested_by=event.requested_by,
            start_date=event.start_date,
            target_date=event.target_date,
            expected_benefits=event.expected_benefits,
            risk_level=event.risk_level,
            strategic_objectives=event.strategic_objectives,
            custom=dict(event.custom),
            tolerances=event.tolerances,
        )
    if state is None:
        return None
    match event:
        case ProjectEdited():
            return replace(
                state, **{name: getattr(event.changes, name) for name in event.changed_fields}
            )
        case ProjectTransitioned():
            return _transitioned(state, event)
        case ProjectScored():
            return replace(
                state,
                score=Score(
                    assessment_id=event.assessment_id,
                    model_key=event.model_key,
                    model_version=event.model_version,
                    value=event.score,
                    knocked_out=event.knocked_out,
                    failed_knockouts=event.failed_knockouts,
                    mandatory=event.mandatory,
                    mandatory_reason=event.mandatory_reason,
                ),
            )
        case ProjectTolerancesChanged():
            return replace(state, tolerances=event.tolerances)
        case StatusReported():
            return replace(
                state,
                status_report=StatusSnapshot(
                    report_id=event.report_id,
                    overall=event.overall,
                    schedule=event.schedule,
                    cost=event.cost,
                    scope=event.scope,
                    summary=event.summary,
                    forecast_cost=event.forecast_cost,
                    forecast_end_date=event.forecast_end_date,
                ),
            )
        case ToleranceBreached():
            return replace(state, breached=state.breached | {event.dimension})
        case ToleranceRecovered():
            return replace(state, breached=state.breached - {event.dimension})
        case RaidItemAdded():
            return replace(
                state,
                raid=(
                    *state.raid,
                    RaidItem(
                        id=event.item_id,
                        kind=event.kind,
                        title=event.title,
                        description=event.description,
                        owner=event.owner,
                        probability=event.probability,
                        impact=event.impact,
                        due_date=event.due_date,
                    ),
                ),
            )
        case RaidItemUpdated():
            changes = {name: getattr(event.changes, name) for name in event.changed_fields}
            return _with_raid_item(state, event.item_id, changes)
        case RaidItemClosed():
            return _with_raid_item(
                state, event.item_id, {"open": False, "resolution": event.resolution}
            )
        case _:
            return state


def _transitioned(state: Project, event: ProjectTransitioned) -> Project:
    stage = DeliveryStage(event.to_stage) if event.to_stage else None
    changes: dict[str, Any] = {"status": DemandStatus(event.to_status), "stage": stage}
    if isinstance(event, ProjectApproved):
        changes.update(baseline_cost=event.baseline_cost, baseline_end_date=event.baseline_end_date)
    if isinstance(event, ProjectPutOnHold):
        changes["paused_stage"] = DeliveryStage(event.from_stage) if event.from_stage else None
    if isinstance(event, ProjectResumed):
        changes["paused_stage"] = None
    return replace(state, **changes)


def _with_raid_item(state: Project, item_id: UUID, changes: Mapping[str, Any]) -> Project:
    return replace(
        state,
        raid=tuple(replace(item, **changes) if item.id == item_id else item for item in state.raid),
    )


def replay(events: Iterable[DomainEvent]) -> Project | None:
    state: Project | None = None
    for event in events:
        state = evolve(state, event)
    return state
