"""Forgetting a person: their keys are destroyed in every service, every read of them says
"[erased]", everyone else stays readable, and the audit chains still verify."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from gatehouse.auth import Role
from gatehouse.eventstore.chain import ChainVerifier
from gatehouse.eventstore.schema import events
from gatehouse.eventstore.store import envelope_from_row
from gatehouse.personal_data import ERASED
from gatehouse.testing.harness import RunningService, eventually
from governance.tables import known_projects

from .conftest import Gatehouse, project_request

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SPONSOR = "dana.sponsor@example.com"


async def request_project(gatehouse: Gatehouse, title: str, sponsor: str) -> str:
    created = await gatehouse.intake.client.post(
        "/v1/projects", headers=gatehouse.intake.auth("alice", Role.REQUESTER),
        json=project_request(title=title, sponsor=sponsor))
    assert created.status_code == 201, created.text
    project_id: str = created.json()["id"]
    return project_id


async def reported_sponsor(gatehouse: Gatehouse, project_id: str) -> str | None:
    response = await gatehouse.reporting.client.get(
        f"/v1/projects/{project_id}", headers=gatehouse.reporting.auth("lee", Role.PMO_ADMIN))
    if response.status_code != 200:
        return None
    sponsor: str = response.json()["sponsor"]
    return sponsor


async def governance_sponsors(gatehouse: Gatehouse) -> dict[str, str]:
    database = gatehouse.governance.app.state.runtime.database
    async with database.engine.connect() as connection:
        rows = (await connection.execute(select(known_projects.c.project_id,
                                                known_projects.c.sponsor))).all()
    return {str(row.project_id): row.sponsor for row in rows}


async def stored_intake_events(service: RunningService) -> list[Any]:
    runtime = service.app.state.runtime
    async with runtime.database.engine.connect() as connection:
        rows = (await connection.execute(select(events).order_by(events.c.position))).all()
    return [envelope_from_row(row, runtime.event_store.source) for row in rows]


async def test_an_erased_sponsor_reads_as_erased_everywhere_and_the_chains_still_verify(
        gatehouse: Gatehouse) -> None:
    forgotten = await request_project(gatehouse, "CRM", SPONSOR)
    kept = await request_project(gatehouse, "ERP", "erin.sponsor@example.com")

    async def everywhere() -> bool:
        sponsors = await governance_sponsors(gatehouse)
        return (await reported_sponsor(gatehouse, forgotten) == SPONSOR
                and sponsors.get(forgotten) == SPONSOR)

    await eventually(everywhere, timeout=30, description="both services know the sponsor")
    stored_before = await stored_intake_events(gatehouse.intake)
    assert SPONSOR not in str([(event.data, event.actor) for event in stored_before])

    pmo = gatehouse.intake.auth("pat", Role.PMO_ADMIN)
    erased = await gatehouse.intake.client.post("/v1/personal-data/erasures", headers=pmo,
                                                json={"subject": SPONSOR,
                                                      "reason": "erasure request 2026-118"})
    assert erased.status_code == 201, erased.text
    assert erased.json()["refs"]
    assert SPONSOR not in erased.text

    async def erased_everywhere() -> bool:
        sponsors = await governance_sponsors(gatehouse)
        return (await reported_sponsor(gatehouse, forgotten) == ERASED
                and sponsors.get(forgotten) == ERASED)

    await eventually(erased_everywhere, timeout=30,
                     description="reporting and governance read the sponsor as erased")
    project = await gatehouse.intake.client.get(
        f"/v1/projects/{forgotten}", headers=pmo)
    assert project.json()["sponsor"] == ERASED
    assert project.json()["requested_by"] == "alice"
    assert await reported_sponsor(gatehouse, kept) == "erin.sponsor@example.com"
    timeline = (await gatehouse.reporting.client.get(
        f"/v1/projects/{forgotten}/timeline",
        headers=gatehouse.reporting.auth("lee", Role.AUDITOR))).json()
    assert timeline["items"][0]["data"]["sponsor"] == ERASED
    assert timeline["items"][0]["actor"] == "alice"

    stored_after = await stored_intake_events(gatehouse.intake)
    assert stored_after[:len(stored_before)] == stored_before
    verifier = ChainVerifier(check_log=False)
    verifier.add_all(stored_after)
    assert verifier.report().intact
    assert [event.type for event in stored_after[len(stored_before):]] == [
        "gatehouse.intake.PersonalDataErased"]

    async def reporting_verifies() -> dict[str, Any] | None:
        response = await gatehouse.reporting.client.get(
            "/v1/audit/verify", headers=gatehouse.reporting.auth("lee", Role.AUDITOR))
        body: dict[str, Any] = response.json()
        return body if body["events_checked"] == len(stored_after) else None

    verification = await eventually(reporting_verifies, timeout=30,
                                    description="reporting has every intake event")
    assert verification["intact"], verification["first_break"]

    again = await gatehouse.intake.client.post("/v1/personal-data/erasures", headers=pmo,
                                               json={"subject": SPONSOR, "reason": "again"})
    assert again.status_code == 404
