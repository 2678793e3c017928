"""Gate templates over HTTP: a PMO admin defines a project type's gates, one version at a time.

Replacing a template needs the ETag of the version it replaces; every refusal names the field
or the rule and writes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Governance, assert_problem, gate, template

pytestmark = pytest.mark.kafka

STAGE_GATES = template(
    gate("G0", {"user": "gina"}), gate("G1", {"role": "finance"}, {"user": "hal"}, quorum="any")
)


async def put(
    governance: Governance,
    body: dict[str, Any],
    *,
    project_type: str = "standard",
    headers: dict[str, str] | None = None,
    **extra: str,
) -> Any:
    return await governance.client.put(
        f"/v1/gate-templates/{project_type}",
        json=body,
        headers={**(headers or governance.pmo), **extra},
    )


async def test_a_pmo_admin_defines_the_first_version(governance: Governance) -> None:
    response = await put(governance, STAGE_GATES)

    assert response.status_code == 201, response.text
    assert response.headers["Location"].endswith("/v1/gate-templates/standard")
    assert response.headers["ETag"] == '"1"'
    body = response.json()
    assert body["project_type"] == "standard"
    assert body["version"] == 1
    assert body["defined_by"] == "pat"
    assert body["escalation_role"] == "pmo_admin"
    assert [g["key"] for g in body["gates"]] == ["G0", "G1"]
    assert body["gates"][1]["approval"]["approvers"] == [
        {"user": None, "role": "finance"},
        {"user": "hal", "role": None},
    ]
    assert body["gates"][1]["approval"]["quorum"] == "any"

    fetched = await governance.client.get("/v1/gate-templates/standard", headers=governance.auditor)
    assert fetched.status_code == 200
    assert fetched.headers["ETag"] == '"1"'
    assert fetched.json() == body


async def test_only_a_pmo_admin_may_define_a_template(governance: Governance) -> None:
    for someone in (governance.alice, governance.approver("gina"), governance.auditor):
        refused = await put(governance, STAGE_GATES, headers=someone)

        assert "pmo_admin" in assert_problem(refused, 403)["detail"]
    anonymous = await governance.client.put("/v1/gate-templates/standard", json=STAGE_GATES)
    assert_problem(anonymous, 401)
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert (await governance.client.get("/v1/gate-templates")).status_code == 401
    assert await governance.row_counts() == {
        "events": 0,
        "reviews": 0,
        "delegations": 0,
        "idempotency": 0,
    }


async def test_replacing_a_template_needs_the_etag_of_the_version_it_replaces(
    governance: Governance,
) -> None:
    await governance.define_template(STAGE_GATES)
    replacement = template(gate("G0", {"user": "gina"}, sla_hours=24), name="Fast track")
    before = await governance.row_counts()

    without = await put(governance, replacement)
    assert_problem(without, 428)
    stale = await put(governance, replacement, **{"If-Match": '"7"'})
    assert assert_problem(stale, 412)["current_etag"] == '"1"'
    weak = await put(governance, replacement, **{"If-Match": 'W/"1"'})
    assert_problem(weak, 412)
    assert await governance.row_counts() == before

    replaced = await put(governance, replacement, **{"If-Match": '"1"'})
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["ETag"] == '"2"'
    assert "Location" not in replaced.headers
    assert replaced.json()["version"] == 2
    assert replaced.json()["name"] == "Fast track"

    again = await put(governance, replacement, **{"If-Match": '"1"'})
    assert_problem(again, 412)


async def test_an_earlier_version_stays_readable_and_an_unknown_one_is_not_found(
    governance: Governance,
) -> None:
    await governance.define_template(STAGE_GATES)
    await put(
        governance, template(gate("G0", {"user": "gina"}), name="Fast track"), **{"If-Match": '"1"'}
    )

    current = await governance.client.get("/v1/gate-templates/standard", headers=governance.alice)
    assert current.headers["ETag"] == '"2"'
    assert (current.json()["version"], current.json()["name"]) == (2, "Fast track")
    first = await governance.client.get(
        "/v1/gate-templates/standard?version=1", headers=governance.alice
    )
    assert first.status_code == 200
    assert (first.json()["version"], first.json()["name"]) == (1, STAGE_GATES["name"])
    assert [g["key"] for g in first.json()["gates"]] == ["G0", "G1"]
    never = await governance.client.get(
        "/v1/gate-templates/standard?version=3", headers=governance.alice
    )
    assert_problem(never, 404)
    zero = await governance.client.get(
        "/v1/gate-templates/standard?version=0", headers=governance.alice
    )
    assert_problem(zero, 422, field="version")
    unknown = await governance.client.get("/v1/gate-templates/capex", headers=governance.alice)
    assert "capex" in assert_problem(unknown, 404)["detail"]


def changed(**top: Any) -> dict[str, Any]:
    """The stage gates with some top-level fields changed (None removes one)."""
    body = {**STAGE_GATES, **top}
    return {key: value for key, value in body.items() if value is not None}


def with_approval(**approval: Any) -> dict[str, Any]:
    """The stage gates with the first gate's approval rule changed."""
    first = STAGE_GATES["gates"][0]
    return changed(gates=[{**first, "approval": {**first["approval"], **approval}}])


