"""A client retrying one request 100 times, partly all at once, creates one project: one event,
one registry row, the same answer every time; the same key with another body is refused."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from gatehouse.auth import DevIssuer, Role
from gatehouse.idempotency import idempotency_keys
from intake.tables import project_registry

from .conftest import (
    Databases,
    ReportFigures,
    audit,
    in_process,
    project_request,
    reporting_caught_up,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

RETRIES = 100
AT_ONCE = 20


async def test_a_hundred_retries_make_one_event_and_a_changed_body_is_refused(
    databases: Databases,
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
    report_figures: ReportFigures,
) -> None:
    async with in_process(
        databases, bootstrap_servers=kafka_bootstrap, namespace=namespace, issuer=dev_issuer
    ) as services:
        intake = services.intake
        headers = {**intake.auth("alice", Role.REQUESTER), "Idempotency-Key": "request-42"}
        body = project_request(42)

        async def send() -> httpx.Response:
            return await intake.client.post("/v1/projects", headers=headers, json=body)

        responses: list[httpx.Response] = []
        for _ in range(RETRIES // AT_ONCE):  # waves of concurrent retries
            responses += await asyncio.gather(*(send() for _ in range(AT_ONCE)))

        assert [response.status_code for response in responses] == [201] * RETRIES
        assert len({response.json()["id"] for response in responses}) == 1
        first = [r for r in responses if r.headers.get("idempotent-replayed") != "true"]
        assert len(first) == 1, "exactly one request ran; every other one was a replay"

        changed = await intake.client.post(
            "/v1/projects", headers=headers, json={**body, "title": "Another title"}
        )
        assert changed.status_code == 422
        assert changed.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in changed.json()["errors"]] == ["Idempotency-Key"]

        async with databases.intake.engine.connect() as connection:
            assert (
                await connection.execute(select(func.count()).select_from(project_registry))
            ).scalar_one() == 1
            assert (
                await connection.execute(select(func.count()).select_from(idempotency_keys))
            ).scalar_one() == 1
        await reporting_caught_up(databases, timeout=30)

    figures = await audit(
        "idempotency: 100 retries, 20 at once", databases, kafka_bootstrap, namespace
    )
    assert figures.acknowledged == 1
    report_figures(figures)
