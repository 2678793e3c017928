"""The PMO wall in a real browser: headless Chromium opens /dashboard, and a gate decision made
while it is open shows up on the page without a reload. A screenshot is kept as evidence."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from gatehouse.auth import Role
from gatehouse.testing.harness import eventually, served
from reporting.dashboard import SECURITY_HEADERS
from reporting.main import create_app as create_reporting

from .conftest import Gatehouse

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
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


def chromium_path() -> str:
    path = os.environ.get("GATEHOUSE_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail(
            "no Chromium: run the suite with `make test`, which installs Debian's chromium package",
            pytrace=False,
        )
    return path


async def test_a_decision_made_while_the_wall_is_open_appears_on_it(gatehouse: Gatehouse) -> None:
    intake, governance = gatehouse.intake, gatehouse.governance
    alice = intake.auth("alice", Role.REQUESTER)
    assert (
        await governance.client.put(
            "/v1/gate-templates/standard",
            json=TEMPLATE,
            headers=governance.auth("pat", Role.PMO_ADMIN),
        )
    ).status_code == 201
    created = await intake.client.post(
        "/v1/projects",
        headers=alice,
        json={
            "title": "Wall-screen CRM",
            "description": "d",
            "sponsor": "carol",
            "business_unit": "Sales",
            "project_type": "standard",
            "estimated_cost": {"amount": "120000.00", "currency": "EUR"},
            "start_date": "2027-01-04",
            "target_date": "2027-09-30",
            "expected_benefits": "b",
            "risk_level": "low",
        },
    )
    project_id = created.json()["id"]
    assert (
        await intake.client.post(
            f"/v1/projects/{project_id}/submit",
            headers={**alice, "If-Match": created.headers["etag"]},
        )
    ).status_code == 200

    async def review_opened() -> str | None:
        response = await governance.client.post(
            "/v1/gate-reviews", headers=alice, json={"project_id": project_id}
        )
        return str(response.json()["id"]) if response.status_code == 201 else None

    review_id = await eventually(review_opened, timeout=20, description="review opened")

    async with served(create_reporting(gatehouse.reporting_settings), gatehouse.issuer) as wall:
        page_response = await wall.client.get("/dashboard")
        assert page_response.status_code == 200
        for header, value in SECURITY_HEADERS.items():
            assert page_response.headers[header] == value
        token = gatehouse.issuer.issue("wall", [Role.PMO_ADMIN])
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
            )
            try:
                page = await browser.new_page(viewport={"width": 1600, "height": 1000})
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await page.goto(f"{wall.client.base_url}/dashboard#token={token}")

                await expect(page.locator("#status")).to_have_attribute(
                    "data-state", "live", timeout=20_000
                )
                queue = page.locator(f'#queue tr[data-review="{review_id}"]')
                await expect(queue).to_contain_text("Wall-screen CRM", timeout=20_000)
                await expect(page.locator('#funnel li[data-status="submitted"]')).to_contain_text(
                    "1"
                )

                # A decision while the page is open: the wall follows without a reload.
                vote = await governance.client.post(
                    f"/v1/gate-reviews/{review_id}/votes",
                    json={"decision": "go"},
                    headers=governance.auth("gina", Role.APPROVER),
                )
                assert vote.status_code == 201, vote.text

                decided = page.locator(f'#decisions li[data-review="{review_id}"]')
                await expect(decided).to_contain_text("go", timeout=20_000)
                await expect(page.locator('#feed li[data-event="GateDecided"]')).to_have_count(
                    1, timeout=20_000
                )
                await expect(queue).to_have_count(0, timeout=20_000)
                await expect(page.locator('#funnel li[data-status="screening"]')).to_contain_text(
                    "1", timeout=20_000
                )
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                shot = SCREENSHOTS / "dashboard.png"
                await page.screenshot(path=str(shot), full_page=True)
                print(f"\ndashboard screenshot: {shot}")
                assert shot.stat().st_size > 10_000
                assert errors == []
            finally:
                await browser.close()