FIT = {"key": "fit", "name": "Fit", "kind": "must_meet"}

INVALID_TEMPLATES = [
    ("an unknown field", changed(colour="red"), "colour"),
    ("no name", changed(name=None), "name"),
    ("no gates", template(), "gates"),
    (
        "a seat naming a user and a role",
        with_approval(approvers=[{"user": "gina", "role": "finance"}]),
        "gates.0.approval.approvers.0",
    ),
    ("a seat naming nobody", with_approval(approvers=[{}]), "gates.0.approval.approvers.0"),
    ("no seats", with_approval(approvers=[]), "gates.0.approval.approvers"),
    (
        "the same seat twice",
        with_approval(approvers=[{"user": "gina"}, {"user": "gina"}]),
        "gates.0.approval.approvers",
    ),
    ("n_of_m without n", with_approval(quorum="n_of_m"), "gates.0.approval.n"),
    ("n above the number of seats", with_approval(quorum="n_of_m", n=2), "gates.0.approval.n"),
    ("n without n_of_m", with_approval(n=1), "gates.0.approval.n"),
    ("an unknown quorum", with_approval(quorum="most"), "gates.0.approval.quorum"),
    ("duplicate gate keys", template(gate("G0"), gate("G0")), "gates"),
    ("sla_hours 0", template(gate("G0", sla_hours=0)), "gates.0.sla_hours"),
    ("a gate key with a space", template(gate("G 0")), "gates.0.key"),
    (
        "duplicate criterion keys",
        template(gate("G0", criteria=[FIT, {**FIT, "kind": "should_meet"}])),
        "gates.0.criteria",
    ),
    (
        "an unknown criterion kind",
        template(gate("G0", criteria=[{**FIT, "kind": "nice"}])),
        "gates.0.criteria.0.kind",
    ),
    (
        "an escalation role that is not a role name",
        changed(escalation_role="PMO Admin"),
        "escalation_role",
    ),
]


async def test_an_invalid_template_is_refused_naming_the_field(
    governance: Governance, subtests: pytest.Subtests
) -> None:
    for why, body, field in INVALID_TEMPLATES:
        with subtests.test(why):
            refused = await put(governance, body)

            assert_problem(refused, 422, field=field)
    for project_type in ("Standard", "9lives", "with%20space", "a" * 65):
        with subtests.test(f"project type {project_type!r}"):
            refused = await put(governance, STAGE_GATES, project_type=project_type)

            assert_problem(refused, 422, field="project_type")
    assert await governance.row_counts() == {
        "events": 0,
        "reviews": 0,
        "delegations": 0,
        "idempotency": 0,
    }
    missing = await governance.client.get("/v1/gate-templates/standard", headers=governance.pmo)
    assert_problem(missing, 404)


async def test_the_list_holds_every_project_types_current_version(governance: Governance) -> None:
    assert (
        await governance.client.get("/v1/gate-templates", headers=governance.auditor)
    ).json() == []
    await governance.define_template(STAGE_GATES)
    await governance.define_template(
        template(gate("C0", {"role": "finance"}), name="Capex"), project_type="capex"
    )
    await put(governance, template(gate("G0"), name="Fast track"), **{"If-Match": '"1"'})

    listed = await governance.client.get("/v1/gate-templates", headers=governance.alice)

    assert listed.status_code == 200
    assert sorted((t["project_type"], t["version"], t["name"]) for t in listed.json()) == [
        ("capex", 1, "Capex"),
        ("standard", 2, "Fast track"),
    ]


async def test_a_retried_definition_with_the_same_idempotency_key_is_answered_once(
    governance: Governance,
) -> None:
    first = await put(governance, STAGE_GATES, **{"Idempotency-Key": "define-standard"})
    retried = await put(governance, STAGE_GATES, **{"Idempotency-Key": "define-standard"})

    assert (first.status_code, retried.status_code) == (201, 201)
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json() == first.json()
    assert await governance.stored_types() == ["GateTemplateDefined"]
