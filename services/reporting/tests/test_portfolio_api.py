"""GET /v1/portfolio: counts and costs, the ranked pipeline and the projects waiting at a gate.

Eight projects in every demand status, three business units, three types and two currencies;
two of them wait at a gate (one past its SLA); one more project is known only from
governance's events and must not count. Every expected figure below is worked out by hand from
the scenario.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from gatehouse.events.intake import (
    ProjectChanges,
    ProjectDeferred,
    ProjectEdited,
    ProjectQualified,
    ProjectRejected,
    ProjectScreeningStarted,
    ProjectStageAdvanced,
)

from .conftest import NOW, Producers, Reporting, eur, hours, usd

pytestmark = pytest.mark.kafka

MARCH = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def decimals(costs: dict[str, Any]) -> dict[str, Any]:
    """Amounts (JSON strings) as decimals, at any depth."""
    return {
        key: decimals(value) if isinstance(value, dict) else Decimal(value)
        for key, value in costs.items()
    }


async def through_demand(producers: Producers, project_id: UUID, at: datetime, to: str) -> None:
    """Submit, screen, qualify and approve a request, an hour apart, as far as ``to``."""
    await producers.submit(project_id, at)
    if to == "submitted":
        return
    await producers.step(
        project_id,
        ProjectScreeningStarted,
        at + hours(1),
        from_status="submitted",
        to_status="screening",
    )
    if to == "screening":
        return
    await producers.step(
        project_id, ProjectQualified, at + hours(2), from_status="screening", to_status="qualified"
    )
    if to == "qualified":
        return
    await producers.approve(project_id, at + hours(3), from_status="qualified")


async def test_the_portfolio_counts_costs_ranks_and_shows_who_waits(reporting: Reporting) -> None:
    producers = reporting.producers
    day = hours(24)
    erp = await producers.request(
        MARCH, title="ERP upgrade", business_unit="Finance", cost=eur("100000.00")
    )
    await through_demand(producers, erp, MARCH + day, "submitted")
    await producers.score(erp, "60", MARCH + 2 * day)

    regulatory = await producers.request(
        MARCH + hours(1),
        title="Regulatory reporting",
        business_unit="Finance",
        project_type="regulatory",
        cost=eur("50000.00"),
    )
    await through_demand(producers, regulatory, MARCH + day, "screening")
    await producers.score(regulatory, "40", MARCH + 2 * day, mandatory=True)

    sales_app = await producers.request(
        MARCH + hours(2), title="Sales app", business_unit="Sales", cost=usd("80000.00")
    )
    await through_demand(producers, sales_app, MARCH + day, "screening")
    first_gate = await producers.open_review(sales_app, "G1", MARCH + day + hours(1))
    await producers.decide(first_gate, "go", MARCH + day + hours(2))
    await producers.step(
        sales_app,
        ProjectQualified,
        MARCH + day + hours(3),
        from_status="screening",
        to_status="qualified",
    )
    await producers.score(sales_app, "85", MARCH + 2 * day)

    warehouse = await producers.request(
        MARCH + hours(3), title="Warehouse", business_unit="Operations", cost=usd("20000.00")
    )
    await through_demand(producers, warehouse, MARCH + day, "submitted")
    await producers.step(
        warehouse, ProjectDeferred, MARCH + 2 * day, from_status="submitted", to_status="deferred"
    )

    platform = await producers.request(
        MARCH + hours(4),
        title="Data platform",
        business_unit="Sales",
        project_type="strategic",
        cost=eur("300000.00"),
    )
    await through_demand(producers, platform, MARCH + day, "approved")
    for at, (from_stage, to_stage) in (
        (MARCH + 3 * day, ("initiating", "planning")),
        (MARCH + 5 * day, ("planning", "executing")),
    ):
        await producers.step(
            platform,
            ProjectStageAdvanced,
            at,
            from_status="approved",
            to_status="approved",
            from_stage=from_stage,
            to_stage=to_stage,
        )
    await producers.score(platform, "90", MARCH + 2 * day)  # high, but no longer in demand
    await producers.report_status(platform, MARCH + 6 * day, "amber", schedule="amber")
    platform_gate = await producers.open_review(platform, "G3", NOW - hours(30))

    portal = await producers.request(
        MARCH + hours(5), title="HR portal", business_unit="Operations", cost=eur("25000.50")
    )
    await through_demand(producers, portal, MARCH + day, "approved")
    await producers.step(
        portal,
        ProjectStageAdvanced,
        MARCH + 3 * day,
        from_status="approved",
        to_status="approved",
        from_stage="initiating",
        to_stage="planning",
    )
    await producers.report_status(portal, MARCH + 6 * day, "red", cost="red")
    portal_gate = await producers.open_review(portal, "G2", NOW - hours(72.5))
    await producers.escalate(portal_gate, NOW - hours(24.5))

    intranet = await producers.request(
        MARCH + hours(6), title="Intranet", business_unit="Finance", cost=eur("10000.00")
    )
    # Still a draft: its requester moves it to another unit and raises the estimate.
    await producers.intake(
        intranet,
        ProjectEdited(
            project_id=intranet,
            changed_fields=("business_unit", "estimated_cost"),
            changes=ProjectChanges(business_unit="Operations", estimated_cost=eur("12000.00")),
        ),
        MARCH + day,
    )

    kiosk = await producers.request(
        MARCH + hours(7), title="Kiosk", business_unit="Sales", cost=usd("5000.00")
    )
    await through_demand(producers, kiosk, MARCH + day, "submitted")
    await producers.step(
        kiosk, ProjectRejected, MARCH + 2 * day, from_status="submitted", to_status="rejected"
    )

    # Known only from governance: waits longest of all, but intake never told of it.
    stranger = uuid4()
    await producers.open_review(stranger, "G1", NOW - hours(100))
    await producers.decide(
        await producers.open_review(uuid4(), "G1", MARCH), "go", MARCH + hours(1)
    )

    await reporting.caught_up()
    portfolio = await reporting.get("/v1/portfolio", headers=reporting.alice)

    assert portfolio["as_of"] is None
    assert portfolio["count"] == 8
    assert portfolio["count_by_status"] == {
        "approved": 2,
        "deferred": 1,
        "draft": 1,
        "qualified": 1,
        "rejected": 1,
        "screening": 1,
        "submitted": 1,
    }
    assert portfolio["count_by_stage"] == {"executing": 1, "planning": 1}
    assert portfolio["count_by_rag"] == {"amber": 1, "red": 1}
    assert portfolio["count_by_business_unit"] == {"Finance": 2, "Operations": 3, "Sales": 3}
    assert portfolio["count_by_project_type"] == {"regulatory": 1, "standard": 6, "strategic": 1}
    assert decimals(portfolio["cost_by_currency"]) == {
        "EUR": Decimal("487000.50"),
        "USD": Decimal("105000.00"),
    }
    assert decimals(portfolio["cost_by_status"]) == {
        "approved": {"EUR": Decimal("325000.50")},
        "deferred": {"USD": Decimal("20000")},
        "draft": {"EUR": Decimal("12000")},
        "qualified": {"USD": Decimal("80000")},
        "rejected": {"USD": Decimal("5000")},
        "screening": {"EUR": Decimal("50000")},
        "submitted": {"EUR": Decimal("100000")},
    }
    assert decimals(portfolio["cost_by_stage"]) == {
        "executing": {"EUR": Decimal("300000")},
        "planning": {"EUR": Decimal("25000.50")},
    }
    assert decimals(portfolio["cost_by_business_unit"]) == {
        "Finance": {"EUR": Decimal("150000")},
        "Operations": {"EUR": Decimal("37000.50"), "USD": Decimal("20000")},
        "Sales": {"EUR": Decimal("300000"), "USD": Decimal("85000")},
    }
    assert decimals(portfolio["cost_by_project_type"]) == {
        "regulatory": {"EUR": Decimal("50000")},
        "standard": {"EUR": Decimal("137000.50"), "USD": Decimal("105000")},
        "strategic": {"EUR": Decimal("300000")},
    }

    # Mandatory first whatever its score, then by score, the unscored last.
    pipeline = portfolio["pipeline"]
    assert [UUID(entry["id"]) for entry in pipeline] == [regulatory, sales_app, erp, warehouse]
    assert [
        (entry["demand_status"], entry["mandatory"], entry["score"] and Decimal(entry["score"]))
        for entry in pipeline
    ] == [
        ("screening", True, Decimal(40)),
        ("qualified", False, Decimal(85)),
        ("submitted", False, Decimal(60)),
        ("deferred", False, None),
    ]
    assert pipeline[0]["title"] == "Regulatory reporting"
    assert pipeline[0]["estimated_cost"] == {"amount": "50000.00", "currency": "EUR"}

    # Longest first; hours at reporting's now; past the SLA is overdue.
    assert portfolio["waiting_at_gate"] == [
        {
            "project_id": str(portal),
            "title": "HR portal",
            "review_id": str(portal_gate.review_id),
            "gate": "G2",
            "gate_name": "Gate G2",
            "waiting_since": "2027-03-12T11:30:00Z",
            "waiting_hours": 72.5,
            "sla_due_at": "2027-03-14T11:30:00Z",
            "overdue": True,
            "escalated": True,
        },
        {
            "project_id": str(platform),
            "title": "Data platform",
            "review_id": str(platform_gate.review_id),
            "gate": "G3",
            "gate_name": "Gate G3",
            "waiting_since": "2027-03-14T06:00:00Z",
            "waiting_hours": 30.0,
            "sla_due_at": "2027-03-16T06:00:00Z",
            "overdue": False,
            "escalated": False,
        },
    ]

    # Newest request first; the governance-only projects are nowhere.
    assert [UUID(entry["id"]) for entry in portfolio["projects"]] == [
        kiosk,
        intranet,
        portal,
        platform,
        warehouse,
        sales_app,
        regulatory,
        erp,
    ]
    by_id = {UUID(entry["id"]): entry for entry in portfolio["projects"]}
    assert by_id[platform]["stage"] == "executing"
    assert by_id[platform]["rag"] == "amber"
    assert by_id[intranet]["demand_status"] == "draft"
    assert by_id[intranet]["requested_at"] == "2027-03-01T15:00:00Z"
    assert by_id[intranet]["business_unit"] == "Operations"
    assert by_id[intranet]["estimated_cost"] == {"amount": "12000.00", "currency": "EUR"}
