"""Governance's HTTP routes: parse, build the command, call the handler, shape the response.

Reads answer with ``ETag`` = the stream version. Replacing a gate template needs ``If-Match``;
votes, withdrawals and conditions take it optionally (a vote adds to a review rather than
editing it, and concurrent votes are settled by the stream). Every change accepts
``Idempotency-Key``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import WithJsonSchema

from gatehouse.auth import Principal, Role
from gatehouse.commands import CommandResponse, ExpectedVersion, etag, parse_if_match
from gatehouse.errors import Forbidden, InvalidInput, NotFound
from gatehouse.events.governance import (
    ApprovalRule,
    ApproverSeat,
    CriterionAssessment,
    DelegationGranted,
    DelegationRevoked,
    DelegationScope,
    EvidenceLink,
    EvidenceRequirement,
    GateCondition,
    GateCriterion,
    GateDecided,
    GateDefinition,
    VoteCast,
    VoteRevised,
    governance_events,
)
from gatehouse.events.visibility import sees_whole
from gatehouse.identity import PersonFilter
from gatehouse.json_types import AnyText, as_stored
from gatehouse.runtime import ServiceRuntime
from gatehouse.unit_of_work import UnitOfWork
from gatehouse.web import (
    AnyRole,
    Approver,
    ApproverOrPmoAdmin,
    IdempotencyKey,
    OptionalIfMatch,
    PmoAdmin,
    RequesterOrPmoAdmin,
    Runtime,
    read_unit_of_work,
    run_command,
)
from governance import handlers, queries, rules
from governance.domain import ConditionState, Review
from governance.handlers import Actor, GateRecord, VersionedDelegation, VersionedTemplate
from governance.inbox import Inbox
from governance.queries import ReviewFilter
from governance.schemas import (
    ApprovalBody,
    AssessmentBody,
    ConditionMetBody,
    ConditionView,
    CriterionBody,
    CriterionView,
    DelegationBody,
    DelegationScopeBody,
    DelegationView,
    EvidenceLinkBody,
    EvidenceRequirementBody,
    GateBody,
    GateTemplateBody,
    GateTemplateView,
    KnownProjectView,
    OpenReviewBody,
    ReasonBody,
    ReviewPageView,
    ReviewSummary,
    ReviewView,
    RuleView,
    SeatBody,
    VoteBody,
    VoteReceipt,
    VoteView,
)
from governance.templates import DefineGateTemplate, GateTemplate

__all__ = ["router"]

router = APIRouter()

ProjectTypeKey = Annotated[
    str,
    Path(
        pattern=r"^[a-z][a-z0-9_-]{0,63}$",
        description="The project type, as intake's requests name it",
    ),
]

AUTH_PROBLEMS: dict[int | str, dict[str, Any]] = {  # for routes that take no input
    401: {"description": "Missing or invalid bearer token or API key"},
    403: {
        "description": "The caller lacks the role, or a rule forbids it (the problem's "
        "`rule` says which: segregation-of-duties, approver-rule, object-ownership...)"
    },
}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **AUTH_PROBLEMS,
    422: {"description": "Invalid input, naming the field"},
}
REVIEW_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **PROBLEMS,
    404: {"description": "No such review (or project, or condition)"},
    409: {
        "description": "Not allowed as the review stands (closed, already voted, not your "
        "turn...); the problem's `rule` says which"
    },
    412: {"description": "If-Match was sent and is stale"},
}
# On the routes that take an optional If-Match: one sent empty holds no ETag to check.
EMPTY_IF_MATCH: dict[int | str, dict[str, Any]] = {
    428: {"description": "If-Match was sent empty"},
}
REVIEW_STATUSES = ("open", "decided", "withdrawn")
ANYONE = (Role.REQUESTER, Role.APPROVER, Role.PMO_ADMIN, Role.AUDITOR)


# --- Gate templates -------------------------------------------------------------------------


@router.put(
    "/gate-templates/{project_type}",
    response_model=GateTemplateView,
    tags=["gate templates"],
    summary="Define the ordered gates of a project type (a new version each time)",
    responses={
        **PROBLEMS,
        201: {"description": "The first version"},
        412: {"description": "If-Match is stale"},
        428: {"description": "Replacing a template needs If-Match"},
    },
)
async def define_template(
    project_type: ProjectTypeKey,
    body: GateTemplateBody,
    principal: PmoAdmin,
    runtime: Runtime,
    request: Request,
    if_match: OptionalIfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    expected = _optional_if_match(if_match)
    command = DefineGateTemplate(
        project_type=project_type,
        name=body.name,
        description=body.description,
        escalation_role=body.escalation_role,
        gates=tuple(_gate(g) for g in body.gates),
        defined_by=principal.subject,
    )

    async def run(uow: UnitOfWork) -> CommandResponse:
        result = await handlers.define_template(command, uow, expected=expected)
        created = result.template.version == 1
        headers = {"ETag": etag(result.version)}
        if created:
            headers["Location"] = str(request.url_for("get_template", project_type=project_type))
        return CommandResponse(
            201 if created else 200, _template_view(result).model_dump(mode="json"), headers
        )

    return await _execute(runtime, request, principal, idempotency_key, run)


@router.get(
    "/gate-templates",
    response_model=list[GateTemplateView],
    tags=["gate templates"],
    summary="Every project type's current gate template",
    responses=AUTH_PROBLEMS,
)
async def list_templates(principal: AnyRole, runtime: Runtime) -> list[GateTemplateView]:
    async with _unit_of_work(runtime, principal) as uow:
        found = await handlers.list_templates(uow)
    return [_template_view(result) for result in found]


@router.get(
    "/gate-templates/{project_type}",
    response_model=GateTemplateView,
    tags=["gate templates"],
    summary="A project type's gate template",
    responses={**PROBLEMS, 404: {"description": "No such template (or version)"}},
)
async def get_template(
    project_type: ProjectTypeKey,
    principal: AnyRole,
    runtime: Runtime,
    response: Response,
    version: Annotated[int | None, Query(ge=1, description="An earlier version")] = None,
) -> GateTemplateView:
    async with _unit_of_work(runtime, principal) as uow:
        result = await handlers.get_template(project_type, uow, version=version)
    response.headers["ETag"] = etag(result.version)
    return _template_view(result)


# --- Gate reviews ---------------------------------------------------------------------------


@router.post(
    "/gate-reviews",
    status_code=status.HTTP_201_CREATED,
    response_model=ReviewView,
    tags=["gate reviews"],
    summary="Open the review of a project's next gate",
    responses={
        **PROBLEMS,
        404: {"description": "Governance has not seen the project"},
        409: {
            "description": "A review is already open, the gate is not the "
            "next one, no template, or the project is not reviewable"
        },
    },
)
async def open_review(
    body: OpenReviewBody,
    principal: RequesterOrPmoAdmin,
    runtime: Runtime,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    review_id = uuid4()
    evidence = tuple(_evidence(link) for link in body.evidence)

    async def run(uow: UnitOfWork) -> CommandResponse:
        record, review = await handlers.open_review(
            review_id=review_id,
            project_id=body.project_id,
            gate=body.gate,
            evidence=evidence,
            note=body.note,
            actor=_actor(principal),
            now=runtime.clock(),
            uow=uow,
        )
        location = str(request.url_for("get_review", review_id=review.review_id))
        view = _review_view(record, review, principal)
        return CommandResponse(
            201, view.model_dump(mode="json"), {"ETag": etag(record.version), "Location": location}
        )

    return await _execute(runtime, request, principal, idempotency_key, run)


@router.get(
    "/gate-reviews",
    response_model=ReviewPageView,
    tags=["gate reviews"],
    summary="Reviews, oldest first; assignee=me is the approver's inbox",
    responses=PROBLEMS,
)
async def list_reviews(
    principal: AnyRole,
    runtime: Runtime,
    assignee: Annotated[
        PersonFilter | None,
        Query(
            max_length=200,
            description=(
                "`me`: the reviews waiting for your vote now (your seats, your roles' seats "
                "and those of approvers who delegated to you). A PMO admin or auditor may "
                "name someone"
            ),
        ),
    ] = None,
    status_: Annotated[
        list[Annotated[str, WithJsonSchema({"type": "string", "enum": list(REVIEW_STATUSES)})]]
        | None,
        Query(alias="status", description="open, decided, withdrawn; repeat for several"),
    ] = None,
    project_id: UUID | None = None,
    gate: Annotated[AnyText | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReviewPageView:
    for value in status_ or ():
        if value not in REVIEW_STATUSES:
            raise InvalidInput.for_field(
                "status", f"{value!r} is not open, decided or withdrawn", location="query"
            )
    now = runtime.clock()
    where = ReviewFilter(status=status_ or (), project_id=project_id, gate=gate)
    async with runtime.database.read() as connection:
        if assignee is None:
            page = await queries.list_reviews(connection, where, cursor=cursor, limit=limit)
        else:
            inbox = await _inbox(connection, principal, assignee, now)
            page = await inbox.page(connection, where, cursor=cursor, limit=limit, now=now)
    return ReviewPageView(items=[_summary(row) for row in page.rows], next_cursor=page.next_cursor)


@router.get(
    "/gate-reviews/{review_id}",
    response_model=ReviewView,
    tags=["gate reviews"],
    summary="A review: criteria, evidence, votes so far (for the roles that read "
    "votes) and what is still needed",
    responses={**PROBLEMS, 404: {"description": "No such review"}},
)
async def get_review(
    review_id: UUID, principal: AnyRole, runtime: Runtime, response: Response
) -> ReviewView:
    async with _unit_of_work(runtime, principal) as uow:
        record, review = await handlers.get_review(review_id, uow)
    response.headers["ETag"] = etag(record.version)
    return _review_view(record, review, principal)


@router.post(
    "/gate-reviews/{review_id}/votes",
    status_code=status.HTTP_201_CREATED,
    response_model=VoteReceipt,
    tags=["gate reviews"],
    summary="Vote go, conditional_go, hold, recycle or kill (or revise your vote)",
    responses={**REVIEW_PROBLEMS, **EMPTY_IF_MATCH},
)
async def vote(
    review_id: UUID,
    body: VoteBody,
    principal: Approver,
    runtime: Runtime,
    request: Request,
    if_match: OptionalIfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    vote_id = uuid4()
    conditions = tuple(
        GateCondition(
            condition_id=uuid4(), description=c.description, owner=c.owner, due_date=c.due_date
        )
        for c in body.conditions
    )
    assessments = tuple(
        CriterionAssessment(criterion=a.criterion, met=a.met, score=a.score, comment=a.comment)
        for a in body.assessments
    )

    async def run(uow: UnitOfWork) -> CommandResponse:
        record, review = await handlers.cast_vote(
            review_id,
            expected=_optional_if_match(if_match),
            vote_id=vote_id,
            decision=body.decision,
            rationale=body.rationale,
            conditions=conditions,
            assessments=assessments,
            on_behalf_of=body.on_behalf_of,
            revision_reason=body.revision_reason,
            actor=_actor(principal),
            now=runtime.clock(),
            uow=uow,
        )
        # Only approvers vote, and they read votes: the answer holds the caller's own.
        view = _review_view(record, review, principal)
        (own,) = (v for v in view.votes or () if v.id == vote_id)
        receipt = VoteReceipt(vote=own, review=view)
        return CommandResponse(
            201,
            receipt.model_dump(mode="json"),
            {
                "ETag": etag(record.version),
                "Location": str(request.url_for("get_review", review_id=review_id)),
            },
        )

    return await _execute(runtime, request, principal, idempotency_key, run)


@router.post(
    "/gate-reviews/{review_id}/withdraw",
    response_model=ReviewView,
    tags=["gate reviews"],
    summary="Withdraw an open review",
    responses={**REVIEW_PROBLEMS, **EMPTY_IF_MATCH},
)
async def withdraw_review(
    review_id: UUID,
    body: ReasonBody,
    principal: RequesterOrPmoAdmin,
    runtime: Runtime,
    request: Request,
    if_match: OptionalIfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:

    async def run(uow: UnitOfWork) -> CommandResponse:
        record, review = await handlers.withdraw_review(
            review_id,
            reason=body.reason,
            expected=_optional_if_match(if_match),
            actor=_actor(principal),
            uow=uow,
        )
        view = _review_view(record, review, principal)
        return CommandResponse(200, view.model_dump(mode="json"), {"ETag": etag(record.version)})

    return await _execute(runtime, request, principal, idempotency_key, run)


@router.post(
    "/gate-reviews/{review_id}/conditions/{condition_id}/met",
    response_model=ReviewView,
    tags=["gate reviews"],
    summary="Record that a condition of a conditional go is met, with evidence",
    responses={**REVIEW_PROBLEMS, **EMPTY_IF_MATCH},
)
async def condition_met(
    review_id: UUID,
    condition_id: UUID,
    body: ConditionMetBody,
    principal: AnyRole,
    runtime: Runtime,
    request: Request,
    if_match: OptionalIfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    evidence = tuple(_evidence(link) for link in body.evidence)

    async def run(uow: UnitOfWork) -> CommandResponse:
        record, review = await handlers.mark_condition_met(
            review_id,
            condition_id,
            expected=_optional_if_match(if_match),
            evidence=evidence,
            note=body.note,
            actor=_actor(principal),
            now=runtime.clock(),
            uow=uow,
        )
        view = _review_view(record, review, principal)
        return CommandResponse(200, view.model_dump(mode="json"), {"ETag": etag(record.version)})

    return await _execute(runtime, request, principal, idempotency_key, run)


# --- Delegations ----------------------------------------------------------------------------


@router.post(
    "/delegations",
    status_code=status.HTTP_201_CREATED,
    response_model=DelegationView,
    tags=["delegations"],
    summary="Let someone vote in an approver's place for a period",
    responses=PROBLEMS,
)
async def grant_delegation(
    body: DelegationBody,
    principal: ApproverOrPmoAdmin,
    runtime: Runtime,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    delegation_id = uuid4()
    scope = body.scope

    async def run(uow: UnitOfWork) -> CommandResponse:
        now = runtime.clock()
        result = await handlers.grant_delegation(
            delegation_id=delegation_id,
            from_user=body.from_user or principal.subject,
            to_user=body.to,
            starts_at=body.starts_at or now,
            ends_at=body.ends_at,
            scope=DelegationScope(
                project_type=scope.project_type, gate=scope.gate, project_id=scope.project_id
            ),
            reason=body.reason,
            actor=_actor(principal),
            now=now,
            uow=uow,
        )
        location = str(request.url_for("get_delegation", delegation_id=delegation_id))
        return CommandResponse(
            201,
            _delegation_json(result, runtime),
            {"ETag": etag(result.version), "Location": location},
        )

    return await _execute(runtime, request, principal, idempotency_key, run)


@router.get(
    "/delegations",
    response_model=list[DelegationView],
    tags=["delegations"],
    summary="Delegations from or to someone (you, by default)",
    responses=PROBLEMS,
)
async def list_delegations(
    principal: AnyRole,
    runtime: Runtime,
    involving: Annotated[
        PersonFilter | None,
        Query(
            max_length=200, description="A user (`me` by default); `*` for all (PMO admin, auditor)"
        ),
    ] = "me",
    active: Annotated[bool, Query(description="Only those in force now")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[DelegationView]:
    who = principal.subject if involving in (None, "me") else involving
    if who != principal.subject and not _reads_every_delegation(principal):
        raise Forbidden(
            "only a PMO admin or an auditor may list someone else's delegations",
            required_roles=[Role.PMO_ADMIN, Role.AUDITOR],
        )
    now = runtime.clock()
    async with _unit_of_work(runtime, principal) as uow:
        rows = await queries.list_delegations(
            uow.connection,
            involving=None if who == "*" else who,
            active_at=now if active else None,
            limit=limit,
        )
        found = [await handlers.get_delegation(row.delegation_id, uow) for row in rows]
    return [_delegation_view(result, runtime) for result in found]


@router.get(
    "/delegations/{delegation_id}",
    response_model=DelegationView,
    tags=["delegations"],
    summary="A delegation, for its delegator, its delegate, a PMO admin or an auditor",
    responses={
        **PROBLEMS,
        404: {"description": "No such delegation, or not one the caller may read"},
    },
)
async def get_delegation(
    delegation_id: UUID, principal: AnyRole, runtime: Runtime, response: Response
) -> DelegationView:
    async with _unit_of_work(runtime, principal) as uow:
        result = await handlers.get_delegation(delegation_id, uow)
    involved = principal.subject in (result.delegation.from_user, result.delegation.to_user)
    if not involved and not _reads_every_delegation(principal):
        # As for an id that does not exist: the answer does not say that this one does.
        raise NotFound(f"no delegation {delegation_id}")
    response.headers["ETag"] = etag(result.version)
    return _delegation_view(result, runtime)


@router.post(
    "/delegations/{delegation_id}/revoke",
    response_model=DelegationView,
    tags=["delegations"],
    summary="End a delegation now",
    responses={
        **PROBLEMS,
        404: {"description": "No such delegation"},
        409: {"description": "Already revoked or ended"},
    },
)
async def revoke_delegation(
    delegation_id: UUID,
    body: ReasonBody,
    principal: ApproverOrPmoAdmin,
    runtime: Runtime,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:

    async def run(uow: UnitOfWork) -> CommandResponse:
        result = await handlers.revoke_delegation(
            delegation_id, reason=body.reason, actor=_actor(principal), now=runtime.clock(), uow=uow
        )
        return CommandResponse(
            200, _delegation_json(result, runtime), {"ETag": etag(result.version)}
        )

    return await _execute(runtime, request, principal, idempotency_key, run)


# --- Projects as governance knows them --------------------------------------------------------


@router.get(
    "/projects/{project_id}",
    response_model=KnownProjectView,
    tags=["projects"],
    summary="A project as governance knows it (from intake's events) and its gates",
    responses={**PROBLEMS, 404: {"description": "Governance has not seen this project"}},
)
async def get_known_project(
    project_id: UUID, principal: AnyRole, runtime: Runtime
) -> KnownProjectView:
    async with _unit_of_work(runtime, principal) as uow:
        project = await queries.known_project(uow.connection, project_id)
        if project is None:
            raise NotFound(f"governance has not seen project {project_id}")
        record = await handlers.load_gates(project_id, uow)
        next_gate = None
        try:
            template = (await handlers.get_template(project.project_type, uow)).template
            gate = record.state.next_gate(template)
            next_gate = gate.key if gate else None
        except NotFound:
            pass
    open_review = record.state.open_review
    return KnownProjectView(
        id=project.id,
        title=project.title,
        sponsor=project.sponsor,
        requested_by=project.requested_by,
        business_unit=project.business_unit,
        project_type=project.project_type,
        status=project.status,
        passed_gates=list(record.state.passed),
        next_gate=next_gate,
        open_review_id=open_review.review_id if open_review else None,
    )


# --- Plumbing ---------------------------------------------------------------------------------


def _unit_of_work(
    runtime: ServiceRuntime, principal: Principal
) -> AbstractAsyncContextManager[UnitOfWork]:
    return read_unit_of_work(runtime, governance_events, principal)


async def _execute(
    runtime: ServiceRuntime,
    request: Request,
    principal: Principal,
    idempotency_key: str | None,
    run: Callable[[UnitOfWork], Awaitable[CommandResponse]],
) -> Response:
    return await run_command(runtime, governance_events, request, principal, idempotency_key, run)


def _optional_if_match(if_match: str | None) -> ExpectedVersion | None:
    """Review changes take If-Match optionally: when sent, it must match the review's ETag."""
    return parse_if_match(if_match) if if_match is not None else None


