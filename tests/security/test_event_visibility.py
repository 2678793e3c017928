"""Who reads which events, event type by role: every event type is produced once through the
real services, then each role reads reporting's live stream from the start of the log and every
project's timeline. Each gets exactly the events the visibility table gives its role, each with
the fields the table gives it, and of the others nothing, not even their ids."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import select

from gatehouse.auth import Role
from gatehouse.events.governance import GateDecided, VoteCast, VoteRevised, governance_events
from gatehouse.events.intake import ApiKeyIssued, intake_events
from gatehouse.events.visibility import EVENT_VISIBILITY, visible_data, visible_types
from gatehouse.runtime import ServiceRuntime
from gatehouse.testing.harness import RunningService, eventually, served
from gatehouse.web import RoleCheck
from governance.timers import GateTimers
from intake.api import router as intake_router
from reporting.api import router as reporting_router
from reporting.main import create_app as create_reporting
from reporting.tables import event_log

from .conftest import Gatehouse, project_request

EVERY_TYPE = {
    event_type
    for registry in (intake_events, governance_events)
    for event_type in registry.event_types
}
READERS = {
    Role.REQUESTER: "alice",
    Role.APPROVER: "gina",
    Role.PMO_ADMIN: "pat",
    Role.AUDITOR: "lee",
}
# A hidden event's own ids, found in its data.
OWN_IDS = ("vote_id", "revises", "delegation_id", "key_id", "erasure_id", "refs", "votes")
TEMPLATE = {
    "name": "One gate",
    "gates": [
        {
            "key": "G0",
            "name": "Idea screen",
            "sla_hours": 24,
            "approval": {"approvers": [{"user": "gina"}, {"user": "hal"}], "quorum": "all"},
        }
    ],
}
STATUS = {
    "overall": "green",
    "schedule": "green",
    "cost": "green",
    "scope": "green",
    "summary": "On track",
    "forecast_cost": {"amount": "1000.00", "currency": "EUR"},
    "forecast_end_date": "2027-09-30",
}


def test_the_audit_routes_name_the_roles_the_table_gives_the_whole_audit() -> None:
    """The roles that read votes, decisions and API keys in full at their routes read their
    events in full on the stream; so do the approvers the votes and decisions, which they read
    at governance (tests/security/test_governance_visibility.py)."""
    audit = _roles_of(reporting_router, "/audit/decisions")
    for event_class in (VoteCast, VoteRevised, GateDecided):
        assert EVENT_VISIBILITY[event_class.event_type].whole == audit | {Role.APPROVER}
    assert EVENT_VISIBILITY[ApiKeyIssued.event_type].readers() == _roles_of(
        intake_router, "/api-keys"
    )


@pytest.mark.kafka
@pytest.mark.postgres
async def test_each_role_reads_exactly_the_events_and_fields_its_row_allows(
    gatehouse: Gatehouse,
) -> None:
    produced = await _every_event_type(gatehouse)
    log = await _the_whole_log(gatehouse)
    assert {row.type for row in log} == EVERY_TYPE
    # The stream over real HTTP (the in-process client would wait for its end): a second
    # reporting instance on the same database and log.
    live = await gatehouse.stack.enter_async_context(
        served(create_reporting(gatehouse.reporting_settings), gatehouse.issuer)
    )
    reference = {
        frame["event_id"]: frame
        for frame in await _stream(live, Role.PMO_ADMIN, last_seq=log[-1].seq)
    }
    assert list(reference) == [str(row.event_id) for row in log]

    async def read_as(role: Role) -> None:
        allowed = visible_types({role})
        shown = [row for row in log if row.type in allowed]
        frames = await _stream(live, role, last_seq=shown[-1].seq)
        assert [(frame["seq"], frame["type"]) for frame in frames] == [
            (row.seq, row.type) for row in shown
        ], role
        for frame in frames:
            assert frame["data"] == visible_data(
                frame["type"], reference[frame["event_id"]]["data"], {role}
            ), frame["type"]
        texts = [json.dumps(frames)]
        for project_id in sorted({str(row.project_id) for row in log if row.project_id}):
            items = await _timeline(gatehouse.reporting, role, project_id)
            expected = sorted(
                (row for row in shown if str(row.project_id) == project_id),
                key=lambda row: (row.time, row.seq),
            )
            assert [item["event_id"] for item in items] == [
                str(row.event_id) for row in expected
            ], (role, project_id)
            for item in items:
                assert item["data"] == visible_data(
                    item["type"], reference[item["event_id"]]["data"], {role}
                ), item["type"]
            texts.append(json.dumps(items))
        hidden = [row for row in log if row.type not in allowed]
        votes_hidden = VoteCast.event_type not in allowed
        kept = [*_ids_of(hidden), *produced.secrets, *(produced.votes_only if votes_hidden else ())]
        for secret in kept:
            assert not any(secret in text for text in texts), (role, secret)

    await asyncio.gather(*(read_as(role) for role in Role))


# --- Every event type through the services ------------------------------------------------


@dataclass
class Produced:
    secrets: list[str]  # no role may read them: the API key, its secret, the secret's hash
    votes_only: list[str]  # only who reads the votes: a rationale only its vote carries


async def _every_event_type(gatehouse: Gatehouse) -> Produced:
    intake, governance = gatehouse.intake, gatehouse.governance
    pmo = intake.auth("pat", Role.PMO_ADMIN)
    alice = intake.auth("alice", Role.REQUESTER)
    gina = governance.auth("gina", Role.APPROVER)
    hal = governance.auth("hal", Role.APPROVER)
    superseded = "Shortlist first, rationale-7f3a"  # revised, so no decision repeats it

    async def ok(sent: Awaitable[httpx.Response], status: int = 200) -> dict[str, Any]:
        response = await sent
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        return body

    async def definitions() -> None:
        await ok(
            governance.client.put("/v1/gate-templates/standard", json=TEMPLATE, headers=pmo), 201
        )
        await ok(
            intake.client.put(
                "/v1/custom-fields",
                headers=pmo,
                json={"fields": [{"key": "region", "label": "Region", "type": "text"}]},
            )
        )
        await ok(
            intake.client.put(
                "/v1/scoring-models/wsjf", headers=pmo, json={"name": "WSJF", "method": "wsjf"}
            )
        )

    async def api_key() -> list[str]:
        issued = await ok(
            intake.client.post(
                "/v1/api-keys",
                headers=pmo,
                json={"name": "ERP connector", "subject": "erp", "roles": ["requester"]},
            ),
            201,
        )
        await ok(
            intake.client.post(
                f"/v1/api-keys/{issued['id']}/revoke",
                headers=pmo,
                json={"reason": "connector retired"},
            )
        )
        await ok(
            intake.client.post(
                "/v1/personal-data/erasures",
                headers=pmo,
                json={"subject": "erp", "reason": "erasure request 2027-7"},
            ),
            201,
        )
        return [issued["key"], issued["key"].rsplit("_", 1)[-1]]

    async def delegation() -> None:
        until = (datetime.now(UTC) + timedelta(days=7)).isoformat()
        granted = await ok(
            governance.client.post(
                "/v1/delegations",
                headers=gina,
                json={"to": "ivan", "ends_at": until, "reason": "holiday"},
            ),
            201,
        )
        await ok(
            governance.client.post(
                f"/v1/delegations/{granted['id']}/revoke",
                headers=gina,
                json={"reason": "back early"},
            )
        )

    async def requested(*actions: tuple[str, dict[str, Any]]) -> str:
        created = await ok(
            intake.client.post("/v1/projects", headers=alice, json=project_request()), 201
        )
        project_id: str = created["id"]
        await steps(project_id, *actions)
        return project_id

    async def steps(project_id: str, *actions: tuple[str, dict[str, Any]]) -> list[Any]:
        """Changes to the project as the PMO, each "[METHOD ]path" with its body."""
        answers = []
        for action, body in actions:
            method, _, path = action.rpartition(" ")
            etag = (await intake.client.get(f"/v1/projects/{project_id}", headers=pmo)).headers[
                "etag"
            ]
            response = await intake.client.request(
                method or "POST",
                f"/v1/projects/{project_id}/{path}".rstrip("/"),
                json=body,
                headers={**pmo, "If-Match": etag},
            )
            assert response.status_code in (200, 201), (action, response.text)
            answers.append(response.json())
        return answers

    async def shows(service: RunningService, project_id: str, status: str) -> None:
        async def there() -> bool:
            response = await service.client.get(f"/v1/projects/{project_id}", headers=pmo)
            return response.status_code == 200 and response.json()["status"] == status

        await eventually(there, timeout=15, description=f"{project_id} {status}")

    async def opened(project_id: str) -> str:
        review = await ok(
            governance.client.post(
                "/v1/gate-reviews", headers=alice, json={"project_id": project_id}
            ),
            201,
        )
        return str(review["id"])

    async def vote(review: str, who: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return await ok(
            governance.client.post(f"/v1/gate-reviews/{review}/votes", headers=who, json=body),
            201,
        )

    async def delivered() -> None:
        project_id = await requested(
            ("PATCH ", {"title": "Renamed"}),
            ("submit", {}),
            ("start-screening", {}),
            (
                "scores",
                {
                    "model": "wsjf",
                    "ratings": {
                        "business_value": 8,
                        "time_criticality": 5,
                        "risk_reduction": 3,
                        "job_size": 5,
                    },
                },
            ),
            ("qualify", {}),
            ("approve", {}),
            ("PUT tolerances", {"cost_percent": "15", "schedule_days": 45}),
            (
                "status-reports",
                {**STATUS, "forecast_cost": {"amount": "2000.00", "currency": "EUR"}},
            ),
            ("status-reports", STATUS),
            ("advance", {"to_stage": "planning"}),
            ("hold", {"reason": "Waiting for a vendor"}),
            ("resume", {}),
        )
        (item,) = await steps(
            project_id, ("raid", {"kind": "issue", "title": "No test data", "owner": "dave"})
        )
        await steps(
            project_id,
            (f"PATCH raid/{item['id']}", {"owner": "erin"}),
            (f"raid/{item['id']}/close", {"resolution": "Data masked"}),
            ("advance", {"to_stage": "executing"}),
            ("advance", {"to_stage": "closing"}),
            ("close", {}),
        )

    async def set_aside() -> None:
        await requested(
            ("submit", {}),
            ("start-screening", {}),
            ("defer", {"reason": "Later"}),
            ("reactivate", {}),
            ("withdraw", {}),
        )
        await requested(("submit", {}), ("start-screening", {}), ("reject", {"reason": "No"}))
        await requested(
            ("submit", {}),
            ("start-screening", {}),
            ("qualify", {}),
            ("approve", {}),
            ("kill", {"reason": "Superseded"}),
        )

    async def through_gates() -> None:
        decided, recycled, escalated = await asyncio.gather(
            *(requested(("submit", {})) for _ in range(3))
        )
        await asyncio.gather(
            *(
                shows(governance, project_id, "submitted")
                for project_id in (decided, recycled, escalated)
            )
        )
        today = datetime.now(UTC).date().isoformat()
        review = await opened(decided)
        conditional = {
            "decision": "conditional_go",
            "rationale": superseded,
            "conditions": [
                {"description": "Vendor shortlist agreed", "owner": "alice", "due_date": today},
                {"description": "Architect hired", "owner": "alice", "due_date": today},
            ],
        }
        await vote(review, gina, conditional)
        await vote(
            review,
            gina,
            {
                **conditional,
                "rationale": "Shortlist first",
                "revision_reason": "The shortlist moved",
            },
        )
        result = await vote(review, hal, {"decision": "go"})
        assert result["review"]["outcome"] == "conditional_go"
        condition = result["review"]["conditions"][0]["id"]
        await ok(
            governance.client.post(
                f"/v1/gate-reviews/{review}/conditions/{condition}/met",
                headers=pmo,
                json={"evidence": [{"url": "https://docs.example.org/shortlist"}]},
            )
        )
        review = await opened(recycled)
        await vote(review, hal, {"decision": "recycle", "rationale": "Rework the business case"})
        waiting = await opened(escalated)
        # The timers, two days on: the open review is past its SLA, the condition past its day.
        runtime: ServiceRuntime = governance.app.state.runtime
        assert runtime.event_store is not None
        swept = await GateTimers(event_store=runtime.event_store, interval_seconds=60).sweep(
            runtime.database, runtime.clock() + timedelta(days=2)
        )
        assert (swept.escalated, swept.breached) == (1, 1)
        await ok(
            governance.client.post(
                f"/v1/gate-reviews/{waiting}/withdraw",
                headers=alice,
                json={"reason": "Folded into another request"},
            )
        )
        await shows(intake, decided, "screening")
        await shows(intake, recycled, "recycled")

    await definitions()
    secrets, *_ = await asyncio.gather(
        api_key(), delegation(), delivered(), set_aside(), through_gates()
    )
    return Produced(secrets=[*secrets, await _key_hash(gatehouse)], votes_only=[superseded])


# --- Reading --------------------------------------------------------------------------------


async def _the_whole_log(gatehouse: Gatehouse) -> list[Any]:
    """Reporting's log once every event type is in it and nothing is in flight."""
    database = gatehouse.reporting.app.state.runtime.database

    async def complete() -> list[Any] | None:
        async with database.engine.connect() as connection:
            rows = list(
                (await connection.execute(select(event_log).order_by(event_log.c.seq))).all()
            )
        done = {row.type for row in rows} == EVERY_TYPE and await gatehouse.quiet()
        return rows if done else None

    return await eventually(
        complete, timeout=30, interval=0.1, description="reporting logged every event type"
    )


