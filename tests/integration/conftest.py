"""The three services in one process, each on its own PostgreSQL schema (its own database, as
far as it can tell), talking only through the real Kafka broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI

from gatehouse.auth import DevIssuer, Role
from gatehouse.testing.harness import RunningService, eventually, running_service
from governance.bootstrap import migrate as migrate_governance
from governance.main import create_app as create_governance
from governance.settings import GovernanceSettings
from intake.bootstrap import migrate as migrate_intake
from intake.main import create_app as create_intake
from intake.settings import IntakeSettings
from reporting.bootstrap import migrate as migrate_reporting
from reporting.main import create_app as create_reporting
from reporting.settings import ReportingSettings


def project_request(**changes: Any) -> dict[str, Any]:
    """A valid body for intake's POST /v1/projects, with ``changes``."""
    return {
        "title": "Project",
        "description": "d",
        "sponsor": "carol",
        "business_unit": "Sales",
        "project_type": "standard",
        "estimated_cost": {"amount": "1000.00", "currency": "EUR"},
        "start_date": "2027-01-04",
        "target_date": "2027-09-30",
        "expected_benefits": "b",
        "risk_level": "low",
        **changes,
    }


@dataclass
class Gatehouse:
    intake: RunningService
    governance: RunningService
    reporting: RunningService
    intake_settings: IntakeSettings
    governance_settings: GovernanceSettings
    reporting_settings: ReportingSettings
    issuer: DevIssuer
    stack: AsyncExitStack

    async def quiet(self) -> bool:
        """Nothing in flight anywhere: every relay has published what its service stored, and
        every consumer has applied what it has seen on its partitions. A read model that
        matches what a test expects may still be short of events on their way; once quiet,
        it holds them all."""
        for service in (self.intake, self.governance, self.reporting):
            runtime = service.app.state.runtime
            if runtime.relay is not None and await runtime.relay.pending_count():
                return False
            if any(
                status.end_offset and (status.next_offset or 0) < status.end_offset
                for consumer in runtime.consumers
                for status in consumer.partitions()
            ):
                return False
        return True

    async def intake_replica(self) -> RunningService:
        """Another intake instance on the same database and consumer group."""
        return await self._replica(create_intake(self.intake_settings))

    async def governance_replica(self) -> RunningService:
        """Another governance instance on the same database and consumer group."""
        return await self._replica(create_governance(self.governance_settings))

    async def reporting_replica(self) -> RunningService:
        """Another reporting instance on the same database and consumer group."""
        return await self._replica(create_reporting(self.reporting_settings))

    async def _replica(self, app: FastAPI) -> RunningService:
        return await self.stack.enter_async_context(running_service(app, self.issuer))


@pytest.fixture
async def gatehouse(
    postgres_url: str,
    new_pg_schema: Callable[[], Awaitable[str]],
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
) -> AsyncIterator[Gatehouse]:
    common: dict[str, Any] = {
        "database_url": postgres_url,
        "kafka_bootstrap_servers": kafka_bootstrap,
        "topic_namespace": namespace,
        "auth_dev_key_file": dev_issuer.key_file,
        "log_json": False,
    }
    intake = IntakeSettings(database_schema=await new_pg_schema(), **common)
    governance = GovernanceSettings(database_schema=await new_pg_schema(), **common)
    reporting = ReportingSettings(database_schema=await new_pg_schema(), **common)
    # One after another: Alembic's migration context is process-global.
    await asyncio.to_thread(migrate_intake, intake)
    await asyncio.to_thread(migrate_governance, governance)
    await asyncio.to_thread(migrate_reporting, reporting)
    async with AsyncExitStack() as stack:
        services = [
            await stack.enter_async_context(running_service(create(settings), dev_issuer))
            for create, settings in (
                (create_intake, intake),
                (create_governance, governance),
                (create_reporting, reporting),
            )
        ]
        yield Gatehouse(
            *services,
            intake_settings=intake,
            governance_settings=governance,
            reporting_settings=reporting,
            issuer=dev_issuer,
            stack=stack,
        )


# --- Steps through the services, shared by the tests -----------------------------------------


async def requested_and_submitted(gatehouse: Gatehouse, alice: dict[str, str]) -> str:
    intake = gatehouse.intake
    created = await intake.client.post(
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
            "strategic_objectives": ["customer-experience"],
        },
    )
    assert created.status_code == 201, created.text
    project_id: str = created.json()["id"]
    submitted = await intake.client.post(
        f"/v1/projects/{project_id}/submit", headers={**alice, "If-Match": created.headers["etag"]}
    )
    assert submitted.status_code == 200, submitted.text
    return project_id


async def governance_sees(gatehouse: Gatehouse, project_id: str, status: str) -> None:
    governance = gatehouse.governance

    async def seen() -> bool:
        response = await governance.client.get(
            f"/v1/projects/{project_id}", headers=governance.auth("pat", Role.PMO_ADMIN)
        )
        return response.status_code == 200 and response.json()["status"] == status

    await eventually(seen, timeout=15, description=f"governance sees {status}")


async def intake_shows(
    gatehouse: Gatehouse, project_id: str, status: str, stage: str | None = None
) -> dict[str, Any]:
    intake = gatehouse.intake

    async def moved() -> dict[str, Any] | None:
        body: dict[str, Any] = (
            await intake.client.get(
                f"/v1/projects/{project_id}", headers=intake.auth("pat", Role.PMO_ADMIN)
            )
        ).json()
        return body if (body["status"], body["stage"]) == (status, stage) else None

    return await eventually(moved, timeout=15, description=f"intake shows {status}")


async def open_review(
    gatehouse: Gatehouse, project_id: str, who: dict[str, str], **body: Any
) -> str:
    response = await gatehouse.governance.client.post(
        "/v1/gate-reviews", headers=who, json={"project_id": project_id, **body}
    )
    assert response.status_code == 201, response.text
    review_id: str = response.json()["id"]
    return review_id


async def vote(
    gatehouse: Gatehouse, review_id: str, who: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await gatehouse.governance.client.post(
        f"/v1/gate-reviews/{review_id}/votes", headers=who, json=body
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
