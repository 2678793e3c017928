"""The lifecycle through the API: every step is a command endpoint; a refused step says why."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gatehouse.eventstore.schema import events

from .conftest import Intake, assert_problem

pytestmark = pytest.mark.kafka


async def stored_types(intake: Intake) -> list[str]:
    database = intake.service.app.state.runtime.database
    async with database.engine.connect() as connection:
        rows = await connection.execute(select(events.c.type).order_by(events.c.position))
        return [row.type.removeprefix("gatehouse.intake.") for row in rows]


async def test_a_request_goes_from_draft_to_a_closed_project(intake: Intake) -> None:
    project_id = await intake.new_project()
    await intake.act(project_id, "submit", headers=intake.alice)

    approved = await intake.walk(project_id, "start-screening", "qualify", "approve")
    assert approved.json()["status"] == "approved"
    assert approved.json()["stage"] == "initiating"
    assert approved.json()["baseline"] == {
        "cost": {"amount": "250000.00", "currency": "EUR"},
        "end_date": "2027-09-30",
    }

    closed = await intake.walk(
        project_id,
        "advance:planning",
        "advance:executing",
        "hold",
        "resume",
        "advance:closing",
        "close",
    )

    assert closed.json()["stage"] == "closed"
    assert closed.json()["allowed_actions"] == []
    assert closed.headers["etag"] == '"11"'
    assert await stored_types(intake) == [
        "ProjectRequested",
        "ProjectSubmitted",
        "ProjectScreeningStarted",
        "ProjectQualified",
        "ProjectApproved",
        "ProjectStageAdvanced",
        "ProjectStageAdvanced",
        "ProjectPutOnHold",
        "ProjectResumed",
        "ProjectStageAdvanced",
        "ProjectClosed",
    ]


async def test_deferral_reactivation_rejection_and_withdrawal(intake: Intake) -> None:
    deferred = await intake.new_project()
    await intake.act(deferred, "submit", headers=intake.alice)
    await intake.walk(deferred, "start-screening", "defer", "reactivate")
    assert (await intake.read(deferred)).json()["status"] == "submitted"

    rejected = await intake.new_project()
    await intake.act(rejected, "submit", headers=intake.alice)
    response = await intake.walk(rejected, "start-screening", "qualify", "reject")
    assert response.json()["status"] == "rejected"
    assert response.json()["allowed_actions"] == []

    withdrawn = await intake.new_project()
    await intake.act(withdrawn, "submit", headers=intake.alice)
    response = await intake.act(
        withdrawn, "withdraw", {"reason": "merged into another"}, headers=intake.alice
    )
    assert response.json()["status"] == "withdrawn"


async def test_a_step_that_is_not_allowed_answers_409_with_the_state_and_the_next_steps(
    intake: Intake,
) -> None:
    project_id = await intake.new_project()

    response = await intake.act(project_id, "approve", expect=None)

    problem = assert_problem(response, 409)
    assert problem["type"] == "/problems/invalid-transition"
    assert problem["current_status"] == "draft"
    assert problem["current_stage"] is None
    assert problem["allowed_actions"][:3] == ["edit", "submit", "withdraw"]
    assert (await intake.row_counts())["events"] == 1


async def test_advancing_to_a_stage_that_is_not_next_is_refused(intake: Intake) -> None:
    project_id = await intake.new_project()
    await intake.act(project_id, "submit", headers=intake.alice)
    await intake.walk(project_id, "start-screening", "qualify", "approve")

    response = await intake.act(project_id, "advance", {"to_stage": "executing"}, expect=None)

    problem = assert_problem(response, 409)
    assert problem["current_stage"] == "initiating"
    assert "the next stage after initiating is planning" in problem["detail"]


async def test_a_withdrawal_after_approval_is_refused(intake: Intake) -> None:
    project_id = await intake.new_project()
    await intake.act(project_id, "submit", headers=intake.alice)
    await intake.walk(project_id, "start-screening", "qualify", "approve")

    response = await intake.act(project_id, "withdraw", headers=intake.alice, expect=None)

    assert assert_problem(response, 409)["current_stage"] == "initiating"


@pytest.mark.parametrize("action", ["defer", "reject", "hold", "kill"])
async def test_steps_that_end_or_pause_work_need_a_reason(intake: Intake, action: str) -> None:
    project_id = await intake.new_project()

    missing = await intake.act(project_id, action, expect=None)
    blank = await intake.act(project_id, action, {"reason": "  "}, expect=None)

    assert_problem(missing, 422)
    assert_problem(blank, 422, field="reason")
    assert (await intake.row_counts())["events"] == 1


async def test_the_pmo_kills_an_active_project_for_good(intake: Intake) -> None:
    project_id = await intake.new_project()
    await intake.act(project_id, "submit", headers=intake.alice)
    await intake.walk(project_id, "start-screening", "qualify", "approve")

    killed = await intake.act(project_id, "kill", {"reason": "Superseded by the ERP"})

    assert killed.json()["stage"] == "killed"
    assert killed.json()["allowed_actions"] == []


async def test_only_the_pmo_moves_a_request_through_review(intake: Intake) -> None:
    project_id = await intake.new_project()
    await intake.act(project_id, "submit", headers=intake.alice)

    by_requester = await intake.act(
        project_id, "start-screening", headers=intake.alice, expect=None
    )
    by_other = await intake.act(project_id, "withdraw", headers=intake.bob, expect=None)

    assert "pmo_admin" in assert_problem(by_requester, 403)["detail"]
    assert assert_problem(by_other, 403)["rule"] == "object-ownership"


async def test_a_lifecycle_step_without_if_match_is_refused(intake: Intake) -> None:
    project_id = await intake.new_project()
    response = await intake.client.post(f"/v1/projects/{project_id}/submit", headers=intake.alice)
    assert_problem(response, 428)


async def test_a_step_on_an_unknown_project_is_not_found(intake: Intake) -> None:
    response = await intake.client.post(
        "/v1/projects/6f1c1a52-0000-4000-8000-000000000000/submit",
        headers={**intake.alice, "If-Match": '"1"'},
    )
    assert_problem(response, 404)


async def test_an_unknown_field_in_a_step_body_is_refused(intake: Intake) -> None:
    project_id = await intake.new_project()
    response = await intake.act(
        project_id, "submit", {"reason": "ok", "urgent": True}, headers=intake.alice, expect=None
    )
    assert_problem(response, 422, field="urgent")
