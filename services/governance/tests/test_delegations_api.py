"""Delegations over HTTP: an approver lets someone vote in their seat for a while.

The delegate's vote records both names; segregation of duties binds the delegate as anyone;
a delegation counts only within its scope and period, and not once revoked.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from gatehouse.auth import Role

from .conftest import Governance, assert_problem, gate, template

pytestmark = pytest.mark.kafka

# The conftest clock starts at 2027-03-01 09:00 UTC.
NEXT_WEEK = "2027-03-08T09:00:00Z"


async def delegate(
    governance: Governance, who: dict[str, str], *, expect: int = 201, **body: Any
) -> Any:
    response = await governance.client.post(
        "/v1/delegations", headers=who, json={"ends_at": NEXT_WEEK, **body}
    )
    assert response.status_code == expect, response.text
    return response


async def revoke(
    governance: Governance,
    delegation_id: str,
    who: dict[str, str],
    reason: str = "Back from holiday",
) -> Any:
    return await governance.client.post(
        f"/v1/delegations/{delegation_id}/revoke", json={"reason": reason}, headers=who
    )


async def gina_and_hal_review(governance: Governance, **project: Any) -> str:
    """A review of a project's G0, whose panel is gina and hal (all must vote)."""
    await governance.define_template(
        template(gate("G0", {"user": "gina"}, {"user": "hal"}), gate("G1", {"user": "gina"}))
    )
    project_id = await governance.known_project(**project)
    review_id: str = (await governance.open_review(project_id)).json()["id"]
    return review_id


# --- Granting -------------------------------------------------------------------------------


async def test_an_approver_delegates_their_own_approvals(governance: Governance) -> None:
    granted = await delegate(
        governance, governance.approver("gina"), to="ivan", reason="Holiday", scope={"gate": "G0"}
    )

    body = granted.json()
    assert granted.headers["Location"].endswith(f"/v1/delegations/{body['id']}")
    assert granted.headers["ETag"] == '"1"'
    assert (body["from"], body["to"], body["granted_by"], body["reason"]) == (
        "gina",
        "ivan",
        "gina",
        "Holiday",
    )
    assert body["starts_at"].startswith("2027-03-01T09:00:00")
    assert body["ends_at"].startswith("2027-03-08T09:00:00")
    assert body["scope"] == {"project_type": None, "gate": "G0", "project_id": None}
    assert (body["active"], body["revoked"], body["revoked_by"]) == (True, False, None)

    fetched = await governance.client.get(
        f"/v1/delegations/{body['id']}", headers=governance.auditor
    )
    assert fetched.status_code == 200
    assert fetched.headers["ETag"] == '"1"'
    assert fetched.json() == body


async def test_only_the_delegator_or_a_pmo_admin_grants_a_delegation(
    governance: Governance,
) -> None:
    someone_elses = await delegate(
        governance, governance.approver("hal"), **{"from": "gina"}, to="hal", expect=403
    )
    assert_problem(someone_elses, 403, rule="object-ownership")
    requester = await delegate(governance, governance.alice, to="ivan", expect=403)
    assert_problem(requester, 403)
    no_token = await governance.client.post(
        "/v1/delegations", json={"to": "ivan", "ends_at": NEXT_WEEK}
    )
    assert_problem(no_token, 401)
    assert await governance.row_counts() == {
        "events": 0,
        "reviews": 0,
        "delegations": 0,
        "idempotency": 0,
    }

    by_pmo = await delegate(governance, governance.pmo, **{"from": "gina"}, to="ivan")
    assert (by_pmo.json()["from"], by_pmo.json()["granted_by"]) == ("gina", "pat")


