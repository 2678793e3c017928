"""Identities: who is acting and whom a record names are compared as one normalised identifier,
so segregation of duties holds whatever the spelling, and after an erasure.

Each probe names the answer it must get and checks that nothing was written."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import Response
from sqlalchemy import select

from gatehouse.auth import Role
from gatehouse.events.governance import (
    ApprovalRule,
    ApproverSeat,
    GateDefinition,
    GateTemplateDefined,
    governance_events,
)
from gatehouse.personal_data import ERASED
from gatehouse.testing.harness import RunningService, eventually
from gatehouse.unit_of_work import unit_of_work
from governance.tables import known_projects
from governance.templates import stream_id as template_stream

from .conftest import Gatehouse, project_request

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

NOBODY = "00000000-0000-4000-8000-000000000000"

# Spellings that display as a person (or as nobody) without being their identifier.
NOT_IDENTIFIERS = {
    "zero-width space": "gina\u200b",
    "word joiner": "gina\u2060",
    "byte order mark": "\ufeffgina",
    "right-to-left override": "\u202eanig",
    "full-width letters": "\uff47\uff49\uff4e\uff41",
    "Cyrillic look-alike": "g\u0456na",
    "combining accent": "gine\u0301",
    "leading space": " gina",
    "inner space": "gi na",
    "NUL": "gina\x00",
    "blank": "",
    "only spaces": "   ",
    "the erased placeholder": ERASED,
    "a sealed value": "pd1.k1.AAAA",
}


async def projects_of(gatehouse: Gatehouse) -> list[str]:
    response = await gatehouse.intake.client.get(
        "/v1/projects?limit=200", headers=gatehouse.intake.auth("pat", Role.PMO_ADMIN)
    )
    assert response.status_code == 200, response.text
    return sorted(item["id"] for item in response.json()["items"])


def fields_named(response: Response) -> set[str]:
    return {error["field"] for error in response.json().get("errors", [])}


async def test_every_field_a_rule_compares_refuses_what_is_not_an_identifier(
    gatehouse: Gatehouse,
) -> None:
    """Sponsor, RAID owner, API key subject, approver seat, delegator, delegate, the approver a
    vote stands in for, a condition's owner: each answers 422 naming the field, and nothing is
    written."""
    intake, governance = gatehouse.intake, gatehouse.governance
    alice = intake.auth("alice", Role.REQUESTER)
    pmo_intake, pmo = intake.auth("pat", Role.PMO_ADMIN), governance.auth("pat", Role.PMO_ADMIN)
    created = await intake.client.post("/v1/projects", headers=alice, json=project_request())
    assert created.status_code == 201, created.text
    project, etag = created.json()["id"], created.headers["etag"]
    gina = governance.auth("gina", Role.APPROVER)

    def template(user: str) -> dict[str, Any]:
        return {
            "name": "One gate",
            "gates": [
                {
                    "key": "G0",
                    "name": "Screen",
                    "sla_hours": 72,
                    "approval": {"approvers": [{"user": user}]},
                }
            ],
        }

    probes: list[tuple[RunningService, str, str, dict[str, str], Any, str]] = [
        (intake, "POST", "/v1/projects", alice, lambda v: project_request(sponsor=v), "sponsor"),
        (
            intake,
            "PATCH",
            f"/v1/projects/{project}",
            {**alice, "If-Match": etag},
            lambda v: {"sponsor": v},
            "sponsor",
        ),
        (
            intake,
            "POST",
            f"/v1/projects/{project}/raid",
            alice,
            lambda v: {
                "kind": "risk",
                "title": "Vendor",
                "owner": v,
                "probability": 2,
                "impact": 3,
            },
            "owner",
        ),
        (
            intake,
            "POST",
            "/v1/api-keys",
            pmo_intake,
            lambda v: {"name": "ERP", "subject": v, "roles": ["requester"]},
            "subject",
        ),
        (
            governance,
            "PUT",
            "/v1/gate-templates/standard",
            pmo,
            template,
            "gates.0.approval.approvers.0.user",
        ),
        (
            governance,
            "POST",
            "/v1/delegations",
            pmo,
            lambda v: {"from": v, "to": "hal", "ends_at": "2030-01-01T00:00:00Z"},
            "from",
        ),
        (
            governance,
            "POST",
            "/v1/delegations",
            gina,
            lambda v: {"to": v, "ends_at": "2030-01-01T00:00:00Z"},
            "to",
        ),
        (
            governance,
            "POST",
            f"/v1/gate-reviews/{NOBODY}/votes",
            gina,
            lambda v: {"decision": "go", "on_behalf_of": v},
            "on_behalf_of",
        ),
        (
            governance,
            "POST",
            f"/v1/gate-reviews/{NOBODY}/votes",
            gina,
            lambda v: {
                "decision": "conditional_go",
                "rationale": "r",
                "conditions": [{"description": "d", "owner": v, "due_date": "2030-01-01"}],
            },
            "conditions.0.owner",
        ),
    ]
    before_projects = await projects_of(gatehouse)
    before_project = (await intake.client.get(f"/v1/projects/{project}", headers=alice)).json()
    refused: list[str] = []
    for service, method, path, headers, body, field in probes:
        for label, value in NOT_IDENTIFIERS.items():
            response = await service.client.request(method, path, headers=headers, json=body(value))
            outcome = f"{method} {path} {field}={label}: {response.status_code} {response.text}"
            assert response.status_code == 422, outcome
            assert any(named.endswith(field) for named in fields_named(response)), outcome
            refused.append(outcome)
    assert len(refused) == len(probes) * len(NOT_IDENTIFIERS)

    assert await projects_of(gatehouse) == before_projects
    after_project = (await intake.client.get(f"/v1/projects/{project}", headers=alice)).json()
    assert after_project == before_project
    assert (await intake.client.get(f"/v1/projects/{project}/raid", headers=alice)).json() == []
    assert (await intake.client.get("/v1/api-keys", headers=pmo_intake)).json() == []
    assert (
        await governance.client.get("/v1/gate-templates/standard", headers=pmo)
    ).status_code == 404
    assert (await governance.client.get("/v1/delegations?involving=*", headers=pmo)).json() == []


@pytest.mark.parametrize("subject", [*NOT_IDENTIFIERS.values(), "\uff21lice"])
async def test_a_token_whose_subject_is_not_an_identifier_is_nobody(
    gatehouse: Gatehouse, subject: str
) -> None:
    """A blank subject, one that only looks like a person, or one that could pass for an
    erased person's placeholder is refused (401) before anything is read or written."""
    token = gatehouse.issuer.issue(subject, [Role.REQUESTER, Role.PMO_ADMIN])
    before = await projects_of(gatehouse)
    for service, method, path, body in (
        (gatehouse.intake, "POST", "/v1/projects", project_request()),
        (gatehouse.intake, "GET", "/v1/projects", None),
        (gatehouse.governance, "GET", "/v1/gate-reviews", None),
        (gatehouse.reporting, "GET", "/v1/portfolio", None),
    ):
        response = await service.client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert await projects_of(gatehouse) == before


