"""Public events produced by the intake service on ``gatehouse.intake.events``.

Streams: ``project-<uuid>`` (a project from request to closure), ``scoring-model-<key>`` (the
versions of one scoring model), ``custom-fields`` (the definitions of custom fields) and
``api-key-<key_id>`` (one API key, issued and maybe revoked).

Every lifecycle step of a project is its own event type (``ProjectSubmitted``,
``ProjectApproved``, ...). They share one shape, :class:`ProjectTransitioned`, which carries the
demand status and delivery stage before and after, so a consumer can follow the lifecycle
without knowing each step. A step caused by a gate decision names the gate review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from gatehouse.events.base import DomainEvent, EventRegistry
from gatehouse.events.types import Money
from gatehouse.personal_data import Person

__all__ = [
    "SOURCE",
    "ApiKeyIssued",
    "ApiKeyRevoked",
    "CustomFieldDefinition",
    "CustomFieldsDefined",
    "CustomValue",
    "DeliveryStageName",
    "DemandStatusName",
    "KnockoutCriterion",
    "PersonalDataErased",
    "ProjectApproved",
    "ProjectChanges",
    "ProjectClosed",
    "ProjectDeferred",
    "ProjectEdited",
    "ProjectKilled",
    "ProjectPutOnHold",
    "ProjectQualified",
    "ProjectReactivated",
    "ProjectRecycled",
    "ProjectRejected",
    "ProjectRequested",
    "ProjectResumed",
    "ProjectScored",
    "ProjectScreeningStarted",
    "ProjectStageAdvanced",
    "ProjectSubmitted",
    "ProjectTolerancesChanged",
    "ProjectTransitioned",
    "ProjectWithdrawn",
    "RagName",
    "RaidChanges",
    "RaidItemAdded",
    "RaidItemClosed",
    "RaidItemUpdated",
    "ScoringMethod",
    "ScoringModelDefined",
    "StatusReported",
    "ToleranceBreached",
    "ToleranceRecovered",
    "Tolerances",
    "WeightedCriterion",
    "intake_events",
]

SOURCE = "/gatehouse/intake"

DemandStatusName = Literal[
    "draft",
    "submitted",
    "screening",
    "qualified",
    "approved",
    "deferred",
    "rejected",
    "withdrawn",
    "recycled",
]
DeliveryStageName = Literal[
    "initiating", "planning", "executing", "closing", "closed", "on_hold", "killed"
]
RagName = Literal["green", "amber", "red"]
RiskLevelName = Literal["low", "medium", "high", "critical"]
RaidKind = Literal["risk", "assumption", "issue", "dependency"]
ScoringMethod = Literal["weighted", "wsjf"]
CustomFieldType = Literal["text", "integer", "number", "boolean", "date", "choice"]
CustomValue = bool | int | float | str


@dataclass(frozen=True, kw_only=True)
class Tolerances:
    """How far a forecast may drift from the baseline before it is a breach."""

    cost_percent: Decimal = Decimal("10")
    schedule_days: int = 30


# --- Project requests ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProjectRequested(DomainEvent):
    """A project request (demand) was captured; the project starts in ``draft``."""

    event_type = "gatehouse.intake.ProjectRequested"

    project_id: UUID
    title: str
    description: str
    sponsor: Person
    business_unit: str
    project_type: str
    estimated_cost: Money
    requested_by: Person
    start_date: date | None = None
    target_date: date | None = None
    expected_benefits: str = ""
    risk_level: RiskLevelName = "medium"
    strategic_objectives: tuple[str, ...] = ()
    custom: dict[str, CustomValue] = field(default_factory=dict)
    tolerances: Tolerances = field(default_factory=Tolerances)


@dataclass(frozen=True, kw_only=True)
class ProjectChanges:
    """New values of the fields a ``ProjectEdited`` names in ``changed_fields``."""

    title: str | None = None
    description: str | None = None
    sponsor: Person | None = None
    business_unit: str | None = None
    project_type: str | None = None
    estimated_cost: Money | None = None
    start_date: date | None = None
    target_date: date | None = None
    expected_benefits: str | None = None
    risk_level: RiskLevelName | None = None
    strategic_objectives: tuple[str, ...] | None = None
    custom: dict[str, CustomValue] | None = None
    tolerances: Tolerances | None = None


@dataclass(frozen=True, kw_only=True)
class ProjectEdited(DomainEvent):
    """A draft or recycled request was edited; ``changed_fields`` lists what changed."""

    event_type = "gatehouse.intake.ProjectEdited"

    project_id: UUID
    changed_fields: tuple[str, ...]
    changes: ProjectChanges


# --- Lifecycle ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProjectTransitioned(DomainEvent):
    """The shape every lifecycle step shares; not published under its own type."""

    project_id: UUID
    from_status: DemandStatusName
    to_status: DemandStatusName
    from_stage: DeliveryStageName | None = None
    to_stage: DeliveryStageName | None = None
    reason: str = ""
    gate_review_id: UUID | None = None
    gate: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProjectSubmitted(ProjectTransitioned):
    """The requester submitted the request for review (from ``draft`` or ``recycled``)."""

    event_type = "gatehouse.intake.ProjectSubmitted"


@dataclass(frozen=True, kw_only=True)
class ProjectScreeningStarted(ProjectTransitioned):
    """The PMO started screening a submitted request."""

    event_type = "gatehouse.intake.ProjectScreeningStarted"


@dataclass(frozen=True, kw_only=True)
class ProjectQualified(ProjectTransitioned):
    """The request passed screening and may be decided on."""

    event_type = "gatehouse.intake.ProjectQualified"


@dataclass(frozen=True, kw_only=True)
class ProjectApproved(ProjectTransitioned):
    """The request was approved and became a project in ``initiating``.

    The estimate and target date at approval become the baseline that status reports are
    measured against.
    """

    event_type = "gatehouse.intake.ProjectApproved"

    baseline_cost: Money | None = None
    baseline_end_date: date | None = None


@dataclass(frozen=True, kw_only=True)
class ProjectDeferred(ProjectTransitioned):
    """The request was put off for later consideration."""

    event_type = "gatehouse.intake.ProjectDeferred"


@dataclass(frozen=True, kw_only=True)
class ProjectReactivated(ProjectTransitioned):
    """A deferred request was taken up again and is back in ``submitted``."""

    event_type = "gatehouse.intake.ProjectReactivated"


@dataclass(frozen=True, kw_only=True)
class ProjectRejected(ProjectTransitioned):
    """The request was turned down (by the PMO, or by a gate's kill). Final."""

    event_type = "gatehouse.intake.ProjectRejected"


@dataclass(frozen=True, kw_only=True)
class ProjectWithdrawn(ProjectTransitioned):
    """The requester withdrew the request before approval. Final."""

    event_type = "gatehouse.intake.ProjectWithdrawn"


@dataclass(frozen=True, kw_only=True)
class ProjectRecycled(ProjectTransitioned):
    """A gate sent the work back for rework.

    A request returns to ``recycled`` (editable, to be submitted again); a project in delivery
    stays in its stage.
    """

    event_type = "gatehouse.intake.ProjectRecycled"


@dataclass(frozen=True, kw_only=True)
class ProjectStageAdvanced(ProjectTransitioned):
    """The project moved to its next delivery stage (planning, executing or closing)."""

    event_type = "gatehouse.intake.ProjectStageAdvanced"


@dataclass(frozen=True, kw_only=True)
class ProjectClosed(ProjectTransitioned):
    """The project finished its closing stage. Final."""

    event_type = "gatehouse.intake.ProjectClosed"


@dataclass(frozen=True, kw_only=True)
class ProjectPutOnHold(ProjectTransitioned):
    """Delivery was paused; ``from_stage`` is where it resumes."""

    event_type = "gatehouse.intake.ProjectPutOnHold"


@dataclass(frozen=True, kw_only=True)
class ProjectResumed(ProjectTransitioned):
    """A project on hold resumed the stage it was paused in."""

    event_type = "gatehouse.intake.ProjectResumed"


@dataclass(frozen=True, kw_only=True)
class ProjectKilled(ProjectTransitioned):
    """Delivery was stopped for good. Final."""

    event_type = "gatehouse.intake.ProjectKilled"


# --- Custom fields ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CustomFieldDefinition:
    key: str
    label: str
    type: CustomFieldType
    required: bool = False
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class CustomFieldsDefined(DomainEvent):
    """The PMO replaced the set of custom fields that project requests carry."""

    event_type = "gatehouse.intake.CustomFieldsDefined"

    fields: tuple[CustomFieldDefinition, ...]


# --- Scoring ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WeightedCriterion:
    key: str
    name: str
    weight: Decimal
    scale: Literal[5, 10]
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class KnockoutCriterion:
    """A must-meet criterion: a request that fails it scores zero and is marked knocked out."""

    key: str
    name: str
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class ScoringModelDefined(DomainEvent):
    """A version of a scoring model; the stream version is the model version."""

    event_type = "gatehouse.intake.ScoringModelDefined"

    model_key: str
    version: int
    name: str
    method: ScoringMethod
    criteria: tuple[WeightedCriterion, ...] = ()
    knockouts: tuple[KnockoutCriterion, ...] = ()
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class ProjectScored(DomainEvent):
    """An assessment of a request against a scoring model version, with the computed score.

    Weighted models score 0-100 (the weighted mean of each rating over its scale); WSJF scores
    (business value + time criticality + risk reduction) / job size. A failed knock-out scores
    0. A mandatory (e.g. regulatory) project ranks first whatever its score.
    """

    event_type = "gatehouse.intake.ProjectScored"

    project_id: UUID
    assessment_id: UUID
    model_key: str
    model_version: int
    method: ScoringMethod
    ratings: dict[str, Decimal]
    knockouts: dict[str, bool]
    score: Decimal
    knocked_out: bool
    failed_knockouts: tuple[str, ...] = ()
    mandatory: bool = False
    mandatory_reason: str = ""
    rationale: str = ""
    assessed_by: Person = ""


# --- Status and health --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProjectTolerancesChanged(DomainEvent):
    """The PMO changed how far the project's forecasts may drift from the baseline."""

    event_type = "gatehouse.intake.ProjectTolerancesChanged"

    project_id: UUID
    tolerances: Tolerances
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class StatusReported(DomainEvent):
    """A periodic status report: overall RAG, the health of schedule, cost and scope, and the
    forecast."""

    event_type = "gatehouse.intake.StatusReported"

    project_id: UUID
    report_id: UUID
    overall: RagName
    schedule: RagName
    cost: RagName
    scope: RagName
    summary: str
    forecast_cost: Money
    forecast_end_date: date
    reported_by: Person


@dataclass(frozen=True, kw_only=True)
class ToleranceBreached(DomainEvent):
    """A status report's forecast went beyond the project's tolerance (cost or schedule).

    Raised when a dimension goes out of tolerance, not again while it stays out.
    ``variance`` is the overrun in percent of the baseline (cost) or in days (schedule).
    """

    event_type = "gatehouse.intake.ToleranceBreached"

    project_id: UUID
    report_id: UUID
    dimension: Literal["cost", "schedule"]
    variance: Decimal
    tolerance: Decimal
    baseline_cost: Money | None = None
    forecast_cost: Money | None = None
    baseline_end_date: date | None = None
    forecast_end_date: date | None = None


@dataclass(frozen=True, kw_only=True)
class ToleranceRecovered(DomainEvent):
    """A dimension that was out of tolerance is back within it."""

    event_type = "gatehouse.intake.ToleranceRecovered"

    project_id: UUID
    report_id: UUID
    dimension: Literal["cost", "schedule"]


# --- RAID log -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RaidItemAdded(DomainEvent):
    """A risk, assumption, issue or dependency was logged on the project.

    Probability (1-5) is for risks only; impact (1-5) for risks and issues.
    """

    event_type = "gatehouse.intake.RaidItemAdded"

    project_id: UUID
    item_id: UUID
    kind: RaidKind
    title: str
    description: str
    owner: Person
    probability: int | None = None
    impact: int | None = None
    due_date: date | None = None


@dataclass(frozen=True, kw_only=True)
class RaidChanges:
    """New values of the fields a ``RaidItemUpdated`` names in ``changed_fields``."""

    title: str | None = None
    description: str | None = None
    owner: Person | None = None
    probability: int | None = None
    impact: int | None = None
    due_date: date | None = None


@dataclass(frozen=True, kw_only=True)
class RaidItemUpdated(DomainEvent):
    event_type = "gatehouse.intake.RaidItemUpdated"

    project_id: UUID
    item_id: UUID
    changed_fields: tuple[str, ...]
    changes: RaidChanges


@dataclass(frozen=True, kw_only=True)
class RaidItemClosed(DomainEvent):
    """A RAID item was closed (mitigated, resolved, confirmed or no longer relevant)."""

    event_type = "gatehouse.intake.RaidItemClosed"

    project_id: UUID
    item_id: UUID
    resolution: str


# --- API keys ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ApiKeyIssued(DomainEvent):
    """A PMO admin issued an API key for a machine client (stream ``api-key-<key_id>``).

    Only the SHA-256 of the key's 256-bit random secret travels: every service learns enough
    to check a presented key, and nobody reading the log can recover one.
    """

    event_type = "gatehouse.intake.ApiKeyIssued"

    key_id: str
    name: str
    subject: Person
    roles: tuple[str, ...]
    secret_sha256: str
    issued_by: Person
    expires_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ApiKeyRevoked(DomainEvent):
    """The key stops working in every service as soon as each has read this."""

    event_type = "gatehouse.intake.ApiKeyRevoked"

    key_id: str
    reason: str
    revoked_by: Person


# --- Personal data ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PersonalDataErased(DomainEvent):
    """A person was forgotten on request: the keys that sealed their values in every service's
    events (``refs``) were destroyed. The event names the keys, never the person; ``reason``
    is the request's reference and must not name them either."""

    event_type = "gatehouse.intake.PersonalDataErased"

    erasure_id: UUID
    refs: tuple[str, ...]
    reason: str
    requested_by: Person


intake_events = EventRegistry(
    [
        ProjectRequested,
        ProjectEdited,
        ProjectSubmitted,
        ProjectScreeningStarted,
        ProjectQualified,
        ProjectApproved,
        ProjectDeferred,
        ProjectReactivated,
        ProjectRejected,
        ProjectWithdrawn,
        ProjectRecycled,
        ProjectStageAdvanced,
        ProjectClosed,
        ProjectPutOnHold,
        ProjectResumed,
        ProjectKilled,
        CustomFieldsDefined,
        ScoringModelDefined,
        ProjectScored,
        ProjectTolerancesChanged,
        StatusReported,
        ToleranceBreached,
        ToleranceRecovered,
        RaidItemAdded,
        RaidItemUpdated,
        RaidItemClosed,
        ApiKeyIssued,
        ApiKeyRevoked,
        PersonalDataErased,
    ]
)
