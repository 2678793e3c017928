"""Key figures of the PMO and the approvers' workload. Plain Python over the read models.

- Gate cycle time: hours from a review's opening to its decision, per gate: the median and the
  90th percentile (nearest rank: the smallest value with at least 90 % of values at or below).
- Decision rates: each outcome's share of decided reviews (withdrawn reviews are not decisions).
- SLA: escalations raised, reviews decided after their SLA, reviews open past it now.
- Conditions of conditional gos: open, met, breached (a breach later met counts as met).
- Throughput per month (UTC): requests, approvals, closures and gate decisions.
- Tolerance breaches: raised in all, and projects in breach now.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from reporting.views import ProjectView

__all__ = [
    "CycleTime",
    "Kpis",
    "SeatLoad",
    "WaitingReview",
    "awaiting",
    "compute",
    "p90",
    "workload",
]

OUTCOMES = ("go", "conditional_go", "hold", "recycle", "kill")


@dataclass(frozen=True)
class CycleTime:
    decided: int
    median_hours: float
    p90_hours: float


@dataclass(frozen=True)
class Kpis:
    gate_cycle_time: dict[str, CycleTime]
    decided: int
    outcomes: dict[str, int]
    rates: dict[str, float]
    escalations: int
    decided_after_sla: int
    open_past_sla: int
    open_reviews: int
    conditions: dict[str, int]
    throughput: dict[str, dict[str, int]]
    tolerance_breaches_raised: int
    projects_in_breach: int


def p90(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]


def compute(
    reviews: Iterable[Mapping[str, Any]],
    conditions: Iterable[Mapping[str, Any]],
    projects: Iterable[ProjectView],
    now: datetime,
) -> Kpis:
    reviews = list(reviews)
    decided = [r for r in reviews if r["status"] == "decided"]
    hours_by_gate: dict[str, list[float]] = defaultdict(list)
    for review in decided:
        hours_by_gate[review["gate"]].append(
            (review["closed_at"] - review["opened_at"]).total_seconds() / 3600
        )
    cycle = {
        gate: CycleTime(len(hours), round(statistics.median(hours), 2), round(p90(hours), 2))
        for gate, hours in sorted(hours_by_gate.items())
    }
    outcomes = Counter(review["outcome"] for review in decided)
    rates = {
        outcome: round(outcomes[outcome] / len(decided), 4) if decided else 0.0
        for outcome in OUTCOMES
    }
    open_reviews = [r for r in reviews if r["status"] == "open"]
    throughput: dict[str, dict[str, int]] = defaultdict(
        lambda: {"requested": 0, "approved": 0, "closed": 0, "gates_decided": 0}
    )
    projects = list(projects)
    for view in projects:
        for moment, counter in (
            (view.requested_at, "requested"),
            (view.approved_at, "approved"),
            (view.closed_at, "closed"),
        ):
            if moment is not None:
                throughput[_month(moment)][counter] += 1
    for review in decided:
        throughput[_month(review["closed_at"])]["gates_decided"] += 1
    condition_counts = Counter(c["status"] for c in conditions)
    return Kpis(
        gate_cycle_time=cycle,
        decided=len(decided),
        outcomes={outcome: outcomes[outcome] for outcome in OUTCOMES},
        rates=rates,
        escalations=sum(1 for r in reviews if r["escalated_at"] is not None),
        decided_after_sla=sum(1 for r in decided if r["closed_at"] > r["sla_due_at"]),
        open_past_sla=sum(1 for r in open_reviews if now > r["sla_due_at"]),
        open_reviews=len(open_reviews),
        conditions={status: condition_counts[status] for status in ("open", "met", "breached")},
        throughput=dict(sorted(throughput.items())),
        tolerance_breaches_raised=sum(view.tolerance_breach_count for view in projects),
        projects_in_breach=sum(1 for view in projects if view.tolerance_breaches),
    )


def _month(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


# --- Workload -------------------------------------------------------------------------------


def awaiting(panel: Mapping[str, Any]) -> list[str]:
    """The seats a review waits for: every empty seat, or the next one of a sequential panel."""
    ballots = panel.get("ballots", {})
    empty = [seat for seat in panel.get("seats", []) if seat not in ballots]
    return empty[:1] if panel.get("order") == "sequential" else empty


@dataclass(frozen=True)
class WaitingReview:
    review_id: UUID
    project_id: UUID
    gate: str
    age_hours: float
    overdue: bool


@dataclass(frozen=True)
class SeatLoad:
    seat: str
    reviews: list[WaitingReview]

    @property
    def oldest_hours(self) -> float:
        return max(review.age_hours for review in self.reviews)


def workload(reviews: Iterable[Mapping[str, Any]], now: datetime) -> list[SeatLoad]:
    """Open reviews per seat (``user:gina``, ``role:finance``) and their age, busiest first."""
    by_seat: dict[str, list[WaitingReview]] = defaultdict(list)
    for review in reviews:
        if review["status"] != "open":
            continue
        waiting = WaitingReview(
            review_id=review["review_id"],
            project_id=review["project_id"],
            gate=review["gate"],
            age_hours=round((now - review["opened_at"]).total_seconds() / 3600, 2),
            overdue=now > review["sla_due_at"],
        )
        for seat in awaiting(review["panel"]):
            by_seat[seat].append(waiting)
    loads = [
        SeatLoad(seat, sorted(items, key=lambda r: -r.age_hours)) for seat, items in by_seat.items()
    ]
    return sorted(loads, key=lambda load: (-len(load.reviews), -load.oldest_hours, load.seat))
