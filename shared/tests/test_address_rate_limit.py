"""Requests that need no token (the documents, /readyz, /metrics) are counted against their
address: past its burst an address gets 429 problem+json with Retry-After, while another
address is still answered. /healthz is never counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from gatehouse.runtime import ServiceRuntime
from gatehouse.settings import ServiceSettings
from gatehouse.web import create_service_app

BURST = 3


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = ServiceSettings(
        port=0,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        auth_dev_key_file=tmp_path / "issuer.pem",
        rate_limit_per_second=0.1,
        rate_limit_burst=BURST,
        log_json=False,
    )
    runtime = ServiceRuntime.build(name="probe", settings=settings, event_store=None)
    yield create_service_app(runtime=runtime, title="probe", description="", routers=[])
    await runtime.database.dispose()


def client_from(app: FastAPI, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://service"
    )


@pytest.mark.parametrize(
    ("path", "past_the_burst"),
    [
        ("/openapi.json", 429),
        ("/docs", 429),
        ("/asyncapi.json", 429),
        ("/readyz", 429),
        ("/metrics", 429),
        ("/no-such-page", 429),
        ("/healthz", 200),
    ],
)
async def test_an_address_past_its_burst_is_refused_429(
    app: FastAPI, path: str, past_the_burst: int
) -> None:
    async with client_from(app, "192.0.2.1") as client, client_from(app, "192.0.2.2") as neighbour:
        answers = [(await client.get(path)).status_code for _ in range(BURST)]

        refused = await client.get(path)
        other = await neighbour.get(path)

    assert 429 not in answers
    assert refused.status_code == past_the_burst, refused.text
    assert other.status_code == answers[0]
    if past_the_burst == 429:
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "10"
        problem = refused.json()
        assert (problem["type"], problem["retry_after_seconds"]) == (
            "/problems/too-many-requests",
            10,
        )


async def test_the_documents_and_probes_count_against_one_budget(app: FastAPI) -> None:
    async with client_from(app, "192.0.2.1") as client:
        for path in ("/openapi.json", "/readyz", "/metrics")[:BURST]:
            assert (await client.get(path)).status_code != 429

        assert (await client.get("/asyncapi.json")).status_code == 429
        assert (await client.get("/healthz")).status_code == 200