async def test_an_invalid_delegation_is_refused_naming_the_field(
    governance: Governance, subtests: pytest.Subtests
) -> None:
    gina = governance.approver("gina")
    for why, body, field in [
        ("to oneself", {"to": "gina"}, "to"),
        ("to oneself, named by a PMO admin", {"from": "hal", "to": "hal"}, "to"),
        (
            "ending before it starts",
            {"to": "ivan", "starts_at": "2027-03-05T09:00:00Z", "ends_at": "2027-03-04T09:00:00Z"},
            "ends_at",
        ),
        ("ending in the past", {"to": "ivan", "ends_at": "2027-02-28T09:00:00Z"}, "ends_at"),
        (
            "ends_at without a time zone",
            {"to": "ivan", "ends_at": "2027-03-08T09:00:00"},
            "ends_at",
        ),
        (
            "starts_at without a time zone",
            {"to": "ivan", "starts_at": "2027-03-02T09:00:00"},
            "starts_at",
        ),
        ("no one to delegate to", {}, "to"),
        ("an unknown field", {"to": "ivan", "forever": True}, "forever"),
        ("an unknown scope field", {"to": "ivan", "scope": {"portfolio": "x"}}, "scope.portfolio"),
        ("a scope gate that is not a key", {"to": "ivan", "scope": {"gate": "G 0"}}, "scope.gate"),
    ]:
        with subtests.test(why):
            who = governance.pmo if "from" in body else gina
            refused = await governance.client.post(
                "/v1/delegations", headers=who, json={"ends_at": NEXT_WEEK, **body}
            )

            assert_problem(refused, 422, field=field)
    assert (await governance.row_counts())["delegations"] == 0


# --- Voting as a delegate -------------------------------------------------------------------


async def test_a_delegate_votes_in_the_delegators_seat_under_both_names(
    governance: Governance,
) -> None:
    review_id = await gina_and_hal_review(governance)
    delegation_id = (await delegate(governance, governance.approver("gina"), to="ivan")).json()[
        "id"
    ]

    vote = (await governance.vote(review_id, governance.approver("ivan"))).json()["vote"]

    assert (vote["seat"], vote["approver"], vote["cast_by"], vote["delegation_id"]) == (
        "user:gina",
        "gina",
        "ivan",
        delegation_id,
    )
    taken = await governance.vote(review_id, governance.approver("gina"), expect=409)
    assert_problem(taken, 409, rule="one-vote-per-approver")
    decided = (await governance.vote(review_id, governance.approver("hal"))).json()["review"]
    assert decided["decided_by"] == ["gina", "hal"]


async def test_a_delegate_of_several_approvers_says_whose_seat_they_fill(
    governance: Governance,
) -> None:
    review_id = await gina_and_hal_review(governance)
    await delegate(governance, governance.approver("gina"), to="ivan")
    await delegate(governance, governance.approver("hal"), to="ivan")
    ivan = governance.approver("ivan")
    before = await governance.row_counts()

    ambiguous = await governance.vote(review_id, ivan, expect=422)
    assert "gina, hal" in assert_problem(ambiguous, 422, field="on_behalf_of")["detail"]
    assert await governance.row_counts() == before

    for_hal = (await governance.vote(review_id, ivan, on_behalf_of="hal")).json()["vote"]
    assert (for_hal["approver"], for_hal["cast_by"]) == ("hal", "ivan")
    for_gina = (await governance.vote(review_id, ivan, on_behalf_of="gina")).json()
    assert (for_gina["vote"]["approver"], for_gina["review"]["status"]) == ("gina", "decided")


async def test_segregation_of_duties_binds_the_delegate(governance: Governance) -> None:
    review_id = await gina_and_hal_review(governance, requested_by="alice", sponsor="carol")
    await delegate(governance, governance.approver("gina"), to="carol")
    before = await governance.row_counts()

    sponsor = governance.service.auth("carol", Role.REQUESTER, Role.APPROVER)
    implicit = await governance.vote(review_id, sponsor, expect=403)
    assert_problem(implicit, 403, rule="segregation-of-duties")
    explicit = await governance.vote(review_id, sponsor, on_behalf_of="gina", expect=403)
    assert_problem(explicit, 403, rule="segregation-of-duties")
    assert await governance.row_counts() == before