async def governance_knows(gatehouse: Gatehouse, project_id: str) -> dict[str, Any] | None:
    database = gatehouse.governance.app.state.runtime.database
    async with database.engine.connect() as connection:
        row = (
            await connection.execute(
                select(known_projects).where(known_projects.c.project_id == project_id)
            )
        ).first()
    return None if row is None else dict(row._mapping)


async def test_segregation_of_duties_holds_after_the_sponsor_and_the_requester_are_erased(
    gatehouse: Gatehouse,
) -> None:
    """rita requests a project that SAM sponsors (case does not matter: it is sam); both hold
    the finance role a seat asks for. Neither may vote, before or after each is erased, and a
    colleague still can."""
    intake, governance = gatehouse.intake, gatehouse.governance
    pmo = governance.auth("pat", Role.PMO_ADMIN)
    rita = {"requester", "approver", "finance"}
    rita_headers = intake.auth("rita", *rita)
    template = {
        "name": "One gate",
        "gates": [
            {
                "key": "G0",
                "name": "Screen",
                "sla_hours": 72,
                "approval": {"approvers": [{"role": "finance"}], "quorum": "any"},
            }
        ],
    }
    assert (
        await governance.client.put("/v1/gate-templates/standard", json=template, headers=pmo)
    ).status_code == 201
    created = await intake.client.post(
        "/v1/projects", headers=rita_headers, json=project_request(sponsor="SAM")
    )
    assert created.status_code == 201, created.text
    assert created.json()["sponsor"] == "sam"
    project = created.json()["id"]
    submitted = await intake.client.post(
        f"/v1/projects/{project}/submit",
        headers={**rita_headers, "If-Match": created.headers["etag"]},
    )
    assert submitted.status_code == 200, submitted.text

    async def submitted_in_governance() -> bool:
        known = await governance_knows(gatehouse, project)
        return known is not None and known["status"] == "submitted"

    await eventually(submitted_in_governance, timeout=30, description="governance knows it")
    opened = await governance.client.post(
        "/v1/gate-reviews", headers=governance.auth("rita", *rita), json={"project_id": project}
    )
    assert opened.status_code == 201, opened.text
    review = opened.json()["id"]
    votes = f"/v1/gate-reviews/{review}/votes"

    async def refused(who: str, roles: set[str]) -> None:
        answer = await governance.client.post(
            votes, headers=governance.auth(who, *roles), json={"decision": "go"}
        )
        assert answer.status_code == 403, answer.text
        assert answer.json()["rule"] == "segregation-of-duties"
        state = (await governance.client.get(f"/v1/gate-reviews/{review}", headers=pmo)).json()
        assert (state["status"], state["votes"]) == ("open", [])

    sam = {"approver", "finance"}
    await refused("sam", sam)
    await refused("rita", rita)
    for subject, field in (("sam", "sponsor"), ("rita", "requested_by")):
        erased = await intake.client.post(
            "/v1/personal-data/erasures",
            headers=intake.auth("pat", Role.PMO_ADMIN),
            json={"subject": subject, "reason": f"erasure request for the {field}"},
        )
        assert erased.status_code == 201, erased.text

        async def erased_in_governance(field: str = field) -> bool:
            known = await governance_knows(gatehouse, project)
            return known is not None and known[field] == ERASED

        await eventually(
            erased_in_governance, timeout=30, description=f"governance forgets the {field}"
        )
        await refused("sam", sam)
        await refused("rita", rita)

    colleague = await governance.client.post(
        votes, headers=governance.auth("finn", *sam), json={"decision": "go"}
    )
    assert colleague.status_code == 201, colleague.text
    assert colleague.json()["review"]["outcome"] == "go"


