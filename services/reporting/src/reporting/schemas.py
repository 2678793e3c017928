"""Response bodies of the reporting API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

__all__ = [
    "AuditPageView",
    "CycleTimeView",
    "DecisionRecordView",
    "GateWaitView",
    "KpisView",
    "Money",
    "OpenGateView",
    "PartitionView",
    "PortfolioEntry",
    "PortfolioView",
    "ProjectReportView",
    "ProjectionView",
    "RebuildView",
    "SeatLoadView",
    "SourceVerification",
    "TimelineEntry",
    "TimelinePageView",
    "VerificationView",
    "WaitingReviewView",
]

CostByCurrency = dict[str, Decimal]


class Money(BaseModel):
    amount: Decimal
    currency: str


class PortfolioEntry(BaseModel):
    id: UUID
    title: str
    sponsor: str
    business_unit: str
    project_type: str
    estimated_cost: Money | None
    demand_status: str | None
    stage: str | None
    rag: str | None
    score: Decimal | None
    mandatory: bool
    requested_by: str
    requested_at: datetime | None


class GateWaitView(BaseModel):
    project_id: UUID
    title: str
    review_id: UUID
    gate: str
    gate_name: str
    waiting_since: datetime
    waiting_hours: float
    sla_due_at: datetime
    overdue: bool
    escalated: bool


class PortfolioView(BaseModel):
    as_of: datetime | None = Field(description="The moment answered for; null for now")
    count: int
    count_by_status: dict[str, int]
    count_by_stage: dict[str, int]
    count_by_rag: dict[str, int]
    count_by_business_unit: dict[str, int]
    count_by_project_type: dict[str, int]
    cost_by_currency: CostByCurrency
    cost_by_status: dict[str, CostByCurrency]
    cost_by_stage: dict[str, CostByCurrency]
    cost_by_business_unit: dict[str, CostByCurrency]
    cost_by_project_type: dict[str, CostByCurrency]
    pipeline: list[PortfolioEntry] = Field(
        description="Requests in the pipeline, mandatory first, then by score (unscored last)"
    )
    waiting_at_gate: list[GateWaitView] = Field(
        description="Projects with an open gate review, longest waiting first"
    )
    projects: list[PortfolioEntry]


class OpenGateView(BaseModel):
    review_id: UUID
    gate: str
    gate_name: str
    opened_at: datetime
    sla_due_at: datetime
    escalated: bool


class ProjectReportView(BaseModel):
    id: UUID
    as_of: datetime | None
    title: str
    description: str
    sponsor: str
    requested_by: str
    business_unit: str
    project_type: str
    estimated_cost: Money | None
    demand_status: str | None
    stage: str | None
    requested_at: datetime | None
    approved_at: datetime | None
    closed_at: datetime | None
    score: Decimal | None
    scoring_model: str | None
    mandatory: bool
    knocked_out: bool
    rag: str | None
    health: dict[str, str | None]
    tolerance_breaches: list[str]
    open_raid_items: int
    passed_gates: list[str]
    open_gate: OpenGateView | None
    last_decision: dict[str, Any] | None
    open_conditions: int
    breached_conditions: int
    escalations: int
    updated_at: datetime | None
    events: int


class TimelineEntry(BaseModel):
    event_id: UUID
    time: datetime
    source: str
    type: str
    actor: str | None
    stream_id: str
    stream_version: int
    correlation_id: str | None
    causation_id: str | None
    data: dict[str, Any]


class TimelinePageView(BaseModel):
    project_id: UUID
    items: list[TimelineEntry]
    next_cursor: str | None


class CycleTimeView(BaseModel):
    decided: int
    median_hours: float
    p90_hours: float


class KpisView(BaseModel):
    gate_cycle_time: dict[str, CycleTimeView]
    decided: int
    outcomes: dict[str, int]
    rates: dict[str, float] = Field(description="Each outcome's share of decided reviews")
    escalations: int
    decided_after_sla: int
    open_past_sla: int
    open_reviews: int
    conditions: dict[str, int]
    throughput: dict[str, dict[str, int]] = Field(
        description="Per month (UTC): requested, approved, closed, gates_decided"
    )
    tolerance_breaches_raised: int
    projects_in_breach: int


class WaitingReviewView(BaseModel):
    review_id: UUID
    project_id: UUID
    gate: str
    age_hours: float
    overdue: bool


class SeatLoadView(BaseModel):
    seat: str
    open_reviews: int
    oldest_hours: float
    reviews: list[WaitingReviewView]


class DecisionRecordView(BaseModel):
    event_id: UUID
    kind: str = Field(description="vote, revision or decision")
    time: datetime
    review_id: UUID
    project_id: UUID
    gate: str
    approver: str | None
    cast_by: str | None
    decision: str
    rationale: str
    detail: dict[str, Any]


class AuditPageView(BaseModel):
    items: list[DecisionRecordView]
    next_cursor: str | None


class SourceVerification(BaseModel):
    source: str
    events_checked: int
    streams_checked: int
    log_checked: bool = Field(
        description="Whether the running log heads were checked too "
        "(only once reporting has caught up with every partition)"
    )
    log_head: str | None
    intact: bool
    first_break: dict[str, Any] | None


class VerificationView(BaseModel):
    intact: bool
    events_checked: int
    streams_checked: int
    first_break: dict[str, Any] | None
    sources: list[SourceVerification]


class PartitionView(BaseModel):
    topic: str
    partition: int
    next_offset: int | None
    end_offset: int | None
    lag_events: int | None
    lag_seconds: float
    rebuild: RebuildView | None = None
    last_event_at: datetime | None


class RebuildView(BaseModel):
    state: str = Field(description="idle, rebuilding, swapping, done or failed")
    read: int = Field(description="Records read from the topics so far")
    applied: int
    skipped: int = Field(description="Duplicates, early copies and dead-lettered events")
    total: int | None = Field(description="Records on the topics when the rebuild began")
    started_at: datetime | None
    finished_at: datetime | None
    events_per_second: float | None
    error: str | None


class ProjectionView(BaseModel):
    name: str
    status: str
    events_applied: int
    partitions: list[PartitionView]
    lag_events: int | None
    lag_seconds: float
    rebuild: RebuildView | None = None
