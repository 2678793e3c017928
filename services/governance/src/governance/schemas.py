"""Request and response bodies of the governance API.

Every request body forbids unknown fields; a 422 names each field that is wrong.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from gatehouse.identity import Identifier
from gatehouse.json_types import JSON_INTEGER, Instant, IsoDate, long_text, short_text

__all__ = [
    "ApprovalBody",
    "AssessmentBody",
    "ConditionBody",
    "ConditionMetBody",
    "ConditionView",
    "CriterionBody",
    "CriterionView",
    "DelegationBody",
    "DelegationScopeBody",
    "DelegationView",
    "EvidenceLinkBody",
    "EvidenceRequirementBody",
    "GateBody",
    "GateTemplateBody",
    "GateTemplateView",
    "KnownProjectView",
    "OpenReviewBody",
    "ReasonBody",
    "ReviewPageView",
    "ReviewSummary",
    "ReviewView",
    "RuleView",
    "SeatBody",
    "VoteBody",
    "VoteReceipt",
    "VoteView",
]

ShortText = Annotated[str, short_text(200)]
OptionalTitle = Annotated[str, short_text(2000, required=False)]
Text = Annotated[str, long_text(2000, required=False)]
RequiredText = Annotated[str, long_text(2000)]
LongText = Annotated[str, long_text(10_000, required=False)]
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
ProjectType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
RoleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]
# No controls, no spaces and no bidirectional controls (RFC 3987 bars them from IRIs), spelled
# out: engines disagree on what ``\s`` covers (U+0085, U+FEFF), and clients read this pattern
# with ECMA-262's rules, the server with Rust's.
_URL_CHARACTER = (
    r"[^\u0000-\u0020\u007f-\u00a0\u061c\u1680\u2000-\u200a\u200e\u200f\u2028"
    r"-\u202f\u205f\u2066-\u2069\u3000\ufeff]"
)
Url = Annotated[
    str, StringConstraints(pattern=rf"^https?://{_URL_CHARACTER}{{1,2000}}$", max_length=2008)
]
Decision = Literal["go", "conditional_go", "hold", "recycle", "kill"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- Gate templates -------------------------------------------------------------------------


class CriterionBody(_Body):
    key: Key
    name: ShortText
    kind: Literal["must_meet", "should_meet"] = Field(
        description="must_meet: a knock-out every go must meet; should_meet: scored 0 to 5"
    )
    weight: Annotated[int, Field(ge=1, le=100), JSON_INTEGER] = 1
    description: Text = ""


class EvidenceRequirementBody(_Body):
    key: Key
    name: ShortText
    description: Text = ""


class SeatBody(_Body):
    """A named user, or any holder of a role (one of the two)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["user"], "properties": {"user": {"type": "string"}}},
                {"required": ["role"], "properties": {"role": {"type": "string"}}},
            ]
        },
    )

    user: Identifier | None = None
    role: RoleName | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SeatBody:
        if (self.user is None) == (self.role is None):
            raise ValueError("a seat names exactly one of user or role")
        return self


class ApprovalBody(_Body):
    approvers: Annotated[
        list[SeatBody],
        Field(
            min_length=1,
            max_length=100,
            description=("The panel's seats, in voting order for a sequential panel"),
        ),
    ]
    quorum: Literal["all", "any", "n_of_m", "majority"] = "all"
    n: Annotated[int, Field(ge=1, le=100), JSON_INTEGER] | None = Field(
        default=None, description="How many seats must vote go, for n_of_m"
    )
    order: Literal["parallel", "sequential"] = "parallel"
    kill_veto: StrictBool = Field(
        default=True, description="A kill from any seat ends the review as a kill"
    )


class GateBody(_Body):
    key: Key = Field(examples=["G0"])
    name: ShortText = Field(examples=["Idea screen"])
    description: Text = ""
    criteria: Annotated[list[CriterionBody], Field(max_length=50)] = []
    evidence: Annotated[list[EvidenceRequirementBody], Field(max_length=20)] = []
    approval: ApprovalBody
    sla_hours: Annotated[
        int,
        Field(
            ge=1,
            le=8760,
            description="Hours the panel has to decide before the review is escalated",
        ),
        JSON_INTEGER,
    ]


class GateTemplateBody(_Body):
    name: ShortText
    description: Text = ""
    escalation_role: RoleName = Field(
        default="pmo_admin", description="Who hears of a review open past its SLA"
    )
    gates: Annotated[list[GateBody], Field(min_length=1, max_length=20)]


class GateTemplateView(BaseModel):
    project_type: str
    version: int
    name: str
    description: str
    escalation_role: str
    gates: list[GateBody]
    defined_by: str


# --- Reviews --------------------------------------------------------------------------------


class EvidenceLinkBody(_Body):
    url: Url
    key: Key | None = Field(
        default=None,
        description="The required evidence this link provides; leave out for an extra link",
    )
    title: OptionalTitle = ""


class OpenReviewBody(_Body):
    project_id: UUID
    gate: Key | None = Field(
        default=None,
        description="The gate to review; it must be the "
        "project's next one (the next one when left out)",
    )
    evidence: Annotated[list[EvidenceLinkBody], Field(max_length=50)] = []
    note: Text = ""


class ConditionBody(_Body):
    description: RequiredText
    owner: Identifier
    due_date: IsoDate


