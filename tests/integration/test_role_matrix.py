"""Every endpoint by every role: without credentials 401; with a role the endpoint does not
name, 403 (before any input is looked at); with one it names, neither. The roles come from
the routes themselves (their ``allow(...)`` dependency), so a new endpoint without one fails
here until it says who may call it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from gatehouse.auth import Role
from gatehouse.testing.harness import RunningService
from gatehouse.web import RoleCheck
from governance.api import router as governance_router
from intake.api import router as intake_router
from reporting.api import router as reporting_router

from .conftest import Gatehouse

pytestmark = pytest.mark.kafka

# A streaming endpoint never ends for an allowed caller: only its refusals are checked.
STREAMS = {"/events/stream"}


def endpoints(router: APIRouter) -> Iterator[tuple[str, str, frozenset[Role]]]:
    for route in router.routes:
        assert isinstance(route, APIRoute)
        checks = list(_role_checks(route.dependant))
        assert len(checks) == 1, f"{route.path} declares who may call it {len(checks)} times"
        for method in sorted(route.methods):
            yield method, route.path, frozenset(checks[0].roles)


def _role_checks(dependant: Dependant) -> Iterator[RoleCheck]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, RoleCheck):
            yield dependency.call
        yield from _role_checks(dependency)


def concrete(path: str) -> str:
    return "/v1" + re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)


def service_of(gatehouse: Gatehouse, name: str) -> RunningService:
    service: RunningService = getattr(gatehouse, name)
    return service


MATRIX = [
    (name, *endpoint)
    for name, router in (
        ("intake", intake_router),
        ("governance", governance_router),
        ("reporting", reporting_router),
    )
    for endpoint in endpoints(router)
]


def test_every_endpoint_is_in_the_matrix() -> None:
    assert len(MATRIX) == 60
    assert all(roles for *_, roles in MATRIX)


async def test_every_endpoint_answers_each_role_as_it_declares(gatehouse: Gatehouse) -> None:
    outcomes: list[str] = []
    for name, method, path, allowed in MATRIX:
        service = service_of(gatehouse, name)
        body = {} if method in ("POST", "PUT", "PATCH") else None

        anonymous = await service.client.request(method, concrete(path), json=body)
        outcomes.append(f"{name} {method} {path} anonymous {anonymous.status_code}")
        assert anonymous.status_code == 401, outcomes[-1]

        business_only = await service.client.request(
            method, concrete(path), json=body, headers=service.auth("finn", "finance")
        )
        assert business_only.status_code == 403, f"{name} {method} {path} finance only"

        for role in Role:
            if role in allowed and path in STREAMS:
                continue
            response = await service.client.request(
                method, concrete(path), json=body, headers=service.auth(f"who-{role}", role)
            )
            outcome = f"{name} {method} {path} {role} {response.status_code}"
            if role in allowed:
                assert response.status_code not in (401, 403), outcome
            else:
                assert response.status_code == 403, outcome
                assert set(response.json()["required_roles"]) == allowed, outcome


PATH_PARAMETER = re.compile(r"\{([^}]+)\}")


async def test_every_malformed_path_parameter_is_422_naming_it(gatehouse: Gatehouse) -> None:
    checked = 0
    for name, method, path, allowed in MATRIX:
        service = service_of(gatehouse, name)
        for parameter in PATH_PARAMETER.findall(path):
            malformed = "/v1" + PATH_PARAMETER.sub(
                lambda found, bad=parameter: (
                    "NOT VALID!" if found[1] == bad else "00000000-0000-4000-8000-000000000000"
                ),
                path,
            )
            response = await service.client.request(
                method,
                malformed,
                json={} if method != "GET" else None,
                headers=service.auth("who", sorted(allowed)[0]),
            )
            outcome = f"{name} {method} {path} {parameter} {response.status_code}"
            assert response.status_code == 422, outcome
            assert parameter in [error["field"] for error in response.json()["errors"]], outcome
            checked += 1
    assert checked == 43


async def test_every_service_answers_its_operations_endpoints(gatehouse: Gatehouse) -> None:
    for service in (gatehouse.intake, gatehouse.governance, gatehouse.reporting):
        assert (await service.client.get("/healthz")).json() == {"status": "ok"}
        assert "gatehouse_http_requests_total" in (await service.client.get("/metrics")).text
        assert (await service.client.get("/asyncapi.json")).json()["asyncapi"].startswith("3.")