def _actor(principal: Principal) -> Actor:
    return Actor(
        principal.subject,
        principal.claimed_roles | {r.value for r in principal.roles},
        Role.PMO_ADMIN in principal.roles,
    )


async def _inbox(connection: Any, principal: Principal, assignee: str, now: datetime) -> Inbox:
    if assignee in ("me", principal.subject):
        roles = principal.claimed_roles | {r.value for r in principal.roles}
        return await Inbox.of(connection, principal.subject, frozenset(roles), now)
    if not principal.roles & {Role.PMO_ADMIN, Role.AUDITOR}:
        raise Forbidden(
            "only a PMO admin or an auditor may look at someone else's inbox",
            required_roles=[Role.PMO_ADMIN, Role.AUDITOR],
        )
    # Someone else's roles are in their token, not here: their named seats and delegations.
    return await Inbox.of(connection, assignee, frozenset(), now)


# Who reads what asks the one table of gatehouse.events.visibility, as reporting does.


def _reads_votes(principal: Principal) -> bool:
    return all(sees_whole(event.event_type, principal.roles) for event in (VoteCast, VoteRevised))


def _reads_every_delegation(principal: Principal) -> bool:
    return all(
        sees_whole(event.event_type, principal.roles)
        for event in (DelegationGranted, DelegationRevoked)
    )


