"""Status reports, tolerances and the RAID log through the API.

The project in these tests was approved with a baseline of 250 000 EUR ending 2027-09-30 and the
default tolerances (10 % cost, 30 days schedule).
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Intake, assert_problem

pytestmark = pytest.mark.kafka

ON_TRACK: dict[str, Any] = {
    "overall": "green",
    "schedule": "green",
    "cost": "green",
    "scope": "green",
    "summary": "Design signed off",
    "forecast_cost": {"amount": "260000.00", "currency": "EUR"},
    "forecast_end_date": "2027-10-15",
}


def report(**changes: Any) -> dict[str, Any]:
    return {**ON_TRACK, **changes}


async def approved_project(intake: Intake) -> str:
    project_id = await intake.new_project()
    await intake.act(project_id, "submit", headers=intake.alice)
    await intake.walk(project_id, "start-screening", "qualify", "approve")
    return project_id


async def test_a_status_report_within_tolerance_sets_the_health(intake: Intake) -> None:
    project_id = await approved_project(intake)

    response = await intake.act(
        project_id, "status-reports", ON_TRACK, headers=intake.alice, expect=201
    )

    body = response.json()
    assert body["overall"] == "green"
    assert body["reported_by"] == "alice"
    assert body["tolerance_breaches"] == []
    assert response.headers["location"].endswith(f"/v1/projects/{project_id}/status-reports")
    project = (await intake.read(project_id)).json()
    assert project["health"]["summary"] == "Design signed off"
    assert project["health"]["forecast_cost"] == {"amount": "260000.00", "currency": "EUR"}
    assert project["tolerance_breaches"] == []
    assert response.headers["etag"] == (await intake.read(project_id)).headers["etag"]


async def test_a_forecast_beyond_tolerance_is_a_breach_until_it_recovers(intake: Intake) -> None:
    project_id = await approved_project(intake)

    late_and_over = await intake.act(
        project_id,
        "status-reports",
        report(
            overall="red",
            forecast_cost={"amount": "300000.00", "currency": "EUR"},
            forecast_end_date="2027-12-31",
        ),
        expect=201,
    )
    assert late_and_over.json()["tolerance_breaches"] == ["cost", "schedule"]
    assert (await intake.read(project_id)).json()["tolerance_breaches"] == ["cost", "schedule"]

    still_late = await intake.act(
        project_id,
        "status-reports",
        report(overall="amber", forecast_end_date="2027-12-31"),
        expect=201,
    )
    assert still_late.json()["tolerance_breaches"] == ["schedule"]

    history = (
        await intake.client.get(f"/v1/projects/{project_id}/status-reports", headers=intake.auditor)
    ).json()
    assert [entry["overall"] for entry in history] == ["red", "amber"]
    assert [entry["tolerance_breaches"] for entry in history] == [["cost", "schedule"], []]
    assert await intake.stored_types(project_id) == [
        "ProjectRequested",
        "ProjectSubmitted",
        "ProjectScreeningStarted",
        "ProjectQualified",
        "ProjectApproved",
        "StatusReported",
        "ToleranceBreached",
        "ToleranceBreached",
        "StatusReported",
        "ToleranceRecovered",
    ]


async def test_widening_the_tolerances_lets_the_next_report_recover(intake: Intake) -> None:
    project_id = await approved_project(intake)
    await intake.act(
        project_id,
        "status-reports",
        report(forecast_cost={"amount": "290000.00", "currency": "EUR"}),
        expect=201,
    )

    widened = await intake.act(
        project_id, "tolerances", {"cost_percent": "20", "schedule_days": 30}, method="PUT"
    )
    assert widened.json()["tolerances"] == {"cost_percent": "20", "schedule_days": 30}

    again = await intake.act(
        project_id,
        "status-reports",
        report(forecast_cost={"amount": "290000.00", "currency": "EUR"}),
        expect=201,
    )
    assert again.json()["tolerance_breaches"] == []
    assert (await intake.read(project_id)).json()["tolerance_breaches"] == []


async def test_only_the_pmo_sets_tolerances(intake: Intake) -> None:
    project_id = await approved_project(intake)
    response = await intake.act(
        project_id,
        "tolerances",
        {"cost_percent": "50", "schedule_days": 90},
        method="PUT",
        headers=intake.alice,
        expect=None,
    )
    assert_problem(response, 403)


async def test_a_request_under_review_has_no_status_to_report(intake: Intake) -> None:
    project_id = await intake.new_project()
    response = await intake.act(project_id, "status-reports", ON_TRACK, expect=None)
    problem = assert_problem(response, 409)
    assert problem["current_status"] == "draft"
    assert "report_status" not in problem["allowed_actions"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            report(forecast_cost={"amount": "260000.00", "currency": "USD"}),
            "forecast_cost.currency",
        ),
        (report(forecast_cost={"amount": "-1", "currency": "EUR"}), "forecast_cost.amount"),
        (report(forecast_cost={"amount": "1", "currency": "XXY"}), "forecast_cost.currency"),
        (report(overall="blue"), "overall"),
        (report(summary=""), "summary"),
        (report(summary="x" * 10_001), "summary"),
        (report(forecast_end_date="soon"), "forecast_end_date"),
        (report(mood="great"), "mood"),
        ({key: value for key, value in ON_TRACK.items() if key != "scope"}, "scope"),
    ],
)
async def test_an_invalid_status_report_is_refused_naming_the_field_and_writes_nothing(
    intake: Intake, body: dict[str, Any], field: str
) -> None:
    project_id = await approved_project(intake)
    before = await intake.row_counts()

    response = await intake.act(project_id, "status-reports", body, expect=None)

    assert_problem(response, 422, field=field)
    assert await intake.row_counts() == before


async def test_a_risk_is_logged_changed_and_closed(intake: Intake) -> None:
    project_id = await approved_project(intake)

    added = await intake.act(
        project_id,
        "raid",
        {
            "kind": "risk",
            "title": "Vendor insolvency",
            "owner": "dave",
            "probability": 2,
            "impact": 5,
            "due_date": "2027-03-01",
        },
        headers=intake.alice,
        expect=201,
    )
    item = added.json()
    assert item["open"] is True
    assert added.headers["location"].endswith(f"/v1/projects/{project_id}/raid")
    assert (await intake.read(project_id)).json()["open_raid_items"] == 1

    changed = await intake.act(project_id, f"raid/{item['id']}", {"probability": 4}, method="PATCH")
    assert changed.json()["probability"] == 4
    assert changed.json()["impact"] == 5

    closed = await intake.act(
        project_id, f"raid/{item['id']}/close", {"resolution": "Second vendor contracted"}
    )
    assert closed.json()["open"] is False
    assert closed.json()["resolution"] == "Second vendor contracted"

    log = await intake.client.get(f"/v1/projects/{project_id}/raid", headers=intake.auditor)
    assert [entry["title"] for entry in log.json()] == ["Vendor insolvency"]
    assert log.headers["etag"] == (await intake.read(project_id)).headers["etag"]
    assert (await intake.read(project_id)).json()["open_raid_items"] == 0
    assert (await intake.stored_types(project_id))[-3:] == [
        "RaidItemAdded",
        "RaidItemUpdated",
        "RaidItemClosed",
    ]


async def test_assumptions_issues_and_dependencies_are_logged_on_a_request_too(
    intake: Intake,
) -> None:
    project_id = await intake.new_project()
    for body in (
        {"kind": "assumption", "title": "Budget holds", "owner": "carol"},
        {"kind": "issue", "title": "No test data", "owner": "dave", "impact": 3},
        {"kind": "dependency", "title": "ERP upgrade", "owner": "erin", "due_date": "2027-02-01"},
    ):
        await intake.act(project_id, "raid", body, headers=intake.alice, expect=201)

    log = (await intake.client.get(f"/v1/projects/{project_id}/raid", headers=intake.pmo)).json()
    assert [entry["kind"] for entry in log] == ["assumption", "issue", "dependency"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "risk", "title": "Delay", "owner": "dave", "impact": 3}, "probability"),
        ({"kind": "risk", "title": "Delay", "owner": "dave", "probability": 3}, "impact"),
        (
            {"kind": "risk", "title": "Delay", "owner": "dave", "probability": 6, "impact": 3},
            "probability",
        ),
        (
            {"kind": "assumption", "title": "Budget", "owner": "dave", "probability": 2},
            "probability",
        ),
        ({"kind": "dependency", "title": "ERP", "owner": "dave", "impact": 2}, "impact"),
        ({"kind": "opportunity", "title": "Reuse", "owner": "dave"}, "kind"),
        ({"kind": "issue", "title": "", "owner": "dave"}, "title"),
        ({"kind": "issue", "title": "x" * 201, "owner": "dave"}, "title"),
        ({"kind": "issue", "title": "Late", "owner": "dave", "due_date": "2027-02-30"}, "due_date"),
        ({"kind": "issue", "title": "Late", "owner": "dave", "severity": "high"}, "severity"),
        ({"kind": "issue", "title": "Late"}, "owner"),
    ],
)
async def test_an_invalid_raid_item_is_refused_naming_the_field_and_writes_nothing(
    intake: Intake, body: dict[str, Any], field: str
) -> None:
    project_id = await intake.new_project()
    before = await intake.row_counts()

    response = await intake.act(project_id, "raid", body, expect=None)

    assert_problem(response, 422, field=field)
    assert await intake.row_counts() == before


async def test_raid_changes_are_checked_against_the_item(intake: Intake) -> None:
    project_id = await intake.new_project()
    issue = (
        await intake.act(
            project_id,
            "raid",
            {"kind": "issue", "title": "No test data", "owner": "dave"},
            expect=201,
        )
    ).json()

    no_probability = await intake.act(
        project_id, f"raid/{issue['id']}", {"probability": 3}, method="PATCH", expect=None
    )
    assert_problem(no_probability, 422, field="probability")
    empty = await intake.act(project_id, f"raid/{issue['id']}", {}, method="PATCH", expect=None)
    assert_problem(empty, 422)
    unknown = await intake.act(
        project_id,
        "raid/00000000-0000-4000-8000-000000000000",
        {"owner": "erin"},
        method="PATCH",
        expect=None,
    )
    assert_problem(unknown, 404)

    await intake.act(project_id, f"raid/{issue['id']}/close", {"resolution": "Data masked"})
    closed_again = await intake.act(
        project_id, f"raid/{issue['id']}/close", {"resolution": "Again"}, expect=None
    )
    assert_problem(closed_again, 409)
    edit_closed = await intake.act(
        project_id, f"raid/{issue['id']}", {"owner": "erin"}, method="PATCH", expect=None
    )
    assert_problem(edit_closed, 409)


async def test_raid_and_status_changes_need_if_match(intake: Intake) -> None:
    project_id = await approved_project(intake)
    for path, body in (
        ("raid", {"kind": "issue", "title": "Late", "owner": "dave"}),
        ("status-reports", ON_TRACK),
    ):
        response = await intake.client.post(
            f"/v1/projects/{project_id}/{path}", json=body, headers=intake.pmo
        )
        assert_problem(response, 428)


@pytest.mark.parametrize(
    ("path", "method", "body", "field"),
    [
        ("tolerances", "PUT", {"cost_percent": "-5", "schedule_days": 30}, "cost_percent"),
        ("tolerances", "PUT", {"cost_percent": "10", "schedule_days": "a month"}, "schedule_days"),
        ("tolerances", "PUT", {"cost_percent": "10"}, "schedule_days"),
        ("tolerances", "PUT", {"cost_percent": "10", "schedule_days": 30, "scope": 1}, "scope"),
        ("advance", "POST", {"to_stage": "designing"}, "to_stage"),
        ("advance", "POST", {"to_stage": "planning", "when": "now"}, "when"),
    ],
)
async def test_invalid_tolerances_and_stage_changes_are_refused_and_write_nothing(
    intake: Intake, path: str, method: str, body: dict[str, Any], field: str
) -> None:
    project_id = await approved_project(intake)
    before = await intake.row_counts()

    response = await intake.act(project_id, path, body, method=method, expect=None)

    assert_problem(response, 422, field=field)
    assert await intake.row_counts() == before


async def test_closing_a_raid_item_needs_a_resolution(intake: Intake) -> None:
    project_id = await intake.new_project()
    issue = (
        await intake.act(
            project_id,
            "raid",
            {"kind": "issue", "title": "No test data", "owner": "dave"},
            expect=201,
        )
    ).json()
    before = await intake.row_counts()

    response = await intake.act(
        project_id, f"raid/{issue['id']}/close", {"resolution": " "}, expect=None
    )

    assert_problem(response, 422, field="resolution")
    assert await intake.row_counts() == before


async def test_the_sponsor_reports_status_and_logs_raid_items_but_a_stranger_may_not(
    intake: Intake,
) -> None:
    project_id = await approved_project(intake)
    issue = {"kind": "issue", "title": "Late", "owner": "dave"}

    await intake.act(project_id, "status-reports", ON_TRACK, headers=intake.carol, expect=201)
    await intake.act(project_id, "raid", issue, headers=intake.carol, expect=201)
    before = await intake.row_counts()
    for path, body in (("status-reports", ON_TRACK), ("raid", issue)):
        refused = await intake.act(project_id, path, body, headers=intake.bob, expect=None)
        assert_problem(refused, 403)
    assert await intake.row_counts() == before
