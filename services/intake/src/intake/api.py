"""Intake's HTTP routes: parse, build the command, call the handler, shape the response.

Every read answers with ``ETag`` = the stream version. Every change to an existing resource
needs ``If-Match`` (428 without it, 412 when stale) and accepts ``Idempotency-Key``: a retry
with the same key and body gets the stored response, a different body with the same key a 422.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Path, Query, Request, Response, status

from gatehouse import apikeys
from gatehouse.auth import Principal, Role
from gatehouse.commands import CommandResponse, ExpectedVersion, etag, parse_if_match
from gatehouse.errors import ServiceUnavailable
from gatehouse.events.intake import (
    CustomFieldDefinition,
    KnockoutCriterion,
    ProjectScored,
    StatusReported,
    ToleranceBreached,
    Tolerances,
    WeightedCriterion,
)
from gatehouse.events.intake import intake_events as registry_of_events
from gatehouse.events.types import Money
from gatehouse.identity import PersonFilter
from gatehouse.json_types import AnyText, as_stored
from gatehouse.runtime import ServiceRuntime
from gatehouse.unit_of_work import UnitOfWork
from gatehouse.web import (
    AnyRole,
    AuditorOrPmoAdmin,
    CurrentPrincipal,
    IdempotencyKey,
    IfMatch,
    OptionalIfMatch,
    PmoAdmin,
    RequesterOrPmoAdmin,
    Runtime,
    allow,
    read_unit_of_work,
    run_command,
)
from intake import api_keys, handlers, registry
from intake.custom_fields import DefineCustomFields
from intake.domain import (
    AddRaidItem,
    AdvanceStage,
    ApproveProject,
    ChangeTolerances,
    CloseProject,
    CloseRaidItem,
    Command,
    DeferProject,
    DeliveryStage,
    EditProject,
    KillProject,
    Project,
    PutProjectOnHold,
    QualifyProject,
    RaidItem,
    ReactivateProject,
    RejectProject,
    ReportStatus,
    RequestProject,
    ResumeProject,
    StartScreening,
    SubmitProject,
    UpdateRaidItem,
    WithdrawProject,
    allowed_actions,
)
from intake.handlers import Actor, VersionedModel, VersionedProject
from intake.registry import ProjectFilter, Sort
from intake.schemas import (
    AdvanceBody,
    ApiKeyBody,
    ApiKeyView,
    BaselineView,
    CriterionBody,
    CustomFieldBody,
    CustomFieldsBody,
    CustomFieldsView,
    ErasureBody,
    ErasureView,
    HealthView,
    IssuedApiKeyView,
    KnockoutBody,
    MoneyBody,
    ProjectPageView,
    ProjectPatchBody,
    ProjectRequestBody,
    ProjectSummary,
    ProjectView,
    RaidCloseBody,
    RaidItemBody,
    RaidItemPatchBody,
    RaidItemView,
    ReasonBody,
    RevokeApiKeyBody,
    ScoreBody,
    ScoreView,
    ScoringModelBody,
    ScoringModelView,
    StatusReportBody,
    StatusReportView,
    StepBody,
    TolerancesBody,
)
from intake.scoring import Assessment, DefineScoringModel

__all__ = ["router"]

router = APIRouter()

ANYONE = (Role.REQUESTER, Role.APPROVER, Role.PMO_ADMIN, Role.AUDITOR)
Reader = AnyRole
ModelKey = Annotated[
    str,
    Path(
        pattern=r"^[a-z][a-z0-9_-]{0,63}$",
        description="Key of the scoring model, e.g. strategic-fit",
    ),
]

AUTH_PROBLEMS: dict[int | str, dict[str, Any]] = {  # for routes that take no input
    401: {"description": "Missing or invalid bearer token or API key"},
    403: {"description": "The caller lacks the role, or may not act on this object"},
}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **AUTH_PROBLEMS,
    422: {"description": "Invalid input, naming the field"},
}
CHANGE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **PROBLEMS,
    404: {"description": "No such project"},
    409: {"description": "Not allowed in the project's state: says the state and what is"},
    412: {"description": "If-Match is stale: the resource changed since you read it"},
    428: {"description": "If-Match is missing"},
}
CONFIGURATION_PROBLEMS: dict[int | str, dict[str, Any]] = {  # a definition has no state
    key: value for key, value in CHANGE_PROBLEMS.items() if key not in (404, 409)
}


# --- Projects -----------------------------------------------------------------------------


@router.post(
    "/projects",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectView,
    tags=["projects"],
    summary="Request a project (demand capture)",
    responses=PROBLEMS,
)
async def request_project(
    body: ProjectRequestBody,
    principal: RequesterOrPmoAdmin,
    runtime: Runtime,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    command = RequestProject(
        project_id=uuid4(),
        title=body.title,
        description=body.description,
        sponsor=body.sponsor,
        business_unit=body.business_unit,
        project_type=body.project_type,
        estimated_cost=_money(body.estimated_cost),
        requested_by=principal.subject,
        start_date=body.start_date,
        target_date=body.target_date,
        expected_benefits=body.expected_benefits,
        risk_level=body.risk_level,
        strategic_objectives=tuple(body.strategic_objectives),
        custom=body.custom,
        tolerances=_tolerances(body.tolerances) if body.tolerances else Tolerances(),
    )

    async def run(uow: UnitOfWork) -> CommandResponse:
        result = await handlers.request_project(command, uow)
        location = str(request.url_for("get_project", project_id=result.project.id))
        return _project_response(result, status_code=201, location=location)

    return await _execute(runtime, request, principal, idempotency_key, run)


@router.get(
    "/projects",
    response_model=ProjectPageView,
    tags=["projects"],
    summary="List projects: filter, rank by score, page with a cursor",
    responses=PROBLEMS,
)
async def list_projects(
    principal: AnyRole,
    runtime: Runtime,
    response: Response,
    status_: Annotated[
        list[AnyText] | None, Query(alias="status", description="Demand status; repeat for several")
    ] = None,
    stage: Annotated[list[AnyText] | None, Query(description="Delivery stage")] = None,
    business_unit: Annotated[list[AnyText] | None, Query()] = None,
    project_type: Annotated[list[AnyText] | None, Query()] = None,
    sponsor: Annotated[PersonFilter | None, Query(max_length=200)] = None,
    requested_by: Annotated[PersonFilter | None, Query(max_length=200)] = None,
    sort: Annotated[
        Sort,
        Query(description="-score ranks mandatory projects first, then by score (unscored last)"),
    ] = "-created",
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ProjectPageView:
    where = ProjectFilter(
        status=status_ or (),
        stage=stage or (),
        business_unit=business_unit or (),
        project_type=project_type or (),
        sponsor=sponsor,
        requested_by=requested_by,
    )
    async with runtime.database.read() as connection:
        page = await registry.list_projects(
            connection, where, sort=sort, cursor=cursor, limit=limit
        )
    return ProjectPageView(
        items=[_summary(row._mapping) for row in page.rows], next_cursor=page.next_cursor
    )


@router.get(
    "/projects/{project_id}",
    response_model=ProjectView,
    tags=["projects"],
    summary="A project as it stands",
    responses={**PROBLEMS, 404: {"description": "No such project"}},
)
async def get_project(
    project_id: UUID, principal: AnyRole, runtime: Runtime, response: Response
) -> ProjectView:
    async with _unit_of_work(runtime, principal) as uow:
        result = await handlers.get_project(project_id, uow)
    response.headers["ETag"] = etag(result.version)
    return _view(result)


@router.patch(
    "/projects/{project_id}",
    response_model=ProjectView,
    tags=["projects"],
    summary="Edit a draft or recycled request (only the fields sent change)",
    responses=CHANGE_PROBLEMS,
)
async def edit_project(
    project_id: UUID,
    body: ProjectPatchBody,
    principal: RequesterOrPmoAdmin,
    runtime: Runtime,
    request: Request,
    if_match: IfMatch,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    changes: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if name == "estimated_cost":
            value = _money(value)
        elif name == "tolerances":
            value = _tolerances(value)
        elif name == "strategic_objectives":
            value = tuple(value)
        changes[name] = value
    return await _change(
        runtime,
        request,
        principal,
        project_id,
        EditProject(changes=changes),
        if_match,
        idempotency_key,
    )


def _add_step_route(
    path: str,
    build: Callable[[str], Command],
    summary: str,
    roles: tuple[Role, ...],
    *,
    needs_reason: bool,
) -> None:
    """One POST route per lifecycle step; defer, reject, hold and kill need a reason."""

    async def step(
        project_id: UUID,
        principal: Principal,
        runtime: ServiceRuntime,
        request: Request,
        reason: str,
        if_match: str | None,
        idempotency_key: str | None,
    ) -> Response:
        return await _change(
            runtime, request, principal, project_id, build(reason), if_match, idempotency_key
        )

    # The role check is a route dependency (see ``dependencies`` below): the closures' string
    # annotations could not name ``roles``.
    async def step_with_reason(
        project_id: UUID,
        body: ReasonBody,
        principal: CurrentPrincipal,
        runtime: Runtime,
        request: Request,
        if_match: IfMatch,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        return await step(
            project_id, principal, runtime, request, body.reason, if_match, idempotency_key
        )

    async def step_with_optional_note(
        project_id: UUID,
        principal: CurrentPrincipal,
        runtime: Runtime,
        request: Request,
        if_match: IfMatch,
        body: StepBody | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        return await step(
            project_id,
            principal,
            runtime,
            request,
            body.reason if body else "",
            if_match,
            idempotency_key,
        )

    router.add_api_route(
        f"/projects/{{project_id}}/{path}",
        step_with_reason if needs_reason else step_with_optional_note,
        methods=["POST"],
        response_model=ProjectView,
        tags=["lifecycle"],
        summary=summary,
        responses=CHANGE_PROBLEMS,
        name=path.replace("-", "_"),
        dependencies=[allow(*roles)],
    )


_REQUESTER = (Role.REQUESTER, Role.PMO_ADMIN)
_PMO = (Role.PMO_ADMIN,)
for _path, _build, _title, _roles, _needs_reason in (
    (
        "submit",
        lambda r: SubmitProject(reason=r),
        "Submit the request for review (draft or recycled → submitted)",
        _REQUESTER,
        False,
    ),
    (
        "withdraw",
        lambda r: WithdrawProject(reason=r),
        "Withdraw the request (any time before approval)",
        _REQUESTER,
        False,
    ),
    (
        "start-screening",
        lambda r: StartScreening(reason=r),
        "Start screening a submitted request",
        _PMO,
        False,
    ),
    ("qualify", lambda r: QualifyProject(reason=r), "Qualify a screened request", _PMO, False),
    (
        "approve",
        lambda r: ApproveProject(reason=r),
        "Approve a qualified request: it becomes a project in initiating",
        _PMO,
        False,
    ),
    ("defer", lambda r: DeferProject(reason=r), "Defer a request for later", _PMO, True),
    (
        "reactivate",
        lambda r: ReactivateProject(reason=r),
        "Take a deferred request up again (→ submitted)",
        _PMO,
        False,
    ),
    ("reject", lambda r: RejectProject(reason=r), "Reject a request", _PMO, True),
    (
        "close",
        lambda r: CloseProject(reason=r),
        "Close a project in its closing stage",
        _PMO,
        False,
    ),
    ("hold", lambda r: PutProjectOnHold(reason=r), "Put an active project on hold", _PMO, True),
    (
        "resume",
        lambda r: ResumeProject(reason=r),
        "Resume a project on hold in the stage it paused",
        _PMO,
        False,
    ),
    ("kill", lambda r: KillProject(reason=r), "Stop a project for good", _PMO, True),
):
    _add_step_route(_path, _build, _title, _roles, needs_reason=_needs_reason)


@router.post(
    "/projects/{project_id}/advance",
    response_model=ProjectView,
    tags=["lifecycle"],
    summary="Move a project to its next delivery stage",
    responses=CHANGE_PROBLEMS,
)
async def advance(
    project_id: UUID,
    body: AdvanceBody,
    principal: PmoAdmin,
    runtime: Runtime,
    request: Request,
    if_match: IfMatch,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    command = AdvanceStage(to_stage=DeliveryStage(body.to_stage), reason=body.reason)
    return await _change(
        runtime, request, principal, project_id, command, if_match, idempotency_key
    )


@router.put(
    "/projects/{project_id}/tolerances",
    response_model=ProjectView,
    tags=["status"],
    summary="Set how far forecasts may drift from the baseline",
    responses=CHANGE_PROBLEMS,
)
async def change_tolerances(
    project_id: UUID,
    body: TolerancesBody,
    principal: PmoAdmin,
    runtime: Runtime,
    request: Request,
    if_match: IfMatch,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await _change(
        runtime,
        request,
        principal,
        project_id,
        ChangeTolerances(tolerances=_tolerances(body)),
        if_match,
        idempotency_key,
    )


# --- Scores -------------------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/scores",
    status_code=status.HTTP_201_CREATED,
    response_model=ScoreView,
    tags=["scoring"],
    summary="Record an assessment; the service computes the score",
    responses=CHANGE_PROBLEMS,
)
async def score_project(
    project_id: UUID,
    body: ScoreBody,
    principal: PmoAdmin,
    runtime: Runtime,
    request: Request,
    if_match: IfMatch,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    expected = parse_if_match(if_match)
    assessment_id = uuid4()

    async def run(uow: UnitOfWork) -> CommandResponse:
        result = await handlers.score_project(
            project_id,
            model_key=body.model,
            assessment_id=assessment_id,
            assessment=Assessment(ratings=body.ratings, knockouts=body.knockouts),
            mandatory=body.mandatory,
            mandatory_reason=body.mandatory_reason,
            rationale=body.rationale,
            uow=uow,
            expected=expected,
            actor=_actor(principal),
        )
        view = _score_view(result.project).model_copy(
            update={
                "ratings": body.ratings,
                "knockouts": body.knockouts,
                "rationale": body.rationale,
                "assessed_by": principal.subject,
                "assessed_at": result.updated_at,
            }
        )
        return CommandResponse(
            201,
            view.model_dump(mode="json"),
            {
                "ETag": etag(result.version),
                "Location": str(request.url_for("list_scores", project_id=project_id)),
            },
        )

    return await _execute(runtime, request, principal, idempotency_key, run)


@router.get(
    "/projects/{project_id}/scores",
    response_model=list[ScoreView],
    tags=["scoring"],
    summary="Every assessment of the project, oldest first",
    responses={**PROBLEMS, 404: {"description": "No such project"}},
)
async def list_scores(project_id: UUID, principal: AnyRole, runtime: Runtime) -> list[ScoreView]:
    async with _unit_of_work(runtime, principal) as uow:
        scored = await handlers.project_events(project_id, ProjectScored, uow)
    return [
        ScoreView(
            assessment_id=event.assessment_id,
            model_key=event.model_key,
            model_version=event.model_version,
            score=event.score,
            knocked_out=event.knocked_out,
            failed_knockouts=list(event.failed_knockouts),
            mandatory=event.mandatory,
            mandatory_reason=event.mandatory_reason,
            ratings=event.ratings,
            knockouts=event.knockouts,
            rationale=event.rationale,
            assessed_by=event.assessed_by,
            assessed_at=envelope.time,
        )
        for event, envelope in scored
    ]


# --- Status and RAID ----------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/status-reports",
    status_code=status.HTTP_201_CREATED,
    response_model=StatusReportView,
    tags=["status"],
    summary="Report status; a forecast beyond tolerance raises ToleranceBreached",
    responses=CHANGE_PROBLEMS,
)
async def report_status(
    project_id: UUID,
    body: StatusReportBody,
    principal: RequesterOrPmoAdmin,
    runtime: Runtime,
    request: Request,
    if_match: IfMatch,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    command = ReportStatus(
        report_id=uuid4(),
        overall=body.overall,
        schedule=body.schedule,
        cost=body.cost,
        scope=body.scope,
        summary=body.summary,
        forecast_cost=_money(body.forecast_cost),
        forecast_end_date=body.forecast_end_date,
        reported_by=principal.subject,
    )

    def shape(result: VersionedProject) -> CommandResponse:
        report = result.project.status_report
        assert report is not None
        view = StatusReportView(
            **_health(result.project).model_dump(),
            reported_by=principal.subject,
            reported_at=result.updated_at,
            tolerance_breaches=sorted(result.project.breached),
        )
        return CommandResponse(
            201,
            view.model_dump(mode="json"),
            {
                "ETag": etag(result.version),
                "Location": str(request.url_for("list_status_reports", project_id=project_id)),
            },
        )

    return await _change(
        runtime, request, principal, project_id, command, if_match, idempotency_key, shape=shape
    )


@router.get(
    "/projects/{project_id}/status-reports",
    response_model=list[StatusReportView],
    tags=["status"],
    summary="The project's status reports, oldest first",
    responses={**PROBLEMS, 404: {"description": "No such project"}},
)
async def list_status_reports(
    project_id: UUID, principal: AnyRole, runtime: Runtime
) -> list[StatusReportView]:
    async with _unit_of_work(runtime, principal) as uow:
        reports = await handlers.project_events(project_id, StatusReported, uow)
        breaches = await handlers.project_events(project_id, ToleranceBreached, uow)
    breached_by_report: dict[UUID, list[str]] = {}
    for breach, _ in breaches:
        breached_by_report.setdefault(breach.report_id, []).append(breach.dimension)
    return [
        StatusReportView(
            report_id=event.report_id,
            overall=event.overall,
            schedule=event.schedule,
            cost=event.cost,
            scope=event.scope,
            summary=event.summary,
            forecast_cost=_money_body(event.forecast_cost),
            forecast_end_date=event.forecast_end_date,
            reported_by=event.reported_by,
            reported_at=envelope.time,
            tolerance_breaches=breached_by_report.get(event.report_id, []),
        )
        for event, envelope in reports
    ]


@router.post(
    "/projects/{project_id}/raid",
    status_code=status.HTTP_201_CREATED,
    response_model=RaidItemView,
    tags=["raid"],
    summary="Log a risk, assumption, issue or dependency",
    responses=CHANGE_PROBLEMS,
)
async def add_raid_item(
    project_id: UUID,
    body: RaidItemBody,
    principal: RequesterOrPmoAdmin,
    runtime: Runtime,
    request: Request,
    if_match: IfMatch,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    item_id = uuid4()
    command = AddRaidItem(
        item_id=item_id,
        kind=body.kind,
        title=body.title,
        description=body.description,
        owner=body.owner,
        probability=body.probability,
        impact=body.impact,
        due_date=body.due_date,
    )
    return await _change(
        runtime,
        request,
        principal,
        project_id,
        command,
        if_match,
        idempotency_key,
        shape=_raid_shape(request, project_id, item_id, 201),
    )


@router.get(
    "/projects/{project_id}/raid",
    response_model=list[RaidItemView],
    tags=["raid"],
    summary="The project's RAID log",
    responses={**PROBLEMS, 404: {"description": "No such project"}},
)
async def list_raid_items(
    project_id: UUID, principal: AnyRole, runtime: Runtime, response: Response
) -> list[RaidItemView]:
    async with _unit_of_work(runtime, principal) as uow:
        result = await handlers.get_project(project_id, uow)
    response.headers["ETag"] = etag(result.version)
    return [_raid_view(item) for item in result.project.raid]


@router.patch(
    "/projects/{project_id}/raid/{item_id}",
    response_model=RaidItemView,
    tags=["raid"],
    summary="Change a RAID item (only the fields sent change)",
    responses=CHANGE_PROBLEMS,
)
async def update_raid_item(
    project_id: UUID,
    item_id: UUID,
    body: RaidItemPatchBody,
    principal: RequesterOrPmoAdmin,
    runtime: Runtime,
    request: Request,
    if_match: IfMatch,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return await _change(
        runtime,
        request,
        principal,
        project_id,
        UpdateRaidItem(item_id=item_id, changes=changes),
        if_match,
        idempotency_key,
        shape=_raid_shape(request, project_id, item_id, 200),
    )


@router.post(
    "/projects/{project_id}/raid/{item_id}/close",
    response_model=RaidItemView,
    tags=["raid"],
    summary="Close a RAID item with its resolution",
    responses=CHANGE_PROBLEMS,
)
async def close_raid_item(
    project_id: UUID,
    item_id: UUID,
    body: RaidCloseBody,
    principal: RequesterOrPmoAdmin,
    runtime: Runtime,
    request: Request,
    if_match: IfMatch,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await _change(
        runtime,
        request,
        principal,
        project_id,
        CloseRaidItem(item_id=item_id, resolution=body.resolution),
        if_match,
        idempotency_key,
        shape=_raid_shape(request, project_id, item_id, 200),
    )


def _raid_shape(
    request: Request, project_id: UUID, item_id: UUID, status_code: int
) -> Callable[[VersionedProject], CommandResponse]:
    def shape(result: VersionedProject) -> CommandResponse:
        item = result.project.raid_item(item_id)
        assert item is not None
        headers = {"ETag": etag(result.version)}
        if status_code == 201:
            headers["Location"] = str(request.url_for("list_raid_items", project_id=project_id))
        return CommandResponse(status_code, _raid_view(item).model_dump(mode="json"), headers)

    return shape


# --- Custom fields and scoring models ----------------------------------------------------


@router.get(
    "/custom-fields",
    response_model=CustomFieldsView,
    tags=["configuration"],
    summary="The custom fields project requests carry",
    responses=AUTH_PROBLEMS,
)
async def get_custom_fields(
    principal: AnyRole, runtime: Runtime, response: Response
) -> CustomFieldsView:
    async with _unit_of_work(runtime, principal) as uow:
        result = await handlers.get_custom_fields(uow)
    response.headers["ETag"] = etag(result.version)
    return _custom_fields_view(result.fields, result.version)


@router.put(
    "/custom-fields",
    response_model=CustomFieldsView,
    tags=["configuration"],
    summary="Replace the custom field definitions (If-Match once they exist)",
    responses=CONFIGURATION_PROBLEMS,
)
async def define_custom_fields(
    body: CustomFieldsBody,
    principal: PmoAdmin,
    runtime: Runtime,
    request: Request,
    if_match: OptionalIfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    expected = _optional_if_match(if_match)
    command = DefineCustomFields(
        fields=tuple(
            CustomFieldDefinition(
                key=field.key,
                label=field.label,
                type=field.type,
                required=field.required,
                choices=tuple(field.choices),
                max_length=field.max_length,
                description=field.description,
            )
            for field in body.fields
        )
    )

    async def run(uow: UnitOfWork) -> CommandResponse:
        result = await handlers.define_custom_fields(command, uow, expected=expected)
        return CommandResponse(
            200,
            _custom_fields_view(result.fields, result.version).model_dump(mode="json"),
            {"ETag": etag(result.version)},
        )

    return await _execute(runtime, request, principal, idempotency_key, run)


@router.get(
    "/scoring-models",
    response_model=list[ScoringModelView],
    tags=["scoring"],
    summary="Every scoring model at its latest version",
    responses=AUTH_PROBLEMS,
)
async def list_scoring_models(principal: AnyRole, runtime: Runtime) -> list[ScoringModelView]:
    async with _unit_of_work(runtime, principal) as uow:
        models = await handlers.list_scoring_models(uow)
    return [_model_view(model) for model in models]


@router.get(
    "/scoring-models/{model_key}",
    response_model=ScoringModelView,
    tags=["scoring"],
    summary="A scoring model (latest, or ?version=)",
    responses={**PROBLEMS, 404: {"description": "No such model or version"}},
)
async def get_scoring_model(
    model_key: ModelKey,
    principal: AnyRole,
    runtime: Runtime,
    response: Response,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> ScoringModelView:
    async with _unit_of_work(runtime, principal) as uow:
        result = await handlers.get_scoring_model(model_key, uow, version=version)
    response.headers["ETag"] = etag(result.version)
    return _model_view(result)


@router.put(
    "/scoring-models/{model_key}",
    response_model=ScoringModelView,
    tags=["scoring"],
    summary="Define a scoring model's next version (If-Match once it exists)",
    responses=CONFIGURATION_PROBLEMS,
)
async def define_scoring_model(
    model_key: ModelKey,
    body: ScoringModelBody,
    principal: PmoAdmin,
    runtime: Runtime,
    request: Request,
    if_match: OptionalIfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    expected = _optional_if_match(if_match)
    command = DefineScoringModel(
        key=model_key,
        name=body.name,
        method=body.method,
        description=body.description,
        criteria=tuple(
            WeightedCriterion(
                key=c.key, name=c.name, weight=c.weight, scale=c.scale, description=c.description
            )
            for c in body.criteria
        ),
        knockouts=tuple(
            KnockoutCriterion(key=k.key, name=k.name, description=k.description)
            for k in body.knockouts
        ),
    )

    async def run(uow: UnitOfWork) -> CommandResponse:
        result = await handlers.define_scoring_model(command, uow, expected=expected)
        return CommandResponse(
            200, _model_view(result).model_dump(mode="json"), {"ETag": etag(result.version)}
        )

    return await _execute(runtime, request, principal, idempotency_key, run)


# --- Personal data --------------------------------------------------------------------------

# How long an erasure waits for the keys topic, to learn every service's keys for the person.
KEYS_CATCH_UP_SECONDS = 10.0


@router.post(
    "/personal-data/erasures",
    status_code=status.HTTP_201_CREATED,
    response_model=ErasureView,
    tags=["personal data"],
    summary="Forget a person: destroy the keys that seal them in every service's events",
    description="The events stay as they are and their hash chains still verify; every "
    'value that named the person reads as "[erased]" from then on, in every '
    "service's reads and in rebuilt read models. The erasure is itself an event "
    "(PersonalDataErased) naming the destroyed keys, never the person.",
    responses={
        **PROBLEMS,
        404: {"description": "No event of any service names them"},
        503: {
            "description": "The keys topic could not be read in time: every "
            "service's keys for the person would not be known"
        },
    },
)
async def erase_personal_data(
    body: ErasureBody,
    principal: PmoAdmin,
    runtime: Runtime,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    personal_data = runtime.personal_data
    assert personal_data is not None, "intake seals personal data"
    if personal_data.follower is not None:
        try:
            async with asyncio.timeout(KEYS_CATCH_UP_SECONDS):
                await personal_data.follower.caught_up()
        except TimeoutError:
            raise ServiceUnavailable(
                "the personal keys topic cannot be read now; nothing was erased, try again"
            ) from None
    erasure_id, now = uuid4(), runtime.clock()

    async def run(uow: UnitOfWork) -> CommandResponse:
        refs = await handlers.erase_personal_data(
            body.subject, body.reason, uow, personal_data, erasure_id=erasure_id, now=now
        )
        view = ErasureView(erasure_id=erasure_id, refs=refs, reason=body.reason, erased_at=now)
        return CommandResponse(201, view.model_dump(mode="json"), {})

    return await _execute(runtime, request, principal, idempotency_key, run)


# --- API keys ------------------------------------------------------------------------------

KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="The key's id")]


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuedApiKeyView,
    tags=["api keys"],
    summary="Issue an API key for a machine client (shown once)",
    description="The response is the only place the key ever appears: Gatehouse keeps "
    "its SHA-256. Every service accepts it in the X-API-Key header once it has read "
    "the ApiKeyIssued event. Idempotency-Key is ignored here, since replaying the "
    "stored response would mean storing the key.",
    responses=PROBLEMS,
)
async def issue_api_key(
    body: ApiKeyBody, principal: PmoAdmin, runtime: Runtime, request: Request
) -> Response:
    issued = apikeys.new_secret()
    command = api_keys.IssueApiKey(
        key_id=issued.key_id,
        name=body.name,
        subject=body.subject or f"apikey:{issued.key_id}",
        roles=tuple(body.roles),
        secret_sha256=issued.sha256,
        issued_by=principal.subject,
        expires_at=body.expires_at,
        now=runtime.clock(),
    )

    async def run(uow: UnitOfWork) -> CommandResponse:
        row = await handlers.issue_api_key(command, uow)
        view = IssuedApiKeyView(**_api_key_view(row, runtime).model_dump(), key=issued.key)
        location = str(request.url_for("get_api_key", key_id=issued.key_id))
        return CommandResponse(
            201, view.model_dump(mode="json"), {"Location": location, "Cache-Control": "no-store"}
        )

    return await _execute(runtime, request, principal, None, run)


@router.get(
    "/api-keys",
    response_model=list[ApiKeyView],
    tags=["api keys"],
    summary="Every API key, newest first (never the keys themselves)",
    responses=AUTH_PROBLEMS,
)
async def list_api_keys(principal: AuditorOrPmoAdmin, runtime: Runtime) -> list[ApiKeyView]:
    async with _unit_of_work(runtime, principal) as uow:
        rows = await handlers.list_api_keys(uow)
    return [_api_key_view(row, runtime) for row in rows]


@router.get(
    "/api-keys/{key_id}",
    response_model=ApiKeyView,
    tags=["api keys"],
    summary="One API key",
    responses={**PROBLEMS, 404: {"description": "No such key"}},
)
async def get_api_key(key_id: KeyId, principal: AuditorOrPmoAdmin, runtime: Runtime) -> ApiKeyView:
    async with _unit_of_work(runtime, principal) as uow:
        return _api_key_view(await handlers.get_api_key(key_id, uow), runtime)


@router.post(
    "/api-keys/{key_id}/revoke",
    response_model=ApiKeyView,
    tags=["api keys"],
    summary="Revoke an API key in every service",
    responses={
        **PROBLEMS,
        404: {"description": "No such key"},
        409: {"description": "The key is already revoked"},
    },
)
async def revoke_api_key(
    key_id: KeyId,
    body: RevokeApiKeyBody,
    principal: PmoAdmin,
    runtime: Runtime,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    command = api_keys.RevokeApiKey(reason=body.reason, revoked_by=principal.subject)

    async def run(uow: UnitOfWork) -> CommandResponse:
        row = await handlers.revoke_api_key(key_id, command, uow)
        return CommandResponse(200, _api_key_view(row, runtime).model_dump(mode="json"), {})

    return await _execute(runtime, request, principal, idempotency_key, run)


# --- Plumbing -----------------------------------------------------------------------------


def _unit_of_work(
    runtime: ServiceRuntime, principal: Principal
) -> AbstractAsyncContextManager[UnitOfWork]:
    return read_unit_of_work(runtime, registry_of_events, principal)


async def _execute(
    runtime: ServiceRuntime,
    request: Request,
    principal: Principal,
    idempotency_key: str | None,
    run: Callable[[UnitOfWork], Awaitable[CommandResponse]],
) -> Response:
    return await run_command(runtime, registry_of_events, request, principal, idempotency_key, run)


async def _change(
    runtime: ServiceRuntime,
    request: Request,
    principal: Principal,
    project_id: UUID,
    command: Command,
    if_match: str | None,
    idempotency_key: str | None,
    *,
    shape: Callable[[VersionedProject], CommandResponse] | None = None,
) -> Response:
    """A command on an existing project: If-Match, object-level checks, then the handler."""

    async def run(uow: UnitOfWork) -> CommandResponse:
        result = await handlers.change_project(
            project_id, command, uow, expected=parse_if_match(if_match), actor=_actor(principal)
        )
        return shape(result) if shape else _project_response(result)

    return await _execute(runtime, request, principal, idempotency_key, run)


def _optional_if_match(if_match: str | None) -> ExpectedVersion | None:
    return parse_if_match(if_match) if if_match is not None else None


def _actor(principal: Principal) -> Actor:
    return Actor(principal.subject, Role.PMO_ADMIN in principal.roles)


def _money(body: MoneyBody) -> Money:
    return Money(body.amount, body.currency)


def _money_body(money: Money) -> MoneyBody:
    return MoneyBody(amount=money.amount, currency=money.currency)


def _tolerances(body: TolerancesBody) -> Tolerances:
    return Tolerances(cost_percent=body.cost_percent, schedule_days=body.schedule_days)


def _project_response(
    result: VersionedProject, *, status_code: int = 200, location: str | None = None
) -> CommandResponse:
    headers = {"ETag": etag(result.version)}
    if location is not None:
        headers["Location"] = location
    return CommandResponse(status_code, _view(result).model_dump(mode="json"), headers)


def _score_view(project: Project) -> ScoreView:
    score = project.score
    assert score is not None
    return ScoreView(
        assessment_id=score.assessment_id,
        model_key=score.model_key,
        model_version=score.model_version,
        score=score.value,
        knocked_out=score.knocked_out,
        failed_knockouts=list(score.failed_knockouts),
        mandatory=score.mandatory,
        mandatory_reason=score.mandatory_reason,
    )


def _health(project: Project) -> HealthView:
    report = project.status_report
    assert report is not None
    return HealthView(
        report_id=report.report_id,
        overall=report.overall,
        schedule=report.schedule,
        cost=report.cost,
        scope=report.scope,
        summary=report.summary,
        forecast_cost=_money_body(report.forecast_cost),
        forecast_end_date=report.forecast_end_date,
    )


def _raid_view(item: RaidItem) -> RaidItemView:
    return RaidItemView(
        id=item.id,
        kind=item.kind,
        title=item.title,
        description=item.description,
        owner=item.owner,
        probability=item.probability,
        impact=item.impact,
        due_date=item.due_date,
        open=item.open,
        resolution=item.resolution,
    )


def _view(result: VersionedProject) -> ProjectView:
    project = result.project
    baseline = None
    if project.baseline_cost is not None or project.baseline_end_date is not None:
        baseline = BaselineView(
            cost=_money_body(project.baseline_cost) if project.baseline_cost else None,
            end_date=project.baseline_end_date,
        )
    return ProjectView(
        id=project.id,
        title=project.title,
        description=project.description,
        sponsor=project.sponsor,
        business_unit=project.business_unit,
        project_type=project.project_type,
        estimated_cost=_money_body(project.estimated_cost),
        requested_by=project.requested_by,
        start_date=project.start_date,
        target_date=project.target_date,
        expected_benefits=project.expected_benefits,
        risk_level=project.risk_level,
        strategic_objectives=list(project.strategic_objectives),
        custom=dict(project.custom),
        tolerances=TolerancesBody(
            cost_percent=project.tolerances.cost_percent,
            schedule_days=project.tolerances.schedule_days,
        ),
        status=project.status.value,
        stage=project.stage.value if project.stage else None,
        baseline=baseline,
        score=_score_view(project) if project.score else None,
        health=_health(project) if project.status_report else None,
        tolerance_breaches=sorted(project.breached),
        open_raid_items=sum(1 for item in project.raid if item.open),
        allowed_actions=allowed_actions(project),
        created_at=result.created_at,
        updated_at=result.updated_at,
        version=result.version,
    )


def _summary(row: Any) -> ProjectSummary:
    return ProjectSummary(
        id=row["project_id"],
        title=row["title"],
        status=row["status"],
        stage=row["stage"],
        business_unit=row["business_unit"],
        project_type=row["project_type"],
        sponsor=row["sponsor"],
        requested_by=row["requested_by"],
        estimated_cost=MoneyBody(
            amount=row["estimated_cost_amount"], currency=row["estimated_cost_currency"]
        ),
        target_date=row["target_date"],
        score=row["score"],
        scoring_model=row["scoring_model"],
        knocked_out=row["knocked_out"],
        mandatory=row["mandatory"],
        rag=row["rag"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )


def _custom_fields_view(fields: Any, version: int) -> CustomFieldsView:
    return CustomFieldsView(
        fields=[
            as_stored(
                CustomFieldBody,
                key=f.key,
                label=f.label,
                type=f.type,
                required=f.required,
                choices=list(f.choices),
                max_length=f.max_length,
                description=f.description,
            )
            for f in fields
        ],
        version=version,
    )


def _model_view(result: VersionedModel) -> ScoringModelView:
    model = result.model
    return as_stored(
        ScoringModelView,
        key=model.key,
        version=model.version,
        name=model.name,
        description=model.description,
        method=model.method,
        criteria=[
            as_stored(
                CriterionBody,
                key=c.key,
                name=c.name,
                weight=c.weight,
                scale=c.scale,
                description=c.description,
            )
            for c in model.criteria
        ],
        knockouts=[
            as_stored(KnockoutBody, key=k.key, name=k.name, description=k.description)
            for k in model.knockouts
        ],
    )


def _api_key_view(row: Any, runtime: ServiceRuntime) -> ApiKeyView:
    expired = row.expires_at is not None and row.expires_at <= runtime.clock()
    state: Literal["active", "expired", "revoked"] = (
        "revoked" if row.revoked_at is not None else "expired" if expired else "active"
    )
    return ApiKeyView(
        id=row.key_id,
        name=row.name,
        subject=row.subject,
        roles=list(row.roles),
        status=state,
        issued_by=row.issued_by,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        revoke_reason=row.revoke_reason,
    )
