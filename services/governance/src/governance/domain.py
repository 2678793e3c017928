"""A project's gate record: its reviews, their votes and outcomes. Plain Python, no framework.

One aggregate per project (stream ``gates-<project id>``), so that "one open review per
project", "the next gate" and "one outcome per review" are decided against one stream version:
two concurrent commands cannot both win.

``decide(state, command)`` answers which events a command causes, or raises why not (a
:class:`~gatehouse.errors.GatehouseError` carrying its HTTP status and the rule it enforces);
``evolve(state, event)`` folds one event in. Replaying a stream is a fold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Literal
from uuid import UUID

from gatehouse.errors import Conflict, Forbidden, InvalidInput, NotFound
from gatehouse.events.base import DomainEvent
from gatehouse.events.governance import (
    ApproverSeat,
    ConditionBreached,
    ConditionMet,
    CriterionAssessment,
    DelegationScope,
    EvidenceLink,
    GateCondition,
    GateDecided,
    GateDefinition,
    GateOutcome,
    GateReviewEscalated,
    GateReviewOpened,
    GateReviewWithdrawn,
    VoteCast,
    VoteDecision,
    VoteRevised,
)
from governance import rules
from governance.rules import Ballot
from governance.templates import GateTemplate

__all__ = [
    "REVIEWABLE_STATUSES",
    "ActiveDelegation",
    "CastVote",
    "Command",
    "ConditionState",
    "Escalate",
    "MarkConditionMet",
    "OpenReview",
    "ProjectFacts",
    "ProjectGates",
    "RecordBreach",
    "Review",
    "SeatPeople",
    "Voter",
    "WithdrawReview",
    "decide",
    "evolve",
    "replay",
    "stream_id",
]

# Where a project must stand (intake's status or stage) for a gate review to open.
REVIEWABLE_STATUSES = frozenset(
    {
        "submitted",
        "screening",
        "qualified",
        "deferred",
        "approved",
        "initiating",
        "planning",
        "executing",
        "closing",
        "on_hold",
    }
)
MAX_CONDITIONS = 20


# --- What the commands need to know from outside the stream ---------------------------------


@dataclass(frozen=True, kw_only=True)
class ProjectFacts:
    """The project as governance knows it from intake's events."""

    project_id: UUID
    project_type: str
    requested_by: str
    sponsor: str
    status: str
    # Who may not vote on the project's gates, as keyed pseudonyms (gatehouse.identity): an
    # erasure turns the names above into [erased] and leaves these. None when the name was
    # erased before governance learned the project: then nobody can tell who may not vote.
    requester_pseudonym: bytes | None
    sponsor_pseudonym: bytes | None

    @property
    def conflicts_known(self) -> bool:
        """Whether segregation of duties can tell whom it keeps out."""
        return self.requester_pseudonym is not None and self.sponsor_pseudonym is not None

    def conflict_of(self, pseudonym: bytes) -> str | None:
        """What the person with ``pseudonym`` is to the project that keeps them off its
        panel (requester or sponsor), if anything."""
        if pseudonym == self.requester_pseudonym:
            return "requester"
        if pseudonym == self.sponsor_pseudonym:
            return "sponsor"
        return None


@dataclass(frozen=True, kw_only=True)
class SeatPeople:
    """Who holds a seat of a review (a named seat's user) and who cast its current ballot, as
    keyed pseudonyms: an erasure turns their names in the record into [erased] and leaves
    these, so a person erased meanwhile is still known as the one who voted."""

    holder: bytes | None = None
    caster: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class ActiveDelegation:
    delegation_id: UUID
    from_user: str
    to_user: str
    starts_at: datetime
    ends_at: datetime
    scope: DelegationScope = field(default_factory=DelegationScope)

    def covers(self, review: Review, at: datetime) -> bool:
        return self.covers_gate(
            project_type=review.project_type,
            gate=review.gate.key,
            project_id=review.project_id,
            at=at,
        )

    def covers_gate(self, *, project_type: str, gate: str, project_id: UUID, at: datetime) -> bool:
        """In force at ``at``, and its scope takes in this gate of this project."""
        scope = self.scope
        return (
            self.starts_at <= at < self.ends_at
            and scope.project_type in (None, project_type)
            and scope.gate in (None, gate)
            and scope.project_id in (None, project_id)
        )


