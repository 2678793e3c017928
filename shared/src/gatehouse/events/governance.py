"""Public events produced by the governance service on ``gatehouse.governance.events``.

Every project's gate record is one stream, ``gates-<project id>``: the reviews of its gates,
their votes and their outcomes, in order. The record key on Kafka is the stream id, so the
decisions about one project always arrive in the order they were taken.

``GateDecided`` is the one other services act on: intake moves a project on a gate's outcome.
Gate templates (``gate-template-<project type>``) and delegations (``delegation-<id>``) have
streams of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from gatehouse.events.base import DomainEvent, EventRegistry
from gatehouse.personal_data import Person, PersonalField

__all__ = [
    "ROLE_SEAT",
    "SOURCE",
    "USER_SEAT",
    "ApprovalRule",
    "ApproverSeat",
    "ConditionBreached",
    "ConditionMet",
    "CriterionAssessment",
    "DelegationGranted",
    "DelegationRevoked",
    "DelegationScope",
    "EvidenceLink",
    "EvidenceRequirement",
    "GateCondition",
    "GateCriterion",
    "GateDecided",
    "GateDefinition",
    "GateOutcome",
    "GateReviewEscalated",
    "GateReviewOpened",
    "GateReviewWithdrawn",
    "GateTemplateDefined",
    "Quorum",
    "SeatLabel",
    "VoteCast",
    "VoteDecision",
    "VoteRevised",
    "governance_events",
]

SOURCE = "/gatehouse/governance"

GateOutcome = Literal["go", "conditional_go", "hold", "recycle", "kill"]
VoteDecision = GateOutcome
Quorum = Literal["all", "any", "n_of_m", "majority"]


# --- Value types ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GateCriterion:
    """What a gate judges: a must-meet knock-out, or a should-meet scored 0 to 5."""

    key: str
    name: str
    kind: Literal["must_meet", "should_meet"]
    weight: int = 1
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class EvidenceRequirement:
    """A document the review must link to before it can be opened (business case, plan...)."""

    key: str
    name: str
    description: str = ""


USER_SEAT = "user:"
ROLE_SEAT = "role:"

SeatLabel = Annotated[str, PersonalField(after=USER_SEAT)]
"""A seat on a panel: ``user:<person>`` (the person is sealed in stored events) or
``role:<role>``."""


@dataclass(frozen=True, kw_only=True)
class ApproverSeat:
    """One place on a gate's panel: a named user, or any holder of a role. Exactly one is set."""

    user: Person | None = None
    role: str | None = None

    @property
    def label(self) -> str:
        return USER_SEAT + self.user if self.user is not None else ROLE_SEAT + str(self.role)


@dataclass(frozen=True, kw_only=True)
class ApprovalRule:
    """Who approves a gate and when the panel has decided.

    ``quorum``: ``all`` seats, ``any`` one, ``n_of_m`` (``n`` of the seats) or a ``majority``
    of the seats must vote go (or conditional go). ``sequential`` panels vote in the order of
    ``seats``. With ``kill_veto`` a kill from any seat ends the review at once.
    """

    seats: tuple[ApproverSeat, ...]
    quorum: Quorum = "all"
    n: int | None = None
    order: Literal["parallel", "sequential"] = "parallel"
    kill_veto: bool = True


@dataclass(frozen=True, kw_only=True)
class GateDefinition:
    key: str
    name: str
    description: str = ""
    criteria: tuple[GateCriterion, ...] = ()
    evidence: tuple[EvidenceRequirement, ...] = ()
    approval: ApprovalRule
    sla_hours: int


@dataclass(frozen=True, kw_only=True)
class EvidenceLink:
    """A link to a piece of evidence, for a required item (``key``) or extra (``key`` None)."""

    url: str
    key: str | None = None
    title: str = ""


@dataclass(frozen=True, kw_only=True)
class CriterionAssessment:
    criterion: str
    met: bool | None = None
    score: int | None = None
    comment: str = ""


@dataclass(frozen=True, kw_only=True)
class GateCondition:
    """A condition of a conditional go: what must be done, by whom, by when."""

    condition_id: UUID
    description: str
    owner: Person
    due_date: date


@dataclass(frozen=True, kw_only=True)
class DelegationScope:
    """Limits a delegation; an unset field means any."""

    project_type: str | None = None
    gate: str | None = None
    project_id: UUID | None = None


# --- Gate templates -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GateTemplateDefined(DomainEvent):
    """A version of the ordered gates for one project type. Reviews keep the version they
    opened with."""

    event_type = "gatehouse.governance.GateTemplateDefined"

    project_type: str
    version: int
    name: str
    description: str = ""
    escalation_role: str = "pmo_admin"
    gates: tuple[GateDefinition, ...]
    defined_by: Person


