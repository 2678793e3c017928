"""API keys: a PMO admin issues one (shown once, stored hashed), a machine client sends it in
X-API-Key and acts as the key's subject with its roles, and a revoked or expired key stops
working. Bad input is a 422 naming the field and writes nothing."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gatehouse.auth import Role
from gatehouse.eventstore.schema import events

from .conftest import VALID_REQUEST, Intake, assert_problem

pytestmark = pytest.mark.kafka

ERP = {"name": "ERP connector", "subject": "erp-connector", "roles": ["requester"]}


async def issue(intake: Intake, **changes: Any) -> dict[str, Any]:
    response = await intake.client.post("/v1/api-keys", json={**ERP, **changes}, headers=intake.pmo)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_key_is_shown_once_and_acts_as_its_subject_with_its_roles(intake: Intake) -> None:
    response = await intake.client.post("/v1/api-keys", json=ERP, headers=intake.pmo)

    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    issued = response.json()
    assert issued["key"].startswith(f"ghk_{issued['id']}_")
    assert {k: issued[k] for k in ("name", "subject", "roles", "status", "issued_by")} == {
        "name": "ERP connector",
        "subject": "erp-connector",
        "roles": ["requester"],
        "status": "active",
        "issued_by": "pat",
    }
    assert response.headers["location"].endswith(f"/v1/api-keys/{issued['id']}")

    created = await intake.client.post(
        "/v1/projects", json=VALID_REQUEST, headers={"X-API-Key": issued["key"]}
    )
    assert created.status_code == 201, created.text
    assert created.json()["requested_by"] == "erp-connector"

    listed = (await intake.client.get("/v1/api-keys", headers=intake.auditor)).json()
    assert [key["id"] for key in listed] == [issued["id"]]
    assert "key" not in listed[0]


async def test_only_the_secrets_hash_is_stored(intake: Intake) -> None:
    issued = await issue(intake)
    secret = issued["key"].split("_", 2)[2]

    database = intake.service.app.state.runtime.database
    async with database.engine.connect() as connection:
        stored = [
            row.data
            for row in await connection.execute(
                select(events.c.data).where(events.c.stream_id == f"api-key-{issued['id']}")
            )
        ]
    assert len(stored) == 1
    assert secret not in str(stored)
    assert stored[0]["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()


async def test_a_key_without_a_subject_acts_as_itself(intake: Intake) -> None:
    issued = await issue(intake, subject=None)
    assert issued["subject"] == f"apikey:{issued['id']}"


async def test_a_key_carries_only_the_roles_it_was_given(intake: Intake) -> None:
    requester_key = await issue(intake)
    refused = await intake.client.get("/v1/api-keys", headers={"X-API-Key": requester_key["key"]})
    assert_problem(refused, 403)

    auditor_key = await issue(intake, name="BI export", subject="bi", roles=["auditor"])
    allowed = await intake.client.get("/v1/api-keys", headers={"X-API-Key": auditor_key["key"]})
    assert allowed.status_code == 200


async def test_a_revoked_key_stops_working_at_once(intake: Intake) -> None:
    issued = await issue(intake)
    key = {"X-API-Key": issued["key"]}
    assert (await intake.client.get("/v1/projects", headers=key)).status_code == 200

    revoked = await intake.client.post(
        f"/v1/api-keys/{issued['id']}/revoke",
        json={"reason": "the connector was retired"},
        headers=intake.pmo,
    )

    assert revoked.status_code == 200, revoked.text
    assert {k: revoked.json()[k] for k in ("status", "revoked_by", "revoke_reason")} == {
        "status": "revoked",
        "revoked_by": "pat",
        "revoke_reason": "the connector was retired",
    }
    problem = assert_problem(await intake.client.get("/v1/projects", headers=key), 401)
    assert problem["detail"] == "the API key is unknown, revoked or expired"

    again = await intake.client.post(
        f"/v1/api-keys/{issued['id']}/revoke", json={"reason": "twice"}, headers=intake.pmo
    )
    assert assert_problem(again, 409)["rule"] == "already-revoked"


async def test_an_expired_key_stops_working(intake: Intake) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=1.5)
    issued = await issue(intake, expires_at=expires.isoformat())
    key = {"X-API-Key": issued["key"]}
    assert (await intake.client.get("/v1/projects", headers=key)).status_code == 200

    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.1)

    assert_problem(await intake.client.get("/v1/projects", headers=key), 401)
    shown = (await intake.client.get(f"/v1/api-keys/{issued['id']}", headers=intake.pmo)).json()
    assert shown["status"] == "expired"


@pytest.mark.parametrize(
    "presented",
    [
        "not-a-key",
        "ghk_0123456789abcdef_short",
        "ghk_0123456789abcdef_" + "A" * 43,  # well-formed, never issued
    ],
)
async def test_a_key_that_is_not_one_is_refused(intake: Intake, presented: str) -> None:
    assert_problem(await intake.client.get("/v1/projects", headers={"X-API-Key": presented}), 401)


async def test_a_guessed_secret_for_a_real_key_id_is_refused(intake: Intake) -> None:
    issued = await issue(intake)
    forged = f"ghk_{issued['id']}_" + "B" * 43
    problem = assert_problem(
        await intake.client.get("/v1/projects", headers={"X-API-Key": forged}), 401
    )
    assert problem["detail"] == "the API key is unknown, revoked or expired"


async def test_without_credentials_the_problem_names_both_ways_in(intake: Intake) -> None:
    problem = assert_problem(await intake.client.get("/v1/projects"), 401)
    assert "Bearer" in problem["detail"]
    assert "X-API-Key" in problem["detail"]


@pytest.mark.parametrize("who", ["alice", "eve"])
async def test_only_a_pmo_admin_issues_and_revokes(intake: Intake, who: str) -> None:
    headers = intake.alice if who == "alice" else intake.auditor
    before = await intake.row_counts()
    assert_problem(await intake.client.post("/v1/api-keys", json=ERP, headers=headers), 403)
    issued = await issue(intake)
    assert_problem(
        await intake.client.post(
            f"/v1/api-keys/{issued['id']}/revoke", json={"reason": "r"}, headers=headers
        ),
        403,
    )
    assert (await intake.row_counts())["events"] == before["events"] + 1


async def test_a_requester_cannot_see_the_keys(intake: Intake) -> None:
    issued = await issue(intake)
    assert_problem(await intake.client.get("/v1/api-keys", headers=intake.alice), 403)
    assert_problem(
        await intake.client.get(f"/v1/api-keys/{issued['id']}", headers=intake.alice), 403
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"roles": []}, "roles"),
        ({"roles": ["Requester"]}, "roles.0"),
        ({"roles": ["requester", "requester"]}, "roles"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"subject": "has spaces"}, "subject"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # no offset
        ({"expires_at": "soon"}, "expires_at"),
        ({"key": "ghk_chosen_by_me"}, "key"),
    ],
)
async def test_bad_input_names_the_field_and_writes_nothing(
    intake: Intake, changes: dict[str, Any], field: str
) -> None:
    before = await intake.row_counts()
    response = await intake.client.post("/v1/api-keys", json={**ERP, **changes}, headers=intake.pmo)
    assert_problem(response, 422, field=field)
    assert await intake.row_counts() == before


async def test_unknown_and_malformed_key_ids(intake: Intake) -> None:
    assert_problem(
        await intake.client.get("/v1/api-keys/0123456789abcdef", headers=intake.pmo), 404
    )
    assert_problem(
        await intake.client.post(
            "/v1/api-keys/0123456789abcdef/revoke", json={"reason": "r"}, headers=intake.pmo
        ),
        404,
    )
    assert_problem(await intake.client.get("/v1/api-keys/NOT-AN-ID", headers=intake.pmo), 422)
    assert_problem(
        await intake.client.post(
            "/v1/api-keys/0123456789abcdef/revoke", json={}, headers=intake.pmo
        ),
        422,
        field="reason",
    )


async def test_a_bearer_token_wins_over_a_key_sent_alongside(intake: Intake) -> None:
    issued = await issue(intake)
    both = {**intake.service.auth("pat", Role.PMO_ADMIN), "X-API-Key": issued["key"]}
    assert (await intake.client.get("/v1/api-keys", headers=both)).status_code == 200
