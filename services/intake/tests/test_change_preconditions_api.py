"""Every route that changes an existing project refuses alike: an unknown project is 404, a
missing If-Match 428, a stale one 412, and a finished project 409. A refusal writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from intake.api import router

from .conftest import Intake, assert_problem

pytestmark = pytest.mark.kafka

UNKNOWN = "00000000-0000-4000-8000-000000000000"
WSJF_MODEL: dict[str, Any] = {"name": "WSJF", "method": "wsjf"}

# Each change to a project with a body it accepts; {item} is one of the project's RAID items.
CHANGES: list[tuple[str, str, dict[str, Any]]] = [
    ("PATCH", "", {"title": "Renamed"}),
    ("POST", "submit", {}),
    ("POST", "withdraw", {}),
    ("POST", "start-screening", {}),
    ("POST", "qualify", {}),
    ("POST", "approve", {}),
    ("POST", "defer", {"reason": "Next year"}),
    ("POST", "reactivate", {}),
    ("POST", "reject", {"reason": "No budget"}),
    ("POST", "close", {}),
    ("POST", "hold", {"reason": "Waiting for a vendor"}),
    ("POST", "resume", {}),
    ("POST", "kill", {"reason": "Superseded"}),
    ("POST", "advance", {"to_stage": "planning"}),
    ("PUT", "tolerances", {"cost_percent": "15", "schedule_days": 45}),
    (
        "POST",
        "scores",
        {
            "model": "wsjf",
            "ratings": {
                "business_value": 8,
                "time_criticality": 5,
                "risk_reduction": 3,
                "job_size": 5,
            },
        },
    ),
    (
        "POST",
        "status-reports",
        {
            "overall": "green",
            "schedule": "green",
            "cost": "green",
            "scope": "green",
            "summary": "On track",
            "forecast_cost": {"amount": "250000.00", "currency": "EUR"},
            "forecast_end_date": "2027-09-30",
        },
    ),
    ("POST", "raid", {"kind": "issue", "title": "No test data", "owner": "dave"}),
    ("PATCH", "raid/{item}", {"owner": "erin"}),
    ("POST", "raid/{item}/close", {"resolution": "Data masked"}),
]


def path_of(project_id: str, action: str, item_id: str = UNKNOWN) -> str:
    suffix = f"/{action.replace('{item}', item_id)}" if action else ""
    return f"/v1/projects/{project_id}{suffix}"


def test_the_table_names_every_change_to_a_project() -> None:
    routes = {
        (method, route.path.removeprefix("/projects/{project_id}").lstrip("/"))
        for route in router.routes
        if isinstance(route, APIRoute) and route.path.startswith("/projects/{project_id}")
        for method in route.methods
        if method != "GET"
    }

    assert routes == {
        (method, action.replace("{item}", "{item_id}")) for method, action, _ in CHANGES
    }


async def test_a_change_needs_the_project_and_a_current_if_match(intake: Intake) -> None:
    await define_wsjf(intake)
    project_id = await intake.new_project()
    before = await intake.row_counts()

    for method, action, body in CHANGES:
        unknown = await intake.client.request(
            method, path_of(UNKNOWN, action), json=body, headers={**intake.pmo, "If-Match": '"1"'}
        )
        assert_problem(unknown, 404)
        path = path_of(project_id, action)
        without = await intake.client.request(method, path, json=body, headers=intake.pmo)
        assert "If-Match" in assert_problem(without, 428)["detail"], (method, action)
        stale = await intake.client.request(
            method, path, json=body, headers={**intake.pmo, "If-Match": '"9"'}
        )
        assert assert_problem(stale, 412)["current_etag"] == '"1"', (method, action)

    assert await intake.row_counts() == before


async def test_a_finished_project_refuses_every_change_with_409(intake: Intake) -> None:
    await define_wsjf(intake)
    project_id = await intake.new_project()
    item = await intake.act(project_id, "raid", CHANGES[-3][2], expect=201)
    await intake.act(project_id, "withdraw", headers=intake.alice)
    before = await intake.row_counts()

    for method, action, body in CHANGES:
        response = await intake.client.request(
            method,
            path_of(project_id, action, item.json()["id"]),
            json=body,
            headers={**intake.pmo, "If-Match": await intake.etag(project_id)},
        )
        assert assert_problem(response, 409)["current_status"] == "withdrawn", (method, action)

    assert await intake.row_counts() == before


async def define_wsjf(intake: Intake) -> None:
    response = await intake.client.put(
        "/v1/scoring-models/wsjf", json=WSJF_MODEL, headers=intake.pmo
    )
    assert response.status_code == 200, response.text
