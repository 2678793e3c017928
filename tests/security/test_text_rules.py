"""Text that is not text. A title of nothing but invisible characters, a right-to-left override
that shows ``Invoice \u202eFDP.exe`` as ``Invoice exe.PDF``, a NUL that no PostgreSQL text can
hold: each is refused with 422 naming the field, in every service, and nothing is written."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from gatehouse.auth import Role

from .conftest import Gatehouse, project_request
from .probes import Probe, answer_problem, stored_events

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PROJECT = "{project}"  # the draft project the test requests first
UNKNOWN = uuid4()  # a project or review no one has seen: the body is read before it is looked up


def raid_item(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "risk",
        "title": "Vendor lock-in",
        "owner": "alice",
        "probability": 2,
        "impact": 3,
        **changes,
    }


def template(**gate: Any) -> dict[str, Any]:
    return {
        "name": "Standard stage gates",
        "gates": [
            {
                "key": "G0",
                "name": "Idea screen",
                "sla_hours": 72,
                "approval": {"approvers": [{"user": "gina"}]},
                **gate,
            }
        ],
    }


def custom_fields(**field: Any) -> dict[str, Any]:
    return {"fields": [{"key": "note", "label": "Note", "type": "text", **field}]}


def delegation(**changes: Any) -> dict[str, Any]:
    return {"to": "dana", "ends_at": "2099-01-01T00:00:00Z", **changes}


INTAKE_BODIES = [
    Probe("intake", "POST", "/v1/projects", "title", project_request(title="\u200b")),
    Probe("intake", "POST", "/v1/projects", "title", project_request(title="\u2060\ufeff \u200b")),
    Probe("intake", "POST", "/v1/projects", "title", project_request(title="\u202e")),
    Probe(
        "intake", "POST", "/v1/projects", "title", project_request(title="Invoice \u202eFDP.exe")
    ),
    Probe("intake", "POST", "/v1/projects", "title", project_request(title="New\u0000CRM")),
    Probe("intake", "POST", "/v1/projects", "title", project_request(title="New CRM\nphase 2")),
    Probe("intake", "POST", "/v1/projects", "title", project_request(title="New\tCRM")),
    Probe(
        "intake",
        "POST",
        "/v1/projects",
        "business_unit",
        project_request(business_unit="\u2066Sales\u2069"),
    ),
    Probe(
        "intake",
        "POST",
        "/v1/projects",
        "description",
        project_request(description="\u200b\n\u200b"),
    ),
    Probe(
        "intake",
        "POST",
        "/v1/projects",
        "description",
        project_request(description="Replace the CRM\u0007"),
    ),
    Probe(
        "intake",
        "POST",
        "/v1/projects",
        "description",
        project_request(description="Replace the CRM\u0000"),
    ),
    Probe(
        "intake",
        "POST",
        "/v1/projects",
        "description",
        project_request(description="Replace\rthe CRM"),
    ),  # a lone CR is no line break
    Probe(
        "intake",
        "POST",
        "/v1/projects",
        "expected_benefits",
        project_request(expected_benefits="Faster \u061cquotes"),
    ),
    Probe(
        "intake",
        "POST",
        "/v1/projects",
        "strategic_objectives.1",
        project_request(strategic_objectives=["growth", "\u202dgrowth"]),
    ),
    Probe(
        "intake",
        "POST",
        "/v1/projects",
        "custom.note",
        project_request(custom={"note": "see\u0000attached"}),
    ),
    Probe(
        "intake",
        "POST",
        "/v1/projects",
        "custom.note",
        project_request(custom={"note": "Invoice \u202eFDP.exe"}),
    ),
    Probe("intake", "PATCH", f"/v1/projects/{PROJECT}", "title", {"title": "\u202eMRC"}),
    Probe(
        "intake", "PATCH", f"/v1/projects/{PROJECT}", "custom.note", {"custom": {"note": "\u0000"}}
    ),
    Probe("intake", "POST", f"/v1/projects/{PROJECT}/raid", "title", raid_item(title="\u200b")),
    Probe(
        "intake",
        "POST",
        f"/v1/projects/{PROJECT}/raid",
        "description",
        raid_item(description="\u0000"),
    ),
    Probe(
        "intake", "POST", f"/v1/projects/{PROJECT}/withdraw", "reason", {"reason": "dropped\u0000"}
    ),
    Probe(
        "intake", "PUT", "/v1/custom-fields", "fields.0.label", custom_fields(label="\u202eNote")
    ),
    Probe(
        "intake",
        "PUT",
        "/v1/custom-fields",
        "fields.0.choices.1",
        custom_fields(type="choice", choices=["a", "\u200b"]),
    ),
    Probe("intake", "PUT", "/v1/scoring-models/fit", "name", {"name": "\ufeff", "method": "wsjf"}),
    Probe(
        "intake",
        "PUT",
        "/v1/scoring-models/fit",
        "criteria.0.name",
        {
            "name": "Fit",
            "method": "weighted",
            "criteria": [{"key": "value", "name": "Value\u0000", "weight": 1, "scale": 5}],
        },
    ),
    Probe(
        "intake",
        "POST",
        "/v1/api-keys",
        "name",
        {"name": "ERP \u202econnector", "roles": ["auditor"]},
    ),
    Probe("intake", "POST", "/v1/api-keys/0123456789abcdef/revoke", "reason", {"reason": "\u202e"}),
    Probe(
        "intake",
        "POST",
        "/v1/personal-data/erasures",
        "reason",
        {"subject": "carol", "reason": "DSR-2027-\u0000"},
    ),
    Probe(
        "intake",
        "POST",
        "/v1/personal-data/erasures",
        "subject",
        {"subject": "carol\u0000", "reason": "DSR-2027-001"},
    ),
]

GOVERNANCE_BODIES = [
    Probe(
        "governance", "PUT", "/v1/gate-templates/standard", "name", {**template(), "name": "\u200b"}
    ),
    Probe(
        "governance",
        "PUT",
        "/v1/gate-templates/standard",
        "gates.0.name",
        template(name="Idea \u202escreen"),
    ),
    Probe(
        "governance",
        "PUT",
        "/v1/gate-templates/standard",
        "gates.0.description",
        template(description="Is it worth it?\u0000"),
    ),
    Probe("governance", "POST", "/v1/delegations", "reason", delegation(reason="on leave \u2067")),
    Probe(
        "governance",
        "POST",
        "/v1/gate-reviews",
        "note",
        {"project_id": str(UNKNOWN), "note": "\u0000"},
    ),
    Probe(
        "governance",
        "POST",
        "/v1/gate-reviews",
        "evidence.0.url",
        {
            "project_id": str(UNKNOWN),
            "evidence": [{"url": "https://docs.example.org/\u202efdp.exe"}],
        },
    ),
    Probe(
        "governance",
        "POST",
        f"/v1/gate-reviews/{UNKNOWN}/votes",
        "rationale",
        {"decision": "hold", "rationale": "Not yet\u0000"},
    ),
    Probe(
        "governance",
        "POST",
        f"/v1/gate-reviews/{UNKNOWN}/votes",
        "conditions.0.description",
        {
            "decision": "conditional_go",
            "conditions": [
                {"description": "\u200b\u200b", "owner": "alice", "due_date": "2099-01-31"}
            ],
        },
    ),
    Probe(
        "governance",
        "POST",
        f"/v1/gate-reviews/{UNKNOWN}/votes",
        "assessments.0.comment",
        {"decision": "go", "assessments": [{"criterion": "fit", "comment": "\u202e"}]},
    ),
    Probe(
        "governance",
        "POST",
        f"/v1/gate-reviews/{UNKNOWN}/withdraw",
        "reason",
        {"reason": "superseded\u0007"},
    ),
]

QUERIES = [
    Probe("intake", "GET", "/v1/projects", "business_unit.0", params={"business_unit": "\x00"}),
    Probe("intake", "GET", "/v1/projects", "sponsor", params={"sponsor": "carol\x00"}),
    Probe("governance", "GET", "/v1/gate-reviews", "gate", params={"gate": "G0\x00"}),
    Probe("governance", "GET", "/v1/delegations", "involving", params={"involving": "\x00"}),
    Probe("reporting", "GET", "/v1/audit/decisions", "gate", params={"gate": "\x00"}),
    Probe("reporting", "GET", "/v1/audit/decisions", "approver", params={"approver": "\x00"}),
]

PROBES = [*INTAKE_BODIES, *GOVERNANCE_BODIES, *QUERIES]


async def test_text_that_is_not_text_is_refused_naming_the_field_and_nothing_is_written(
    gatehouse: Gatehouse, subtests: pytest.Subtests
) -> None:
    intake = gatehouse.intake
    # Every role, so that each answer is about the input alone.
    alice = intake.auth("alice", *Role)
    defined = await intake.client.put("/v1/custom-fields", headers=alice, json=custom_fields())
    assert defined.status_code == 200, defined.text
    created = await intake.client.post("/v1/projects", headers=alice, json=project_request())
    assert created.status_code == 201, created.text
    project = created.json()["id"]
    if_match = {
        f"/v1/projects/{PROJECT}": created.headers["etag"],
        "/v1/custom-fields": defined.headers["etag"],
    }
    for probe in PROBES:
        with subtests.test(str(probe)):
            before = await stored_events(gatehouse)
            etag = next(
                (tag for path, tag in if_match.items() if probe.path.startswith(path)), None
            )

            await answer_problem(
                gatehouse, probe, {**alice, **({"If-Match": etag} if etag else {})}, project=project
            )

            assert await stored_events(gatehouse) == before
