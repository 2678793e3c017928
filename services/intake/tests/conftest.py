"""Fixtures for intake's API tests: a running intake on SQLite or PostgreSQL, and a client
that speaks its conventions (bearer tokens, ETag → If-Match)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gatehouse.auth import DevIssuer, Role
from gatehouse.eventstore.schema import events
from gatehouse.idempotency import idempotency_keys
from gatehouse.testing.harness import RunningService, TestDatabase, running_service
from gatehouse.testing.migrated import MigratedDatabases
from intake.bootstrap import migrate
from intake.main import create_app
from intake.settings import IntakeSettings
from intake.tables import project_registry

VALID_REQUEST: dict[str, Any] = {
    "title": "New CRM",
    "description": "Replace the legacy CRM",
    "sponsor": "carol",
    "business_unit": "Sales",
    "project_type": "standard",
    "estimated_cost": {"amount": "250000.00", "currency": "EUR"},
    "start_date": "2027-01-04",
    "target_date": "2027-09-30",
    "expected_benefits": "Cut quote-to-order time by half",
    "risk_level": "medium",
    "strategic_objectives": ["customer-experience"],
}


class Intake:
    """A running intake service and the people who use it."""

    def __init__(self, service: RunningService) -> None:
        self.service = service
        self.client = service.client
        self.alice = service.auth("alice", Role.REQUESTER)
        self.bob = service.auth("bob", Role.REQUESTER)
        self.carol = service.auth("carol", Role.REQUESTER)
        self.pmo = service.auth("pat", Role.PMO_ADMIN)
        self.auditor = service.auth("eve", Role.AUDITOR)

    async def request_project(
        self, headers: dict[str, str] | None = None, **changes: Any
    ) -> httpx.Response:
        response = await self.client.post(
            "/v1/projects", json={**VALID_REQUEST, **changes}, headers=headers or self.alice
        )
        assert response.status_code == 201, response.text
        return response

    async def new_project(self, **changes: Any) -> str:
        return str((await self.request_project(**changes)).json()["id"])

    async def read(self, project_id: str) -> httpx.Response:
        response = await self.client.get(f"/v1/projects/{project_id}", headers=self.pmo)
        assert response.status_code == 200, response.text
        return response

    async def etag(self, project_id: str) -> str:
        return (await self.read(project_id)).headers["etag"]

    async def act(
        self,
        project_id: str,
        action: str,
        body: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        method: str = "POST",
        expect: int | None = 200,
    ) -> httpx.Response:
        """Send a change with the project's current ETag as If-Match."""
        etag = await self.etag(project_id)
        path = f"/v1/projects/{project_id}" + (f"/{action}" if action else "")
        response = await self.client.request(
            method, path, json=body, headers={**(headers or self.pmo), "If-Match": etag}
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    async def walk(self, project_id: str, *actions: str) -> httpx.Response:
        """Take lifecycle steps in order (as the PMO; reasons given where needed)."""
        response: httpx.Response | None = None
        for action in actions:
            if action.startswith("advance:"):
                response = await self.act(
                    project_id, "advance", {"to_stage": action.split(":", 1)[1]}
                )
            else:
                body = {"reason": f"because {action}"}
                response = await self.act(project_id, action, body)
        assert response is not None
        return response

    async def stored_types(self, project_id: str) -> list[str]:
        """The event types of one project's stream, in order."""
        database = self.service.app.state.runtime.database
        query = (
            select(events.c.type)
            .where(events.c.stream_id == f"project-{project_id}")
            .order_by(events.c.version)
        )
        async with database.engine.connect() as connection:
            rows = await connection.execute(query)
            return [row.type.removeprefix("gatehouse.intake.") for row in rows]

    async def row_counts(self) -> dict[str, int]:
        """How many events, registry rows and idempotency records are stored."""
        database = self.service.app.state.runtime.database
        counts: dict[str, int] = {}
        async with database.engine.connect() as connection:
            for name, table in (
                ("events", events),
                ("registry", project_registry),
                ("idempotency", idempotency_keys),
            ):
                counts[name] = int(
                    (await connection.execute(select(func.count()).select_from(table))).scalar_one()
                )
        return counts


@pytest.fixture
async def intake(
    any_database: TestDatabase,
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
    migrated_databases: MigratedDatabases,
) -> AsyncIterator[Intake]:
    settings = IntakeSettings(
        database_url=any_database.url,
        database_schema=any_database.schema,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_namespace=namespace,
        auth_dev_key_file=dev_issuer.key_file,
        log_json=False,
    )
    await asyncio.to_thread(migrated_databases.migrate, migrate, settings)
    async with running_service(create_app(settings), dev_issuer) as service:
        yield Intake(service)


def assert_problem(
    response: httpx.Response, status: int, *, field: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    if field is not None:
        assert field in [error["field"] for error in problem.get("errors", [])], problem
    return problem
