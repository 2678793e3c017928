"""Tamper evidence end to end: the chains the services write verify in reporting and straight
from Kafka, and an event edited in reporting's database is found, named by stream and version."""

from __future__ import annotations

import asyncio
import io
import json
from contextlib import redirect_stdout

import pytest
from sqlalchemy import func, select, update

from gatehouse.auth import Role
from gatehouse.cli import main as gatehouse_cli
from gatehouse.testing.harness import eventually
from reporting.tables import event_log

from .conftest import Gatehouse, project_request

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_an_edited_event_breaks_the_chain_where_it_was_edited(gatehouse: Gatehouse) -> None:
    intake, reporting = gatehouse.intake, gatehouse.reporting
    alice = intake.auth("alice", Role.REQUESTER)
    auditor = reporting.auth("ada", Role.AUDITOR)
    ids = []
    for n in range(5):
        created = await intake.client.post(
            "/v1/projects", headers=alice, json=project_request(title=f"Ledger {n}")
        )
        assert created.status_code == 201
        ids.append(created.json()["id"])
        submitted = await intake.client.post(
            f"/v1/projects/{ids[-1]}/submit", headers={**alice, "If-Match": created.headers["etag"]}
        )
        assert submitted.status_code == 200

    answers: list[dict[str, object]] = []

    async def verified() -> dict[str, object] | None:
        body = (await reporting.client.get("/v1/audit/verify", headers=auditor)).json()
        answers.append(body)
        return body if body["events_checked"] == 10 and body["sources"][0]["log_checked"] else None

    try:
        clean = await eventually(verified, timeout=30, description="verified 10 events")
    except AssertionError:
        raise AssertionError(f"last answer: {answers[-1:]}") from None
    assert clean["intact"] is True
    assert clean["streams_checked"] == 5
    assert clean["first_break"] is None

    # Straight from Kafka, trusting no database.
    output = io.StringIO()
    with redirect_stdout(output):
        code = await asyncio.to_thread(
            gatehouse_cli,
            [
                "verify",
                "--bootstrap-servers",
                gatehouse.reporting_settings.kafka_bootstrap_servers,
                "--namespace",
                gatehouse.reporting_settings.topic_namespace,
                "--json",
            ],
        )
    assert code == 0, output.getvalue()

    # Someone edits the stored title of the third request in reporting's database.
    database = reporting.app.state.runtime.database
    async with database.transaction() as connection:
        row = (
            await connection.execute(
                select(event_log.c.seq, event_log.c.data).where(
                    event_log.c.stream_id == f"project-{ids[2]}", event_log.c.stream_version == 1
                )
            )
        ).one()
        await connection.execute(
            update(event_log)
            .where(event_log.c.seq == row.seq)
            .values(data={**row.data, "title": "Ledger 2 (approved by the CEO)"})
        )
        assert (
            await connection.execute(select(func.count()).select_from(event_log))
        ).scalar_one() == 10

    tampered = (await reporting.client.get("/v1/audit/verify", headers=auditor)).json()
    assert tampered["intact"] is False
    first = tampered["first_break"]
    assert first["stream_id"] == f"project-{ids[2]}"
    assert first["version"] == 1
    assert first["kind"] == "hash_mismatch"
    assert json.dumps(tampered)  # the whole answer is plain JSON


async def test_only_auditors_and_the_pmo_verify(gatehouse: Gatehouse) -> None:
    reporting = gatehouse.reporting
    refused = await reporting.client.get(
        "/v1/audit/verify", headers=reporting.auth("al", Role.REQUESTER)
    )
    assert refused.status_code == 403
