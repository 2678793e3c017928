"""Live events for dashboards: reporting's SSE stream over real HTTP.

A client reads some events, drops the connection, more events happen, and it reconnects with
Last-Event-ID: it gets exactly the events it had not seen, none twice, none missed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from gatehouse.auth import Role
from gatehouse.testing.harness import RunningService, served
from reporting.main import create_app as create_reporting

from .conftest import Gatehouse

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def read_events(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    count: int,
    *,
    params: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Read ``count`` events from the stream, then hang up; also return the comment lines."""
    received: list[dict[str, Any]] = []
    comments: list[str] = []
    async with client.stream(
        "GET", "/v1/events/stream", headers=headers, params=params
    ) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        frame: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):
                comments.append(line)
            elif line == "":
                if "data" in frame:
                    received.append(
                        {
                            "id": frame.get("id"),
                            "event": frame.get("event"),
                            **json.loads(frame["data"]),
                        }
                    )
                    if len(received) == count:
                        break
                frame = {}
            else:
                name, _, value = line.partition(": ")
                frame[name] = value
    return received, comments


async def test_a_reconnecting_client_misses_nothing_and_sees_nothing_twice(
    gatehouse: Gatehouse,
) -> None:
    settings = gatehouse.reporting_settings.model_copy(
        update={"stream_heartbeat_seconds": 0.3, "stream_gap_grace_seconds": 0.5}
    )
    async with served(create_reporting(settings), gatehouse.issuer) as live:
        viewer = live.auth("wall", Role.PMO_ADMIN)
        alice = gatehouse.intake.auth("alice", Role.REQUESTER)

        async def request(n: int) -> str:
            created = await gatehouse.intake.client.post(
                "/v1/projects",
                headers=alice,
                json={
                    "title": f"Live {n}",
                    "description": "d",
                    "sponsor": "carol",
                    "business_unit": "Sales",
                    "project_type": "standard",
                    "estimated_cost": {"amount": "1.00", "currency": "EUR"},
                    "start_date": "2027-01-04",
                    "target_date": "2027-09-30",
                    "expected_benefits": "b",
                    "risk_level": "low",
                },
            )
            assert created.status_code == 201
            return str(created.json()["id"])

        first_reader = asyncio.create_task(read_events(live.client, viewer, 3))
        await asyncio.sleep(0.5)  # the stream starts at the head of the log: connect first
        first_ids = [await request(n) for n in range(3)]
        first, _ = await asyncio.wait_for(first_reader, 30)
        # Projects' streams sit on different partitions: their order across streams may vary.
        assert sorted(event["data"]["project_id"] for event in first) == sorted(first_ids)

        later_ids = [await request(n) for n in range(3, 8)]  # while nobody listens
        resumed, _ = await asyncio.wait_for(
            read_events(live.client, {**viewer, "Last-Event-ID": first[-1]["id"]}, 5), 30
        )
        assert sorted(event["data"]["project_id"] for event in resumed) == sorted(later_ids)
        seqs = [int(event["id"]) for event in first + resumed]
        assert seqs == sorted(set(seqs))

        # Filtered by project, from the start of the log; idle streams get heartbeats.
        only_one, _ = await asyncio.wait_for(
            read_events(
                live.client,
                {**viewer, "Last-Event-ID": "0"},
                1,
                params={"project_id": later_ids[2], "type": "ProjectRequested"},
            ),
            30,
        )
        assert only_one[0]["data"]["project_id"] == later_ids[2]
        assert only_one[0]["event"] == "ProjectRequested"

        async with live.client.stream(
            "GET", "/v1/events/stream", headers=viewer, params={"type": "NothingLikeThis"}
        ) as idle:
            lines = idle.aiter_lines()
            heartbeat = await asyncio.wait_for(_first_comment(lines), 10)
        assert heartbeat == ": heartbeat"


async def _first_comment(lines: Any) -> str:
    async for line in lines:
        if line.startswith(": "):
            return str(line)
    raise AssertionError("the stream ended without a heartbeat")


async def test_the_stream_needs_a_token_valid_last_event_id_and_type_names(
    gatehouse: Gatehouse,
) -> None:
    reporting: RunningService = gatehouse.reporting
    anonymous = await reporting.client.get("/v1/events/stream")
    assert anonymous.status_code == 401
    bad = await reporting.client.get(
        "/v1/events/stream",
        headers={**reporting.auth("wall", Role.PMO_ADMIN), "Last-Event-ID": "yesterday"},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "Last-Event-ID"
    not_a_type = await reporting.client.get(
        "/v1/events/stream", params={"type": "a&b"}, headers=reporting.auth("wall", Role.PMO_ADMIN)
    )
    assert not_a_type.status_code == 422
    assert not_a_type.json()["errors"][0]["field"].startswith("type")