# --- Shaping ----------------------------------------------------------------------------------


def _gate(body: GateBody) -> GateDefinition:
    approval: ApprovalBody = body.approval
    return GateDefinition(
        key=body.key,
        name=body.name,
        description=body.description,
        criteria=tuple(
            GateCriterion(
                key=c.key, name=c.name, kind=c.kind, weight=c.weight, description=c.description
            )
            for c in body.criteria
        ),
        evidence=tuple(
            EvidenceRequirement(key=e.key, name=e.name, description=e.description)
            for e in body.evidence
        ),
        approval=ApprovalRule(
            seats=tuple(ApproverSeat(user=s.user, role=s.role) for s in approval.approvers),
            quorum=approval.quorum,
            n=approval.n,
            order=approval.order,
            kill_veto=approval.kill_veto,
        ),
        sla_hours=body.sla_hours,
    )


def _gate_body(gate: GateDefinition) -> GateBody:
    # As stored: a seat's user may read [erased] since, a name may predate today's rules.
    rule = gate.approval
    return as_stored(
        GateBody,
        key=gate.key,
        name=gate.name,
        description=gate.description,
        criteria=[
            as_stored(
                CriterionBody,
                key=c.key,
                name=c.name,
                kind=c.kind,
                weight=c.weight,
                description=c.description,
            )
            for c in gate.criteria
        ],
        evidence=[
            as_stored(EvidenceRequirementBody, key=e.key, name=e.name, description=e.description)
            for e in gate.evidence
        ],
        approval=as_stored(
            ApprovalBody,
            approvers=[as_stored(SeatBody, user=s.user, role=s.role) for s in rule.seats],
            quorum=rule.quorum,
            n=rule.n,
            order=rule.order,
            kill_veto=rule.kill_veto,
        ),
        sla_hours=gate.sla_hours,
    )