async def test_nobody_votes_for_the_sponsor_through_a_delegation(governance: Governance) -> None:
    await governance.define_template(
        template(gate("G0", {"user": "carol"}, {"user": "gina"}, quorum="any"))
    )
    project_id = await governance.known_project(sponsor="carol")
    review_id = (await governance.open_review(project_id)).json()["id"]
    await delegate(governance, governance.approver("carol"), to="ivan")
    before = await governance.row_counts()

    ivan = governance.approver("ivan")
    for body in ({}, {"on_behalf_of": "carol"}):
        refused = await governance.vote(review_id, ivan, expect=403, **body)
        assert_problem(refused, 403, rule="segregation-of-duties")
    assert await governance.row_counts() == before
    inbox = await governance.client.get(
        "/v1/gate-reviews", headers=ivan, params={"assignee": "me", "status": "open"}
    )
    assert inbox.json()["items"] == []


async def test_a_delegation_counts_only_within_its_scope(governance: Governance) -> None:
    review_id = await gina_and_hal_review(governance)
    review = await governance.review(review_id)
    gina = governance.approver("gina")
    for scope in ({"project_type": "capex"}, {"gate": "G1"}, {"project_id": str(uuid4())}):
        await delegate(governance, gina, to="ivan", scope=scope)
    ivan = governance.approver("ivan")
    before = await governance.row_counts()

    outside = await governance.vote(review_id, ivan, expect=403)
    assert_problem(outside, 403, rule="approver-rule")
    named = await governance.vote(review_id, ivan, on_behalf_of="gina", expect=403)
    assert_problem(named, 403, rule="delegation")
    assert await governance.row_counts() == before

    await delegate(
        governance,
        gina,
        to="ivan",
        scope={"project_type": "standard", "gate": "G0", "project_id": review["project_id"]},
    )
    vote = (await governance.vote(review_id, ivan)).json()["vote"]
    assert (vote["approver"], vote["cast_by"]) == ("gina", "ivan")


async def test_a_delegation_counts_only_within_its_period(governance: Governance) -> None:
    review_id = await gina_and_hal_review(governance)
    gina, ivan = governance.approver("gina"), governance.approver("ivan")
    await delegate(
        governance,
        gina,
        to="ivan",
        starts_at="2027-03-02T09:00:00Z",
        ends_at="2027-03-03T09:00:00Z",
    )
    inbox = {"assignee": "me", "status": "open"}

    early = await governance.vote(review_id, ivan, expect=403)
    assert_problem(early, 403, rule="approver-rule")
    assert (await governance.client.get("/v1/gate-reviews", params=inbox, headers=ivan)).json()[
        "items"
    ] == []

    governance.clock.advance(days=3)
    late = await governance.vote(review_id, ivan, expect=403)
    assert_problem(late, 403, rule="approver-rule")
    assert (await governance.client.get("/v1/gate-reviews", params=inbox, headers=ivan)).json()[
        "items"
    ] == []
    listed = (await governance.client.get("/v1/delegations", headers=gina)).json()
    assert [d["active"] for d in listed] == [False]

    governance.clock.advance(days=-2)
    assert [
        item["id"]
        for item in (
            await governance.client.get("/v1/gate-reviews", params=inbox, headers=ivan)
        ).json()["items"]
    ] == [review_id]
    await governance.vote(review_id, ivan)


# --- Revoking -------------------------------------------------------------------------------


