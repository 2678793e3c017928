"""Two reporting instances in one consumer group share the partitions out between them, and
the read model they build together is still exact: every event once, every view equal to a
replay of the log."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from gatehouse.auth import Role
from gatehouse.eventstore.schema import events
from gatehouse.testing.harness import RunningService, eventually
from reporting import views
from reporting.queries import envelope_of, opened
from reporting.tables import event_log, project_views

from .conftest import Gatehouse, project_request

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PROJECTS = 40


async def test_two_replicas_split_the_partitions_and_stay_exact(gatehouse: Gatehouse) -> None:
    replica = await gatehouse.reporting_replica()
    first, second = (
        gatehouse.reporting.app.state.runtime.consumers[0],
        replica.app.state.runtime.consumers[0],
    )

    def assignments() -> tuple[set[Any], set[Any]]:
        return (
            {(p.topic, p.partition) for p in first.partitions()},
            {(p.topic, p.partition) for p in second.partitions()},
        )

    async def split() -> bool:
        mine, theirs = assignments()
        return bool(mine) and bool(theirs) and not mine & theirs and len(mine | theirs) == 6

    await eventually(split, timeout=60, description="the two replicas split six partitions")

    alice = gatehouse.intake.auth("alice", Role.REQUESTER)

    async def request(n: int) -> None:
        created = await gatehouse.intake.client.post(
            "/v1/projects",
            headers=alice,
            json=project_request(title=f"Project {n}", business_unit=f"BU{n % 4}"),
        )
        assert created.status_code == 201, created.text
        if n % 2:
            submitted = await gatehouse.intake.client.post(
                f"/v1/projects/{created.json()['id']}/submit",
                headers={**alice, "If-Match": created.headers["etag"]},
            )
            assert submitted.status_code == 200, submitted.text

    await asyncio.gather(*(request(n) for n in range(PROJECTS)))
    produced = await _stored_events(gatehouse.intake) + await _stored_events(gatehouse.governance)
    database = gatehouse.reporting.app.state.runtime.database

    async def all_applied() -> bool:
        async with database.engine.connect() as connection:
            count = (
                await connection.execute(select(func.count()).select_from(event_log))
            ).scalar_one()
        return bool(count == produced)

    await eventually(all_applied, timeout=60, description="both replicas applied every event")
    mine, theirs = assignments()
    assert mine
    assert theirs
    assert not mine & theirs

    async with database.engine.connect() as connection:
        stored = {
            row.project_id: row.view
            for row in await connection.execute(
                select(project_views.c.project_id, project_views.c.view)
            )
        }
        log = await opened(
            connection,
            [
                envelope_of(row)
                for row in await connection.execute(
                    select(event_log).order_by(event_log.c.time, event_log.c.seq)
                )
            ],
            gatehouse.reporting.app.state.runtime.personal_data,
        )
    replayed = {
        project_id: views.to_document(view) for project_id, view in views.replay(log).items()
    }
    assert len(stored) == PROJECTS
    assert stored == replayed

    portfolio = (
        await replica.client.get("/v1/portfolio", headers=replica.auth("ada", Role.AUDITOR))
    ).json()
    assert portfolio["count_by_status"] == {"draft": PROJECTS // 2, "submitted": PROJECTS // 2}


async def _stored_events(service: RunningService) -> int:
    database = service.app.state.runtime.database
    async with database.engine.connect() as connection:
        return int(
            (await connection.execute(select(func.count()).select_from(events))).scalar_one()
        )