async def test_an_api_key_acting_as_someone_keeps_its_own_idempotency_records(
    gatehouse: Gatehouse,
) -> None:
    """A key whose subject is alice is not alice's session: the same Idempotency-Key from
    alice's token and from the key are two requests, neither replays the other's answer."""
    intake = gatehouse.intake
    issued = await intake.client.post(
        "/v1/api-keys",
        headers=intake.auth("pat", Role.PMO_ADMIN),
        json={"name": "alice's script", "subject": "alice", "roles": ["requester"]},
    )
    assert issued.status_code == 201, issued.text
    body, key = project_request(title="Same body"), {"Idempotency-Key": "k-1"}
    by_token = await intake.client.post(
        "/v1/projects", json=body, headers={**intake.auth("alice", Role.REQUESTER), **key}
    )
    by_key = await intake.client.post(
        "/v1/projects", json=body, headers={"X-API-Key": issued.json()["key"], **key}
    )
    assert (by_token.status_code, by_key.status_code) == (201, 201), by_key.text
    assert "idempotent-replayed" not in by_key.headers
    assert by_key.json()["id"] != by_token.json()["id"]
    assert by_key.json()["requested_by"] == by_token.json()["requested_by"] == "alice"


async def test_an_approver_erased_after_voting_cannot_vote_again_in_another_seat(
    gatehouse: Gatehouse,
) -> None:
    """sam holds both roles the panel's two seats ask for, and fills one. Once he is erased his
    ballot reads [erased], but he is still the one who cast it: voting again is a revision of
    it, not the other seat."""
    intake, governance = gatehouse.intake, gatehouse.governance
    pmo = governance.auth("pat", Role.PMO_ADMIN)
    template = {
        "name": "One gate",
        "gates": [
            {
                "key": "G0",
                "name": "Screen",
                "sla_hours": 72,
                "approval": {"approvers": [{"role": "finance"}, {"role": "risk"}], "quorum": "all"},
            }
        ],
    }
    assert (
        await governance.client.put("/v1/gate-templates/standard", json=template, headers=pmo)
    ).status_code == 201
    alice = intake.auth("alice", Role.REQUESTER)
    created = await intake.client.post("/v1/projects", headers=alice, json=project_request())
    project = created.json()["id"]
    assert (
        await intake.client.post(
            f"/v1/projects/{project}/submit", headers={**alice, "If-Match": created.headers["etag"]}
        )
    ).status_code == 200

    async def submitted_in_governance() -> bool:
        known = await governance_knows(gatehouse, project)
        return known is not None and known["status"] == "submitted"

    await eventually(submitted_in_governance, timeout=30, description="governance knows it")
    opened = await governance.client.post(
        "/v1/gate-reviews",
        headers=governance.auth("alice", Role.REQUESTER),
        json={"project_id": project},
    )
    assert opened.status_code == 201, opened.text
    review = opened.json()["id"]
    sam = governance.auth("sam", "approver", "finance", "risk")
    first = await governance.client.post(
        f"/v1/gate-reviews/{review}/votes", headers=sam, json={"decision": "go"}
    )
    assert first.status_code == 201, first.text
    erased = await intake.client.post(
        "/v1/personal-data/erasures",
        headers=intake.auth("pat", Role.PMO_ADMIN),
        json={"subject": "sam", "reason": "erasure request 2026-7"},
    )
    assert erased.status_code == 201, erased.text

    async def ballot_reads_erased() -> bool:
        state = (await governance.client.get(f"/v1/gate-reviews/{review}", headers=pmo)).json()
        return [vote["cast_by"] for vote in state["votes"]] == [ERASED]

    await eventually(ballot_reads_erased, timeout=30, description="governance forgets sam")
    again = await governance.client.post(
        f"/v1/gate-reviews/{review}/votes", headers=sam, json={"decision": "go"}
    )
    assert again.status_code == 409, again.text
    assert again.json()["rule"] == "one-vote-per-approver"
    state = (await governance.client.get(f"/v1/gate-reviews/{review}", headers=pmo)).json()
    assert (state["status"], len(state["votes"])) == ("open", 1)


