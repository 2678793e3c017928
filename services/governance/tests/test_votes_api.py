"""Gate reviews and votes over HTTP: who may open a review, who may vote, what a vote must carry,
how each quorum decides, the approver's inbox and withdrawal.

Every refusal answers problem+json with the field or the rule it enforces, and writes nothing.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import uuid4

import pytest

from gatehouse.auth import Role

from .conftest import Governance, assert_problem, gate, template

pytestmark = pytest.mark.kafka

FIT = {"key": "fit", "name": "Strategic fit", "kind": "must_meet"}
VALUE = {"key": "value", "name": "Value for money", "kind": "should_meet", "weight": 2}
CASE = {"key": "case", "name": "Business case"}
MEETS = [{"criterion": "fit", "met": True}, {"criterion": "value", "score": 4}]
CONDITION = {
    "description": "Name a data protection officer",
    "owner": "alice",
    "due_date": "2027-03-15",
}


def seats(*names: str) -> list[dict[str, str]]:
    return [{"user": name} for name in names]


async def review_of(governance: Governance, *gates: dict[str, Any], **project: Any) -> str:
    """Defines the template, lets intake publish a project and opens its first review."""
    await governance.define_template(template(*gates))
    project_id = await governance.known_project(**project)
    review_id: str = (await governance.open_review(project_id)).json()["id"]
    return review_id


async def inbox(governance: Governance, who: dict[str, str], **query: Any) -> list[str]:
    response = await governance.client.get(
        "/v1/gate-reviews", headers=who, params={"assignee": "me", "status": "open", **query}
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# --- Opening a review -----------------------------------------------------------------------


async def test_the_requester_opens_the_review_of_the_projects_next_gate(
    governance: Governance,
) -> None:
    await governance.define_template(
        template(
            gate(
                "G0",
                {"user": "gina"},
                {"role": "finance"},
                quorum="any",
                sla_hours=72,
                criteria=[FIT, VALUE],
                evidence=[CASE],
            ),
            gate("G1"),
        )
    )
    project_id = await governance.known_project()

    opened = await governance.open_review(
        project_id,
        evidence=[
            {"url": "https://docs.example.com/case.pdf", "key": "case", "title": "Case v3"},
            {"url": "https://docs.example.com/extra"},
        ],
        note="Ready for the screen",
    )

    assert opened.headers["ETag"] == '"1"'
    review = opened.json()
    assert opened.headers["Location"].endswith(f"/v1/gate-reviews/{review['id']}")
    assert review["project_id"] == str(project_id)
    assert (review["gate"], review["gate_name"], review["status"]) == ("G0", "Gate G0", "open")
    assert review["opened_by"] == "alice"
    assert review["template_version"] == 1
    assert review["sla_due_at"].startswith("2027-03-04T09:00:00")
    assert review["escalated"] is False
    assert review["awaiting"] == ["user:gina", "role:finance"]
    assert review["still_needed"] == 1
    assert review["rule"] == {
        "seats": ["user:gina", "role:finance"],
        "quorum": "any",
        "n": None,
        "order": "parallel",
        "kill_veto": True,
        "needed": 1,
        "description": "any 1 of 2 seats, parallel, kill veto",
    }
    # A requester reads no votes, nor the criteria's counts from them: left out, not zero.
    assert [(c["key"], c["kind"], c["met"], c["average_score"]) for c in review["criteria"]] == [
        ("fit", "must_meet", None, None),
        ("value", "should_meet", None, None),
    ]
    assert review["required_evidence"] == [{**CASE, "description": ""}]
    assert review["evidence"] == [
        {"url": "https://docs.example.com/case.pdf", "key": "case", "title": "Case v3"},
        {"url": "https://docs.example.com/extra", "key": None, "title": ""},
    ]
    assert (review["votes"], review["rationale"]) == (None, None)

    fetched = await governance.client.get(
        f"/v1/gate-reviews/{review['id']}", headers=governance.auditor
    )
    assert fetched.status_code == 200
    assert fetched.headers["ETag"] == '"1"'
    assert fetched.json() == {
        **review,
        "votes": [],
        "criteria": [{**c, "met": 0, "not_met": 0} for c in review["criteria"]],
    }
    project = (
        await governance.client.get(f"/v1/projects/{project_id}", headers=governance.alice)
    ).json()
    assert project["open_review_id"] == review["id"]


async def test_only_the_projects_requester_or_a_pmo_admin_opens_its_review(
    governance: Governance,
) -> None:
    await governance.define_template(template(gate("G0")))
    project_id = await governance.known_project(requested_by="alice")
    before = await governance.row_counts()

    other_requester = await governance.open_review(
        project_id, headers=governance.service.auth("bob", Role.REQUESTER), expect=403
    )
    assert_problem(other_requester, 403, rule="object-ownership")
    approver_only = await governance.open_review(
        project_id, headers=governance.approver("gina"), expect=403
    )
    assert "requester or pmo_admin" in assert_problem(approver_only, 403)["detail"]
    no_token = await governance.client.post(
        "/v1/gate-reviews", json={"project_id": str(project_id)}
    )
    assert_problem(no_token, 401)
    assert await governance.row_counts() == before

    opened = await governance.open_review(project_id, headers=governance.pmo)
    assert opened.json()["opened_by"] == "pat"


async def test_a_project_type_without_a_template_cannot_be_reviewed(governance: Governance) -> None:
    await governance.define_template(template(gate("G0")), project_type="standard")
    project_id = await governance.known_project(project_type="capex")
    before = await governance.row_counts()

    refused = await governance.open_review(project_id, expect=409)

    problem = assert_problem(refused, 409, rule="no-gate-template")
    assert "/v1/gate-templates/capex" in problem["detail"]
    assert await governance.row_counts() == before


async def test_a_project_has_one_open_review_at_a_time(governance: Governance) -> None:
    await governance.define_template(template(gate("G0"), gate("G1")))
    project_id = await governance.known_project()
    first = (await governance.open_review(project_id)).json()
    before = await governance.row_counts()

    second = await governance.open_review(project_id, expect=409)

    problem = assert_problem(second, 409, rule="one-open-review")
    assert problem["open_review_id"] == first["id"]
    assert await governance.row_counts() == before


async def test_only_the_next_gate_may_be_reviewed(governance: Governance) -> None:
    await governance.define_template(template(gate("G0"), gate("G1")))
    project_id = await governance.known_project()

    skipping = await governance.open_review(project_id, gate="G1", expect=409)
    assert assert_problem(skipping, 409, rule="next-gate")["next_gate"] == "G0"
    assert (await governance.row_counts())["reviews"] == 0

    g0 = (await governance.open_review(project_id, gate="G0")).json()
    await governance.vote(g0["id"], governance.approver("gina"))
    g1 = (await governance.open_review(project_id)).json()
    assert g1["gate"] == "G1"
    await governance.vote(g1["id"], governance.approver("gina"))
    done = await governance.open_review(project_id, expect=409)
    assert assert_problem(done, 409, rule="next-gate")["passed"] == ["G0", "G1"]


async def test_a_draft_project_cannot_be_reviewed(governance: Governance) -> None:
    await governance.define_template(template(gate("G0")))
    project_id = await governance.known_project(submit=False)

    refused = await governance.open_review(project_id, expect=409)

    assert assert_problem(refused, 409, rule="project-not-reviewable")["project_status"] == "draft"
    assert (await governance.row_counts())["reviews"] == 0


async def test_a_review_needs_the_evidence_its_gate_asks_for(governance: Governance) -> None:
    await governance.define_template(template(gate("G0", evidence=[CASE])))
    project_id = await governance.known_project()
    before = await governance.row_counts()

    missing = await governance.open_review(
        project_id, expect=422, evidence=[{"url": "https://docs.example.com/extra"}]
    )
    assert "case (Business case)" in assert_problem(missing, 422, field="evidence")["detail"]
    wrong_key = await governance.open_review(
        project_id, expect=422, evidence=[{"url": "https://docs.example.com/plan", "key": "plan"}]
    )
    assert_problem(wrong_key, 422, field="evidence.0.key")
    assert await governance.row_counts() == before

    await governance.open_review(
        project_id, evidence=[{"url": "https://docs.example.com/case", "key": "case"}]
    )


async def test_an_invalid_review_request_is_refused_naming_the_field(
    governance: Governance, subtests: pytest.Subtests
) -> None:
    for why, body, field in [
        ("an unknown field", {"urgent": True}, "urgent"),
        (
            "not an http URL",
            {"evidence": [{"url": "ftp://docs.example.com/case"}]},
            "evidence.0.url",
        ),
        (
            "a URL with a space",
            {"evidence": [{"url": "https://docs.example.com/a case"}]},
            "evidence.0.url",
        ),
        ("a project_id that is not a UUID", {"project_id": "P-42"}, "project_id"),
        ("a gate that is not a key", {"gate": "G 0"}, "gate"),
    ]:
        with subtests.test(why):
            response = await governance.client.post(
                "/v1/gate-reviews",
                headers=governance.alice,
                json={"project_id": str(uuid4()), **body},
            )

            assert_problem(response, 422, field=field)
    assert (await governance.row_counts())["events"] == 0


async def test_unknown_projects_and_reviews_are_not_found(governance: Governance) -> None:
    await governance.define_template(template(gate("G0")))
    unknown_project = await governance.open_review(uuid4(), headers=governance.pmo, expect=404)
    assert "has not seen project" in assert_problem(unknown_project, 404)["detail"]
    missing = await governance.client.get(f"/v1/gate-reviews/{uuid4()}", headers=governance.pmo)
    assert_problem(missing, 404)
    not_an_id = await governance.client.get("/v1/gate-reviews/R-1", headers=governance.pmo)
    assert_problem(not_an_id, 422, field="review_id")
    vote = await governance.client.post(
        f"/v1/gate-reviews/{uuid4()}/votes",
        json={"decision": "go"},
        headers=governance.approver("gina"),
    )
    assert_problem(vote, 404)
    assert (await governance.row_counts())["reviews"] == 0


# --- Refused votes --------------------------------------------------------------------------


class Refusal(NamedTuple):
    why: str
    voter: str
    body: dict[str, Any]
    status: int
    rule: str | None = None
    field: str | None = None


def go(*assessments: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"decision": "go", "assessments": list(assessments or MEETS), **more}


def conditional_go(**more: Any) -> dict[str, Any]:
    return {"decision": "conditional_go", "rationale": "if", "assessments": MEETS, **more}


REFUSED_VOTES = [
    Refusal("the sponsor", "carol", go(), 403, rule="segregation-of-duties"),
    Refusal("the requester", "alice", go(), 403, rule="segregation-of-duties"),
    Refusal("not an approver of the gate", "zed", go(), 403, rule="approver-rule"),
    Refusal("seated, but a requester without the approver role", "bob", go(), 403),
    Refusal("an auditor", "eve", go(), 403),
    Refusal(
        "on behalf of someone who delegated nothing",
        "gina",
        go(on_behalf_of="hal"),
        403,
        rule="delegation",
    ),
    Refusal("hold without a rationale", "gina", {"decision": "hold"}, 422, field="rationale"),
    Refusal(
        "recycle with a blank rationale",
        "gina",
        {"decision": "recycle", "rationale": " "},
        422,
        field="rationale",
    ),
    Refusal("kill without a rationale", "gina", {"decision": "kill"}, 422, field="rationale"),
    Refusal(
        "conditional go without a rationale",
        "gina",
        conditional_go(rationale="", conditions=[CONDITION]),
        422,
        field="rationale",
    ),
    Refusal("conditional go without conditions", "gina", conditional_go(), 422, field="conditions"),
    Refusal(
        "a condition due in the past",
        "gina",
        conditional_go(conditions=[{**CONDITION, "due_date": "2027-02-28"}]),
        422,
        field="conditions.0.due_date",
    ),
    Refusal("a go with conditions", "gina", go(conditions=[CONDITION]), 422, field="conditions"),
    Refusal(
        "an unknown criterion",
        "gina",
        go(*MEETS, {"criterion": "colour", "met": True}),
        422,
        field="assessments.2.criterion",
    ),
    Refusal(
        "a criterion assessed twice",
        "gina",
        go(*MEETS, {"criterion": "fit", "met": True}),
        422,
        field="assessments.2.criterion",
    ),
    Refusal(
        "a go with a must-meet not met",
        "gina",
        go({"criterion": "fit", "met": False}, {"criterion": "value", "score": 4}),
        422,
        field="assessments",
    ),
    Refusal(
        "a go with a must-meet not assessed", "gina", {"decision": "go"}, 422, field="assessments"
    ),
    Refusal(
        "a must-meet scored",
        "gina",
        go({"criterion": "fit", "score": 5}),
        422,
        field="assessments.0.met",
    ),
    Refusal(
        "a score above 5",
        "gina",
        go({"criterion": "value", "score": 6}),
        422,
        field="assessments.0.score",
    ),
    Refusal("an unknown decision", "gina", {"decision": "maybe"}, 422, field="decision"),
    Refusal("an unknown field", "gina", go(weight=3), 422, field="weight"),
    Refusal(
        "a revision without a vote",
        "gina",
        {"decision": "hold", "rationale": "wait", "revision_reason": "changed my mind"},
        409,
        rule="revise-needs-a-vote",
    ),
]


async def test_every_refused_vote_says_why_and_writes_nothing(
    governance: Governance, subtests: pytest.Subtests
) -> None:
    tokens = {
        "carol": governance.service.auth("carol", Role.REQUESTER, Role.APPROVER),
        "alice": governance.service.auth("alice", Role.REQUESTER, Role.APPROVER),
        "bob": governance.service.auth("bob", Role.REQUESTER),
        "eve": governance.auditor,
    }
    review_id = await review_of(
        governance,
        gate("G0", *seats("gina", "hal", "carol", "alice", "bob"), criteria=[FIT, VALUE]),
        requested_by="alice",
        sponsor="carol",
    )
    before = await governance.row_counts()

    for refusal in REFUSED_VOTES:
        with subtests.test(refusal.why):
            refused = await governance.client.post(
                f"/v1/gate-reviews/{review_id}/votes",
                json=refusal.body,
                headers=tokens.get(refusal.voter) or governance.approver(refusal.voter),
            )

            problem = assert_problem(
                refused, refusal.status, rule=refusal.rule, field=refusal.field
            )
            assert problem["detail"]
            assert await governance.row_counts() == before
    assert (await governance.review(review_id))["votes"] == []


async def test_the_sponsor_and_the_requester_may_not_vote_even_holding_the_role(
    governance: Governance,
) -> None:
    review_id = await review_of(
        governance,
        gate("G0", {"role": "finance"}, {"user": "gina"}),
        requested_by="alice",
        sponsor="carol",
    )
    before = await governance.row_counts()

    for name in ("carol", "alice"):
        token = governance.service.auth(name, Role.REQUESTER, Role.APPROVER, "finance")
        refused = await governance.vote(review_id, token, expect=403)
        assert_problem(refused, 403, rule="segregation-of-duties")
    assert await governance.row_counts() == before


async def test_an_approver_votes_once_and_a_closed_review_takes_no_votes(
    governance: Governance,
) -> None:
    review_id = await review_of(governance, gate("G0", *seats("gina", "hal")))
    first = (await governance.vote(review_id, governance.approver("gina"))).json()
    before = await governance.row_counts()

    again = await governance.vote(review_id, governance.approver("gina"), expect=409)
    problem = assert_problem(again, 409, rule="one-vote-per-approver")
    assert problem["vote_id"] == first["vote"]["id"]
    assert "revision_reason" in problem["detail"]
    assert await governance.row_counts() == before

    await governance.vote(review_id, governance.approver("hal"))
    before = await governance.row_counts()
    late = await governance.vote(
        review_id, governance.approver("hal"), "hold", revision_reason="second thoughts", expect=409
    )
    assert assert_problem(late, 409, rule="review-closed")["review_status"] == "decided"
    assert await governance.row_counts() == before


async def test_a_stale_if_match_on_a_vote_is_refused(governance: Governance) -> None:
    review_id = await review_of(governance, gate("G0", *seats("gina", "hal")))
    await governance.vote(review_id, governance.approver("gina"))
    before = await governance.row_counts()

    stale = await governance.client.post(
        f"/v1/gate-reviews/{review_id}/votes",
        json={"decision": "go"},
        headers={**governance.approver("hal"), "If-Match": '"1"'},
    )

    assert assert_problem(stale, 412)["current_etag"] == '"2"'
    assert await governance.row_counts() == before
    current = await governance.client.post(
        f"/v1/gate-reviews/{review_id}/votes",
        json={"decision": "go"},
        headers={**governance.approver("hal"), "If-Match": '"2"'},
    )
    assert current.status_code == 201, current.text
    assert current.headers["ETag"] == '"4"'  # the vote and the decision


# --- Who sits on the panel and how it decides -------------------------------------------------


async def test_anyone_holding_a_seats_role_fills_it_once(governance: Governance) -> None:
    review_id = await review_of(governance, gate("G0", {"role": "finance"}, {"user": "gina"}))
    before = await governance.row_counts()

    outsider = await governance.vote(review_id, governance.approver("olga", "legal"), expect=403)
    assert_problem(outsider, 403, rule="approver-rule")
    assert await governance.row_counts() == before

    finn = (await governance.vote(review_id, governance.approver("finn", "finance"))).json()
    assert (finn["vote"]["seat"], finn["vote"]["approver"], finn["vote"]["cast_by"]) == (
        "role:finance",
        "finn",
        "finn",
    )
    assert finn["review"]["awaiting"] == ["user:gina"]
    second_holder = await governance.vote(
        review_id, governance.approver("fran", "finance"), expect=409
    )
    assert_problem(second_holder, 409, rule="one-vote-per-approver")

    decided = (await governance.vote(review_id, governance.approver("gina"))).json()["review"]
    assert (decided["status"], decided["outcome"]) == ("decided", "go")
    assert decided["decided_by"] == ["finn", "gina"]


async def test_an_any_quorum_decides_on_the_first_go(governance: Governance) -> None:
    review_id = await review_of(governance, gate("G0", *seats("gina", "hal", "ivy"), quorum="any"))

    held = (await governance.vote(review_id, governance.approver("hal"), "hold")).json()
    assert held["review"]["status"] == "open"
    assert held["review"]["still_needed"] == 1
    go = (await governance.vote(review_id, governance.approver("ivy"))).json()["review"]

    assert (go["status"], go["outcome"], go["decided_by"]) == ("decided", "go", ["ivy"])
    assert go["awaiting"] == []
    assert go["still_needed"] == 0
    assert await governance.stored_types() == [
        "GateTemplateDefined",
        "GateReviewOpened",
        "VoteCast",
        "VoteCast",
        "GateDecided",
    ]


async def test_an_n_of_m_quorum_needs_n_goes(governance: Governance) -> None:
    review_id = await review_of(
        governance, gate("G0", *seats("gina", "hal", "ivy", "jo"), quorum="n_of_m", n=2)
    )
    review = await governance.review(review_id)
    assert (review["rule"]["needed"], review["rule"]["description"]) == (
        2,
        "2 of 4 seats, parallel, kill veto",
    )

    after_gina = (await governance.vote(review_id, governance.approver("gina"))).json()
    assert (after_gina["review"]["status"], after_gina["review"]["still_needed"]) == ("open", 1)
    after_hal = (await governance.vote(review_id, governance.approver("hal"), "hold")).json()
    assert (after_hal["review"]["status"], after_hal["review"]["still_needed"]) == ("open", 1)
    decided = (await governance.vote(review_id, governance.approver("jo"))).json()["review"]

    assert (decided["status"], decided["outcome"]) == ("decided", "go")
    assert decided["decided_by"] == ["gina", "jo"]
    closed = await governance.vote(review_id, governance.approver("ivy"), expect=409)
    assert_problem(closed, 409, rule="review-closed")


async def test_a_majority_that_cannot_be_reached_decides_the_most_severe_of_a_tie(
    governance: Governance,
) -> None:
    review_id = await review_of(
        governance, gate("G0", *seats("gina", "hal", "ivy"), quorum="majority")
    )

    await governance.vote(review_id, governance.approver("gina"), "hold")
    decided = (await governance.vote(review_id, governance.approver("hal"), "recycle")).json()[
        "review"
    ]

    assert decided["rule"]["needed"] == 2
    assert (decided["status"], decided["outcome"], decided["decided_by"]) == (
        "decided",
        "recycle",
        ["hal"],
    )
    project = (
        await governance.client.get(f"/v1/projects/{decided['project_id']}", headers=governance.pmo)
    ).json()
    assert project["passed_gates"] == []
    assert project["next_gate"] == "G0"


async def test_a_sequential_panel_votes_in_turn(governance: Governance) -> None:
    review_id = await review_of(
        governance, gate("G0", *seats("gina", "hal", "ivy"), order="sequential")
    )
    gina, hal = governance.approver("gina"), governance.approver("hal")
    assert await inbox(governance, gina) == [review_id]
    assert await inbox(governance, hal) == []
    before = await governance.row_counts()

    out_of_turn = await governance.vote(review_id, hal, expect=409)
    assert assert_problem(out_of_turn, 409, rule="sequential-order")["awaiting"] == ["user:gina"]
    assert await governance.row_counts() == before

    after_gina = (await governance.vote(review_id, gina)).json()["review"]
    assert after_gina["awaiting"] == ["user:hal"]
    assert await inbox(governance, gina) == []
    assert await inbox(governance, hal) == [review_id]
    await governance.vote(review_id, hal)
    decided = (await governance.vote(review_id, governance.approver("ivy"))).json()["review"]
    assert decided["decided_by"] == ["gina", "hal", "ivy"]


async def test_a_kill_with_veto_ends_the_review_and_the_project(governance: Governance) -> None:
    await governance.define_template(
        template(gate("G0", *seats("gina", "hal"), quorum="any"), gate("G1"))
    )
    project_id = await governance.known_project()
    review_id = (await governance.open_review(project_id)).json()["id"]

    killed = (
        await governance.vote(
            review_id, governance.approver("gina"), "kill", rationale="No budget this year"
        )
    ).json()["review"]

    assert (killed["status"], killed["outcome"], killed["decided_by"]) == (
        "decided",
        "kill",
        ["gina"],
    )
    again = await governance.open_review(project_id, expect=409)
    assert_problem(again, 409, rule="project-not-reviewable")


async def test_without_a_veto_a_kill_is_one_vote_among_others(governance: Governance) -> None:
    review_id = await review_of(
        governance, gate("G0", *seats("gina", "hal"), quorum="any", kill_veto=False)
    )

    killed = (await governance.vote(review_id, governance.approver("gina"), "kill")).json()
    assert killed["review"]["status"] == "open"
    decided = (await governance.vote(review_id, governance.approver("hal"))).json()["review"]

    assert (decided["outcome"], decided["decided_by"]) == ("go", ["hal"])
    assert decided["rule"]["description"] == "any 1 of 2 seats, parallel"


async def test_a_revised_vote_replaces_the_old_one_which_stays_in_the_history(
    governance: Governance,
) -> None:
    review_id = await review_of(
        governance, gate("G0", *seats("gina", "hal", "ivy"), quorum="n_of_m", n=2)
    )
    gina = governance.approver("gina")
    held = (await governance.vote(review_id, gina, "hold", rationale="Costs unclear")).json()

    revised = (
        await governance.vote(review_id, gina, "go", revision_reason="Costs clarified")
    ).json()

    old_id, new_id = held["vote"]["id"], revised["vote"]["id"]
    assert revised["vote"]["revises"] == old_id
    assert revised["vote"]["revision_reason"] == "Costs clarified"
    votes = revised["review"]["votes"]
    assert [(v["id"], v["decision"], v["current"]) for v in votes] == [
        (old_id, "hold", False),
        (new_id, "go", True),
    ]
    assert revised["review"]["still_needed"] == 1
    assert await governance.stored_types() == [
        "GateTemplateDefined",
        "GateReviewOpened",
        "VoteCast",
        "VoteRevised",
    ]


async def test_a_conditional_go_lists_its_conditions(governance: Governance) -> None:
    review_id = await review_of(governance, gate("G0", *seats("gina", "hal")))
    await governance.vote(review_id, governance.approver("gina"))

    receipt = (
        await governance.vote(
            review_id,
            governance.approver("hal"),
            "conditional_go",
            rationale="Fine, if",
            conditions=[
                CONDITION,
                {"description": "Sign the DPA", "owner": "carol", "due_date": "2027-04-01"},
            ],
        )
    ).json()

    assert [c["description"] for c in receipt["vote"]["conditions"]] == [
        "Name a data protection officer",
        "Sign the DPA",
    ]
    review = receipt["review"]
    assert (review["status"], review["outcome"]) == ("decided", "conditional_go")
    assert [
        (c["description"], c["owner"], c["due_date"], c["status"]) for c in review["conditions"]
    ] == [
        ("Name a data protection officer", "alice", "2027-03-15", "open"),
        ("Sign the DPA", "carol", "2027-04-01", "open"),
    ]
    assert {c["id"] for c in review["conditions"]} == {
        c["id"] for c in receipt["vote"]["conditions"]
    }


async def test_the_review_sums_up_the_current_votes_assessments(governance: Governance) -> None:
    review_id = await review_of(
        governance, gate("G0", *seats("gina", "hal"), criteria=[FIT, VALUE])
    )

    await governance.vote(
        review_id,
        governance.approver("gina"),
        assessments=[{"criterion": "fit", "met": True}, {"criterion": "value", "score": 4}],
    )
    await governance.vote(
        review_id,
        governance.approver("hal"),
        "hold",
        assessments=[
            {"criterion": "fit", "met": False, "comment": "Off strategy"},
            {"criterion": "value", "score": 1},
        ],
    )

    review = await governance.review(review_id)
    assert [(c["key"], c["met"], c["not_met"], c["average_score"]) for c in review["criteria"]] == [
        ("fit", 1, 1, None),
        ("value", 0, 0, 2.5),
    ]
    assert review["votes"][1]["assessments"][0]["comment"] == "Off strategy"


async def test_a_retried_vote_with_its_idempotency_key_is_answered_once(
    governance: Governance,
) -> None:
    review_id = await review_of(governance, gate("G0", *seats("gina", "hal")))
    gina = {**governance.approver("gina"), "Idempotency-Key": "gina-votes-G0"}
    url = f"/v1/gate-reviews/{review_id}/votes"

    first = await governance.client.post(url, json={"decision": "go"}, headers=gina)
    retried = await governance.client.post(url, json={"decision": "go"}, headers=gina)

    assert (first.status_code, retried.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in first.headers
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json() == first.json()
    assert (await governance.stored_types()).count("VoteCast") == 1
    before = await governance.row_counts()

    reused = await governance.client.post(
        url, headers=gina, json={"decision": "hold", "rationale": "another vote under the same key"}
    )
    assert_problem(reused, 422)
    assert await governance.row_counts() == before


# --- The inbox and listing ------------------------------------------------------------------


async def test_the_inbox_holds_what_waits_for_your_vote(governance: Governance) -> None:
    review_id = await review_of(
        governance, gate("G0", {"user": "gina"}, {"role": "finance"}), sponsor="carol"
    )
    gina, finn = governance.approver("gina"), governance.approver("finn", "finance")
    sponsor = governance.service.auth("carol", Role.REQUESTER, Role.APPROVER, "finance")
    delegated = await governance.client.post(
        "/v1/delegations", headers=gina, json={"to": "hal", "ends_at": "2027-03-08T09:00:00Z"}
    )
    assert delegated.status_code == 201, delegated.text
    hal, zed = governance.approver("hal"), governance.approver("zed")

    assert await inbox(governance, gina) == [review_id]
    assert await inbox(governance, finn) == [review_id]
    assert await inbox(governance, hal) == [review_id]
    assert await inbox(governance, sponsor) == []
    assert await inbox(governance, zed) == []

    await governance.vote(review_id, gina)
    assert await inbox(governance, gina) == []
    assert await inbox(governance, hal) == []
    assert await inbox(governance, finn) == [review_id]

    pmo_view = await governance.client.get(
        "/v1/gate-reviews", headers=governance.pmo, params={"assignee": "hal"}
    )
    assert pmo_view.status_code == 200
    assert pmo_view.json()["items"] == []
    nosy = await governance.client.get("/v1/gate-reviews", headers=hal, params={"assignee": "finn"})
    assert_problem(nosy, 403)


async def test_reviews_filter_by_status_project_and_gate(governance: Governance) -> None:
    await governance.define_template(template(gate("G0"), gate("G1")))
    first, second = await governance.known_project(), await governance.known_project()
    g0 = (await governance.open_review(first)).json()["id"]
    await governance.vote(g0, governance.approver("gina"))
    g1 = (await governance.open_review(first)).json()["id"]
    other = (await governance.open_review(second)).json()["id"]

    async def listed(**query: Any) -> list[str]:
        response = await governance.client.get(
            "/v1/gate-reviews", params=query, headers=governance.auditor
        )
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await listed() == [g0, g1, other]
    assert await listed(status="decided") == [g0]
    assert await listed(status=["open", "decided"]) == [g0, g1, other]
    assert await listed(status="withdrawn") == []
    assert await listed(project_id=str(first)) == [g0, g1]
    assert await listed(project_id=str(second), status="open") == [other]
    assert await listed(gate="G1") == [g1]
    summary = (
        await governance.client.get(
            "/v1/gate-reviews", params={"gate": "G0"}, headers=governance.auditor
        )
    ).json()["items"][0]
    assert (summary["status"], summary["outcome"], summary["escalated"]) == ("decided", "go", False)
    assert summary["closed_at"] is not None
    bad = await governance.client.get(
        "/v1/gate-reviews", params={"status": "pending"}, headers=governance.auditor
    )
    assert "pending" in assert_problem(bad, 422, field="status")["detail"]


async def test_a_cursor_walks_every_review_a_page_at_a_time(governance: Governance) -> None:
    await governance.define_template(template(gate("G0")))
    opened = []
    for _ in range(3):
        opened.append((await governance.open_review(await governance.known_project())).json()["id"])

    walked, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (
            await governance.client.get("/v1/gate-reviews", params=params, headers=governance.pmo)
        ).json()
        walked += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert walked == opened
    assert pages == 3
    for bad_cursor in ("not-a-cursor", "cjp4", "eDox"):
        refused = await governance.client.get(
            "/v1/gate-reviews", params={"cursor": bad_cursor}, headers=governance.pmo
        )
        assert_problem(refused, 422, field="cursor")
    too_big = await governance.client.get(
        "/v1/gate-reviews", params={"limit": 201}, headers=governance.pmo
    )
    assert_problem(too_big, 422, field="limit")


# --- Withdrawing ----------------------------------------------------------------------------


async def withdraw(
    governance: Governance, review_id: str, who: dict[str, str], reason: str = "Re-scoping"
) -> Any:
    return await governance.client.post(
        f"/v1/gate-reviews/{review_id}/withdraw", json={"reason": reason}, headers=who
    )


async def test_the_requester_or_a_pmo_admin_withdraws_a_review_freeing_its_gate(
    governance: Governance,
) -> None:
    await governance.define_template(template(gate("G0", *seats("gina", "hal"))))
    project_id = await governance.known_project()
    review_id = (await governance.open_review(project_id)).json()["id"]
    await governance.vote(review_id, governance.approver("gina"))
    before = await governance.row_counts()

    for someone in (governance.service.auth("bob", Role.REQUESTER), governance.approver("hal")):
        assert_problem(await withdraw(governance, review_id, someone), 403)
    assert_problem(
        await withdraw(governance, review_id, governance.alice, reason=""), 422, field="reason"
    )
    assert_problem(await withdraw(governance, str(uuid4()), governance.alice), 404)
    stale = await governance.client.post(
        f"/v1/gate-reviews/{review_id}/withdraw",
        json={"reason": "Re-scoping"},
        headers={**governance.alice, "If-Match": '"1"'},
    )
    assert assert_problem(stale, 412)["current_etag"] == '"2"'
    assert await governance.row_counts() == before

    withdrawn = await withdraw(governance, review_id, governance.alice)
    assert withdrawn.status_code == 200, withdrawn.text
    assert (withdrawn.json()["status"], withdrawn.json()["awaiting"]) == ("withdrawn", [])
    twice = await withdraw(governance, review_id, governance.alice)
    assert_problem(twice, 409, rule="review-closed")
    late_vote = await governance.vote(review_id, governance.approver("hal"), expect=409)
    assert_problem(late_vote, 409, rule="review-closed")
    assert await inbox(governance, governance.approver("hal")) == []

    reopened = (await governance.open_review(project_id, gate="G0")).json()
    assert reopened["gate"] == "G0"
    assert reopened["votes"] is None  # opened by the requester, who reads no votes
    assert reopened["id"] != review_id
    by_pmo = await withdraw(governance, reopened["id"], governance.pmo)
    assert (by_pmo.status_code, by_pmo.json()["status"]) == (200, "withdrawn")
    assert (await governance.stored_types()).count("GateReviewWithdrawn") == 2
