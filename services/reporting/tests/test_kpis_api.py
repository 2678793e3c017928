"""GET /v1/kpis and GET /v1/workload: the PMO's key figures and the approvers' queues.

The expected figures are worked out by hand from the scenario's chosen times and outcomes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from gatehouse.events.intake import ProjectClosed

from .conftest import NOW, Reporting, condition, hours

pytestmark = pytest.mark.kafka

DECEMBER = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
JANUARY = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
FEBRUARY = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
MARCH = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)

# Gate G1 of ten projects: hours from opening to decision, and the outcome.
G1_HOURS = [2, 4, 6, 8, 10, 12, 14, 16, 18, 100]
G1_OUTCOMES = ["go"] * 6 + ["conditional_go"] * 2 + ["hold", "kill"]


async def test_kpis_from_reviews_conditions_and_intake(reporting: Reporting) -> None:
    producers = reporting.producers
    projects: list[UUID] = []
    for i in range(10):  # three requested in December, seven in January
        at = DECEMBER + i * DAY if i < 3 else JANUARY - DAY + i * hours(1)
        projects.append(await producers.request(at, title=f"Project {i}"))
        await producers.submit(projects[i], at + hours(1))

    met, breached = condition("Sign the contract"), condition("Hire an architect")
    met_late, still_open = condition("Book the venue"), condition("Train the staff")
    conditions = {6: [met, breached], 7: [met_late, still_open]}
    reviews = []
    for i, (project, took, outcome) in enumerate(zip(projects, G1_HOURS, G1_OUTCOMES, strict=True)):
        review = await producers.open_review(project, "G1", JANUARY + i * DAY)
        if took > 48:
            await producers.escalate(review, review.sla_due_at + hours(1))
        vote = await producers.vote(
            review,
            "gina",
            outcome,
            review.opened_at + hours(took),
            conditions=conditions.get(i, ()),
        )
        await producers.decide(
            review,
            outcome,
            review.opened_at + hours(took),
            votes=[vote],
            conditions=conditions.get(i, ()),
        )
        reviews.append(review)
    await producers.condition_met(reviews[6], met, FEBRUARY)
    await producers.condition_breached(reviews[6], breached, FEBRUARY + DAY)
    await producers.condition_breached(reviews[7], met_late, FEBRUARY + DAY)
    await producers.condition_met(reviews[7], met_late, FEBRUARY + 2 * DAY)  # late, but met

    # Gate G2: decided after 24 h, 36 h and 49.5 h (the last past its 48-hour SLA).
    for i, (took, outcome) in enumerate(((24, "go"), (36, "recycle"), (49.5, "kill"))):
        review = await producers.open_review(projects[i], "G2", FEBRUARY + i * DAY)
        if took > 48:
            await producers.escalate(review, review.sla_due_at + hours(0.5))
        await producers.decide(review, outcome, review.opened_at + hours(took))
    withdrawn = await producers.open_review(projects[3], "G2", FEBRUARY + 5 * DAY)
    await producers.withdraw(withdrawn, withdrawn.opened_at + hours(10))
    overdue = await producers.open_review(projects[4], "G2", NOW - hours(60))
    await producers.escalate(overdue, NOW - hours(11))
    await producers.open_review(projects[5], "G2", NOW - hours(10))

    await producers.approve(projects[3], datetime(2027, 1, 20, tzinfo=UTC), from_status="qualified")
    await producers.approve(projects[0], datetime(2027, 2, 10, tzinfo=UTC), from_status="qualified")
    await producers.approve(projects[4], MARCH, from_status="qualified")
    await producers.step(
        projects[0],
        ProjectClosed,
        MARCH + 4 * DAY,
        from_status="approved",
        to_status="approved",
        from_stage="closing",
        to_stage="closed",
    )
    await producers.breach(projects[0], "cost", MARCH + 5 * DAY)
    await producers.breach(projects[0], "schedule", MARCH + 5 * DAY)
    await producers.recover(projects[0], "schedule", MARCH + 7 * DAY)
    await producers.breach(projects[4], "cost", MARCH + 6 * DAY)
    await producers.recover(projects[4], "cost", MARCH + 8 * DAY)
    await producers.breach(projects[4], "cost", MARCH + 9 * DAY)
    await reporting.caught_up()

    kpis = await reporting.get("/v1/kpis", headers=reporting.alice)

    assert kpis == {
        # G1: median of ten is the mean of the 5th and 6th (10, 12); the 90th percentile by
        # nearest rank is the 9th of ten (18), not the outlier. G2: 36 and the 3rd of three.
        "gate_cycle_time": {
            "G1": {"decided": 10, "median_hours": 11.0, "p90_hours": 18.0},
            "G2": {"decided": 3, "median_hours": 36.0, "p90_hours": 49.5},
        },
        "decided": 13,
        "outcomes": {"go": 7, "conditional_go": 2, "hold": 1, "recycle": 1, "kill": 2},
        "rates": {
            "go": 0.5385,
            "conditional_go": 0.1538,
            "hold": 0.0769,
            "recycle": 0.0769,
            "kill": 0.1538,
        },
        "escalations": 3,
        "decided_after_sla": 2,
        "open_past_sla": 1,
        "open_reviews": 2,
        "conditions": {"open": 1, "met": 2, "breached": 1},
        "throughput": {
            "2026-12": {"requested": 3, "approved": 0, "closed": 0, "gates_decided": 0},
            "2027-01": {"requested": 7, "approved": 1, "closed": 0, "gates_decided": 10},
            "2027-02": {"requested": 0, "approved": 1, "closed": 0, "gates_decided": 3},
            "2027-03": {"requested": 0, "approved": 1, "closed": 1, "gates_decided": 0},
        },
        "tolerance_breaches_raised": 4,
        "projects_in_breach": 2,
    }


async def test_workload_is_what_each_seat_still_has_to_vote_on(reporting: Reporting) -> None:
    producers = reporting.producers
    projects = [await producers.request(MARCH, title=f"Project {i}") for i in range(4)]
    parallel = await producers.open_review(
        projects[0], "G1", NOW - hours(30), seats=("user:gina", "user:hugo", "role:finance")
    )
    await producers.vote(parallel, "gina", "go", NOW - hours(29))
    # Sequential: gina's turn comes only after hugo's.
    hugo_first = await producers.open_review(
        projects[1], "G2", NOW - hours(50), seats=("user:hugo", "user:gina"), order="sequential"
    )
    gina_first = await producers.open_review(
        projects[2], "G1", NOW - hours(5), seats=("user:gina", "user:ivan"), order="sequential"
    )
    await producers.vote(gina_first, "gina", "go", NOW - hours(4))
    decided = await producers.open_review(projects[3], "G1", NOW - hours(70))
    await producers.decide(
        decided,
        "go",
        NOW - hours(69),
        votes=[await producers.vote(decided, "gina", "go", NOW - hours(69))],
    )
    await reporting.caught_up()

    def waiting(
        review_id: UUID, project_id: UUID, gate: str, age: float, overdue: bool = False
    ) -> dict[str, object]:
        return {
            "review_id": str(review_id),
            "project_id": str(project_id),
            "gate": gate,
            "age_hours": age,
            "overdue": overdue,
        }

    hugo_parallel = waiting(parallel.review_id, projects[0], "G1", 30.0)
    hugo_sequential = waiting(hugo_first.review_id, projects[1], "G2", 50.0, overdue=True)
    workload = (await reporting.client.get("/v1/workload", headers=reporting.alice)).json()
    assert workload == [
        {
            "seat": "user:hugo",
            "open_reviews": 2,
            "oldest_hours": 50.0,
            "reviews": [hugo_sequential, hugo_parallel],
        },
        {
            "seat": "role:finance",
            "open_reviews": 1,
            "oldest_hours": 30.0,
            "reviews": [hugo_parallel],
        },
        {
            "seat": "user:ivan",
            "open_reviews": 1,
            "oldest_hours": 5.0,
            "reviews": [waiting(gina_first.review_id, projects[2], "G1", 5.0)],
        },
    ]

    # Hugo votes on the sequential review: now it waits for gina. The parallel one is decided
    # and leaves every queue.
    await producers.vote(hugo_first, "hugo", "go", NOW - hours(1))
    await producers.vote(parallel, "hugo", "go", NOW - hours(1))
    await producers.decide(parallel, "go", NOW - hours(1), decided_by=["gina", "hugo"])
    await reporting.caught_up()

    workload = (await reporting.client.get("/v1/workload", headers=reporting.alice)).json()
    assert workload == [
        {
            "seat": "user:gina",
            "open_reviews": 1,
            "oldest_hours": 50.0,
            "reviews": [waiting(hugo_first.review_id, projects[1], "G2", 50.0, overdue=True)],
        },
        {
            "seat": "user:ivan",
            "open_reviews": 1,
            "oldest_hours": 5.0,
            "reviews": [waiting(gina_first.review_id, projects[2], "G1", 5.0)],
        },
    ]