@dataclass(frozen=True, kw_only=True)
class Voter:
    """Who votes: their name, every role their token carries, and the delegations to them."""

    subject: str
    roles: frozenset[str]
    delegations: tuple[ActiveDelegation, ...] = ()


# --- State --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ConditionState:
    condition: GateCondition
    met: bool = False
    breached: bool = False


ReviewStatus = Literal["open", "decided", "withdrawn"]


@dataclass(frozen=True, kw_only=True)
class Review:
    review_id: UUID
    project_id: UUID
    project_type: str
    template_version: int
    escalation_role: str
    gate: GateDefinition
    evidence: tuple[EvidenceLink, ...]
    opened_by: str
    sla_due_at: datetime
    status: ReviewStatus = "open"
    ballots: Mapping[str, Ballot] = field(default_factory=dict)
    votes_cast: int = 0
    outcome: GateOutcome | None = None
    decided_by: tuple[str, ...] = ()
    escalated: bool = False
    conditions: Mapping[UUID, ConditionState] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def awaiting(self) -> list[str]:
        """The seats that may vote now (none once the review is closed)."""
        return rules.awaiting(self.gate.approval, self.ballots) if self.is_open else []

    def seat(self, label: str) -> ApproverSeat:
        return next(seat for seat in self.gate.approval.seats if seat.label == label)


@dataclass(frozen=True, kw_only=True)
class ProjectGates:
    project_id: UUID
    reviews: Mapping[UUID, Review] = field(default_factory=dict)
    passed: tuple[str, ...] = ()
    killed: bool = False

    @property
    def open_review(self) -> Review | None:
        return next((r for r in self.reviews.values() if r.is_open), None)

    def next_gate(self, template: GateTemplate) -> GateDefinition | None:
        return next((gate for gate in template.gates if gate.key not in self.passed), None)


def stream_id(project_id: UUID) -> str:
    return f"gates-{project_id}"


# --- Commands -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OpenReview:
    review_id: UUID
    project: ProjectFacts
    template: GateTemplate
    gate: str | None
    evidence: tuple[EvidenceLink, ...]
    note: str
    opened_by: str
    now: datetime


@dataclass(frozen=True, kw_only=True)
class CastVote:
    review_id: UUID
    vote_id: UUID
    voter: Voter
    project: ProjectFacts
    decision: VoteDecision
    rationale: str
    conditions: tuple[GateCondition, ...] = ()
    assessments: tuple[CriterionAssessment, ...] = ()
    on_behalf_of: str | None = None
    revision_reason: str | None = None
    now: datetime
    # The service's keyed pseudonym of an identifier (gatehouse.identity.Pseudonyms.of).
    pseudonym_of: Callable[[str], bytes]
    # The review's seats by position, as far as the read model knows their people; a seat
    # it does not know is told by the names in the record.
    seat_people: Mapping[int, SeatPeople] = field(default_factory=dict)

    def holder(self, position: int, seat: ApproverSeat) -> bytes | None:
        known = self.seat_people.get(position)
        if known is not None and known.holder is not None:
            return known.holder
        return None if seat.user is None else self.pseudonym_of(seat.user)

    def caster(self, position: int, ballot: Ballot | None) -> bytes | None:
        known = self.seat_people.get(position)
        if known is not None and known.caster is not None:
            return known.caster
        return None if ballot is None else self.pseudonym_of(ballot.cast_by)


@dataclass(frozen=True, kw_only=True)
class WithdrawReview:
    review_id: UUID
    reason: str
    withdrawn_by: str


@dataclass(frozen=True, kw_only=True)
class MarkConditionMet:
    review_id: UUID
    condition_id: UUID
    evidence: tuple[EvidenceLink, ...]
    note: str
    met_by: str
    now: datetime


@dataclass(frozen=True, kw_only=True)
class Escalate:
    """The SLA timer's command: escalate the review if it is open past its SLA (once)."""

    review_id: UUID
    now: datetime


@dataclass(frozen=True, kw_only=True)
class RecordBreach:
    """The timer's command: a condition past its due date and still unmet is breached (once)."""

    review_id: UUID
    condition_id: UUID
    now: datetime


Command = OpenReview | CastVote | WithdrawReview | MarkConditionMet | Escalate | RecordBreach


