"""The whole cycle through Kafka: request → submit → review → quorum → GateDecided → the project
moves on in intake. Intake and governance never call each other; each learns from the other's
events on the real broker.
"""

from __future__ import annotations

from typing import Any

import pytest

from gatehouse.auth import Role
from gatehouse.testing.harness import eventually

from .conftest import (
    Gatehouse,
    governance_sees,
    intake_shows,
    open_review,
    requested_and_submitted,
    vote,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

TEMPLATE = {
    "name": "Standard stage gates",
    "gates": [
        {
            "key": "G0",
            "name": "Idea screen",
            "sla_hours": 72,
            "approval": {"approvers": [{"user": "gina"}, {"user": "hal"}], "quorum": "all"},
        },
        {
            "key": "G1",
            "name": "Business case",
            "sla_hours": 120,
            "criteria": [
                {
                    "key": "strategic-fit",
                    "name": "Serves a strategic objective",
                    "kind": "must_meet",
                },
                {"key": "value", "name": "Value for money", "kind": "should_meet"},
            ],
            "evidence": [{"key": "business-case", "name": "Business case"}],
            "approval": {
                "approvers": [{"user": "gina"}, {"user": "hal"}, {"role": "finance"}],
                "quorum": "majority",
            },
        },
        {
            "key": "G2",
            "name": "Plan",
            "sla_hours": 120,
            "approval": {"approvers": [{"role": "finance"}], "quorum": "any"},
        },
    ],
}


async def test_a_project_passes_its_gates_and_intake_moves_it_on(gatehouse: Gatehouse) -> None:
    intake, governance = gatehouse.intake, gatehouse.governance
    alice = intake.auth("alice", Role.REQUESTER)
    pmo = governance.auth("pat", Role.PMO_ADMIN)
    gina = governance.auth("gina", Role.APPROVER)
    hal = governance.auth("hal", Role.APPROVER)
    finn = governance.auth("finn", Role.APPROVER, "finance")
    assert (
        await governance.client.put("/v1/gate-templates/standard", json=TEMPLATE, headers=pmo)
    ).status_code == 201

    project_id = await requested_and_submitted(gatehouse, alice)
    await governance_sees(gatehouse, project_id, "submitted")

    # G0: both approvers say go → intake starts screening.
    review = await open_review(gatehouse, project_id, alice)
    await vote(gatehouse, review, gina, {"decision": "go"})
    decided = await vote(gatehouse, review, hal, {"decision": "go"})
    assert decided["review"]["outcome"] == "go"
    project = await intake_shows(gatehouse, project_id, "screening")
    assert project["allowed_actions"][0] == "qualify"

    # G1: a conditional go from a majority → intake qualifies the request.
    await governance_sees(gatehouse, project_id, "screening")
    review = await open_review(
        gatehouse,
        project_id,
        alice,
        gate="G1",
        evidence=[{"key": "business-case", "url": "https://docs.example.org/crm/business-case"}],
    )
    assessments = [{"criterion": "strategic-fit", "met": True}, {"criterion": "value", "score": 4}]
    await vote(
        gatehouse,
        review,
        gina,
        {
            "decision": "conditional_go",
            "rationale": "Fund it once the vendor shortlist is done",
            "assessments": assessments,
            "conditions": [
                {
                    "description": "Vendor shortlist agreed",
                    "owner": "alice",
                    "due_date": "2099-01-31",
                }
            ],
        },
    )
    decided = await vote(gatehouse, review, finn, {"decision": "go", "assessments": assessments})
    assert decided["review"]["outcome"] == "conditional_go"
    assert [c["owner"] for c in decided["review"]["conditions"]] == ["alice"]
    await intake_shows(gatehouse, project_id, "qualified")

    # G2: the finance seat says go → the request is approved and becomes a project.
    await governance_sees(gatehouse, project_id, "qualified")
    review = await open_review(gatehouse, project_id, alice)
    await vote(gatehouse, review, finn, {"decision": "go"})
    approved = await intake_shows(gatehouse, project_id, "approved", stage="initiating")
    assert approved["baseline"] is not None

    history = (
        await intake.client.get(
            f"/v1/projects/{project_id}", headers=intake.auth("pat", Role.PMO_ADMIN)
        )
    ).json()
    assert history["status"] == "approved"
    known = (await governance.client.get(f"/v1/projects/{project_id}", headers=pmo)).json()
    assert known["passed_gates"] == ["G0", "G1", "G2"]
    assert known["next_gate"] is None


async def test_a_kill_at_the_first_gate_rejects_the_request(gatehouse: Gatehouse) -> None:
    intake, governance = gatehouse.intake, gatehouse.governance
    alice = intake.auth("alice", Role.REQUESTER)
    pmo = governance.auth("pat", Role.PMO_ADMIN)
    assert (
        await governance.client.put("/v1/gate-templates/standard", json=TEMPLATE, headers=pmo)
    ).status_code == 201
    project_id = await requested_and_submitted(gatehouse, alice)
    await governance_sees(gatehouse, project_id, "submitted")

    review = await open_review(gatehouse, project_id, alice)
    decided = await vote(
        gatehouse,
        review,
        governance.auth("hal", Role.APPROVER),
        {"decision": "kill", "rationale": "Duplicates the ERP programme"},
    )

    assert decided["review"]["outcome"] == "kill"
    await intake_shows(gatehouse, project_id, "rejected")
    await governance_sees(gatehouse, project_id, "rejected")
    refused = await governance.client.post(
        "/v1/gate-reviews", headers=pmo, json={"project_id": project_id}
    )
    assert refused.status_code == 409


async def test_withdrawing_the_request_withdraws_its_open_review(gatehouse: Gatehouse) -> None:
    intake, governance = gatehouse.intake, gatehouse.governance
    alice = intake.auth("alice", Role.REQUESTER)
    pmo = governance.auth("pat", Role.PMO_ADMIN)
    assert (
        await governance.client.put("/v1/gate-templates/standard", json=TEMPLATE, headers=pmo)
    ).status_code == 201
    project_id = await requested_and_submitted(gatehouse, alice)
    await governance_sees(gatehouse, project_id, "submitted")
    review_id = await open_review(gatehouse, project_id, alice)

    current = await intake.client.get(f"/v1/projects/{project_id}", headers=alice)
    withdrawn = await intake.client.post(
        f"/v1/projects/{project_id}/withdraw",
        json={"reason": "Merged into the ERP programme"},
        headers={**alice, "If-Match": current.headers["etag"]},
    )
    assert withdrawn.status_code == 200, withdrawn.text

    async def review_withdrawn() -> dict[str, Any] | None:
        body: dict[str, Any] = (
            await governance.client.get(f"/v1/gate-reviews/{review_id}", headers=pmo)
        ).json()
        return body if body["status"] == "withdrawn" else None

    await eventually(review_withdrawn, timeout=15, description="the open review is withdrawn")
    inbox = (
        await governance.client.get(
            "/v1/gate-reviews?assignee=me&status=open",
            headers=governance.auth("gina", Role.APPROVER),
        )
    ).json()
    assert inbox["items"] == []
