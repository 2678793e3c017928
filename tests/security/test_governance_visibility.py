"""What governance shows to whom, read by read and role by role: its own views follow the same
table as reporting's events (gatehouse.events.visibility).

A review, and every answer that holds one, shows its votes and the criteria's counts from their
assessments only to the roles that read votes whole; to the others they are null, and the rest
of the review is theirs as the audit roles see it. A delegation by id answers its delegator, its
delegate and the roles that read every delegation; anyone else gets the 404 of an id that does
not exist."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from gatehouse.auth import Role
from gatehouse.testing.harness import RunningService, eventually
from governance.api import router as governance_router

from .conftest import Gatehouse, project_request

REVIEW = "GET /v1/gate-reviews/{id}"
OPEN = "POST /v1/gate-reviews"
VOTE = "POST /v1/gate-reviews/{id}/votes"
WITHDRAW = "POST /v1/gate-reviews/{id}/withdraw"
CONDITION_MET = "POST /v1/gate-reviews/{id}/conditions/{cid}/met"
WHOLE, LEFT_OUT = "votes shown", "votes left out"
# Each review read by a role that may make it, and what it shows of the votes.
REVIEW_READS = {
    (REVIEW, Role.REQUESTER): LEFT_OUT,
    (REVIEW, Role.APPROVER): WHOLE,
    (REVIEW, Role.PMO_ADMIN): WHOLE,
    (REVIEW, Role.AUDITOR): WHOLE,
    (VOTE, Role.APPROVER): WHOLE,
    (OPEN, Role.REQUESTER): LEFT_OUT,
    (OPEN, Role.PMO_ADMIN): WHOLE,
    (WITHDRAW, Role.REQUESTER): LEFT_OUT,
    (CONDITION_MET, Role.REQUESTER): LEFT_OUT,
    (CONDITION_MET, Role.PMO_ADMIN): WHOLE,
}
# GET /v1/delegations/{id} of gina's delegation to ivan, by who asks.
DELEGATION_READS = {
    "the delegator (approver)": ("gina", (Role.APPROVER,), 200),
    "the delegate (requester)": ("ivan", (Role.REQUESTER,), 200),
    "another approver": ("hal", (Role.APPROVER,), 404),
    "a requester": ("alice", (Role.REQUESTER,), 404),
    "a PMO admin": ("pat", (Role.PMO_ADMIN,), 200),
    "an auditor": ("lee", (Role.AUDITOR,), 200),
}
READERS = {
    Role.REQUESTER: "alice",
    Role.APPROVER: "ivan",  # on no panel: the role reads votes, not the seat
    Role.PMO_ADMIN: "pat",
    Role.AUDITOR: "lee",
}
TEMPLATE = {
    "name": "One gate",
    "gates": [
        {
            "key": "G0",
            "name": "Idea screen",
            "sla_hours": 72,
            "criteria": [
                {"key": "fit", "name": "Strategic fit", "kind": "must_meet"},
                {"key": "value", "name": "Value for money", "kind": "should_meet"},
            ],
            "approval": {"approvers": [{"user": "gina"}, {"user": "hal"}], "quorum": "all"},
        }
    ],
}
# Text only votes carry: a rationale their revision replaced, an assessment's comment, the
# revision's reason. The decision's rationale (gina's revised one) is everyone's.
SUPERSEDED = "Shortlist first, rationale-5b1e"
COMMENT = "Fits the plan, comment-9c2d"
REVISION_REASON = "The shortlist moved, reason-41aa"
DECISION_RATIONALE = "Vendor shortlist agreed first"


@dataclass
class Read:
    what: str
    role: Role
    review: dict[str, Any]
    # The review as the PMO reads it at the same moment.
    reference: dict[str, Any]


@pytest.mark.kafka
@pytest.mark.postgres
async def test_each_role_reads_a_reviews_votes_as_the_table_allows(gatehouse: Gatehouse) -> None:
    governance = gatehouse.governance
    pmo = governance.auth("pat", Role.PMO_ADMIN)
    alice = governance.auth("alice", Role.REQUESTER)
    gina = governance.auth("gina", Role.APPROVER)
    hal = governance.auth("hal", Role.APPROVER)
    reads: list[Read] = []
    vote_ids: list[str] = []

    async def as_pmo(review_id: str) -> dict[str, Any]:
        return await _ok(governance.client.get(f"/v1/gate-reviews/{review_id}", headers=pmo))

    async def seen(what: str, role: Role, review: dict[str, Any]) -> dict[str, Any]:
        reads.append(Read(what, role, review, await as_pmo(review["id"])))
        return review

    async def every_role_reads(review_id: str) -> None:
        for role, subject in READERS.items():
            review = await _ok(
                governance.client.get(
                    f"/v1/gate-reviews/{review_id}", headers=governance.auth(subject, role)
                )
            )
            await seen(REVIEW, role, review)

    async def voted(review_id: str, who: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        answer = await _ok(
            governance.client.post(f"/v1/gate-reviews/{review_id}/votes", headers=who, json=body),
            201,
        )
        vote_ids.append(answer["vote"]["id"])
        return await seen(VOTE, Role.APPROVER, answer["review"])

    await _ok(governance.client.put("/v1/gate-templates/standard", json=TEMPLATE, headers=pmo), 201)
    decided, withdrawn = [await _submitted(gatehouse) for _ in range(2)]

    # A review the panel decides, read by every role while open and once decided.
    opened = await seen(
        OPEN,
        Role.REQUESTER,
        await _ok(
            governance.client.post("/v1/gate-reviews", headers=alice, json={"project_id": decided}),
            201,
        ),
    )
    review = opened["id"]
    due = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    conditional = {
        "decision": "conditional_go",
        "rationale": SUPERSEDED,
        "conditions": [
            {"description": "Vendor shortlist agreed", "owner": "alice", "due_date": due},
            {"description": "Architect hired", "owner": "alice", "due_date": due},
        ],
        "assessments": [
            {"criterion": "fit", "met": True, "comment": COMMENT},
            {"criterion": "value", "score": 4},
        ],
    }
    await voted(review, gina, conditional)
    await voted(
        review,
        gina,
        {**conditional, "rationale": DECISION_RATIONALE, "revision_reason": REVISION_REASON},
    )
    await every_role_reads(review)
    final = await voted(
        review,
        hal,
        {
            "decision": "go",
            "assessments": [{"criterion": "fit", "met": True}, {"criterion": "value", "score": 2}],
        },
    )
    assert (final["outcome"], final["rationale"]) == ("conditional_go", DECISION_RATIONALE)
    await every_role_reads(review)
    first, second = (condition["id"] for condition in final["conditions"])
    for condition, who, role in ((first, alice, Role.REQUESTER), (second, pmo, Role.PMO_ADMIN)):
        met = await _ok(
            governance.client.post(
                f"/v1/gate-reviews/{review}/conditions/{condition}/met",
                headers=who,
                json={"evidence": [{"url": "https://docs.example.org/evidence"}]},
            )
        )
        await seen(CONDITION_MET, role, met)

    # A review withdrawn after a vote.
    opened = await _ok(
        governance.client.post("/v1/gate-reviews", headers=pmo, json={"project_id": withdrawn}),
        201,
    )
    await seen(OPEN, Role.PMO_ADMIN, opened)
    await voted(opened["id"], gina, {"decision": "go", "assessments": conditional["assessments"]})
    answer = await _ok(
        governance.client.post(
            f"/v1/gate-reviews/{opened['id']}/withdraw",
            headers=alice,
            json={"reason": "Folded into another request"},
        )
    )
    await seen(WITHDRAW, Role.REQUESTER, answer)

    assert {(read.what, read.role) for read in reads} == set(REVIEW_READS)
    for read in reads:
        shown = REVIEW_READS[read.what, read.role]
        expected = read.reference if shown == WHOLE else _without_votes(read.reference)
        assert read.review == expected, (read.what, read.role)
        if shown == LEFT_OUT:
            text = json.dumps(read.review)
            for secret in (SUPERSEDED, COMMENT, REVISION_REASON, *vote_ids):
                assert secret not in text, (read.what, read.role, secret)
    # What a requester keeps of the decided review: as GateDecided in part gives it.
    (decided_as_requester,) = (
        read.review
        for read in reads
        if (read.what, read.role) == (REVIEW, Role.REQUESTER) and read.review["outcome"]
    )
    assert decided_as_requester["decided_by"] == ["gina", "hal"]
    assert decided_as_requester["rationale"] == DECISION_RATIONALE
    assert len(decided_as_requester["conditions"]) == 2


@pytest.mark.kafka
@pytest.mark.postgres
async def test_a_delegation_answers_only_those_involved_and_the_audit(
    gatehouse: Gatehouse,
) -> None:
    governance = gatehouse.governance
    until = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    granted = await _ok(
        governance.client.post(
            "/v1/delegations",
            headers=governance.auth("gina", Role.APPROVER),
            json={"to": "ivan", "ends_at": until, "reason": "holiday"},
        ),
        201,
    )
    missing = await governance.client.get(
        f"/v1/delegations/{uuid4()}", headers=governance.auth("hal", Role.APPROVER)
    )

    for who, (subject, roles, status) in DELEGATION_READS.items():
        answer = await governance.client.get(
            f"/v1/delegations/{granted['id']}", headers=governance.auth(subject, *roles)
        )
        assert answer.status_code == status, (who, answer.text)
        if status == 200:
            assert answer.json() == granted, who
        else:  # as for an id that does not exist
            assert _problem_shape(answer, granted["id"]) == _problem_shape(
                missing, missing.url.path.rsplit("/", 1)[-1]
            ), who


def test_the_openapi_document_says_what_is_left_out_and_for_whom() -> None:
    app = FastAPI()
    app.include_router(governance_router, prefix="/v1")
    document = app.openapi()
    schemas = document["components"]["schemas"]
    votes = schemas["ReviewView"]["properties"]["votes"]
    assert {"type": "null"} in votes["anyOf"]
    assert "votes" in schemas["ReviewView"]["required"]
    for name, field in [
        ("votes", votes),
        *((name, schemas["CriterionView"]["properties"][name]) for name in ("met", "not_met")),
    ]:
        assert {"type": "null"} in field["anyOf"], name
        assert "may not read votes" in field["description"], name
        assert "docs/SECURITY.md" in field["description"], name
    by_id = document["paths"]["/v1/delegations/{delegation_id}"]["get"]
    assert "not one the caller may read" in by_id["responses"]["404"]["description"]


# --- Helpers --------------------------------------------------------------------------------


async def _ok(sent: Awaitable[httpx.Response], status: int = 200) -> dict[str, Any]:
    response = await sent
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def _submitted(gatehouse: Gatehouse) -> str:
    """A project alice requested and submitted, once governance knows it so."""
    intake, governance = gatehouse.intake, gatehouse.governance
    alice = intake.auth("alice", Role.REQUESTER)
    created = await intake.client.post("/v1/projects", headers=alice, json=project_request())
    assert created.status_code == 201, created.text
    project_id: str = created.json()["id"]
    submitted = await intake.client.post(
        f"/v1/projects/{project_id}/submit", headers={**alice, "If-Match": created.headers["etag"]}
    )
    assert submitted.status_code == 200, submitted.text
    await _known(governance, project_id)
    return project_id


async def _known(governance: RunningService, project_id: str) -> None:
    async def there() -> bool:
        response = await governance.client.get(
            f"/v1/projects/{project_id}", headers=governance.auth("pat", Role.PMO_ADMIN)
        )
        return response.status_code == 200 and response.json()["status"] == "submitted"

    await eventually(there, timeout=15, description=f"governance knows {project_id}")


def _without_votes(review: dict[str, Any]) -> dict[str, Any]:
    """The review with what only votes tell left out: the votes, the criteria's counts."""
    criteria = [
        {**criterion, "met": None, "not_met": None, "average_score": None}
        for criterion in review["criteria"]
    ]
    return {**review, "votes": None, "criteria": criteria}


def _problem_shape(response: httpx.Response, asked: str) -> tuple[int, str, dict[str, Any]]:
    """A refusal with the id it names taken out."""
    body = json.loads(response.text.replace(asked, "<id>"))
    return response.status_code, response.headers["content-type"], body
