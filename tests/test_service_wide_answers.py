"""What any request to any service may be answered, whatever its route, is documented on every
operation and answered as documented: 429 past the client's rate limit (with Retry-After), 503
while the token issuer's keys cannot be fetched, 413 for a body over the size limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from gatehouse.auth import DevIssuer, Role
from gatehouse.testing.harness import RunningService, running_service
from gatehouse.testing.issuer import TestIssuer, running_issuer
from gatehouse.testing.migrated import MigratedDatabases
from gatehouse.web import SERVICE_WIDE
from governance.bootstrap import migrate as migrate_governance
from governance.main import create_app as create_governance
from governance.settings import GovernanceSettings
from intake.bootstrap import migrate as migrate_intake
from intake.main import create_app as create_intake
from intake.settings import IntakeSettings
from reporting.bootstrap import migrate as migrate_reporting
from reporting.main import create_app as create_reporting
from reporting.settings import ReportingSettings


@dataclass(frozen=True)
class Service:
    name: str
    settings: type[Any]
    migrate: Callable[[Any], None]
    create_app: Callable[[Any], FastAPI]
    read: str  # a route any Gatehouse role may read
    write: tuple[str, str] | None  # (method, path) of a route that takes a body


SERVICES = [
    Service(
        "intake",
        IntakeSettings,
        migrate_intake,
        create_intake,
        "/v1/projects",
        ("POST", "/v1/projects"),
    ),
    Service(
        "governance",
        GovernanceSettings,
        migrate_governance,
        create_governance,
        "/v1/gate-reviews",
        ("POST", "/v1/gate-reviews"),
    ),
    Service(
        "reporting", ReportingSettings, migrate_reporting, create_reporting, "/v1/portfolio", None
    ),
]
BY_NAME = {service.name: service for service in SERVICES}


@pytest.fixture
def start(
    tmp_path: Path,
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
    migrated_databases: MigratedDatabases,
) -> Callable[..., Any]:
    @asynccontextmanager
    async def started(service: Service, **settings: Any) -> AsyncIterator[RunningService]:
        configured = service.settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / f'{service.name}.db'}",
            kafka_bootstrap_servers=kafka_bootstrap,
            topic_namespace=namespace,
            auth_dev_key_file=dev_issuer.key_file,
            log_json=False,
            **settings,
        )
        await asyncio.to_thread(migrated_databases.migrate, service.migrate, configured)
        async with running_service(service.create_app(configured), dev_issuer) as running:
            yield running

    return started


@pytest.fixture
async def issuer_down() -> AsyncIterator[TestIssuer]:
    async with running_issuer() as issuer:
        issuer.add_key("2026-11", "RS256")
        issuer.up = False
        yield issuer


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_every_operation_documents_the_answers_any_request_may_get(
    service: Service, tmp_path: Path
) -> None:
    settings = service.settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        auth_dev_key_file=tmp_path / "issuer.pem",
    )
    document = service.create_app(settings).openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            if not path.startswith("/v1/"):  # probes and documents: no token, limit by address
                assert "413" not in answers, (method, path)
                assert ("429" in answers) == (path != "/healthz"), (method, path)
                continue
            expected = {"429", "503"} | ({"413"} if "requestBody" in operation else set())
            assert expected <= answers.keys(), (method, path)
            assert answers["429"][SERVICE_WIDE] is True
            assert "Retry-After" in answers["429"]["headers"]


@pytest.mark.kafka
@pytest.mark.parametrize("name", BY_NAME)
async def test_past_its_rate_limit_a_client_gets_429_with_retry_after_from_any_service(
    name: str, start: Callable[..., Any]
) -> None:
    async with start(BY_NAME[name], rate_limit_per_second=1, rate_limit_burst=1) as service:
        headers = service.auth("alice", Role.AUDITOR)
        assert (await service.client.get(BY_NAME[name].read, headers=headers)).status_code == 200

        refused = await service.client.get(BY_NAME[name].read, headers=headers)

    assert problem(refused, 429)["retry_after_seconds"] == 1
    assert refused.headers["retry-after"] == "1"


@pytest.mark.kafka
@pytest.mark.parametrize("name", BY_NAME)
async def test_while_the_issuers_keys_cannot_be_fetched_any_service_answers_503(
    name: str, start: Callable[..., Any], issuer_down: TestIssuer
) -> None:
    token = issuer_down.token("alice", kid="2026-11", roles=["auditor"])
    async with start(
        BY_NAME[name],
        auth_jwks_url=issuer_down.url,
        auth_issuer=issuer_down.issuer,
        auth_audience=issuer_down.audience,
    ) as service:
        response = await service.client.get(
            BY_NAME[name].read, headers={"Authorization": f"Bearer {token}"}
        )

    assert "keys" in problem(response, 503)["detail"]


@pytest.mark.kafka
@pytest.mark.parametrize("name", [service.name for service in SERVICES if service.write])
async def test_a_body_over_the_limit_is_413_before_any_route_reads_it(
    name: str, start: Callable[..., Any]
) -> None:
    method, path = BY_NAME[name].write or ("", "")
    async with start(BY_NAME[name], max_request_bytes=1024) as service:
        response = await service.client.request(
            method, path, headers=service.auth("pat", Role.PMO_ADMIN), json={"title": "x" * 2048}
        )

    assert "at most 1024" in problem(response, 413)["detail"]