class AssessmentBody(_Body):
    criterion: Key
    met: StrictBool | None = Field(default=None, description="For a must-meet criterion")
    score: Annotated[int, Field(ge=0, le=5), JSON_INTEGER] | None = Field(
        default=None, description="For a should-meet criterion, 0 to 5"
    )
    comment: Text = ""


class VoteBody(_Body):
    decision: Decision
    rationale: LongText = Field(default="", description="Required for anything but go")
    conditions: Annotated[list[ConditionBody], Field(max_length=20)] = []
    assessments: Annotated[list[AssessmentBody], Field(max_length=50)] = []
    on_behalf_of: Identifier | None = Field(
        default=None, description="Vote as the delegate of this approver"
    )
    revision_reason: RequiredText | None = Field(
        default=None,
        description="Send to change your vote (the earlier one stays in the "
        "history); without it a second vote is refused",
    )


class ConditionMetBody(_Body):
    evidence: Annotated[list[EvidenceLinkBody], Field(min_length=1, max_length=20)]
    note: Text = ""


class ReasonBody(_Body):
    reason: RequiredText


class RuleView(BaseModel):
    seats: list[str]
    quorum: str
    n: int | None
    order: str
    kill_veto: bool
    needed: int = Field(description="Favourable votes the rule needs")
    description: str


# What a review leaves out for a caller whose roles may not read votes (gatehouse.events.
# visibility): null says "not shown", where an empty list or a zero would say "none".
_LEFT_OUT = (
    "; null for a caller whose roles may not read votes (see docs/SECURITY.md, "
    "What each role may see)"
)


class CriterionView(BaseModel):
    key: str
    name: str
    kind: str
    weight: int
    description: str
    met: int | None = Field(description="Current votes assessing it met (must-meet)" + _LEFT_OUT)
    not_met: int | None = Field(description="Current votes assessing it not met" + _LEFT_OUT)
    average_score: float | None = Field(
        description="Of the current votes' scores "
        "(should-meet); null when none scored it" + _LEFT_OUT
    )


class ConditionView(BaseModel):
    id: UUID
    description: str
    owner: str
    due_date: date
    status: Literal["open", "met", "breached"]
    met: bool
    breached: bool


class VoteView(BaseModel):
    id: UUID
    seat: str
    approver: str
    cast_by: str
    delegation_id: UUID | None
    decision: str
    rationale: str
    conditions: list[ConditionView]
    assessments: list[AssessmentBody]
    cast_at: datetime
    revises: UUID | None
    revision_reason: str | None
    current: bool = Field(description="False once revised")


class ReviewView(BaseModel):
    id: UUID
    project_id: UUID
    project_type: str
    gate: str
    gate_name: str
    gate_description: str
    template_version: int
    status: Literal["open", "decided", "withdrawn"]
    outcome: str | None
    decided_by: list[str]
    rationale: str | None = Field(
        description="The decision's rationale, as its GateDecided carries it; null until decided"
    )
    opened_by: str
    opened_at: datetime
    sla_due_at: datetime
    escalated: bool
    escalation_role: str
    rule: RuleView
    criteria: list[CriterionView]
    required_evidence: list[EvidenceRequirementBody]
    evidence: list[EvidenceLinkBody]
    votes: list[VoteView] | None = Field(
        description="Every vote, revised ones too, oldest first" + _LEFT_OUT
    )
    awaiting: list[str] = Field(description="The seats that may vote now")
    still_needed: int = Field(description="Favourable votes still needed for a go")
    conditions: list[ConditionView]
    version: int


class VoteReceipt(BaseModel):
    vote: VoteView
    review: ReviewView


class ReviewSummary(BaseModel):
    id: UUID
    project_id: UUID
    project_type: str
    gate: str
    gate_name: str
    template_version: int
    status: str
    outcome: str | None
    opened_by: str
    opened_at: datetime
    sla_due_at: datetime
    escalated: bool
    closed_at: datetime | None


class ReviewPageView(BaseModel):
    items: list[ReviewSummary]
    next_cursor: str | None


# --- Delegations ----------------------------------------------------------------------------


class DelegationScopeBody(_Body):
    project_type: ProjectType | None = None
    gate: Key | None = None
    project_id: UUID | None = None


class DelegationBody(_Body):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_user: Identifier | None = Field(
        default=None,
        alias="from",
        description="The approver delegating (you, if left out; a PMO admin may name anyone)",
    )
    to: Identifier
    starts_at: Instant | None = Field(default=None, description="Now, if left out")
    ends_at: Instant
    scope: DelegationScopeBody = DelegationScopeBody()
    reason: Text = ""


class DelegationView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: UUID
    from_user: str = Field(serialization_alias="from")
    to: str
    starts_at: datetime
    ends_at: datetime
    scope: DelegationScopeBody
    reason: str
    granted_by: str
    granted_at: datetime
    revoked: bool
    revoked_by: str | None
    active: bool
    version: int


class KnownProjectView(BaseModel):
    """A project as governance knows it from intake's events, with its gate record."""

    id: UUID
    title: str
    sponsor: str
    requested_by: str
    business_unit: str
    project_type: str
    status: str
    passed_gates: list[str] = []
    next_gate: str | None = None
    open_review_id: UUID | None = None