def decide(state: ProjectGates, command: Command) -> list[DomainEvent]:
    match command:
        case OpenReview():
            return _open(state, command)
        case CastVote():
            return _vote(state, _review(state, command.review_id), command)
        case WithdrawReview():
            review = _open_review(state, command.review_id)
            return [
                GateReviewWithdrawn(
                    review_id=review.review_id,
                    project_id=state.project_id,
                    gate=review.gate.key,
                    reason=command.reason,
                    withdrawn_by=command.withdrawn_by,
                )
            ]
        case MarkConditionMet():
            return _condition_met(state, command)
        case Escalate():
            return _escalate(state, command)
        case RecordBreach():
            return _breach(state, command)
    raise AssertionError(command)


# --- Opening a review -----------------------------------------------------------------------


def _open(state: ProjectGates, command: OpenReview) -> list[DomainEvent]:
    project = command.project
    if state.killed or project.status not in REVIEWABLE_STATUSES:
        raise Conflict(
            f"project {project.project_id} is {project.status}: a gate review opens once the "
            "request is submitted and until the project closes",
            rule="project-not-reviewable",
            project_status=project.status,
        )
    current = state.open_review
    if current is not None:
        raise Conflict(
            f"project {project.project_id} already has an open review of gate {current.gate.key}",
            rule="one-open-review",
            open_review_id=str(current.review_id),
        )
    gate = state.next_gate(command.template)
    if gate is None:
        raise Conflict(
            f"project {project.project_id} has passed every gate of its template",
            rule="next-gate",
            passed=list(state.passed),
        )
    if command.gate is not None and command.gate != gate.key:
        raise Conflict(
            f"gate {command.gate} is not the project's next gate; {gate.key} is",
            rule="next-gate",
            next_gate=gate.key,
            passed=list(state.passed),
        )
    _check_evidence(gate, command.evidence)
    return [
        GateReviewOpened(
            review_id=command.review_id,
            project_id=project.project_id,
            project_type=project.project_type,
            template_version=command.template.version,
            escalation_role=command.template.escalation_role,
            gate=gate,
            evidence=command.evidence,
            note=command.note,
            opened_by=command.opened_by,
            sla_due_at=command.now + timedelta(hours=gate.sla_hours),
        )
    ]


def _check_evidence(gate: GateDefinition, evidence: tuple[EvidenceLink, ...]) -> None:
    required = {item.key: item for item in gate.evidence}
    for index, link in enumerate(evidence):
        if link.key is not None and link.key not in required:
            raise InvalidInput.for_field(
                f"evidence.{index}.key",
                f"gate {gate.key} asks for no evidence {link.key!r}; it asks for "
                f"{sorted(required) or 'none'} (leave key out for extra links)",
            )
    given = {link.key for link in evidence}
    missing = [item for key, item in required.items() if key not in given]
    if missing:
        names = ", ".join(f"{item.key} ({item.name})" for item in missing)
        raise InvalidInput.for_field("evidence", f"gate {gate.key} needs evidence: {names}")


# --- Voting ---------------------------------------------------------------------------------


