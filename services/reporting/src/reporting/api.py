"""Reporting's HTTP routes: read models for leadership, auditors and dashboards."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import StringConstraints, WithJsonSchema
from sqlalchemy import func, select

from gatehouse.auth import Role
from gatehouse.errors import Conflict, InvalidInput, NotFound
from gatehouse.events.visibility import visible_data, visible_types
from gatehouse.eventstore.chain import ChainVerifier
from gatehouse.eventstore.schema import consumer_offsets
from gatehouse.identity import PersonFilter
from gatehouse.json_types import AnyText, Instant
from gatehouse.messaging.consumer import TrackingConsumer
from gatehouse.runtime import ServiceRuntime
from gatehouse.web import AnyRole, AuditorOrPmoAdmin, PmoAdmin, Runtime
from reporting import kpis, queries
from reporting.portfolio import GateWait, summarise
from reporting.queries import DecisionFilter
from reporting.rebuild import Rebuilder, RebuildStatus
from reporting.schemas import (
    AuditPageView,
    CycleTimeView,
    DecisionRecordView,
    GateWaitView,
    KpisView,
    Money,
    OpenGateView,
    PartitionView,
    PortfolioEntry,
    PortfolioView,
    ProjectionView,
    ProjectReportView,
    RebuildView,
    SeatLoadView,
    SourceVerification,
    TimelineEntry,
    TimelinePageView,
    VerificationView,
    WaitingReviewView,
)
from reporting.settings import ReportingSettings
from reporting.stream import EventFilter, LiveLog, sse_stream
from reporting.tables import event_log
from reporting.views import ProjectView

__all__ = ["router"]

router = APIRouter()

OUTCOMES = ("go", "conditional_go", "hold", "recycle", "kill")
RECORD_KINDS = ("vote", "revision", "decision")


def one_of(values: tuple[str, ...]) -> WithJsonSchema:
    """Documents a string query value that is checked against ``values`` in the route."""
    return WithJsonSchema({"type": "string", "enum": list(values)})


EventTypeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.]{0,199}$")]
AsOf = Annotated[
    Instant | None,
    Query(
        description="An RFC 3339 time with its offset: answer "
        "as the system stood then, replayed from the log"
    ),
]
ANYONE = (Role.REQUESTER, Role.APPROVER, Role.PMO_ADMIN, Role.AUDITOR)
ProjectionName = Annotated[
    str, Path(pattern=r"^[a-z][a-z0-9_.-]{0,99}$", description="As GET /v1/projections names it")
]
AUTH_PROBLEMS: dict[int | str, dict[str, Any]] = {  # for routes that take no input
    401: {"description": "Missing or invalid bearer token or API key"},
    403: {"description": "The caller lacks the role"},
}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **AUTH_PROBLEMS,
    422: {"description": "Invalid input, naming the field"},
}
VISIBILITY = (
    "Each event goes to the caller as their roles may read it: whole, in part "
    "(some of its fields) or not at all. Votes, delegations, API keys and personal "
    "data erasures are for pmo_admin and auditor; requesters and approvers see a "
    "GateDecided without the votes it rests on; no one gets an ApiKeyIssued's "
    "secret_sha256."
)
CSV_COLUMNS = (
    "time",
    "kind",
    "project_id",
    "gate",
    "review_id",
    "approver",
    "cast_by",
    "decision",
    "rationale",
    "event_id",
    "detail",
)


# --- Portfolio and projects -----------------------------------------------------------------


@router.get(
    "/portfolio",
    response_model=PortfolioView,
    tags=["portfolio"],
    summary="The portfolio: counts and cost by status, stage, RAG, business unit and "
    "type; the ranked pipeline; projects waiting at a gate",
    responses=PROBLEMS,
)
async def get_portfolio(principal: AnyRole, runtime: Runtime, as_of: AsOf = None) -> PortfolioView:
    async with runtime.database.read() as connection:
        if as_of is None:
            found = await queries.all_views(connection)
        else:
            found = list(
                (
                    await queries.views_as_of(
                        connection, as_of, personal_data=runtime.personal_data
                    )
                ).values()
            )
    portfolio = summarise(found, as_of or runtime.clock())
    return PortfolioView(
        as_of=as_of,
        count=len(portfolio.projects),
        count_by_status=portfolio.count_by_status,
        count_by_stage=portfolio.count_by_stage,
        count_by_rag=portfolio.count_by_rag,
        count_by_business_unit=portfolio.count_by_business_unit,
        count_by_project_type=portfolio.count_by_project_type,
        cost_by_currency=portfolio.cost_by_currency,
        cost_by_status=portfolio.cost_by_status,
        cost_by_stage=portfolio.cost_by_stage,
        cost_by_business_unit=portfolio.cost_by_business_unit,
        cost_by_project_type=portfolio.cost_by_project_type,
        pipeline=[_entry(view) for view in portfolio.pipeline],
        waiting_at_gate=[_wait(wait) for wait in portfolio.waiting_at_gate],
        projects=[_entry(view) for view in portfolio.projects],
    )


@router.get(
    "/projects/{project_id}",
    response_model=ProjectReportView,
    tags=["projects"],
    summary="A project's current view across intake and governance (or as_of)",
    responses={
        **PROBLEMS,
        404: {"description": "Reporting has seen no event of this project (by then)"},
    },
)
async def get_project(
    project_id: UUID, principal: AnyRole, runtime: Runtime, as_of: AsOf = None
) -> ProjectReportView:
    async with runtime.database.read() as connection:
        if as_of is None:
            view = await queries.project_view(connection, project_id)
        else:
            view = (
                await queries.views_as_of(
                    connection, as_of, project_id, personal_data=runtime.personal_data
                )
            ).get(project_id)
    if view is None:
        when = f" by {as_of.isoformat()}" if as_of else ""
        raise NotFound(f"reporting has seen no event of project {project_id}{when}")
    return _project(view, as_of)


@router.get(
    "/projects/{project_id}/timeline",
    response_model=TimelinePageView,
    tags=["projects"],
    summary="Every event about the project from every service, "
    "in order, with actor and time, as far as the caller's roles may read it",
    description=VISIBILITY,
    responses={**PROBLEMS, 404: {"description": "Reporting has seen no event of this project"}},
)
async def get_timeline(
    project_id: UUID,
    principal: AnyRole,
    runtime: Runtime,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> TimelinePageView:
    async with runtime.database.read() as connection:
        page = await queries.timeline_page(
            connection, project_id, types=visible_types(principal.roles), cursor=cursor, limit=limit
        )
        entries = await queries.opened(
            connection, [queries.envelope_of(row) for row in page.rows], runtime.personal_data
        )
    if not page.rows and cursor is None:
        raise NotFound(f"reporting has seen no event of project {project_id}")
    items = []
    for entry in entries:
        data = visible_data(entry.type, entry.data, principal.roles)
        assert data is not None  # the page holds only types the caller may read
        items.append(
            TimelineEntry(
                event_id=entry.id,
                time=entry.time,
                source=entry.source,
                type=entry.type,
                actor=entry.actor,
                stream_id=entry.stream_id,
                stream_version=entry.stream_version,
                correlation_id=entry.correlation_id,
                causation_id=entry.causation_id,
                data=data,
            )
        )
    return TimelinePageView(project_id=project_id, next_cursor=page.next_cursor, items=items)


# --- KPIs and workload ----------------------------------------------------------------------


@router.get(
    "/kpis",
    response_model=KpisView,
    tags=["kpis"],
    summary="Gate cycle times, decision rates, SLA, conditions, throughput, tolerance breaches",
    responses=AUTH_PROBLEMS,
)
async def get_kpis(principal: AnyRole, runtime: Runtime) -> KpisView:
    async with runtime.database.read() as connection:
        reviews = [dict(row._mapping) for row in await queries.review_rows(connection)]
        conditions = [dict(row._mapping) for row in await queries.condition_rows(connection)]
        found = await queries.all_views(connection)
    figures = kpis.compute(reviews, conditions, found, runtime.clock())
    return KpisView(
        gate_cycle_time={
            gate: CycleTimeView(
                decided=c.decided, median_hours=c.median_hours, p90_hours=c.p90_hours
            )
            for gate, c in figures.gate_cycle_time.items()
        },
        decided=figures.decided,
        outcomes=figures.outcomes,
        rates=figures.rates,
        escalations=figures.escalations,
        decided_after_sla=figures.decided_after_sla,
        open_past_sla=figures.open_past_sla,
        open_reviews=figures.open_reviews,
        conditions=figures.conditions,
        throughput=figures.throughput,
        tolerance_breaches_raised=figures.tolerance_breaches_raised,
        projects_in_breach=figures.projects_in_breach,
    )


@router.get(
    "/workload",
    response_model=list[SeatLoadView],
    tags=["kpis"],
    summary="Approver workload: open reviews waiting for each seat, and their age",
    responses=AUTH_PROBLEMS,
)
async def get_workload(principal: AnyRole, runtime: Runtime) -> list[SeatLoadView]:
    async with runtime.database.read() as connection:
        reviews = [dict(row._mapping) for row in await queries.review_rows(connection)]
    return [
        SeatLoadView(
            seat=load.seat,
            open_reviews=len(load.reviews),
            oldest_hours=load.oldest_hours,
            reviews=[
                WaitingReviewView(
                    review_id=r.review_id,
                    project_id=r.project_id,
                    gate=r.gate,
                    age_hours=r.age_hours,
                    overdue=r.overdue,
                )
                for r in load.reviews
            ],
        )
        for load in kpis.workload(reviews, runtime.clock())
    ]


# --- Audit ----------------------------------------------------------------------------------


@router.get(
    "/audit/decisions",
    response_model=AuditPageView,
    tags=["audit"],
    summary="Every vote and gate decision; Accept: text/csv exports all that match",
    responses={
        **PROBLEMS,
        200: {
            "content": {"text/csv": {}},
            "description": ("A page of records, or with Accept: text/csv every matching record"),
        },
    },
)
async def audit_decisions(
    principal: AuditorOrPmoAdmin,
    runtime: Runtime,
    project_id: UUID | None = None,
    gate: Annotated[AnyText | None, Query(max_length=64)] = None,
    approver: Annotated[
        PersonFilter | None,
        Query(max_length=200, description="Who holds the seat or cast the vote"),
    ] = None,
    outcome: Annotated[
        list[Annotated[str, one_of(OUTCOMES)]] | None,
        Query(description="go, conditional_go, hold, recycle, kill; repeat for several"),
    ] = None,
    kind: Annotated[
        list[Annotated[str, one_of(RECORD_KINDS)]] | None,
        Query(description="vote, revision, decision"),
    ] = None,
    since: Annotated[Instant | None, Query(description="From (inclusive), RFC 3339")] = None,
    until: Annotated[Instant | None, Query(description="To (exclusive), RFC 3339")] = None,
    sort: Annotated[
        Literal["time", "-time"], Query(description="Oldest first (default) or newest first")
    ] = "time",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    for name, values, allowed in (("outcome", outcome, OUTCOMES), ("kind", kind, RECORD_KINDS)):
        for value in values or ():
            if value not in allowed:
                raise InvalidInput.for_field(
                    name, f"{value!r} is not one of {', '.join(allowed)}", location="query"
                )
    where = DecisionFilter(
        project_id=project_id,
        gate=gate,
        approver=approver,
        outcome=outcome or (),
        kind=kind or (),
        since=since,
        until=until,
        newest_first=sort == "-time",
    )
    if accept is not None and "text/csv" in accept:
        return StreamingResponse(
            _csv(runtime, where),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="gate-decisions.csv"'},
        )
    async with runtime.database.read() as connection:
        page = await queries.decision_page(connection, where, cursor=cursor, limit=limit)
    body = AuditPageView(items=[_decision(row) for row in page.rows], next_cursor=page.next_cursor)
    return Response(body.model_dump_json(), media_type="application/json")


async def _csv(runtime: ServiceRuntime, where: DecisionFilter) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    async with runtime.database.read() as connection:
        async for row in queries.decisions(connection, where):
            writer.writerow(
                [
                    row.time.isoformat(),
                    row.kind,
                    row.project_id,
                    row.gate,
                    row.review_id,
                    row.approver or "",
                    row.cast_by or "",
                    row.decision,
                    row.rationale,
                    row.event_id,
                    json.dumps(row.detail, sort_keys=True),
                ]
            )
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()


@router.get(
    "/audit/verify",
    response_model=VerificationView,
    tags=["audit"],
    summary="Re-check the hash chains (and log heads) of every consumed event",
    responses=AUTH_PROBLEMS,
)
async def verify_chains(principal: AuditorOrPmoAdmin, runtime: Runtime) -> VerificationView:
    """Every stream's chain is checked; the producers' running log heads too once reporting has
    caught up (before that, events still in flight would look missing). ``gatehouse verify``
    does the same straight from the Kafka topics."""
    stored = await _stored_offsets(runtime)
    statuses = [
        view for consumer in runtime.consumers for view in _partition_views(consumer, stored)
    ]
    caught_up = bool(statuses) and all(view.lag_events == 0 for view in statuses)
    verifiers: dict[str, ChainVerifier] = {}
    async with runtime.database.read() as connection:
        async for row in queries.whole_log(connection):
            verifier = verifiers.setdefault(row.source, ChainVerifier(check_log=caught_up))
            verifier.add(queries.envelope_of(row))
    sources = []
    for source, verifier in sorted(verifiers.items()):
        report = verifier.report()
        first = report.first_break
        sources.append(
            SourceVerification(
                source=source,
                events_checked=report.events_checked,
                streams_checked=report.streams_checked,
                log_checked=caught_up,
                log_head=report.log_head,
                intact=report.intact,
                first_break=first.as_dict() if first else None,
            )
        )
    first_break = next((s.first_break for s in sources if s.first_break), None)
    return VerificationView(
        intact=first_break is None,
        events_checked=sum(s.events_checked for s in sources),
        streams_checked=sum(s.streams_checked for s in sources),
        first_break=first_break,
        sources=sources,
    )


# --- Projections ----------------------------------------------------------------------------


@router.get(
    "/projections",
    response_model=list[ProjectionView],
    tags=["operations"],
    summary="Each projection's position per partition, its lag and status",
    responses=AUTH_PROBLEMS,
)
async def get_projections(
    request: Request, principal: AnyRole, runtime: Runtime
) -> list[ProjectionView]:
    async with runtime.database.read() as connection:
        applied = int(
            (await connection.execute(select(func.count()).select_from(event_log))).scalar_one()
        )
    stored = await _stored_offsets(runtime)
    result = []
    for consumer in runtime.consumers:
        partitions = _partition_views(consumer, stored)
        lags = [p.lag_events for p in partitions]
        total = None if not partitions or None in lags else sum(p or 0 for p in lags)
        state = "starting" if not consumer.started.is_set() else "catching up" if total else "live"
        rebuilder: Rebuilder | None = request.app.state.rebuilders.get(consumer.name)
        result.append(
            ProjectionView(
                name=consumer.name,
                status="rebuilding" if rebuilder and rebuilder.status.running else state,
                events_applied=applied,
                partitions=partitions,
                lag_events=total,
                lag_seconds=max((p.lag_seconds for p in partitions), default=0.0),
                rebuild=_rebuild_view(rebuilder.status) if rebuilder else None,
            )
        )
    return result


@router.post(
    "/admin/projections/{name}/rebuild",
    status_code=202,
    response_model=RebuildView,
    tags=["operations"],
    summary="Rebuild a projection from the start of the topics into shadow tables, "
    "then swap: the live one keeps serving meanwhile (progress in /v1/projections)",
    responses={
        **PROBLEMS,
        404: {"description": "No such projection"},
        409: {"description": "A rebuild of it is already running"},
    },
)
async def rebuild_projection(
    name: ProjectionName, request: Request, principal: PmoAdmin, response: Response
) -> RebuildView:
    rebuilder: Rebuilder | None = request.app.state.rebuilders.get(name)
    if rebuilder is None:
        raise NotFound(f"there is no projection {name!r}; see GET /v1/projections")
    if not rebuilder.start():
        raise Conflict(f"projection {name} is already being rebuilt", rule="one-rebuild-at-a-time")
    response.headers["Location"] = str(request.url_for("get_projections"))
    return _rebuild_view(rebuilder.status)


# --- Live events ----------------------------------------------------------------------------


@router.get(
    "/events/stream",
    tags=["live"],
    response_class=StreamingResponse,
    summary="Server-Sent Events of every consumed event the caller's roles may read "
    "(or filtered); resumable with Last-Event-ID",
    description=VISIBILITY,
    responses={
        **PROBLEMS,
        200: {
            "content": {"text/event-stream": {}},
            "description": "An endless stream: `id` (resume with Last-Event-ID), `event` "
            "(the event's short type) and `data` (JSON); heartbeat comments when idle",
        },
    },
)
async def event_stream(
    request: Request,
    principal: AnyRole,
    runtime: Runtime,
    type_: Annotated[
        list[EventTypeName] | None,
        Query(
            alias="type",
            description="Event types, full (gatehouse.governance.GateDecided) or "
            "short (GateDecided); repeat for several",
        ),
    ] = None,
    project_id: UUID | None = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description=("Resume after this event id"))
    ] = None,
) -> StreamingResponse:
    live: LiveLog = request.app.state.live_log
    if last_event_id is None:
        after = await live.head()
    elif last_event_id.strip().isascii() and last_event_id.strip().isdigit():
        after = int(last_event_id.strip())
    else:
        raise InvalidInput.for_field(
            "Last-Event-ID", "must be an event id this stream sent", location="header"
        )
    settings = runtime.settings
    assert isinstance(settings, ReportingSettings)
    frames = sse_stream(
        live,
        after=after,
        where=EventFilter(types=type_ or (), project_id=project_id),
        roles=principal.roles,
        heartbeat_seconds=settings.stream_heartbeat_seconds,
        gap_grace_seconds=settings.stream_gap_grace_seconds,
    )
    return StreamingResponse(
        frames,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --- Shaping --------------------------------------------------------------------------------


async def _stored_offsets(runtime: ServiceRuntime) -> dict[tuple[str, str, int], int]:
    async with runtime.database.read() as connection:
        return {
            (row.consumer, row.topic, row.partition): row.next_offset
            for row in await connection.execute(select(consumer_offsets))
        }


def _partition_views(
    consumer: TrackingConsumer, stored: dict[tuple[str, str, int], int]
) -> list[PartitionView]:
    """Where the consumer stands on each partition: its own count once it has applied a
    batch there, the stored offset before that."""
    views = []
    for status in consumer.partitions():
        next_offset = status.next_offset
        if next_offset is None:
            next_offset = stored.get((consumer.name, status.topic, status.partition), 0)
        lag = max(status.end_offset - next_offset, 0) if status.end_offset is not None else None
        views.append(
            PartitionView(
                topic=status.topic,
                partition=status.partition,
                next_offset=next_offset,
                end_offset=status.end_offset,
                lag_events=lag,
                lag_seconds=status.lag_seconds if lag else 0.0,
                last_event_at=status.last_event_at,
            )
        )
    return views


def _rebuild_view(status: RebuildStatus) -> RebuildView:
    return RebuildView(
        state=status.state,
        read=status.read,
        applied=status.applied,
        skipped=status.skipped,
        total=status.total,
        started_at=status.started_at,
        finished_at=status.finished_at,
        events_per_second=status.events_per_second,
        error=status.error,
    )


def _money(view: ProjectView) -> Money | None:
    cost = view.estimated_cost
    return Money(amount=cost.amount, currency=cost.currency) if cost else None


def _entry(view: ProjectView) -> PortfolioEntry:
    return PortfolioEntry(
        id=view.project_id,
        title=view.title,
        sponsor=view.sponsor,
        business_unit=view.business_unit,
        project_type=view.project_type,
        estimated_cost=_money(view),
        demand_status=view.demand_status,
        stage=view.stage,
        rag=view.rag,
        score=view.score,
        mandatory=view.mandatory,
        requested_by=view.requested_by,
        requested_at=view.requested_at,
    )


def _wait(wait: GateWait) -> GateWaitView:
    gate = wait.view.open_gate
    assert gate is not None
    return GateWaitView(
        project_id=wait.view.project_id,
        title=wait.view.title,
        review_id=gate.review_id,
        gate=gate.gate,
        gate_name=gate.gate_name,
        waiting_since=gate.opened_at,
        waiting_hours=wait.waiting_hours,
        sla_due_at=gate.sla_due_at,
        overdue=wait.overdue,
        escalated=gate.escalated,
    )


def _project(view: ProjectView, as_of: datetime | None) -> ProjectReportView:
    gate = view.open_gate
    decision = view.last_decision
    return ProjectReportView(
        id=view.project_id,
        as_of=as_of,
        title=view.title,
        description=view.description,
        sponsor=view.sponsor,
        requested_by=view.requested_by,
        business_unit=view.business_unit,
        project_type=view.project_type,
        estimated_cost=_money(view),
        demand_status=view.demand_status,
        stage=view.stage,
        requested_at=view.requested_at,
        approved_at=view.approved_at,
        closed_at=view.closed_at,
        score=view.score,
        scoring_model=view.scoring_model,
        mandatory=view.mandatory,
        knocked_out=view.knocked_out,
        rag=view.rag,
        health={
            "schedule": view.schedule_health,
            "cost": view.cost_health,
            "scope": view.scope_health,
        },
        tolerance_breaches=list(view.tolerance_breaches),
        open_raid_items=len(view.open_raid_items),
        passed_gates=list(view.passed_gates),
        open_gate=OpenGateView(
            review_id=gate.review_id,
            gate=gate.gate,
            gate_name=gate.gate_name,
            opened_at=gate.opened_at,
            sla_due_at=gate.sla_due_at,
            escalated=gate.escalated,
        )
        if gate
        else None,
        last_decision={
            "review_id": str(decision.review_id),
            "gate": decision.gate,
            "outcome": decision.outcome,
            "decided_at": decision.decided_at.isoformat(),
            "decided_by": list(decision.decided_by),
        }
        if decision
        else None,
        open_conditions=len(view.open_conditions),
        breached_conditions=len(view.breached_conditions),
        escalations=view.escalations,
        updated_at=view.updated_at,
        events=view.events,
    )


def _decision(row: Any) -> DecisionRecordView:
    return DecisionRecordView(
        event_id=row.event_id,
        kind=row.kind,
        time=row.time,
        review_id=row.review_id,
        project_id=row.project_id,
        gate=row.gate,
        approver=row.approver,
        cast_by=row.cast_by,
        decision=row.decision,
        rationale=row.rationale,
        detail=row.detail,
    )
