"""Intake's project API: what callers may send, and what they get back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from gatehouse.auth import DevIssuer, Role
from gatehouse.eventstore.schema import events
from gatehouse.testing.harness import RunningService, TestDatabase, running_service
from intake.bootstrap import migrate
from intake.main import create_app
from intake.settings import IntakeSettings

pytestmark = pytest.mark.kafka

VALID: dict[str, Any] = {
    "title": "New CRM", "description": "Replace the legacy CRM", "sponsor": "carol",
    "business_unit": "Sales", "project_type": "standard",
    "estimated_cost": {"amount": "250000.00", "currency": "EUR"},
}


@pytest.fixture
async def intake(any_database: TestDatabase, kafka_bootstrap: str, namespace: str,
                 dev_issuer: DevIssuer) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(database_url=any_database.url,
                              database_schema=any_database.schema,
                              kafka_bootstrap_servers=kafka_bootstrap, topic_namespace=namespace,
                              auth_dev_key_file=dev_issuer.key_file, log_json=False)
    await asyncio.to_thread(migrate, settings)
    async with running_service(create_app(settings), dev_issuer) as service:
        yield service


async def stored_event_count(service: RunningService) -> int:
    database = service.app.state.runtime.database
    async with database.engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(events)))
                   .scalar_one())


async def test_a_requester_creates_a_project_and_reads_it_back(intake: RunningService) -> None:
    alice = intake.auth("alice", Role.REQUESTER)

    created = await intake.client.post("/v1/projects", json=VALID, headers=alice)

    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "draft"
    assert body["requested_by"] == "alice"
    assert body["estimated_cost"] == {"amount": "250000.00", "currency": "EUR"}
    assert created.headers["etag"] == '"1"'
    read = await intake.client.get(created.headers["location"], headers=alice)
    assert read.status_code == 200
    assert read.json() == body
    assert read.headers["etag"] == '"1"'


@pytest.mark.parametrize(("change", "field"), [
    ({"unexpected": 1}, "unexpected"),
    ({"title": 42}, "title"),
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"description": "x" * 10_001}, "description"),
    ({"project_type": "Not A Key"}, "project_type"),
    ({"estimated_cost": {"amount": "-1", "currency": "EUR"}}, "estimated_cost.amount"),
    ({"estimated_cost": {"amount": "1.001", "currency": "EUR"}}, "estimated_cost.amount"),
    ({"estimated_cost": {"amount": "1", "currency": "EURO"}}, "estimated_cost.currency"),
    ({"estimated_cost": {"amount": "1", "currency": "XYZ"}}, "estimated_cost.currency"),
    ({"sponsor": None}, "sponsor"),
])
async def test_invalid_input_is_refused_naming_the_field_and_writes_nothing(
        intake: RunningService, change: dict[str, Any], field: str) -> None:
    response = await intake.client.post("/v1/projects", json={**VALID, **change},
                                        headers=intake.auth("alice", Role.REQUESTER))

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert field in [error["field"] for error in problem["errors"]]
    assert await stored_event_count(intake) == 0


async def test_a_missing_field_is_named(intake: RunningService) -> None:
    body = {key: value for key, value in VALID.items() if key != "business_unit"}
    response = await intake.client.post("/v1/projects", json=body,
                                        headers=intake.auth("alice", Role.REQUESTER))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "business_unit"


async def test_without_a_token_the_caller_is_unauthenticated(intake: RunningService) -> None:
    response = await intake.client.post("/v1/projects", json=VALID)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["type"] == "/problems/unauthenticated"


async def test_a_token_from_another_issuer_is_refused(intake: RunningService,
                                                      tmp_path: Any) -> None:
    stranger = DevIssuer(tmp_path / "other.pem", issuer="gatehouse-dev", audience="gatehouse")
    token = stranger.issue("mallory", [Role.REQUESTER])
    response = await intake.client.post("/v1/projects", json=VALID,
                                        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_an_auditor_may_not_request_projects(intake: RunningService) -> None:
    response = await intake.client.post("/v1/projects", json=VALID,
                                        headers=intake.auth("eve", Role.AUDITOR))

    assert response.status_code == 403
    assert "requester" in response.json()["detail"]
    assert await stored_event_count(intake) == 0


async def test_an_unknown_project_is_not_found(intake: RunningService) -> None:
    response = await intake.client.get("/v1/projects/4d1f8a3e-0000-4000-8000-000000000000",
                                       headers=intake.auth("alice", Role.REQUESTER))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_malformed_project_id_is_refused(intake: RunningService) -> None:
    response = await intake.client.get("/v1/projects/not-a-uuid",
                                       headers=intake.auth("alice", Role.REQUESTER))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "project_id"