def _vote(state: ProjectGates, review: Review, command: CastVote) -> list[DomainEvent]:
    if not review.is_open:
        raise Conflict(
            f"review {review.review_id} is {review.status}"
            + (f" ({review.outcome})" if review.outcome else "")
            + "; it takes no more votes",
            rule="review-closed",
            review_status=review.status,
        )
    _check_segregation(command, command.on_behalf_of)
    seat, delegation = _seat_for(review, command)
    if delegation is not None:
        # The seat a delegation fills may have been chosen for the delegate: check whose it is.
        _check_segregation(command, delegation.from_user)
    previous = review.ballots.get(seat.label)
    if command.revision_reason is None and previous is not None:
        raise Conflict(
            f"{previous.approver} already voted {previous.decision} on this review; "
            "to change the vote, send it again with a revision_reason",
            rule="one-vote-per-approver",
            vote_id=str(previous.vote_id),
        )
    if command.revision_reason is not None and previous is None:
        raise Conflict(
            "there is no vote of yours on this review to revise", rule="revise-needs-a-vote"
        )
    if (
        previous is None
        and review.gate.approval.order == "sequential"
        and seat.label not in review.awaiting
    ):
        raise Conflict(
            f"this panel votes in order and it is not {seat.label}'s turn; "
            f"waiting for {', '.join(review.awaiting)}",
            rule="sequential-order",
            awaiting=review.awaiting,
        )
    _check_ballot(review, command)
    approver = seat.user if seat.user is not None else command.voter.subject
    cast = VoteCast(
        review_id=review.review_id,
        project_id=state.project_id,
        vote_id=command.vote_id,
        seat=seat.label,
        approver=approver,
        cast_by=command.voter.subject,
        delegation_id=delegation.delegation_id if delegation else None,
        decision=command.decision,
        rationale=command.rationale,
        conditions=command.conditions,
        assessments=command.assessments,
    )
    vote: VoteCast | VoteRevised = cast
    if previous is not None:
        assert command.revision_reason is not None
        vote = VoteRevised(
            review_id=cast.review_id,
            project_id=cast.project_id,
            vote_id=cast.vote_id,
            revises=previous.vote_id,
            seat=cast.seat,
            approver=cast.approver,
            cast_by=cast.cast_by,
            delegation_id=cast.delegation_id,
            decision=cast.decision,
            rationale=cast.rationale,
            conditions=cast.conditions,
            assessments=cast.assessments,
            reason=command.revision_reason,
        )
    after = _with_ballot(review, vote)
    outcome = rules.verdict(review.gate.approval, after.ballots)
    if outcome is None:
        return [vote]
    return [
        vote,
        GateDecided(
            review_id=review.review_id,
            project_id=state.project_id,
            gate=review.gate.key,
            outcome=outcome.outcome,
            template_version=review.template_version,
            rationale=outcome.rationale,
            decided_by=tuple(b.approver for b in outcome.ballots),
            votes=tuple(b.vote_id for b in outcome.ballots),
            conditions=outcome.conditions,
            rule=rules.describe(review.gate.approval),
        ),
    ]


def _check_segregation(command: CastVote, on_behalf_of: str | None) -> None:
    """Neither the voter nor the approver they stand in for is the project's requester or
    sponsor. People are compared by their pseudonyms, never by the names a record shows, which
    an erasure replaces by [erased]."""
    project = command.project
    if not project.conflicts_known:
        raise Forbidden(
            "segregation of duties cannot be checked: the project's requester or "
            "sponsor was erased before governance learned of the project, so "
            "nobody can tell who may not vote on its gates",
            rule="segregation-of-duties",
        )
    for person, capacity in (
        (command.voter.subject, "you are"),
        (on_behalf_of, f"{on_behalf_of} is"),
    ):
        if person is None:
            continue
        conflict = project.conflict_of(command.pseudonym_of(person))
        if conflict is not None:
            raise Forbidden(
                f"segregation of duties: {capacity} the project's {conflict} and "
                "may not vote on its gates",
                rule="segregation-of-duties",
            )


def _seat_for(review: Review, command: CastVote) -> tuple[ApproverSeat, ActiveDelegation | None]:
    """The seat this vote fills, and the delegation it is cast under (if any)."""
    voter = command.voter
    seats = review.gate.approval.seats
    usable = [
        d for d in voter.delegations if d.to_user == voter.subject and d.covers(review, command.now)
    ]
    if command.on_behalf_of is not None:
        delegation = next((d for d in usable if d.from_user == command.on_behalf_of), None)
        if delegation is None:
            raise Forbidden(
                f"you hold no delegation from {command.on_behalf_of} that covers this review now",
                rule="delegation",
            )
        seat = next((s for s in seats if s.user == command.on_behalf_of), None)
        if seat is None:
            raise Forbidden(
                f"{command.on_behalf_of} is not an approver of gate {review.gate.key}",
                rule="approver-rule",
            )
        return seat, delegation
    # People are compared by pseudonym: an erasure may have turned a name into [erased].
    me = command.pseudonym_of(voter.subject)
    own = next(
        (s for i, s in enumerate(seats) if s.user is not None and command.holder(i, s) == me), None
    )
    if own is not None:
        return own, None
    # A role seat: the one this person already holds (a revision), else the first empty one.
    by_role = [(i, s) for i, s in enumerate(seats) if s.role is not None and s.role in voter.roles]
    for position, seat in by_role:
        ballot = review.ballots.get(seat.label)
        if ballot is not None and command.caster(position, ballot) == me:
            return seat, None
    for _, seat in by_role:
        if seat.label not in review.ballots:
            return seat, None
    delegated = [(s, d) for d in usable for s in seats if s.user == d.from_user]
    if by_role:
        hint = (
            "; to vote for an approver who delegated to you, name them in on_behalf_of"
            if delegated
            else ""
        )
        raise Conflict(
            f"every seat for your roles on gate {review.gate.key} has voted{hint}",
            rule="one-vote-per-approver",
        )
    # Several delegators on the panel: the one whose seat is still empty, if only one is.
    choices = [(s, d) for s, d in delegated if s.label not in review.ballots] or delegated
    if len(choices) == 1:
        return choices[0]
    if len(choices) > 1:
        raise InvalidInput.for_field(
            "on_behalf_of",
            "you hold delegations from several approvers of this gate ("
            + ", ".join(sorted(d.from_user for _, d in choices))
            + "); say which",
        )
    raise Forbidden(
        f"you are not an approver of gate {review.gate.key} (seats: "
        + ", ".join(s.label for s in seats)
        + ") and hold no delegation from one",
        rule="approver-rule",
    )