async def test_the_delegator_revokes_a_delegation_and_it_no_longer_counts(
    governance: Governance,
) -> None:
    review_id = await gina_and_hal_review(governance)
    gina, ivan = governance.approver("gina"), governance.approver("ivan")
    delegation_id = (await delegate(governance, gina, to="ivan")).json()["id"]
    before = await governance.row_counts()

    for someone in (ivan, governance.approver("hal")):
        assert_problem(
            await revoke(governance, delegation_id, someone), 403, rule="object-ownership"
        )
    assert_problem(await revoke(governance, delegation_id, governance.alice), 403)
    assert_problem(await revoke(governance, delegation_id, gina, reason=""), 422, field="reason")
    assert await governance.row_counts() == before

    revoked = await revoke(governance, delegation_id, gina)
    assert revoked.status_code == 200, revoked.text
    assert revoked.headers["ETag"] == '"2"'
    assert (revoked.json()["revoked"], revoked.json()["revoked_by"], revoked.json()["active"]) == (
        True,
        "gina",
        False,
    )
    twice = await revoke(governance, delegation_id, gina)
    assert_problem(twice, 409, rule="delegation-revoked")

    refused = await governance.vote(review_id, ivan, expect=403)
    assert_problem(refused, 403, rule="approver-rule")
    assert (
        await governance.client.get(
            "/v1/gate-reviews", headers=ivan, params={"assignee": "me", "status": "open"}
        )
    ).json()["items"] == []


async def test_a_pmo_admin_revokes_any_delegation_but_not_an_ended_one(
    governance: Governance,
) -> None:
    gina = governance.approver("gina")
    current = (await delegate(governance, gina, to="ivan")).json()["id"]
    short = (await delegate(governance, gina, to="hal", ends_at="2027-03-02T09:00:00Z")).json()[
        "id"
    ]

    revoked = await revoke(governance, current, governance.pmo)
    assert revoked.json()["revoked_by"] == "pat"
    governance.clock.advance(days=2)
    ended = await revoke(governance, short, governance.pmo)
    assert_problem(ended, 409, rule="delegation-ended")
    unknown = await revoke(governance, str(uuid4()), governance.pmo)
    assert_problem(unknown, 404)


# --- Reading --------------------------------------------------------------------------------


async def test_delegations_are_listed_for_those_involved(governance: Governance) -> None:
    gina, hal, ivan = (governance.approver(name) for name in ("gina", "hal", "ivan"))
    to_ivan = (await delegate(governance, gina, to="ivan")).json()["id"]
    to_gina = (await delegate(governance, hal, to="gina")).json()["id"]
    ended = (await delegate(governance, hal, to="ivan", ends_at="2027-03-02T09:00:00Z")).json()[
        "id"
    ]
    governance.clock.advance(days=2)

    async def listed(who: dict[str, str], **query: Any) -> list[str]:
        response = await governance.client.get("/v1/delegations", params=query, headers=who)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()]

    assert await listed(gina) == [to_ivan, to_gina]
    assert await listed(ivan) == [to_ivan, ended]
    assert await listed(ivan, active="true") == [to_ivan]
    assert await listed(governance.approver("zed")) == []
    assert await listed(governance.auditor, involving="hal") == [to_gina, ended]
    assert await listed(governance.pmo, involving="*") == [to_ivan, to_gina, ended]
    assert await listed(governance.pmo, involving="*", active="true") == [to_ivan, to_gina]
    nosy = await governance.client.get(
        "/v1/delegations", params={"involving": "gina"}, headers=ivan
    )
    assert_problem(nosy, 403)
    missing = await governance.client.get(f"/v1/delegations/{uuid4()}", headers=gina)
    assert_problem(missing, 404)
    # By id as in the list: its delegator, its delegate, the audit; to others no such id.
    for who, status in (
        (gina, 200),
        (ivan, 200),
        (governance.auditor, 200),
        (hal, 404),
        (governance.approver("zed"), 404),
        (governance.alice, 404),
    ):
        read = await governance.client.get(f"/v1/delegations/{to_ivan}", headers=who)
        assert read.status_code == status, read.text
    too_many = await governance.client.get("/v1/delegations", params={"limit": 501}, headers=gina)
    assert_problem(too_many, 422, field="limit")
