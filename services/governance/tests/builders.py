"""Builders for the governance domain tests: panels, gates, templates, a project, voters and
the events and commands of a gate review, with the defaults most tests share.

The people: alice requested the project and carol sponsors it (so neither may vote on its
gates); dave, erin and frank are approvers; grace and heidi are delegates.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from gatehouse.errors import GatehouseError, InvalidInput
from gatehouse.events.base import DomainEvent
from gatehouse.events.governance import (
    ApprovalRule,
    ApproverSeat,
    CriterionAssessment,
    DelegationScope,
    EvidenceLink,
    EvidenceRequirement,
    GateCondition,
    GateCriterion,
    GateDefinition,
    GateReviewOpened,
    Quorum,
    VoteCast,
    VoteDecision,
)
from gatehouse.identity import Pseudonyms
from governance.domain import (
    ActiveDelegation,
    CastVote,
    Command,
    OpenReview,
    ProjectFacts,
    ProjectGates,
    Voter,
    decide,
    evolve,
    replay,
)
from governance.templates import DefineGateTemplate, GateTemplate, define, template_at

__all__ = [
    "NOW",
    "PROJECT_ID",
    "REQUESTER",
    "REVIEW_ID",
    "SPONSOR",
    "approval",
    "assessed",
    "condition",
    "delegation",
    "gate",
    "given",
    "invalid_field",
    "link",
    "number",
    "open_review",
    "project",
    "review_opened",
    "role",
    "run",
    "template",
    "user",
    "vote",
    "vote_cast",
    "voter",
]

PROJECT_ID = UUID("00000000-0000-4000-8000-00000000c0de")
REVIEW_ID = UUID("00000000-0000-4000-8000-0000000000a1")
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
REQUESTER = "alice"
SPONSOR = "carol"
# The pseudonyms rules compare people by (gatehouse.identity), under a key of the tests.
PSEUDONYMS = Pseudonyms(bytes(range(32)))


def number(value: int) -> UUID:
    """A readable, distinct id: ``number(7)`` is ``...-000000000007``."""
    return UUID(f"00000000-0000-4000-8000-{value:012x}")


# --- Panels, gates and templates ------------------------------------------------------------


def user(name: str) -> ApproverSeat:
    return ApproverSeat(user=name)


def role(name: str) -> ApproverSeat:
    return ApproverSeat(role=name)


def approval(
    *seats: ApproverSeat | str,
    quorum: Quorum = "all",
    n: int | None = None,
    order: Literal["parallel", "sequential"] = "parallel",
    kill_veto: bool = True,
) -> ApprovalRule:
    """A panel; a plain string is a named user's seat."""
    return ApprovalRule(
        seats=tuple(user(s) if isinstance(s, str) else s for s in seats),
        quorum=quorum,
        n=n,
        order=order,
        kill_veto=kill_veto,
    )


def gate(
    key: str,
    panel: ApprovalRule | None = None,
    *,
    criteria: tuple[GateCriterion, ...] = (),
    evidence: tuple[EvidenceRequirement, ...] = (),
    sla_hours: int = 48,
) -> GateDefinition:
    """A gate, by default approved by dave and erin together."""
    return GateDefinition(
        key=key,
        name=key.replace("_", " ").title(),
        criteria=criteria,
        evidence=evidence,
        approval=panel or approval("dave", "erin"),
        sla_hours=sla_hours,
    )


def template(
    *gates: GateDefinition,
    project_type: str = "standard",
    escalation_role: str = "pmo_admin",
    version: int = 1,
) -> GateTemplate:
    """The template as ``define`` would version it (earlier versions had the same gates)."""
    history: list[DomainEvent] = []
    for current in range(version):
        history += define(
            current,
            DefineGateTemplate(
                project_type=project_type,
                name="Standard gates",
                description="",
                escalation_role=escalation_role,
                gates=gates,
                defined_by="pat",
            ),
        )
    found = template_at(history)
    assert found is not None
    return found


# --- The project and the people who vote ----------------------------------------------------


def project(
    status: str = "submitted", *, project_type: str = "standard", project_id: UUID = PROJECT_ID
) -> ProjectFacts:
    return ProjectFacts(
        project_id=project_id,
        project_type=project_type,
        requested_by=REQUESTER,
        sponsor=SPONSOR,
        status=status,
        requester_pseudonym=PSEUDONYMS.of(REQUESTER),
        sponsor_pseudonym=PSEUDONYMS.of(SPONSOR),
    )