def _check_ballot(review: Review, command: CastVote) -> None:
    if command.decision != "go" and not command.rationale.strip():
        raise InvalidInput.for_field("rationale", f"a {command.decision} vote needs a rationale")
    if command.decision == "conditional_go":
        if not command.conditions:
            raise InvalidInput.for_field(
                "conditions", "a conditional_go needs at least one condition"
            )
        if len(command.conditions) > MAX_CONDITIONS:
            raise InvalidInput.for_field("conditions", f"at most {MAX_CONDITIONS} conditions")
        for index, condition in enumerate(command.conditions):
            if condition.due_date < command.now.date():
                raise InvalidInput.for_field(
                    f"conditions.{index}.due_date", "must not be in the past"
                )
    elif command.conditions:
        raise InvalidInput.for_field("conditions", "only a conditional_go carries conditions")
    criteria = {criterion.key: criterion for criterion in review.gate.criteria}
    assessed: dict[str, CriterionAssessment] = {}
    for index, assessment in enumerate(command.assessments):
        where = f"assessments.{index}"
        criterion = criteria.get(assessment.criterion)
        if criterion is None:
            raise InvalidInput.for_field(
                f"{where}.criterion",
                f"gate {review.gate.key} has no criterion {assessment.criterion!r}",
            )
        if assessment.criterion in assessed:
            raise InvalidInput.for_field(
                f"{where}.criterion", f"{assessment.criterion} is assessed twice"
            )
        if criterion.kind == "must_meet" and (
            assessment.met is None or assessment.score is not None
        ):
            raise InvalidInput.for_field(
                f"{where}.met", f"{criterion.key} is a must-meet: say met true/false"
            )
        if criterion.kind == "should_meet" and (
            assessment.score is None or assessment.met is not None
        ):
            raise InvalidInput.for_field(
                f"{where}.score", f"{criterion.key} is a should-meet: score it 0 to 5"
            )
        assessed[assessment.criterion] = assessment
    if command.decision in rules.FAVOURABLE:
        for criterion in criteria.values():
            if criterion.kind != "must_meet":
                continue
            given = assessed.get(criterion.key)
            if given is None or given.met is not True:
                raise InvalidInput.for_field(
                    "assessments",
                    f"a {command.decision} needs every must-meet criterion "
                    f"assessed as met; {criterion.key} ({criterion.name}) is not",
                )


# --- Conditions and timers ------------------------------------------------------------------


def _condition_met(state: ProjectGates, command: MarkConditionMet) -> list[DomainEvent]:
    review = _review(state, command.review_id)
    condition = review.conditions.get(command.condition_id)
    if condition is None:
        raise NotFound(f"review {review.review_id} has no condition {command.condition_id}")
    if condition.met:
        raise Conflict(
            f"condition {command.condition_id} is already met", rule="condition-already-met"
        )
    if not command.evidence:
        raise InvalidInput.for_field("evidence", "say what shows the condition is met")
    late = condition.breached or command.now.date() > condition.condition.due_date
    return [
        ConditionMet(
            review_id=review.review_id,
            project_id=state.project_id,
            condition_id=command.condition_id,
            evidence=command.evidence,
            note=command.note,
            met_by=command.met_by,
            late=late,
        )
    ]


def _escalate(state: ProjectGates, command: Escalate) -> list[DomainEvent]:
    review = state.reviews.get(command.review_id)
    if review is None or not review.is_open or review.escalated or command.now < review.sla_due_at:
        return []
    return [
        GateReviewEscalated(
            review_id=review.review_id,
            project_id=state.project_id,
            gate=review.gate.key,
            escalation_role=review.escalation_role,
            sla_due_at=review.sla_due_at,
            awaiting=tuple(review.awaiting),
        )
    ]


