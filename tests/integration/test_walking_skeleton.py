"""The first vertical slice, in one process: intake → Kafka → reporting and governance.

Each service gets its own PostgreSQL schema (its own database, as far as it can tell), and the
three talk only through the real Kafka broker.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gatehouse.auth import Role
from gatehouse.testing.harness import eventually

from .conftest import Gatehouse

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_a_requested_project_reaches_reporting_and_governance_through_kafka(
    gatehouse: Gatehouse,
) -> None:
    alice = gatehouse.intake.auth("alice", Role.REQUESTER)
    started = time.perf_counter()
    created = await gatehouse.intake.client.post(
        "/v1/projects",
        headers=alice,
        json={
            "title": "New CRM",
            "description": "Replace the legacy CRM",
            "sponsor": "carol",
            "business_unit": "Sales",
            "project_type": "standard",
            "estimated_cost": {"amount": "250000.00", "currency": "EUR"},
            "start_date": "2027-01-04",
            "target_date": "2027-09-30",
            "expected_benefits": "Faster quotes",
            "risk_level": "medium",
        },
    )
    assert created.status_code == 201
    project_id = created.json()["id"]

    async def listed_in_portfolio() -> dict[str, Any] | None:
        response = await gatehouse.reporting.client.get(
            "/v1/portfolio", headers=gatehouse.reporting.auth("lee", Role.PMO_ADMIN)
        )
        body: dict[str, Any] = response.json()
        return body if body["count"] == 1 else None

    portfolio = await eventually(
        listed_in_portfolio, timeout=10, description="project listed in the portfolio"
    )
    print(
        f"\nportfolio lists the project {1000 * (time.perf_counter() - started):.0f} ms "
        "after the request was sent"
    )
    entry = portfolio["projects"][0]
    assert entry["id"] == project_id
    assert entry["title"] == "New CRM"
    assert entry["demand_status"] == "draft"
    assert entry["estimated_cost"] == {"amount": "250000.00", "currency": "EUR"}
    assert portfolio["count_by_status"] == {"draft": 1}
    assert portfolio["cost_by_currency"] == {"EUR": "250000.00"}

    async def known_to_governance() -> dict[str, Any] | None:
        response = await gatehouse.governance.client.get(
            f"/v1/projects/{project_id}", headers=gatehouse.governance.auth("gina", Role.APPROVER)
        )
        return response.json() if response.status_code == 200 else None

    known = await eventually(
        known_to_governance, timeout=10, description="governance knows the project"
    )
    assert known["sponsor"] == "carol"
    assert known["requested_by"] == "alice"


async def test_many_projects_are_each_counted_once(gatehouse: Gatehouse) -> None:
    alice = gatehouse.intake.auth("alice", Role.REQUESTER)

    async def request(n: int) -> None:
        response = await gatehouse.intake.client.post(
            "/v1/projects",
            headers=alice,
            json={
                "title": f"Project {n}",
                "description": "d",
                "sponsor": "carol",
                "business_unit": "BU" + str(n % 3),
                "project_type": "standard",
                "estimated_cost": {"amount": "1000.50", "currency": "USD"},
                "start_date": "2027-01-04",
                "target_date": "2027-09-30",
                "expected_benefits": "b",
                "risk_level": "low",
            },
        )
        assert response.status_code == 201

    await asyncio.gather(*(request(n) for n in range(30)))

    async def all_listed() -> dict[str, Any] | None:
        body: dict[str, Any] = (
            await gatehouse.reporting.client.get(
                "/v1/portfolio", headers=gatehouse.reporting.auth("lee", Role.AUDITOR)
            )
        ).json()
        return body if body["count"] >= 30 else None

    portfolio = await eventually(all_listed, timeout=15, description="30 projects listed")
    assert portfolio["count"] == 30
    assert portfolio["cost_by_currency"] == {"USD": "30015.00"}