def _template_view(result: VersionedTemplate) -> GateTemplateView:
    template: GateTemplate = result.template
    return GateTemplateView(
        project_type=template.project_type,
        version=template.version,
        name=template.name,
        description=template.description,
        escalation_role=template.escalation_role,
        gates=[_gate_body(gate) for gate in template.gates],
        defined_by=template.defined_by,
    )


def _evidence(body: EvidenceLinkBody) -> EvidenceLink:
    return EvidenceLink(url=body.url, key=body.key, title=body.title)


def _condition_view(state: ConditionState) -> ConditionView:
    condition = state.condition
    status_name: Literal["open", "met", "breached"] = (
        "met" if state.met else "breached" if state.breached else "open"
    )
    return ConditionView(
        id=condition.condition_id,
        description=condition.description,
        owner=condition.owner,
        due_date=condition.due_date,
        status=status_name,
        met=state.met,
        breached=state.breached,
    )


def _review_view(record: GateRecord, review: Review, principal: Principal) -> ReviewView:
    """The review as the caller's roles may read it. Who may not read votes gets none of what
    they alone tell: the votes, and the criteria's counts from their assessments. The rest
    (status, rule, seats awaited, evidence, the decision as GateDecided in part) is everyone's."""
    view = _whole_review_view(record, review)
    if _reads_votes(principal):
        return view
    criteria = [
        criterion.model_copy(update={"met": None, "not_met": None, "average_score": None})
        for criterion in view.criteria
    ]
    return view.model_copy(update={"votes": None, "criteria": criteria})