async def _stream(reporting: RunningService, role: Role, *, last_seq: int) -> list[dict[str, Any]]:
    """The stream from the start of the log, as ``role`` reads it, until the frame of event
    ``last_seq`` and a moment after it (where nothing else may come)."""
    headers = {**reporting.auth(READERS[role], role), "Last-Event-ID": "0"}
    frames: list[dict[str, Any]] = []

    async def read(response: httpx.Response) -> None:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                frames.append(json.loads(line.removeprefix("data: ")))

    async with reporting.client.stream("GET", "/v1/events/stream", headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        reader = asyncio.create_task(read(response))
        try:
            await eventually(
                lambda: _holds(frames, last_seq),
                timeout=30,
                interval=0.05,
                description=f"the {role} stream reached event {last_seq}",
            )
            await asyncio.sleep(0.3)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    return frames


async def _holds(frames: list[dict[str, Any]], seq: int) -> bool:
    return any(frame["seq"] >= seq for frame in frames)


async def _timeline(reporting: RunningService, role: Role, project_id: str) -> list[dict[str, Any]]:
    response = await reporting.client.get(
        f"/v1/projects/{project_id}/timeline",
        params={"limit": 1000},
        headers=reporting.auth(READERS[role], role),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    items: list[dict[str, Any]] = body["items"]
    return items


def _ids_of(rows: list[Any]) -> Iterator[str]:
    """The ids of hidden events: their event ids and the ids of what they made."""
    for row in rows:
        yield str(row.event_id)
        for name in OWN_IDS:
            value = row.data.get(name)
            if isinstance(value, list):
                yield from (str(each) for each in value)
            elif value is not None:
                yield str(value)


async def _key_hash(gatehouse: Gatehouse) -> str:
    database = gatehouse.reporting.app.state.runtime.database

    async def logged() -> str | None:
        async with database.engine.connect() as connection:
            data = (
                await connection.execute(
                    select(event_log.c.data).where(event_log.c.type == ApiKeyIssued.event_type)
                )
            ).scalar()
        return None if data is None else str(data["secret_sha256"])

    return await eventually(logged, timeout=30, description="reporting logged the API key")


def _roles_of(router: APIRouter, path: str) -> frozenset[Role]:
    (route,) = (
        route
        for route in router.routes
        if isinstance(route, APIRoute) and route.path == path and "GET" in route.methods
    )
    (check,) = _role_checks(route.dependant)
    return frozenset(check.roles)


def _role_checks(dependant: Dependant) -> Iterator[RoleCheck]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, RoleCheck):
            yield dependency.call
        yield from _role_checks(dependency)
