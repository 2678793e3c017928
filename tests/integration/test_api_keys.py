"""One API key for every service: intake issues it, governance and reporting learn it from
intake's events, and a revocation at intake shuts it out everywhere."""

from __future__ import annotations

import time

import pytest

from gatehouse.auth import Role
from gatehouse.testing.harness import RunningService, eventually

from .conftest import Gatehouse

pytestmark = pytest.mark.kafka


async def status_with(service: RunningService, path: str, key: str) -> int:
    return (await service.client.get(path, headers={"X-API-Key": key})).status_code


async def test_a_key_issued_at_intake_works_everywhere_until_revoked(gatehouse: Gatehouse) -> None:
    intake = gatehouse.intake
    pmo = intake.auth("pat", Role.PMO_ADMIN)
    issued = (
        await intake.client.post(
            "/v1/api-keys",
            headers=pmo,
            json={"name": "Portfolio BI", "subject": "bi-export", "roles": ["auditor"]},
        )
    ).json()
    key = issued["key"]
    started = time.perf_counter()

    async def accepted_everywhere() -> bool:
        return (
            await status_with(gatehouse.governance, "/v1/gate-templates", key) == 200
            and await status_with(gatehouse.reporting, "/v1/portfolio", key) == 200
        )

    await eventually(
        accepted_everywhere,
        timeout=15,
        interval=0.05,
        description="the key accepted by governance and reporting",
    )
    print(f"\nkey usable everywhere {1000 * (time.perf_counter() - started):.0f} ms after issue")
    assert await status_with(intake, "/v1/projects", key) == 200

    revoked = await intake.client.post(
        f"/v1/api-keys/{issued['id']}/revoke", headers=pmo, json={"reason": "contract ended"}
    )
    assert revoked.status_code == 200
    assert await status_with(intake, "/v1/projects", key) == 401

    async def refused_everywhere() -> bool:
        return (
            await status_with(gatehouse.governance, "/v1/gate-templates", key) == 401
            and await status_with(gatehouse.reporting, "/v1/portfolio", key) == 401
        )

    await eventually(
        refused_everywhere,
        timeout=15,
        interval=0.05,
        description="the key refused by governance and reporting",
    )


async def test_a_key_acts_with_its_own_roles_at_every_service(gatehouse: Gatehouse) -> None:
    intake = gatehouse.intake
    issued = (
        await intake.client.post(
            "/v1/api-keys",
            headers=intake.auth("pat", Role.PMO_ADMIN),
            json={"name": "Intake form", "roles": ["requester"]},
        )
    ).json()

    async def known_to_reporting() -> bool:
        # Known (403: wrong role), not unknown (401).
        return await status_with(gatehouse.reporting, "/v1/audit/verify", issued["key"]) == 403

    await eventually(
        known_to_reporting, timeout=15, interval=0.05, description="reporting knows the key"
    )
