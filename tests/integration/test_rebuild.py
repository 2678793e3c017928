"""Rebuilding reporting's read models from the topics: the rebuilt model equals the live one
(checksums), the live one keeps serving and moving during the rebuild, and the swap loses and
repeats nothing even while events keep arriving."""

from __future__ import annotations

import asyncio
import io
from contextlib import redirect_stderr
from typing import Any

import pytest
from sqlalchemy import func, select

from gatehouse.auth import Role
from gatehouse.cli import main as gatehouse_cli
from gatehouse.eventstore.schema import events
from gatehouse.testing.harness import RunningService, eventually, served
from reporting.bootstrap import projection_topics
from reporting.main import create_app as create_reporting
from reporting.projections import PROJECTIONS_CONSUMER
from reporting.rebuild import Rebuilder, checksums
from reporting.tables import event_log

from .conftest import Gatehouse

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

TEMPLATE = {
    "name": "Light",
    "gates": [
        {
            "key": "G0",
            "name": "Idea screen",
            "sla_hours": 72,
            "approval": {"approvers": [{"user": "gina"}], "quorum": "any"},
        }
    ],
}


async def make_projects(gatehouse: Gatehouse, first: int, count: int) -> None:
    intake, governance = gatehouse.intake, gatehouse.governance
    alice = intake.auth("alice", Role.REQUESTER)

    async def one(n: int) -> None:
        created = await intake.client.post(
            "/v1/projects",
            headers=alice,
            json={
                "title": f"Project {n}",
                "description": "d",
                "sponsor": "carol",
                "business_unit": f"BU{n % 3}",
                "project_type": "standard",
                "estimated_cost": {"amount": f"{1000 + n}.00", "currency": "EUR"},
                "start_date": "2027-01-04",
                "target_date": "2027-09-30",
                "expected_benefits": "b",
                "risk_level": "low",
            },
        )
        assert created.status_code == 201, created.text
        project_id = created.json()["id"]
        if n % 2:
            return
        submitted = await intake.client.post(
            f"/v1/projects/{project_id}/submit",
            headers={**alice, "If-Match": created.headers["etag"]},
        )
        assert submitted.status_code == 200

        async def opened() -> str | None:
            response = await governance.client.post(
                "/v1/gate-reviews", headers=alice, json={"project_id": project_id}
            )
            return str(response.json()["id"]) if response.status_code == 201 else None

        review_id = await eventually(opened, timeout=20, description="review opened")
        vote = await governance.client.post(
            f"/v1/gate-reviews/{review_id}/votes",
            headers=governance.auth("gina", Role.APPROVER),
            json={"decision": "go" if n % 4 else "hold", "rationale": "scripted"},
        )
        assert vote.status_code == 201, vote.text

    await asyncio.gather(*(one(n) for n in range(first, first + count)))


async def caught_up(gatehouse: Gatehouse) -> None:
    """Wait until reporting holds every event both services stored, and nothing is in flight:
    intake keeps storing a while after the last vote (it applies the decisions), and on a busy
    machine its consumer may still hold a decision when the counts first agree."""
    database = gatehouse.reporting.app.state.runtime.database
    seen: list[tuple[int, int]] = []

    async def applied_all() -> bool:
        if not await gatehouse.quiet():
            return False
        produced = 0
        for service in (gatehouse.intake, gatehouse.governance):
            async with service.app.state.runtime.database.engine.connect() as connection:
                produced += (
                    await connection.execute(select(func.count()).select_from(events))
                ).scalar_one()
        async with database.engine.connect() as connection:
            held = (
                await connection.execute(select(func.count()).select_from(event_log))
            ).scalar_one()
        seen.append((held, produced))
        return len(seen) > 2 and seen[-1][0] == seen[-1][1] and seen[-1] == seen[-2]

    try:
        await eventually(
            applied_all, timeout=60, interval=0.2, description="reporting applied every event"
        )
    except AssertionError:
        if not seen:
            raise AssertionError("events still in flight (a relay or a consumer behind)") from None
        raise AssertionError(f"reporting holds {seen[-1][0]} events of {seen[-1][1]}") from None


async def live_checksum(reporting: RunningService) -> dict[str, str]:
    async with reporting.app.state.runtime.database.engine.connect() as connection:
        return await checksums(connection)


async def settled_portfolio(gatehouse: Gatehouse, projects: int) -> dict[str, str]:
    """The standard template, ``projects`` projects through intake and governance, reporting
    caught up: the live model's checksums."""
    pmo = gatehouse.governance.auth("pat", Role.PMO_ADMIN)
    assert (
        await gatehouse.governance.client.put(
            "/v1/gate-templates/standard", json=TEMPLATE, headers=pmo
        )
    ).status_code == 201
    await make_projects(gatehouse, 0, projects)
    await caught_up(gatehouse)
    return await live_checksum(gatehouse.reporting)


