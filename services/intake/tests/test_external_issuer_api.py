"""A deployment with its own identity provider: intake checks tokens against the issuer's
JWKS, and the embedded development issuer's tokens no longer open anything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gatehouse.auth import DevIssuer, Role
from gatehouse.testing.harness import RunningService, running_service
from gatehouse.testing.issuer import TestIssuer, running_issuer
from intake.bootstrap import migrate
from intake.main import create_app
from intake.settings import IntakeSettings

from .conftest import VALID_REQUEST, assert_problem

pytestmark = pytest.mark.kafka


@pytest.fixture
async def issuer() -> AsyncIterator[TestIssuer]:
    async with running_issuer() as running:
        running.add_key("2026-11", "RS256")
        yield running


@pytest.fixture
async def service(
    postgres_url: str,
    pg_schema: str,
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
    issuer: TestIssuer,
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(
        database_url=postgres_url,
        database_schema=pg_schema,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_namespace=namespace,
        auth_jwks_url=issuer.url,
        auth_issuer=issuer.issuer,
        auth_audience=issuer.audience,
        auth_roles_claim="realm_access.roles",
        log_json=False,
    )
    await asyncio.to_thread(migrate, settings)
    async with running_service(create_app(settings), dev_issuer) as running:
        yield running


async def test_a_token_from_the_configured_issuer_is_accepted(
    service: RunningService, issuer: TestIssuer
) -> None:
    token = issuer.token("alice", kid="2026-11", realm_access={"roles": ["requester"]})

    created = await service.client.post(
        "/v1/projects", json=VALID_REQUEST, headers={"Authorization": f"Bearer {token}"}
    )

    assert created.status_code == 201, created.text
    assert created.json()["requested_by"] == "alice"


async def test_the_development_issuers_tokens_are_refused(service: RunningService) -> None:
    response = await service.client.get(
        "/v1/projects", headers=service.auth("alice", Role.REQUESTER)
    )
    problem = assert_problem(response, 401)
    assert problem["detail"] == "the bearer token's header names no key (kid)"


async def test_roles_come_from_the_configured_claim(
    service: RunningService, issuer: TestIssuer
) -> None:
    token = issuer.token(
        "alice", kid="2026-11", roles=["pmo_admin"], realm_access={"roles": ["requester"]}
    )
    response = await service.client.get(
        "/v1/api-keys", headers={"Authorization": f"Bearer {token}"}
    )
    assert_problem(response, 403)


async def test_the_issuer_down_before_any_key_was_fetched_is_503(
    service: RunningService, issuer: TestIssuer
) -> None:
    issuer.up = False
    token = issuer.token("alice", kid="2026-11", realm_access={"roles": ["requester"]})
    response = await service.client.get(
        "/v1/projects", headers={"Authorization": f"Bearer {token}"}
    )
    assert_problem(response, 503)
