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
from governance.tables import known_projects, review_awaiting

from .conftest import (
    Gatehouse,
    governance_sees,
    open_review,
    project_request,
    requested_and_submitted,
    vote,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SPONSOR = "dana.sponsor@example.com"
APPROVER = "gina.approver@example.com"


async def request_project(gatehouse: Gatehouse, title: str, sponsor: str) -> str:
    created = await gatehouse.intake.client.post(
        "/v1/projects",
        headers=gatehouse.intake.auth("alice", Role.REQUESTER),
        json=project_request(title=title, sponsor=sponsor),
    )
    assert created.status_code == 201, created.text
    project_id: str = created.json()["id"]
    return project_id


async def reported_sponsor(gatehouse: Gatehouse, project_id: str) -> str | None:
    response = await gatehouse.reporting.client.get(
        f"/v1/projects/{project_id}", headers=gatehouse.reporting.auth("lee", Role.PMO_ADMIN)
    )
    if response.status_code != 200:
        return None
    sponsor: str = response.json()["sponsor"]
    return sponsor


async def governance_sponsors(gatehouse: Gatehouse) -> dict[str, str]:
    database = gatehouse.governance.app.state.runtime.database
    async with database.engine.connect() as connection:
        rows = (
            await connection.execute(select(known_projects.c.project_id, known_projects.c.sponsor))
        ).all()
    return {str(row.project_id): row.sponsor for row in rows}


async def stored_events(service: RunningService) -> list[Any]:
    runtime = service.app.state.runtime
    async with runtime.database.engine.connect() as connection:
        rows = (await connection.execute(select(events).order_by(events.c.position))).all()
    return [envelope_from_row(row, runtime.event_store.source) for row in rows]


async def test_an_erased_sponsor_reads_as_erased_everywhere_and_the_chains_still_verify(
    gatehouse: Gatehouse,
) -> None:
    forgotten = await request_project(gatehouse, "CRM", SPONSOR)
    kept = await request_project(gatehouse, "ERP", "erin.sponsor@example.com")

    async def everywhere() -> bool:
        sponsors = await governance_sponsors(gatehouse)
        return (
            await reported_sponsor(gatehouse, forgotten) == SPONSOR
            and sponsors.get(forgotten) == SPONSOR
        )

    await eventually(everywhere, timeout=30, description="both services know the sponsor")
    stored_before = await stored_events(gatehouse.intake)
    assert SPONSOR not in str([(event.data, event.actor) for event in stored_before])

    pmo = gatehouse.intake.auth("pat", Role.PMO_ADMIN)
    erased = await gatehouse.intake.client.post(
        "/v1/personal-data/erasures",
        headers=pmo,
        json={"subject": SPONSOR, "reason": "erasure request 2026-118"},
    )
    assert erased.status_code == 201, erased.text
    assert erased.json()["refs"]
    assert SPONSOR not in erased.text

    async def erased_everywhere() -> bool:
        sponsors = await governance_sponsors(gatehouse)
        return (
            await reported_sponsor(gatehouse, forgotten) == ERASED
            and sponsors.get(forgotten) == ERASED
        )

    await eventually(
        erased_everywhere,
        timeout=30,
        description="reporting and governance read the sponsor as erased",
    )
    project = await gatehouse.intake.client.get(f"/v1/projects/{forgotten}", headers=pmo)
    assert project.json()["sponsor"] == ERASED
    assert project.json()["requested_by"] == "alice"
    assert await reported_sponsor(gatehouse, kept) == "erin.sponsor@example.com"
    timeline = (
        await gatehouse.reporting.client.get(
            f"/v1/projects/{forgotten}/timeline",
            headers=gatehouse.reporting.auth("lee", Role.AUDITOR),
        )
    ).json()
    assert timeline["items"][0]["data"]["sponsor"] == ERASED
    assert timeline["items"][0]["actor"] == "alice"

    stored_after = await stored_events(gatehouse.intake)
    assert stored_after[: len(stored_before)] == stored_before
    verifier = ChainVerifier(check_log=False)
    verifier.add_all(stored_after)
    assert verifier.report().intact
    assert [event.type for event in stored_after[len(stored_before) :]] == [
        "gatehouse.intake.PersonalDataErased"
    ]

    async def reporting_verifies() -> dict[str, Any] | None:
        response = await gatehouse.reporting.client.get(
            "/v1/audit/verify", headers=gatehouse.reporting.auth("lee", Role.AUDITOR)
        )
        body: dict[str, Any] = response.json()
        return body if body["events_checked"] == len(stored_after) else None

    verification = await eventually(
        reporting_verifies, timeout=30, description="reporting has every intake event"
    )
    assert verification["intact"], verification["first_break"]

    again = await gatehouse.intake.client.post(
        "/v1/personal-data/erasures", headers=pmo, json={"subject": SPONSOR, "reason": "again"}
    )
    assert again.status_code == 404


async def test_an_erased_approver_reads_as_erased_in_votes_seats_and_inboxes(
    gatehouse: Gatehouse,
) -> None:
    """The approver's seat label (``user:<approver>``) is sealed like their name: after the
    erasure it reads ``user:[erased]`` in governance's reviews and inboxes and in reporting's
    decision history and workload; no stored event names them, and every chain verifies."""
    governance, reporting = gatehouse.governance, gatehouse.reporting
    alice = gatehouse.intake.auth("alice", Role.REQUESTER)
    pmo = governance.auth("pat", Role.PMO_ADMIN)
    auditor = reporting.auth("lee", Role.AUDITOR)
    template = {
        "name": "One gate",
        "gates": [
            {
                "key": "G0",
                "name": "Idea screen",
                "sla_hours": 72,
                "approval": {"approvers": [{"user": APPROVER}, {"user": "hal"}], "quorum": "all"},
            }
        ],
    }
    assert (
        await governance.client.put("/v1/gate-templates/standard", json=template, headers=pmo)
    ).status_code == 201
    decided_project = await requested_and_submitted(gatehouse, alice)
    waiting_project = await requested_and_submitted(gatehouse, alice)
    await governance_sees(gatehouse, decided_project, "submitted")
    await governance_sees(gatehouse, waiting_project, "submitted")
    decided = await open_review(gatehouse, decided_project, alice)
    waiting = await open_review(gatehouse, waiting_project, alice)
    await vote(
        gatehouse,
        decided,
        governance.auth(APPROVER, Role.APPROVER),
        {"decision": "go", "rationale": "Sound case"},
    )
    await vote(gatehouse, decided, governance.auth("hal", Role.APPROVER), {"decision": "go"})
    seat, erased_seat = f"user:{APPROVER}", f"user:{ERASED}"

    async def reporting_has_the_decision() -> bool:
        page = (
            await reporting.client.get(
                f"/v1/audit/decisions?project_id={decided_project}", headers=auditor
            )
        ).json()
        return len(page["items"]) == 3  # two votes and the decision

    await eventually(
        reporting_has_the_decision,
        timeout=30,
        description="reporting has the votes and the decision",
    )
    stored = await stored_events(governance)
    assert APPROVER not in str([(event.data, event.actor) for event in stored])
    assert any(str(event.data.get("seat", "")).startswith("user:pd1.") for event in stored)

    erased = await gatehouse.intake.client.post(
        "/v1/personal-data/erasures",
        headers=gatehouse.intake.auth("pat", Role.PMO_ADMIN),
        json={"subject": APPROVER, "reason": "erasure request 2026-131"},
    )
    assert erased.status_code == 201, erased.text

    async def governance_forgot() -> dict[str, Any] | None:
        review: dict[str, Any] = (
            await governance.client.get(f"/v1/gate-reviews/{decided}", headers=pmo)
        ).json()
        return review if review["votes"][0]["approver"] == ERASED else None

    review = await eventually(
        governance_forgot, timeout=30, description="governance reads the approver as erased"
    )
    assert [(v["seat"], v["approver"], v["cast_by"]) for v in review["votes"]] == [
        (erased_seat, ERASED, ERASED),
        ("user:hal", "hal", "hal"),
    ]
    assert review["decided_by"] == [ERASED, "hal"]
    assert review["rule"]["seats"] == [erased_seat, "user:hal"]
    still_open = (await governance.client.get(f"/v1/gate-reviews/{waiting}", headers=pmo)).json()
    assert still_open["awaiting"] == [erased_seat, "user:hal"]
    hal_inbox = await governance.client.get(
        "/v1/gate-reviews?assignee=me&status=open", headers=governance.auth("hal", Role.APPROVER)
    )
    assert [item["id"] for item in hal_inbox.json()["items"]] == [waiting]
    async with governance.app.state.runtime.database.engine.connect() as connection:
        seats = set((await connection.execute(select(review_awaiting.c.seat))).scalars())
    assert seats == {erased_seat, "user:hal"}

    async def reporting_forgot() -> list[dict[str, Any]] | None:
        page = (
            await reporting.client.get(
                f"/v1/audit/decisions?project_id={decided_project}", headers=auditor
            )
        ).json()
        items: list[dict[str, Any]] = page["items"]
        return items if items[0]["approver"] == ERASED else None

    records = await eventually(
        reporting_forgot, timeout=30, description="reporting reads the approver as erased"
    )
    assert [record["detail"].get("seat") for record in records if record["kind"] == "vote"] == [
        erased_seat,
        "user:hal",
    ]
    workload = (await reporting.client.get("/v1/workload", headers=auditor)).json()
    assert {load["seat"] for load in workload} == {erased_seat, "user:hal"}
    assert seat not in str(records) + str(workload)

    assert await stored_events(governance) == stored
    verifier = ChainVerifier(check_log=False)
    verifier.add_all(stored)
    assert verifier.report().intact
    verification = (await reporting.client.get("/v1/audit/verify", headers=auditor)).json()
    assert verification["intact"], verification["first_break"]
