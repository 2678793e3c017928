"""Command handlers: load, check who may, decide, append, keep the read models. Never commit.

The infrastructure owns the transaction (one per HTTP command, one per timer step); the events,
their outbox rows, the read-model rows and the idempotency record commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from gatehouse.commands import ExpectedVersion, check_put_precondition, check_version
from gatehouse.errors import Conflict, Forbidden, NotFound
from gatehouse.events.base import DomainEvent
from gatehouse.events.envelope import EventEnvelope
from gatehouse.events.governance import (
    CriterionAssessment,
    DelegationScope,
    EvidenceLink,
    GateCondition,
    VoteDecision,
)
from gatehouse.identity import load_pseudonyms
from gatehouse.unit_of_work import UnitOfWork
from governance import delegations, domain, queries, records, templates
from governance.delegations import Delegation, GrantDelegation, RevokeDelegation
from governance.domain import (
    CastVote,
    MarkConditionMet,
    OpenReview,
    ProjectFacts,
    ProjectGates,
    Review,
    Voter,
    WithdrawReview,
)
from governance.templates import DefineGateTemplate, GateTemplate

__all__ = [
    "Actor",
    "GateRecord",
    "VersionedDelegation",
    "VersionedTemplate",
    "cast_vote",
    "define_template",
    "get_delegation",
    "get_review",
    "get_template",
    "grant_delegation",
    "list_templates",
    "load_gates",
    "mark_condition_met",
    "open_review",
    "revoke_delegation",
    "run_timer_command",
    "withdraw_review",
]


@dataclass(frozen=True)
class Actor:
    """Who sends a command: their name, every role their token carries, and whether they are
    a PMO admin (who may act on any project)."""

    subject: str
    roles: frozenset[str]
    is_pmo_admin: bool


@dataclass(frozen=True)
class GateRecord:
    """A project's gate record as of ``version``, with the events it was folded from."""

    state: ProjectGates
    version: int
    history: list[tuple[DomainEvent, EventEnvelope]]

    def review(self, review_id: UUID) -> Review:
        review = self.state.reviews.get(review_id)
        if review is None:
            raise NotFound(f"no gate review {review_id}")
        return review

    def review_events(self, review_id: UUID) -> list[tuple[DomainEvent, EventEnvelope]]:
        return [
            (event, envelope)
            for event, envelope in self.history
            if getattr(event, "review_id", None) == review_id
        ]


@dataclass(frozen=True)
class VersionedTemplate:
    template: GateTemplate
    version: int


@dataclass(frozen=True)
class VersionedDelegation:
    delegation: Delegation
    version: int
    granted_at: datetime


# --- Gate templates -------------------------------------------------------------------------


async def get_template(
    project_type: str, uow: UnitOfWork, *, version: int | None = None
) -> VersionedTemplate:
    history = await uow.load_for_version(templates.stream_id(project_type), version)
    template = templates.template_at((event for event, _ in history), version)
    if template is None:
        which = f"version {version} of the " if version is not None else ""
        raise NotFound(f"there is no {which}gate template for project type {project_type}")
    return VersionedTemplate(template, history[-1][1].stream_version or 0)


async def list_templates(uow: UnitOfWork) -> list[VersionedTemplate]:
    prefix = templates.stream_id("")
    kinds = [
        stream[len(prefix) :]
        for stream in await uow.event_store.stream_ids(uow.connection, prefix=prefix)
    ]
    return [await get_template(kind, uow) for kind in kinds]


async def define_template(
    command: DefineGateTemplate, uow: UnitOfWork, *, expected: ExpectedVersion | None
) -> VersionedTemplate:
    stream = templates.stream_id(command.project_type)
    version = await uow.event_store.stream_version(uow.connection, stream)
    check_put_precondition(
        expected, version, resource=f"the gate template of {command.project_type}"
    )
    new_events = templates.define(version, command)
    await uow.append(stream, new_events, expected_version=version)
    template = templates.template_at(new_events)
    assert template is not None
    return VersionedTemplate(template, version + len(new_events))


# --- A project's gate record ----------------------------------------------------------------


async def load_gates(project_id: UUID, uow: UnitOfWork) -> GateRecord:
    history = await uow.load(domain.stream_id(project_id))
    state = domain.replay(project_id, (event for event, _ in history))
    return GateRecord(state, len(history), history)


