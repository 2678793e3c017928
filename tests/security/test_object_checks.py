"""Whose object it is comes before which version of it: someone who may not change a resource
learns nothing from an If-Match (no 412 carrying the current ETag), and nothing is written."""

from __future__ import annotations

import pytest

from gatehouse.auth import Role
from gatehouse.testing.harness import eventually

from .conftest import Gatehouse, project_request

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_a_stale_if_match_from_someone_who_may_not_act_gets_403(gatehouse: Gatehouse) -> None:
    intake, governance = gatehouse.intake, gatehouse.governance
    alice = intake.auth("alice", Role.REQUESTER)
    pmo = governance.auth("pat", Role.PMO_ADMIN)
    template = {
        "name": "One gate",
        "gates": [
            {
                "key": "G0",
                "name": "Screen",
                "sla_hours": 72,
                "approval": {"approvers": [{"user": "gina"}]},
            }
        ],
    }
    assert (
        await governance.client.put("/v1/gate-templates/standard", json=template, headers=pmo)
    ).status_code == 201
    created = await intake.client.post("/v1/projects", headers=alice, json=project_request())
    project = created.json()["id"]
    submitted = await intake.client.post(
        f"/v1/projects/{project}/submit", headers={**alice, "If-Match": created.headers["etag"]}
    )
    assert submitted.status_code == 200, submitted.text

    async def known() -> bool:
        response = await governance.client.get(f"/v1/projects/{project}", headers=pmo)
        return response.status_code == 200 and response.json()["status"] == "submitted"

    await eventually(known, timeout=30, description="governance knows the project")
    opened = await governance.client.post(
        "/v1/gate-reviews",
        headers=governance.auth("alice", Role.REQUESTER),
        json={"project_id": project},
    )
    assert opened.status_code == 201, opened.text
    review = opened.json()["id"]
    stale = {"If-Match": '"99"'}
    probes = [
        (
            intake,
            "PATCH",
            f"/v1/projects/{project}",
            intake.auth("bob", Role.REQUESTER),
            {"title": "Taken over"},
        ),
        (
            intake,
            "POST",
            f"/v1/projects/{project}/withdraw",
            intake.auth("bob", Role.REQUESTER),
            {"reason": "not mine"},
        ),
        (
            governance,
            "POST",
            f"/v1/gate-reviews/{review}/withdraw",
            governance.auth("bob", Role.REQUESTER),
            {"reason": "not mine"},
        ),
        (
            governance,
            "POST",
            f"/v1/gate-reviews/{review}/votes",
            governance.auth("hal", Role.APPROVER),
            {"decision": "go"},
        ),
    ]
    before = (await intake.client.get(f"/v1/projects/{project}", headers=alice)).json()
    review_before = (await governance.client.get(f"/v1/gate-reviews/{review}", headers=pmo)).json()
    for service, method, path, headers, body in probes:
        response = await service.client.request(
            method, path, json=body, headers={**headers, **stale}
        )
        assert response.status_code == 403, (method, path, response.text)
        assert "current_etag" not in response.json(), (method, path)
    assert (await intake.client.get(f"/v1/projects/{project}", headers=alice)).json() == before
    assert (
        await governance.client.get(f"/v1/gate-reviews/{review}", headers=pmo)
    ).json() == review_before
