"""The audit itself: on an honest run every figure passes; an event taken out of reporting's
read model shows as lost, as an order violation and as a model that no longer equals a
rebuild."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from gatehouse.auth import DevIssuer, Role
from reporting.tables import event_log

from .conftest import Databases, audit, in_process, project_request, reporting_caught_up

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_the_audit_counts_a_missing_event_as_lost_out_of_order_and_unequal(
    databases: Databases, kafka_bootstrap: str, namespace: str, dev_issuer: DevIssuer
) -> None:
    async with in_process(
        databases, bootstrap_servers=kafka_bootstrap, namespace=namespace, issuer=dev_issuer
    ) as services:
        intake = services.intake
        alice = intake.auth("alice", Role.REQUESTER)
        created = await intake.client.post("/v1/projects", headers=alice, json=project_request(1))
        project_id = created.json()["id"]
        for step in ("submit", "withdraw"):
            project = await intake.client.get(f"/v1/projects/{project_id}", headers=alice)
            moved = await intake.client.post(
                f"/v1/projects/{project_id}/{step}",
                headers={**alice, "If-Match": project.headers["etag"]},
            )
            assert moved.status_code == 200, moved.text
        await reporting_caught_up(databases, timeout=30)

    honest = await audit("honest run", databases, kafka_bootstrap, namespace)
    assert (honest.acknowledged, honest.applied, honest.passed) == (3, 3, True), honest.line()

    async with databases.reporting.transaction() as connection:
        await connection.execute(delete(event_log).where(event_log.c.stream_version == 2))
    tampered = await audit("version 2 removed", databases, kafka_bootstrap, namespace)
    assert (
        tampered.applied,
        tampered.lost,
        tampered.order_violations,
        tampered.equal_to_rebuild,
        tampered.passed,
    ) == (2, 1, 1, False, False), tampered.line()
