"""Gate reviews over HTTP: open, vote, decide, with the refusals an auditor relies on."""

from __future__ import annotations

import pytest

from .conftest import Governance, assert_problem, gate, template

pytestmark = pytest.mark.kafka


async def test_a_two_approver_gate_decides_go_when_both_vote_go(governance: Governance) -> None:
    await governance.define_template(
        template(gate("G0", {"user": "gina"}, {"user": "hal"}), gate("G1", {"user": "gina"}))
    )
    project_id = await governance.known_project()

    opened = (await governance.open_review(project_id)).json()
    assert opened["gate"] == "G0"
    assert opened["awaiting"] == ["user:gina", "user:hal"]
    assert opened["still_needed"] == 2

    first = (await governance.vote(opened["id"], governance.approver("gina"))).json()
    assert first["review"]["status"] == "open"
    assert first["vote"]["approver"] == "gina"
    second = (await governance.vote(opened["id"], governance.approver("hal"))).json()
    assert second["review"]["status"] == "decided"
    assert second["review"]["outcome"] == "go"
    assert second["review"]["decided_by"] == ["gina", "hal"]
    assert await governance.stored_types() == [
        "GateTemplateDefined",
        "GateReviewOpened",
        "VoteCast",
        "VoteCast",
        "GateDecided",
    ]

    known = (
        await governance.client.get(f"/v1/projects/{project_id}", headers=governance.pmo)
    ).json()
    assert known["passed_gates"] == ["G0"]
    assert known["next_gate"] == "G1"


async def test_the_sponsor_may_never_vote(governance: Governance) -> None:
    await governance.define_template(template(gate("G0", {"user": "carol"}, {"user": "gina"})))
    project_id = await governance.known_project(sponsor="carol")
    review_id = (await governance.open_review(project_id)).json()["id"]
    before = await governance.row_counts()

    refused = await governance.vote(review_id, governance.approver("carol"), expect=403)

    assert_problem(refused, 403, rule="segregation-of-duties")
    assert await governance.row_counts() == before