# --- A project's gate record ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GateReviewOpened(DomainEvent):
    """The review of a project's next gate began; it carries the gate as the template had it."""

    event_type = "gatehouse.governance.GateReviewOpened"

    review_id: UUID
    project_id: UUID
    project_type: str
    template_version: int
    escalation_role: str = "pmo_admin"
    gate: GateDefinition
    evidence: tuple[EvidenceLink, ...] = ()
    note: str = ""
    opened_by: Person
    sla_due_at: datetime


@dataclass(frozen=True, kw_only=True)
class VoteCast(DomainEvent):
    """An approver's vote. ``approver`` holds the seat; ``cast_by`` differs when a delegate
    voted for them (``delegation_id`` says under which delegation)."""

    event_type = "gatehouse.governance.VoteCast"

    review_id: UUID
    project_id: UUID
    vote_id: UUID
    seat: SeatLabel
    approver: Person
    cast_by: Person
    delegation_id: UUID | None = None
    decision: VoteDecision
    rationale: str = ""
    conditions: tuple[GateCondition, ...] = ()
    assessments: tuple[CriterionAssessment, ...] = ()


@dataclass(frozen=True, kw_only=True)
class VoteRevised(DomainEvent):
    """An approver changed their vote, saying why; the vote it replaces stays in the history."""

    event_type = "gatehouse.governance.VoteRevised"

    review_id: UUID
    project_id: UUID
    vote_id: UUID
    revises: UUID
    seat: SeatLabel
    approver: Person
    cast_by: Person
    delegation_id: UUID | None = None
    decision: VoteDecision
    rationale: str = ""
    conditions: tuple[GateCondition, ...] = ()
    assessments: tuple[CriterionAssessment, ...] = ()
    reason: str


@dataclass(frozen=True, kw_only=True)
class GateDecided(DomainEvent):
    """A gate review closed with an outcome.

    Intake moves the project on ``go`` and ``conditional_go``, defers or pauses it on
    ``hold``, sends it back for rework on ``recycle`` and ends it on ``kill``. ``votes`` are
    the ids of the votes the outcome rests on, ``decided_by`` their approvers.
    """

    event_type = "gatehouse.governance.GateDecided"

    review_id: UUID
    project_id: UUID
    gate: str
    outcome: GateOutcome
    template_version: int = 1
    rationale: str = ""
    decided_by: tuple[Person, ...] = ()
    votes: tuple[UUID, ...] = ()
    conditions: tuple[GateCondition, ...] = ()
    rule: str = ""


@dataclass(frozen=True, kw_only=True)
class GateReviewWithdrawn(DomainEvent):
    event_type = "gatehouse.governance.GateReviewWithdrawn"

    review_id: UUID
    project_id: UUID
    gate: str
    reason: str
    withdrawn_by: Person


@dataclass(frozen=True, kw_only=True)
class GateReviewEscalated(DomainEvent):
    """A review stayed open past its SLA; raised once per review."""

    event_type = "gatehouse.governance.GateReviewEscalated"

    review_id: UUID
    project_id: UUID
    gate: str
    escalation_role: str
    sla_due_at: datetime
    awaiting: tuple[SeatLabel, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ConditionMet(DomainEvent):
    event_type = "gatehouse.governance.ConditionMet"

    review_id: UUID
    project_id: UUID
    condition_id: UUID
    evidence: tuple[EvidenceLink, ...]
    note: str = ""
    met_by: Person
    late: bool = False


@dataclass(frozen=True, kw_only=True)
class ConditionBreached(DomainEvent):
    """A condition of a conditional go passed its due date unmet; raised once per condition."""

    event_type = "gatehouse.governance.ConditionBreached"

    review_id: UUID
    project_id: UUID
    condition_id: UUID
    gate: str
    description: str
    owner: Person
    due_date: date


# --- Delegations ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DelegationGranted(DomainEvent):
    """``from_user`` lets ``to_user`` vote in their place between ``starts_at`` and ``ends_at``."""

    event_type = "gatehouse.governance.DelegationGranted"

    delegation_id: UUID
    from_user: Person
    to_user: Person
    starts_at: datetime
    ends_at: datetime
    scope: DelegationScope = DelegationScope()
    reason: str = ""
    granted_by: Person


@dataclass(frozen=True, kw_only=True)
class DelegationRevoked(DomainEvent):
    event_type = "gatehouse.governance.DelegationRevoked"

    delegation_id: UUID
    reason: str = ""
    revoked_by: Person


governance_events = EventRegistry(
    [
        GateTemplateDefined,
        GateReviewOpened,
        VoteCast,
        VoteRevised,
        GateDecided,
        GateReviewWithdrawn,
        GateReviewEscalated,
        ConditionMet,
        ConditionBreached,
        DelegationGranted,
        DelegationRevoked,
    ]
)