def delegation(
    from_user: str,
    to_user: str,
    *,
    scope: DelegationScope | None = None,
    starts_at: datetime = NOW - timedelta(days=1),
    ends_at: datetime = NOW + timedelta(days=7),
    ident: int = 900,
) -> ActiveDelegation:
    return ActiveDelegation(
        delegation_id=number(ident),
        from_user=from_user,
        to_user=to_user,
        starts_at=starts_at,
        ends_at=ends_at,
        scope=scope or DelegationScope(),
    )


def voter(subject: str, *roles: str, delegations: tuple[ActiveDelegation, ...] = ()) -> Voter:
    return Voter(subject=subject, roles=frozenset(roles), delegations=delegations)


# --- Votes ----------------------------------------------------------------------------------


def condition(
    ident: int = 500,
    *,
    due: date = date(2027, 4, 30),
    description: str = "Sign the supplier contract",
) -> GateCondition:
    return GateCondition(
        condition_id=number(ident), description=description, owner="dave", due_date=due
    )


def assessed(
    criterion: str, *, met: bool | None = None, score: int | None = None
) -> CriterionAssessment:
    return CriterionAssessment(criterion=criterion, met=met, score=score)


def link(key: str | None = None, url: str = "https://docs.example/item") -> EvidenceLink:
    return EvidenceLink(url=url, key=key)


def vote(
    who: Voter | str,
    decision: VoteDecision = "go",
    *,
    vote_id: int = 1,
    rationale: str | None = None,
    review_id: UUID = REVIEW_ID,
    now: datetime = NOW,
    status: str = "submitted",
    **details: Any,
) -> CastVote:
    """A vote on the review; a plain string is a voter with no roles and no delegations.

    Anything but a go gets a rationale unless one is given."""
    if rationale is None:
        rationale = "" if decision == "go" else f"{decision}: the business case is thin"
    return CastVote(
        review_id=review_id,
        vote_id=number(vote_id),
        voter=voter(who) if isinstance(who, str) else who,
        project=project(status),
        decision=decision,
        rationale=rationale,
        now=now,
        pseudonym_of=PSEUDONYMS.of,
        **details,
    )


def vote_cast(
    approver: str,
    decision: VoteDecision = "go",
    *,
    vote_id: int = 1,
    rationale: str | None = None,
    seat: str | None = None,
    cast_by: str | None = None,
    **details: Any,
) -> VoteCast:
    """The event a plain vote in a named seat records (rationale as ``vote`` gives it)."""
    if rationale is None:
        rationale = "" if decision == "go" else f"{decision}: the business case is thin"
    return VoteCast(
        review_id=REVIEW_ID,
        project_id=PROJECT_ID,
        vote_id=number(vote_id),
        seat=seat or f"user:{approver}",
        approver=approver,
        cast_by=cast_by or approver,
        decision=decision,
        rationale=rationale,
        **details,
    )


# --- A project's gate record ----------------------------------------------------------------


def review_opened(
    reviewed: GateDefinition | None = None,
    *,
    review_id: UUID = REVIEW_ID,
    template_version: int = 1,
    opened_at: datetime = NOW,
) -> GateReviewOpened:
    """A review of ``reviewed`` (by default a gate dave and erin approve together)."""
    reviewed = reviewed or gate("screening")
    return GateReviewOpened(
        review_id=review_id,
        project_id=PROJECT_ID,
        project_type="standard",
        template_version=template_version,
        gate=reviewed,
        opened_by="pat",
        sla_due_at=opened_at + timedelta(hours=reviewed.sla_hours),
    )


def open_review(
    review_id: UUID,
    *,
    gate_key: str | None = None,
    evidence: tuple[EvidenceLink, ...] = (),
    status: str = "submitted",
    now: datetime = NOW,
    of: GateTemplate | None = None,
) -> OpenReview:
    return OpenReview(
        review_id=review_id,
        project=project(status),
        template=of or template(gate("screening")),
        gate=gate_key,
        evidence=evidence,
        note="",
        opened_by="pat",
        now=now,
    )


def given(*events: DomainEvent) -> ProjectGates:
    """The project's gate record as these events left it."""
    return replay(PROJECT_ID, events)


def run(state: ProjectGates, *commands: Command) -> tuple[ProjectGates, list[DomainEvent]]:
    """Decide each command in turn against the state so far; the state after, and all events."""
    emitted: list[DomainEvent] = []
    for command in commands:
        for event in decide(state, command):
            emitted.append(event)
            state = evolve(state, event)
    return state, emitted


def invalid_field(error: GatehouseError) -> str:
    """The one field a 422 names."""
    assert isinstance(error, InvalidInput)
    assert error.status == 422
    [problem] = error.extensions["errors"]
    return str(problem["field"])
