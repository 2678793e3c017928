"""Each client gets its own request budget: past it, 429 problem+json with Retry-After, other
clients unaffected; failed authentications spend the budget of the address they come from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gatehouse.auth import DevIssuer, Role
from gatehouse.testing.harness import RunningService, running_service
from intake.bootstrap import migrate
from intake.main import create_app
from intake.settings import IntakeSettings

from .conftest import assert_problem

pytestmark = pytest.mark.kafka


@pytest.fixture
async def intake(
    tmp_path: Path, kafka_bootstrap: str, namespace: str, dev_issuer: DevIssuer
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}",
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_namespace=namespace,
        auth_dev_key_file=dev_issuer.key_file,
        rate_limit_per_second=1,
        rate_limit_burst=3,
        log_json=False,
    )
    await asyncio.to_thread(migrate, settings)
    async with running_service(create_app(settings), dev_issuer) as service:
        yield service


async def test_past_its_burst_a_client_gets_429_with_retry_after(intake: RunningService) -> None:
    alice = intake.auth("alice", Role.REQUESTER)
    for _ in range(3):
        assert (await intake.client.get("/v1/projects", headers=alice)).status_code == 200

    refused = await intake.client.get("/v1/projects", headers=alice)

    problem = assert_problem(refused, 429)
    assert refused.headers["retry-after"] == "1"
    assert problem["retry_after_seconds"] == 1
    assert problem["type"] == "/problems/too-many-requests"

    bob = intake.auth("bob", Role.REQUESTER)
    assert (await intake.client.get("/v1/projects", headers=bob)).status_code == 200

    await asyncio.sleep(1.1)
    assert (await intake.client.get("/v1/projects", headers=alice)).status_code == 200


async def test_failed_authentications_are_limited_by_address(intake: RunningService) -> None:
    bad = {"X-API-Key": "ghk_0123456789abcdef_" + "A" * 43}
    for _ in range(3):
        assert_problem(await intake.client.get("/v1/projects", headers=bad), 401)

    assert_problem(await intake.client.get("/v1/projects", headers=bad), 429)
    assert_problem(await intake.client.get("/v1/projects"), 429)


async def test_probes_are_never_limited(intake: RunningService) -> None:
    for _ in range(10):
        assert (await intake.client.get("/healthz")).status_code == 200
