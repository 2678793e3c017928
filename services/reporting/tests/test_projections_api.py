"""The tracking projection: where it stands on each partition, and exactly-once application.

A redelivered envelope (the relay publishing again after a crash) carries the same id, stream
and version; reporting must skip it, so no count, log or record grows.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gatehouse.events.governance import (
    ApprovalRule,
    ApproverSeat,
    GateDefinition,
    GateTemplateDefined,
)
from gatehouse.events.intake import ProjectScreeningStarted

from .conftest import Producers, Reporting, condition, eur, hours, usd

pytestmark = pytest.mark.kafka

T0 = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


async def a_little_history(producers: Producers) -> None:
    """Two projects through intake and governance, and a gate template (about no project)."""
    first = await producers.request(T0, title="ERP", cost=eur("100000.00"))
    await producers.submit(first, T0 + hours(1))
    await producers.score(first, "64.5", T0 + hours(2))
    review = await producers.open_review(first, "G1", T0 + hours(3))
    vote = await producers.vote(review, "gina", "conditional_go", T0 + hours(5))
    met = condition("Sign the contract")
    await producers.decide(review, "conditional_go", T0 + hours(5), votes=[vote], conditions=[met])
    await producers.step(
        first,
        ProjectScreeningStarted,
        T0 + hours(6),
        from_status="submitted",
        to_status="screening",
    )
    await producers.condition_met(review, met, T0 + hours(30))
    await producers.breach(first, "cost", T0 + hours(31))

    second = await producers.request(T0 + hours(2), title="Shop", cost=usd("5000.00"))
    await producers.submit(second, T0 + hours(4))
    await producers.open_review(second, "G1", T0 + hours(7))
    await producers.governance(
        "gate-template-standard",
        GateTemplateDefined(
            project_type="standard",
            version=1,
            name="Standard",
            defined_by="pat",
            gates=(
                GateDefinition(
                    key="G1",
                    name="Gate G1",
                    sla_hours=48,
                    approval=ApprovalRule(seats=(ApproverSeat(user="gina"),)),
                ),
            ),
        ),
        T0,
        actor="pat",
    )


async def test_the_projection_is_live_and_has_applied_every_event(reporting: Reporting) -> None:
    producers = reporting.producers
    await a_little_history(producers)

    projection = await reporting.caught_up()

    assert projection["name"] == "reporting.projections"
    assert projection["status"] == "live"
    assert projection["lag_events"] == 0
    assert projection["lag_seconds"] == 0.0
    assert projection["events_applied"] == 13 == producers.events
    partitions = projection["partitions"]
    assert {(p["topic"], p["partition"]) for p in partitions} == {
        (topic, partition)
        for topic in (producers.intake_topic, producers.governance_topic)
        for partition in range(3)
    }
    for partition in partitions:
        assert partition["next_offset"] == partition["end_offset"], partition
        assert partition["lag_events"] == 0
    for topic, published in ((producers.intake_topic, 7), (producers.governance_topic, 6)):
        assert sum(p["end_offset"] for p in partitions if p["topic"] == topic) == published
    counts = await reporting.row_counts()
    assert counts == {
        "event_log": 13,
        "project_views": 2,
        "review_records": 2,
        "decision_records": 2,
        "condition_records": 1,
    }


async def test_redelivered_events_never_count_twice(reporting: Reporting) -> None:
    producers = reporting.producers
    await a_little_history(producers)
    await reporting.caught_up()
    project_id = producers.published[0][1].data["project_id"]
    before = {
        "counts": await reporting.row_counts(),
        "portfolio": await reporting.get("/v1/portfolio"),
        "project": await reporting.get(f"/v1/projects/{project_id}"),
        "timeline": await reporting.get(f"/v1/projects/{project_id}/timeline"),
        "kpis": await reporting.get("/v1/kpis"),
        "workload": await reporting.get("/v1/workload"),
        "audit": await reporting.get("/v1/audit/decisions"),
    }

    await producers.redeliver(producers.published)
    await producers.redeliver(producers.published[-3:])

    projection = await reporting.caught_up()
    assert projection["events_applied"] == 13
    assert sum(p["end_offset"] for p in projection["partitions"]) == 13 + 13 + 3
    assert await reporting.row_counts() == before["counts"]
    assert await reporting.get("/v1/portfolio") == before["portfolio"]
    project = await reporting.get(f"/v1/projects/{project_id}")
    assert project == before["project"]
    assert project["events"] == 9
    assert project["tolerance_breaches"] == ["cost"]
    assert len((await reporting.get(f"/v1/projects/{project_id}/timeline"))["items"]) == 9
    kpis = await reporting.get("/v1/kpis")
    assert kpis == before["kpis"]
    assert kpis["decided"] == 1
    assert kpis["tolerance_breaches_raised"] == 1
    assert kpis["throughput"] == {
        "2027-02": {"requested": 2, "approved": 0, "closed": 0, "gates_decided": 1}
    }
    assert await reporting.get("/v1/workload") == before["workload"]
    audit = await reporting.get("/v1/audit/decisions")
    assert audit == before["audit"]
    assert len(audit["items"]) == 2