async def rebuild(reporting: RunningService) -> dict[str, Any]:
    pmo = reporting.auth("pat", Role.PMO_ADMIN)
    started = await reporting.client.post(
        "/v1/admin/projections/reporting.projections/rebuild", headers=pmo
    )
    assert started.status_code == 202, started.text
    assert started.headers["location"].endswith("/v1/projections")

    async def finished() -> dict[str, Any] | None:
        projections = (await reporting.client.get("/v1/projections", headers=pmo)).json()
        state: dict[str, Any] = projections[0]["rebuild"]
        return state if state["state"] in ("done", "failed") else None

    result = await eventually(finished, timeout=120, interval=0.1, description="rebuild finished")
    assert result["state"] == "done", result
    return result


async def test_a_rebuild_equals_the_live_model_and_survives_traffic(gatehouse: Gatehouse) -> None:
    reporting = gatehouse.reporting
    pmo = gatehouse.governance.auth("pat", Role.PMO_ADMIN)
    assert (
        await gatehouse.governance.client.put(
            "/v1/gate-templates/standard", json=TEMPLATE, headers=pmo
        )
    ).status_code == 201
    await make_projects(gatehouse, 0, 30)
    await caught_up(gatehouse)
    before = await live_checksum(reporting)
    portfolio_before = (await reporting.client.get("/v1/portfolio", headers=pmo)).json()

    quiet = await rebuild(reporting)

    assert quiet["read"] == quiet["total"] > 0
    assert quiet["applied"] + quiet["skipped"] == quiet["read"]
    assert await live_checksum(reporting) == before
    assert (await reporting.client.get("/v1/portfolio", headers=pmo)).json() == portfolio_before

    # Again while projects keep coming: the live model serves and moves; the swap catches up.
    traffic = asyncio.create_task(make_projects(gatehouse, 100, 30))
    busy = await rebuild(reporting)
    await traffic
    await caught_up(gatehouse)
    after_traffic = await live_checksum(reporting)
    assert busy["applied"] > 0
    portfolio = (await reporting.client.get("/v1/portfolio", headers=pmo)).json()
    assert portfolio["count"] == 60

    # A third rebuild, with nothing moving, finds exactly what the busy one left.
    await rebuild(reporting)
    assert await live_checksum(reporting) == after_traffic


async def test_a_rebuild_writing_every_few_events_and_keeping_few_rows_equals_the_live_model(
    gatehouse: Gatehouse,
) -> None:
    """A rebuild folds events in memory, writes them in strides and keeps a bounded number of
    rows between strides. With strides of five events and room for three rows, most rows are
    written, dropped, read back and changed again many times: the model is still the same."""
    before = await settled_portfolio(gatehouse, 12)
    settings, runtime = gatehouse.reporting_settings, gatehouse.reporting.app.state.runtime
    rebuilder = Rebuilder(
        database=runtime.database,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        consumer_name=PROJECTIONS_CONSUMER,
        topics=projection_topics(settings.topic_namespace),
        personal_data=runtime.personal_data,
        flush_every=5,
        keep_rows=3,
    )

    assert rebuilder.start()
    status = await rebuilder.wait()

    assert status.state == "done", status
    assert status.applied == status.read > 12 * 2
    assert await live_checksum(gatehouse.reporting) == before


async def test_gatehouse_replay_rebuilds_with_a_progress_bar(gatehouse: Gatehouse) -> None:
    before = await settled_portfolio(gatehouse, 4)
    async with served(create_reporting(gatehouse.reporting_settings), gatehouse.issuer) as wall:
        token = gatehouse.issuer.issue("pat", [Role.PMO_ADMIN])
        output = io.StringIO()
        with redirect_stderr(output):
            code = await asyncio.to_thread(
                gatehouse_cli, ["replay", "--url", str(wall.client.base_url), "--token", token]
            )
    printed = output.getvalue()
    assert code == 0, printed
    assert "reporting.projections [##############################] 100.0%" in printed
    assert "swapped in" in printed
    assert await live_checksum(gatehouse.reporting) == before


async def test_only_a_pmo_admin_rebuilds_a_projection_that_exists_one_rebuild_at_a_time(
    gatehouse: Gatehouse,
) -> None:
    reporting = gatehouse.reporting
    pmo = reporting.auth("pat", Role.PMO_ADMIN)
    auditor = await reporting.client.post(
        "/v1/admin/projections/reporting.projections/rebuild",
        headers=reporting.auth("ada", Role.AUDITOR),
    )
    assert auditor.status_code == 403
    unknown = await reporting.client.post("/v1/admin/projections/nothing/rebuild", headers=pmo)
    assert unknown.status_code == 404

    both = await asyncio.gather(
        *(
            reporting.client.post(
                "/v1/admin/projections/reporting.projections/rebuild", headers=pmo
            )
            for _ in range(2)
        )
    )

    assert sorted(response.status_code for response in both) == [202, 409]
    refused = next(response for response in both if response.status_code == 409)
    assert refused.json()["rule"] == "one-rebuild-at-a-time"
    rebuilt = await reporting.app.state.rebuilders["reporting.projections"].wait()
    assert rebuilt.state == "done", rebuilt