async def test_a_template_still_reads_once_an_approver_it_names_is_erased(
    gatehouse: Gatehouse,
) -> None:
    """A stored name that is no identifier any more ([erased]) is shown, not re-validated."""
    governance = gatehouse.governance
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

    async def erased() -> bool:
        # Intake erases the keys every service made, once it has them from the keys topic.
        response = await gatehouse.intake.client.post(
            "/v1/personal-data/erasures",
            headers=gatehouse.intake.auth("pat", Role.PMO_ADMIN),
            json={"subject": "gina", "reason": "erasure request 2026-9"},
        )
        assert response.status_code in (201, 404), response.text
        return response.status_code == 201

    await eventually(erased, timeout=30, description="intake erases gina")

    async def seat_reads_erased() -> bool:
        response = await governance.client.get("/v1/gate-templates/standard", headers=pmo)
        assert response.status_code == 200, response.text
        seats = response.json()["gates"][0]["approval"]["approvers"]
        return [seat["user"] for seat in seats] == [ERASED]

    await eventually(seat_reads_erased, timeout=30, description="the seat reads [erased]")
    listed = await governance.client.get("/v1/gate-templates", headers=pmo)
    assert listed.status_code == 200, listed.text


async def test_what_was_stored_under_older_rules_still_reads(gatehouse: Gatehouse) -> None:
    """A gate template stored before today's rules (a seat user with a space and capitals, a
    name with a tab) is shown as stored: the rules refuse new input, not old records."""
    runtime = gatehouse.governance.app.state.runtime
    older = GateTemplateDefined(
        project_type="standard",
        version=1,
        name="Old\tstyle",
        defined_by="Pat Admin",
        gates=(
            GateDefinition(
                key="G0",
                name="Screen",
                sla_hours=72,
                approval=ApprovalRule(seats=(ApproverSeat(user="Gina Old"),)),
            ),
        ),
    )
    async with unit_of_work(
        runtime.database, runtime.event_store, governance_events, actor="Pat Admin"
    ) as uow:
        await uow.append(template_stream("standard"), [older], expected_version=0)
    response = await gatehouse.governance.client.get(
        "/v1/gate-templates/standard", headers=gatehouse.governance.auth("pat", Role.PMO_ADMIN)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["gates"][0]["approval"]["approvers"][0]["user"]) == (
        "Old\tstyle",
        "Gina Old",
    )
