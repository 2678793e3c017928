"""Intake's project API: capture, read, edit; what callers may send, and what they get back."""

from __future__ import annotations

from typing import Any

import pytest

from gatehouse.auth import DevIssuer, Role

from .conftest import VALID_REQUEST, Intake, assert_problem

pytestmark = pytest.mark.kafka


async def test_a_requester_creates_a_project_and_reads_it_back(intake: Intake) -> None:
    created = await intake.client.post("/v1/projects", json=VALID_REQUEST, headers=intake.alice)

    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "draft"
    assert body["stage"] is None
    assert body["requested_by"] == "alice"
    assert body["estimated_cost"] == {"amount": "250000.00", "currency": "EUR"}
    assert body["start_date"] == "2027-01-04"
    assert body["target_date"] == "2027-09-30"
    assert body["risk_level"] == "medium"
    assert body["strategic_objectives"] == ["customer-experience"]
    assert body["tolerances"] == {"cost_percent": "10", "schedule_days": 30}
    assert body["allowed_actions"][:3] == ["edit", "submit", "withdraw"]
    assert created.headers["etag"] == '"1"'
    read = await intake.client.get(created.headers["location"], headers=intake.alice)
    assert read.status_code == 200
    assert read.json() == body
    assert read.headers["etag"] == '"1"'
    listed = (await intake.client.get("/v1/projects", headers=intake.alice)).json()["items"]
    assert [(item["id"], item["created_at"]) for item in listed] == [
        (body["id"], body["created_at"])
    ]
    assert body["created_at"].endswith("Z")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unexpected": 1}, "unexpected"),
        ({"title": 42}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"description": "x" * 10_001}, "description"),
        ({"expected_benefits": "x" * 10_001}, "expected_benefits"),
        ({"project_type": "Not A Key"}, "project_type"),
        ({"estimated_cost": {"amount": "-1", "currency": "EUR"}}, "estimated_cost.amount"),
        ({"estimated_cost": {"amount": "1.001", "currency": "EUR"}}, "estimated_cost.amount"),
        ({"estimated_cost": {"amount": "1", "currency": "EURO"}}, "estimated_cost.currency"),
        ({"estimated_cost": {"amount": "1", "currency": "XYZ"}}, "estimated_cost.currency"),
        ({"estimated_cost": {"amount": "1", "currency": "EUR", "rate": 1}}, "estimated_cost.rate"),
        ({"sponsor": None}, "sponsor"),
        ({"start_date": "2027-02-30"}, "start_date"),
        ({"target_date": "2026-12-31"}, "target_date"),
        ({"risk_level": "extreme"}, "risk_level"),
        ({"strategic_objectives": "growth"}, "strategic_objectives"),
        ({"strategic_objectives": [f"o{i}" for i in range(21)]}, "strategic_objectives"),
        ({"custom": {"cost_centre": "CC-1"}}, "custom.cost_centre"),
        ({"tolerances": {"cost_percent": "-5", "schedule_days": 10}}, "tolerances.cost_percent"),
        ({"tolerances": {"cost_percent": "5", "schedule_days": 1.5}}, "tolerances.schedule_days"),
    ],
)
async def test_invalid_input_is_refused_naming_the_field_and_writes_nothing(
    intake: Intake, change: dict[str, Any], field: str
) -> None:
    response = await intake.client.post(
        "/v1/projects", json={**VALID_REQUEST, **change}, headers=intake.alice
    )

    assert_problem(response, 422, field=field)
    assert await intake.row_counts() == {"events": 0, "registry": 0, "idempotency": 0}


async def test_a_missing_field_is_named(intake: Intake) -> None:
    body = {key: value for key, value in VALID_REQUEST.items() if key != "business_unit"}
    response = await intake.client.post("/v1/projects", json=body, headers=intake.alice)
    assert assert_problem(response, 422)["errors"][0]["field"] == "business_unit"


async def test_a_body_that_is_not_json_is_refused(intake: Intake) -> None:
    response = await intake.client.post(
        "/v1/projects",
        content=b"{not json",
        headers={**intake.alice, "Content-Type": "application/json"},
    )
    assert_problem(response, 422)