async def get_review(review_id: UUID, uow: UnitOfWork) -> tuple[GateRecord, Review]:
    """The review and its project's gate record."""
    project_id = await queries.review_project(uow.connection, review_id)
    if project_id is None:
        raise NotFound(f"no gate review {review_id}")
    record = await load_gates(project_id, uow)
    return record, record.review(review_id)


async def open_review(
    *,
    review_id: UUID,
    project_id: UUID,
    gate: str | None,
    evidence: tuple[EvidenceLink, ...],
    note: str,
    actor: Actor,
    now: datetime,
    uow: UnitOfWork,
) -> tuple[GateRecord, Review]:
    project = await _project(project_id, uow)
    if not actor.is_pmo_admin and actor.subject != project.requested_by:
        raise Forbidden(
            f"only the project's requester or a PMO admin may open a review of "
            f"project {project_id}",
            rule="object-ownership",
        )
    try:
        template = (await get_template(project.project_type, uow)).template
    except NotFound:
        raise Conflict(
            f"there is no gate template for project type {project.project_type}; "
            "a PMO admin defines one with PUT /v1/gate-templates/"
            f"{project.project_type}",
            rule="no-gate-template",
        ) from None
    record = await load_gates(project_id, uow)
    record = await _decide_and_append(
        uow,
        record,
        OpenReview(
            review_id=review_id,
            project=project,
            template=template,
            gate=gate,
            evidence=evidence,
            note=note,
            opened_by=actor.subject,
            now=now,
        ),
    )
    return record, record.review(review_id)


async def cast_vote(
    review_id: UUID,
    *,
    vote_id: UUID,
    decision: VoteDecision,
    rationale: str,
    conditions: tuple[GateCondition, ...],
    assessments: tuple[CriterionAssessment, ...],
    on_behalf_of: str | None,
    revision_reason: str | None,
    actor: Actor,
    now: datetime,
    uow: UnitOfWork,
    expected: ExpectedVersion | None = None,
) -> tuple[GateRecord, Review]:
    record, review = await get_review(review_id, uow)
    project = await _project(review.project_id, uow)
    voter = Voter(
        subject=actor.subject,
        roles=actor.roles,
        delegations=await queries.active_delegations_to(uow.connection, actor.subject, now),
    )
    record = await _decide_and_append(
        uow,
        record,
        CastVote(
            review_id=review_id,
            vote_id=vote_id,
            voter=voter,
            project=project,
            decision=decision,
            rationale=rationale,
            conditions=conditions,
            assessments=assessments,
            on_behalf_of=on_behalf_of,
            revision_reason=revision_reason,
            now=now,
            pseudonym_of=(await load_pseudonyms(uow.connection)).of,
            seat_people=await queries.seat_people(uow.connection, review_id),
        ),
        expected=expected,
    )
    return record, record.review(review_id)


async def withdraw_review(
    review_id: UUID,
    *,
    reason: str,
    actor: Actor,
    uow: UnitOfWork,
    expected: ExpectedVersion | None = None,
) -> tuple[GateRecord, Review]:
    record, review = await get_review(review_id, uow)
    project = await _project(review.project_id, uow)
    if not actor.is_pmo_admin and actor.subject not in (project.requested_by, review.opened_by):
        raise Forbidden(
            "only the project's requester, whoever opened the review, or a PMO "
            "admin may withdraw it",
            rule="object-ownership",
        )
    record = await _decide_and_append(
        uow,
        record,
        WithdrawReview(review_id=review_id, reason=reason, withdrawn_by=actor.subject),
        expected=expected,
    )
    return record, record.review(review_id)


async def mark_condition_met(
    review_id: UUID,
    condition_id: UUID,
    *,
    evidence: tuple[EvidenceLink, ...],
    note: str,
    actor: Actor,
    now: datetime,
    uow: UnitOfWork,
    expected: ExpectedVersion | None = None,
) -> tuple[GateRecord, Review]:
    record, review = await get_review(review_id, uow)
    project = await _project(review.project_id, uow)
    condition = review.conditions.get(condition_id)
    if condition is None:
        raise NotFound(f"review {review_id} has no condition {condition_id}")
    if not actor.is_pmo_admin and actor.subject not in (
        condition.condition.owner,
        project.requested_by,
    ):
        raise Forbidden(
            "only the condition's owner, the project's requester or a PMO admin may mark it met",
            rule="object-ownership",
        )
    record = await _decide_and_append(
        uow,
        record,
        MarkConditionMet(
            review_id=review_id,
            condition_id=condition_id,
            evidence=evidence,
            note=note,
            met_by=actor.subject,
            now=now,
        ),
        expected=expected,
    )
    return record, record.review(review_id)