def _breach(state: ProjectGates, command: RecordBreach) -> list[DomainEvent]:
    review = state.reviews.get(command.review_id)
    condition = review.conditions.get(command.condition_id) if review else None
    if (
        review is None
        or condition is None
        or condition.met
        or condition.breached
        or not is_past_due(condition.condition.due_date, command.now)
    ):
        return []
    item = condition.condition
    return [
        ConditionBreached(
            review_id=review.review_id,
            project_id=state.project_id,
            condition_id=item.condition_id,
            gate=review.gate.key,
            description=item.description,
            owner=item.owner,
            due_date=item.due_date,
        )
    ]


def is_past_due(due_date: date, now: datetime) -> bool:
    """A condition due on a day may be met all that day (UTC)."""
    return now.date() > due_date


def _review(state: ProjectGates, review_id: UUID) -> Review:
    review = state.reviews.get(review_id)
    if review is None:
        raise NotFound(f"no gate review {review_id} for project {state.project_id}")
    return review


def _open_review(state: ProjectGates, review_id: UUID) -> Review:
    review = _review(state, review_id)
    if not review.is_open:
        raise Conflict(
            f"review {review_id} is {review.status}",
            rule="review-closed",
            review_status=review.status,
        )
    return review


# --- Evolving -------------------------------------------------------------------------------


def evolve(state: ProjectGates, event: DomainEvent) -> ProjectGates:
    match event:
        case GateReviewOpened():
            review = Review(
                review_id=event.review_id,
                project_id=event.project_id,
                project_type=event.project_type,
                template_version=event.template_version,
                escalation_role=event.escalation_role,
                gate=event.gate,
                evidence=event.evidence,
                opened_by=event.opened_by,
                sla_due_at=event.sla_due_at,
            )
            return _put(state, review)
        case VoteCast() | VoteRevised():
            return _put(state, _with_ballot(state.reviews[event.review_id], event))
        case GateDecided():
            review = state.reviews[event.review_id]
            conditions = {c.condition_id: ConditionState(condition=c) for c in event.conditions}
            state = _put(
                state,
                replace(
                    review,
                    status="decided",
                    outcome=event.outcome,
                    decided_by=event.decided_by,
                    conditions=conditions,
                ),
            )
            if event.outcome in rules.FAVOURABLE and event.gate not in state.passed:
                state = replace(state, passed=(*state.passed, event.gate))
            if event.outcome == "kill":
                state = replace(state, killed=True)
            return state
        case GateReviewWithdrawn():
            return _put(state, replace(state.reviews[event.review_id], status="withdrawn"))
        case GateReviewEscalated():
            return _put(state, replace(state.reviews[event.review_id], escalated=True))
        case ConditionMet():
            return _with_condition(state, event.review_id, event.condition_id, met=True)
        case ConditionBreached():
            return _with_condition(state, event.review_id, event.condition_id, breached=True)
    return state


def replay(project_id: UUID, history: Iterable[DomainEvent]) -> ProjectGates:
    state = ProjectGates(project_id=project_id)
    for event in history:
        state = evolve(state, event)
    return state


def _put(state: ProjectGates, review: Review) -> ProjectGates:
    return replace(state, reviews={**state.reviews, review.review_id: review})


def _with_ballot(review: Review, vote: VoteCast | VoteRevised) -> Review:
    ballot = Ballot(
        vote_id=vote.vote_id,
        seat=vote.seat,
        approver=vote.approver,
        cast_by=vote.cast_by,
        decision=vote.decision,
        rationale=vote.rationale,
        conditions=vote.conditions,
    )
    return replace(
        review, ballots={**review.ballots, vote.seat: ballot}, votes_cast=review.votes_cast + 1
    )


def _with_condition(
    state: ProjectGates,
    review_id: UUID,
    condition_id: UUID,
    *,
    met: bool | None = None,
    breached: bool | None = None,
) -> ProjectGates:
    review = state.reviews[review_id]
    condition = review.conditions[condition_id]
    condition = replace(
        condition,
        met=condition.met if met is None else met,
        breached=condition.breached if breached is None else breached,
    )
    return _put(state, replace(review, conditions={**review.conditions, condition_id: condition}))