def _whole_review_view(record: GateRecord, review: Review) -> ReviewView:
    rule = review.gate.approval
    current_ids = {ballot.vote_id for ballot in review.ballots.values()}
    votes: list[VoteView] = []
    current_assessments: list[CriterionAssessment] = []
    opened_at = None
    rationale = None
    for event, envelope in record.review_events(review.review_id):
        if opened_at is None:
            opened_at = envelope.time
        if isinstance(event, GateDecided):
            rationale = event.rationale
        if not isinstance(event, VoteCast | VoteRevised):
            continue
        if event.vote_id in current_ids:
            current_assessments.extend(event.assessments)
        votes.append(
            VoteView(
                id=event.vote_id,
                seat=event.seat,
                approver=event.approver,
                cast_by=event.cast_by,
                delegation_id=event.delegation_id,
                decision=event.decision,
                rationale=event.rationale,
                conditions=[_condition_view(ConditionState(condition=c)) for c in event.conditions],
                assessments=[
                    as_stored(
                        AssessmentBody,
                        criterion=a.criterion,
                        met=a.met,
                        score=a.score,
                        comment=a.comment,
                    )
                    for a in event.assessments
                ],
                cast_at=envelope.time,
                revises=event.revises if isinstance(event, VoteRevised) else None,
                revision_reason=event.reason if isinstance(event, VoteRevised) else None,
                current=event.vote_id in current_ids,
            )
        )
    assert opened_at is not None
    favourable = sum(1 for b in review.ballots.values() if b.decision in rules.FAVOURABLE)
    criteria = []
    for criterion in review.gate.criteria:
        assessed = [a for a in current_assessments if a.criterion == criterion.key]
        scores = [a.score for a in assessed if a.score is not None]
        criteria.append(
            CriterionView(
                key=criterion.key,
                name=criterion.name,
                kind=criterion.kind,
                weight=criterion.weight,
                description=criterion.description,
                met=sum(1 for a in assessed if a.met is True),
                not_met=sum(1 for a in assessed if a.met is False),
                average_score=round(sum(scores) / len(scores), 2) if scores else None,
            )
        )
    return ReviewView(
        id=review.review_id,
        project_id=review.project_id,
        project_type=review.project_type,
        gate=review.gate.key,
        gate_name=review.gate.name,
        gate_description=review.gate.description,
        template_version=review.template_version,
        status=review.status,
        outcome=review.outcome,
        decided_by=list(review.decided_by),
        rationale=rationale,
        opened_by=review.opened_by,
        opened_at=opened_at,
        sla_due_at=review.sla_due_at,
        escalated=review.escalated,
        escalation_role=review.escalation_role,
        rule=RuleView(
            seats=[s.label for s in rule.seats],
            quorum=rule.quorum,
            n=rule.n,
            order=rule.order,
            kill_veto=rule.kill_veto,
            needed=rules.needed(rule),
            description=rules.describe(rule),
        ),
        criteria=criteria,
        required_evidence=[
            as_stored(EvidenceRequirementBody, key=e.key, name=e.name, description=e.description)
            for e in review.gate.evidence
        ],
        evidence=[
            as_stored(EvidenceLinkBody, url=e.url, key=e.key, title=e.title)
            for e in review.evidence
        ],
        votes=votes,
        awaiting=review.awaiting,
        still_needed=max(0, rules.needed(rule) - favourable) if review.is_open else 0,
        conditions=[_condition_view(c) for c in review.conditions.values()],
        version=record.version,
    )