async def run_timer_command(
    project_id: UUID, command: domain.Escalate | domain.RecordBreach, uow: UnitOfWork
) -> int:
    """The SLA and condition timers' step; answers how many events it appended (0 or 1)."""
    record = await load_gates(project_id, uow)
    after = await _decide_and_append(uow, record, command)
    return after.version - record.version


async def _project(project_id: UUID, uow: UnitOfWork) -> ProjectFacts:
    project = await queries.project_facts(uow.connection, project_id)
    if project is None:
        raise NotFound(
            f"governance has not seen project {project_id} (it learns of projects "
            "from intake's events, usually within a second)"
        )
    return project


async def _decide_and_append(
    uow: UnitOfWork,
    record: GateRecord,
    command: domain.Command,
    *,
    expected: ExpectedVersion | None = None,
) -> GateRecord:
    """Decide, then (with ``expected``, an If-Match) 412 unless the record is at that version,
    then append. Who may act is checked before the version: a stale If-Match from someone the
    command refuses gets their 403, not a 412 carrying the current ETag."""
    new_events = domain.decide(record.state, command)
    if expected is not None:
        check_version(
            expected,
            record.version,
            resource=f"the gate record of project {record.state.project_id}",
        )
    if not new_events:
        return record
    envelopes = await uow.append(
        domain.stream_id(record.state.project_id), new_events, expected_version=record.version
    )
    state = record.state
    for event in new_events:
        state = domain.evolve(state, event)
    appended = list(zip(new_events, envelopes, strict=True))
    await records.record_gate_events(uow.connection, state, appended)
    return GateRecord(state, record.version + len(new_events), [*record.history, *appended])


# --- Delegations ----------------------------------------------------------------------------


async def get_delegation(delegation_id: UUID, uow: UnitOfWork) -> VersionedDelegation:
    history = await uow.load(delegations.stream_id(delegation_id))
    delegation = delegations.replay(event for event, _ in history)
    if delegation is None:
        raise NotFound(f"no delegation {delegation_id}")
    return VersionedDelegation(delegation, len(history), history[0][1].time)


async def grant_delegation(
    *,
    delegation_id: UUID,
    from_user: str,
    to_user: str,
    starts_at: datetime,
    ends_at: datetime,
    scope: DelegationScope,
    reason: str,
    actor: Actor,
    now: datetime,
    uow: UnitOfWork,
) -> VersionedDelegation:
    if not actor.is_pmo_admin and actor.subject != from_user:
        raise Forbidden(
            "you may delegate only your own approvals (a PMO admin may record anyone's)",
            rule="object-ownership",
        )
    new_events = delegations.decide(
        None,
        GrantDelegation(
            delegation_id=delegation_id,
            from_user=from_user,
            to_user=to_user,
            starts_at=starts_at,
            ends_at=ends_at,
            scope=scope,
            reason=reason,
            granted_by=actor.subject,
            now=now,
        ),
    )
    await _append_delegation(uow, delegation_id, new_events, expected_version=0)
    return await get_delegation(delegation_id, uow)


async def revoke_delegation(
    delegation_id: UUID, *, reason: str, actor: Actor, now: datetime, uow: UnitOfWork
) -> VersionedDelegation:
    current = await get_delegation(delegation_id, uow)
    if not actor.is_pmo_admin and actor.subject != current.delegation.from_user:
        raise Forbidden(
            "only the delegator or a PMO admin may revoke a delegation", rule="object-ownership"
        )
    new_events = delegations.decide(
        current.delegation, RevokeDelegation(reason=reason, revoked_by=actor.subject, now=now)
    )
    await _append_delegation(uow, delegation_id, new_events, expected_version=current.version)
    return await get_delegation(delegation_id, uow)


async def _append_delegation(
    uow: UnitOfWork, delegation_id: UUID, new_events: list[DomainEvent], *, expected_version: int
) -> None:
    envelopes = await uow.append(
        delegations.stream_id(delegation_id), new_events, expected_version=expected_version
    )
    await records.record_delegation_events(
        uow.connection, list(zip(new_events, envelopes, strict=True))
    )