async def test_without_a_token_the_caller_is_unauthenticated(intake: Intake) -> None:
    response = await intake.client.post("/v1/projects", json=VALID_REQUEST)

    assert assert_problem(response, 401)["type"] == "/problems/unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_token_from_another_issuer_is_refused(intake: Intake, tmp_path: Any) -> None:
    stranger = DevIssuer(tmp_path / "other.pem", issuer="gatehouse-dev", audience="gatehouse")
    token = stranger.issue("mallory", [Role.REQUESTER])
    response = await intake.client.post(
        "/v1/projects", json=VALID_REQUEST, headers={"Authorization": f"Bearer {token}"}
    )
    assert_problem(response, 401)


async def test_an_auditor_may_not_request_projects(intake: Intake) -> None:
    response = await intake.client.post("/v1/projects", json=VALID_REQUEST, headers=intake.auditor)

    assert "requester" in assert_problem(response, 403)["detail"]


async def test_an_unknown_project_is_not_found(intake: Intake) -> None:
    response = await intake.client.get(
        "/v1/projects/6f1c1a52-0000-4000-8000-000000000000", headers=intake.alice
    )
    assert_problem(response, 404)


# --- Editing --------------------------------------------------------------------------------


async def test_the_requester_edits_a_draft_and_only_the_changed_fields_are_recorded(
    intake: Intake,
) -> None:
    project_id = await intake.new_project()

    edited = await intake.act(
        project_id,
        "",
        {"title": "New CRM (phase 1)", "description": VALID_REQUEST["description"]},
        method="PATCH",
        headers=intake.alice,
    )

    assert edited.json()["title"] == "New CRM (phase 1)"
    assert edited.headers["etag"] == '"2"'
    counts = await intake.row_counts()
    assert counts["events"] == 2


async def test_an_edit_without_if_match_is_refused_with_428_and_writes_nothing(
    intake: Intake,
) -> None:
    project_id = await intake.new_project()

    response = await intake.client.patch(
        f"/v1/projects/{project_id}", json={"title": "X"}, headers=intake.alice
    )

    assert "If-Match" in assert_problem(response, 428)["detail"]
    assert (await intake.row_counts())["events"] == 1


async def test_an_edit_with_a_stale_etag_is_refused_with_412_naming_the_current_one(
    intake: Intake,
) -> None:
    project_id = await intake.new_project()
    await intake.act(project_id, "", {"title": "First edit"}, method="PATCH", headers=intake.alice)

    response = await intake.client.patch(
        f"/v1/projects/{project_id}",
        json={"title": "Late"},
        headers={**intake.alice, "If-Match": '"1"'},
    )

    assert assert_problem(response, 412)["current_etag"] == '"2"'
    assert (await intake.read(project_id)).json()["title"] == "First edit"


@pytest.mark.parametrize("if_match", ['W/"1"', '"one"', "1"])
async def test_a_weak_or_malformed_etag_never_matches(intake: Intake, if_match: str) -> None:
    project_id = await intake.new_project()
    response = await intake.client.patch(
        f"/v1/projects/{project_id}",
        json={"title": "X"},
        headers={**intake.alice, "If-Match": if_match},
    )
    assert_problem(response, 412)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": None}, "title"),
        ({"nickname": "crm"}, "nickname"),
        ({"estimated_cost": {"amount": "-3", "currency": "EUR"}}, "estimated_cost.amount"),
        ({"target_date": "2026-06-01"}, "target_date"),
        ({"start_date": "2028-01-01"}, "start_date"),
        ({"custom": {"unknown": 1}}, "custom.unknown"),
    ],
)
async def test_an_invalid_edit_is_refused_naming_the_field(
    intake: Intake, body: dict[str, Any], field: str
) -> None:
    project_id = await intake.new_project()

    response = await intake.act(
        project_id, "", body, method="PATCH", headers=intake.alice, expect=None
    )

    problem = assert_problem(response, 422)
    assert field in problem["detail"] or field in [e["field"] for e in problem["errors"]]
    assert (await intake.row_counts())["events"] == 1


async def test_an_empty_edit_is_refused(intake: Intake) -> None:
    project_id = await intake.new_project()
    response = await intake.act(
        project_id, "", {}, method="PATCH", headers=intake.alice, expect=None
    )
    assert_problem(response, 422)