def _summary(row: Any) -> ReviewSummary:
    return ReviewSummary(
        id=row.review_id,
        project_id=row.project_id,
        project_type=row.project_type,
        gate=row.gate,
        gate_name=row.gate_name,
        template_version=row.template_version,
        status=row.status,
        outcome=row.outcome,
        opened_by=row.opened_by,
        opened_at=row.opened_at,
        sla_due_at=row.sla_due_at,
        escalated=row.escalated_at is not None,
        closed_at=row.closed_at,
    )


def _delegation_view(result: VersionedDelegation, runtime: ServiceRuntime) -> DelegationView:
    d = result.delegation
    now = runtime.clock()
    return DelegationView(
        id=d.delegation_id,
        from_user=d.from_user,
        to=d.to_user,
        starts_at=d.starts_at,
        ends_at=d.ends_at,
        scope=as_stored(
            DelegationScopeBody,
            project_type=d.scope.project_type,
            gate=d.scope.gate,
            project_id=d.scope.project_id,
        ),
        reason=d.reason,
        granted_by=d.granted_by,
        granted_at=result.granted_at,
        revoked=d.revoked,
        revoked_by=d.revoked_by,
        active=not d.revoked and d.starts_at <= now < d.ends_at,
        version=result.version,
    )


def _delegation_json(result: VersionedDelegation, runtime: ServiceRuntime) -> Any:
    return _delegation_view(result, runtime).model_dump(mode="json", by_alias=True)
