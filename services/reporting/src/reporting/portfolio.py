"""The portfolio as leadership reads it, computed from project views. Plain Python.

The live answer and a time-travel answer (``as_of``) run the same function over views from the
read model or rebuilt from the log, so they cannot disagree on what a number means.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from reporting.views import ProjectView

__all__ = ["PIPELINE_STATUSES", "GateWait", "Portfolio", "summarise"]

# Requests still in the pipeline: ranked by score for the PMO's next decisions.
PIPELINE_STATUSES = ("submitted", "screening", "qualified", "deferred")


@dataclass(frozen=True)
class GateWait:
    view: ProjectView
    waiting_hours: float
    overdue: bool


@dataclass(frozen=True)
class Portfolio:
    projects: list[ProjectView]
    count_by_status: dict[str, int]
    count_by_stage: dict[str, int]
    count_by_rag: dict[str, int]
    count_by_business_unit: dict[str, int]
    count_by_project_type: dict[str, int]
    cost_by_currency: dict[str, Decimal]
    cost_by_status: dict[str, dict[str, Decimal]]
    cost_by_stage: dict[str, dict[str, Decimal]]
    cost_by_business_unit: dict[str, dict[str, Decimal]]
    cost_by_project_type: dict[str, dict[str, Decimal]]
    pipeline: list[ProjectView]
    waiting_at_gate: list[GateWait]


def summarise(views: Iterable[ProjectView], now: datetime) -> Portfolio:
    """Counts and cost by demand status, delivery stage, RAG, business unit and project type;
    the pipeline ranked by score; the projects waiting at a gate, longest first.

    Only projects intake has told of (a request) count; governance's events alone do not make
    a project. Costs are summed per currency, never converted.
    """
    projects = sorted(
        (view for view in views if view.requested_at is not None),
        key=lambda v: (v.requested_at, str(v.project_id)),
        reverse=True,
    )
    costs: dict[str, dict[str, dict[str, Decimal]]] = {
        name: defaultdict(lambda: defaultdict(Decimal))
        for name in ("status", "stage", "business_unit", "project_type")
    }
    total: dict[str, Decimal] = defaultdict(Decimal)
    for view in projects:
        if view.estimated_cost is None:
            continue
        amount, currency = view.estimated_cost.amount, view.estimated_cost.currency
        total[currency] += amount
        for name, key in (
            ("status", view.demand_status),
            ("stage", view.stage),
            ("business_unit", view.business_unit),
            ("project_type", view.project_type),
        ):
            if key is not None:
                costs[name][key][currency] += amount
    pipeline = sorted(
        (view for view in projects if view.demand_status in PIPELINE_STATUSES),
        key=lambda v: (
            not v.mandatory,
            v.score is None,
            -(v.score or Decimal(0)),
            v.requested_at,
            str(v.project_id),
        ),
    )
    waiting = sorted(
        (
            GateWait(
                view,
                round((now - view.open_gate.opened_at).total_seconds() / 3600, 2),
                now > view.open_gate.sla_due_at,
            )
            for view in projects
            if view.open_gate is not None
        ),
        key=lambda wait: -wait.waiting_hours,
    )
    return Portfolio(
        projects=projects,
        count_by_status=_count(view.demand_status for view in projects),
        count_by_stage=_count(view.stage for view in projects),
        count_by_rag=_count(view.rag for view in projects),
        count_by_business_unit=_count(view.business_unit for view in projects),
        count_by_project_type=_count(view.project_type for view in projects),
        cost_by_currency=dict(sorted(total.items())),
        cost_by_status=_plain(costs["status"]),
        cost_by_stage=_plain(costs["stage"]),
        cost_by_business_unit=_plain(costs["business_unit"]),
        cost_by_project_type=_plain(costs["project_type"]),
        pipeline=pipeline,
        waiting_at_gate=waiting,
    )


def _count(keys: Iterable[str | None]) -> dict[str, int]:
    return dict(sorted(Counter(key for key in keys if key is not None).items()))


def _plain(nested: dict[str, dict[str, Decimal]]) -> dict[str, dict[str, Decimal]]:
    return {key: dict(sorted(by_currency.items())) for key, by_currency in sorted(nested.items())}