async def test_only_the_requester_or_the_pmo_may_edit(intake: Intake) -> None:
    project_id = await intake.new_project()

    response = await intake.act(
        project_id, "", {"title": "Mine now"}, method="PATCH", headers=intake.bob, expect=None
    )

    assert assert_problem(response, 403)["rule"] == "object-ownership"
    await intake.act(project_id, "", {"title": "Tidied"}, method="PATCH", headers=intake.pmo)


async def test_a_submitted_request_can_no_longer_be_edited(intake: Intake) -> None:
    project_id = await intake.new_project()
    await intake.act(project_id, "submit", headers=intake.alice)

    response = await intake.act(
        project_id, "", {"title": "Too late"}, method="PATCH", headers=intake.alice, expect=None
    )

    problem = assert_problem(response, 409)
    assert problem["current_status"] == "submitted"
    assert "edit" not in problem["allowed_actions"]
    assert "start_screening" in problem["allowed_actions"]


# --- Idempotency ------------------------------------------------------------------------------


async def test_a_retry_with_the_same_idempotency_key_gets_the_stored_response(
    intake: Intake,
) -> None:
    headers = {**intake.alice, "Idempotency-Key": "req-42"}
    first = await intake.client.post("/v1/projects", json=VALID_REQUEST, headers=headers)
    again = await intake.client.post(
        "/v1/projects", json=dict(reversed(VALID_REQUEST.items())), headers=headers
    )

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert (await intake.row_counts())["events"] == 1


async def test_the_same_idempotency_key_with_another_body_is_refused(intake: Intake) -> None:
    headers = {**intake.alice, "Idempotency-Key": "req-43"}
    await intake.client.post("/v1/projects", json=VALID_REQUEST, headers=headers)

    response = await intake.client.post(
        "/v1/projects", json={**VALID_REQUEST, "title": "Other"}, headers=headers
    )

    assert_problem(response, 422, field="Idempotency-Key")
    assert (await intake.row_counts())["events"] == 1


async def test_idempotency_keys_belong_to_their_caller(intake: Intake) -> None:
    await intake.client.post(
        "/v1/projects", json=VALID_REQUEST, headers={**intake.alice, "Idempotency-Key": "shared"}
    )
    bobs = await intake.client.post(
        "/v1/projects", json=VALID_REQUEST, headers={**intake.bob, "Idempotency-Key": "shared"}
    )
    assert bobs.status_code == 201
    assert bobs.json()["requested_by"] == "bob"
    assert (await intake.row_counts())["events"] == 2


async def test_a_retried_change_is_replayed_even_though_its_etag_is_now_stale(
    intake: Intake,
) -> None:
    project_id = await intake.new_project()
    headers = {**intake.alice, "If-Match": '"1"', "Idempotency-Key": "submit-once"}

    first = await intake.client.post(f"/v1/projects/{project_id}/submit", headers=headers)
    again = await intake.client.post(f"/v1/projects/{project_id}/submit", headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert (await intake.row_counts())["events"] == 2


async def test_a_refused_request_does_not_use_up_its_key(intake: Intake) -> None:
    headers = {**intake.alice, "Idempotency-Key": "fix-and-retry"}
    refused = await intake.client.post(
        "/v1/projects", json={**VALID_REQUEST, "title": ""}, headers=headers
    )
    fixed = await intake.client.post("/v1/projects", json=VALID_REQUEST, headers=headers)
    assert refused.status_code == 422
    assert fixed.status_code == 201


async def test_an_invalid_idempotency_key_is_refused(intake: Intake) -> None:
    response = await intake.client.post(
        "/v1/projects", json=VALID_REQUEST, headers={**intake.alice, "Idempotency-Key": "x" * 201}
    )
    assert_problem(response, 422, field="Idempotency-Key")
    assert (await intake.row_counts())["events"] == 0


async def test_concurrent_retries_with_one_key_create_one_project(intake: Intake) -> None:
    import asyncio

    headers = {**intake.alice, "Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *[
            intake.client.post("/v1/projects", json=VALID_REQUEST, headers=headers)
            for _ in range(10)
        ]
    )

    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    assert (await intake.row_counts())["events"] == 1
