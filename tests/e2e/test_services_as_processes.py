"""The walking skeleton as a user runs it: three service processes on SQLite, a real broker.

This is what `make run` starts: `gatehouse migrate`, `python -m <service>`, a token from
`gatehouse token`, and plain HTTP.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gatehouse.testing.harness import eventually

pytestmark = pytest.mark.kafka

SERVICES = ("intake", "governance", "reporting")
BIN = Path(sys.executable).parent


@dataclass
class Deployment:
    urls: dict[str, str]
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def deployment(tmp_path: Path, kafka_bootstrap: str, namespace: str) -> Iterator[Deployment]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    urls = {}
    for service in SERVICES:
        prefix = service.upper()
        port = free_port()
        env |= {
            f"{prefix}_PORT": str(port),
            f"{prefix}_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / service}.db",
            f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            f"{prefix}_TOPIC_NAMESPACE": namespace,
        }
        urls[service] = f"http://127.0.0.1:{port}"
    subprocess.run([BIN / "gatehouse", "migrate", "all"], env=env, check=True, capture_output=True)
    processes = {
        service: subprocess.Popen(
            [sys.executable, "-m", service],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"{service}.log").open("wb"),
        )
        for service in SERVICES
    }
    try:
        yield Deployment(urls, env, tmp_path, processes)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def token(deployment: Deployment, subject: str, role: str) -> dict[str, str]:
    printed = subprocess.run(
        [BIN / "gatehouse", "token", "--sub", subject, "--role", role],
        env=deployment.env,
        check=True,
        capture_output=True,
        text=True,
    )
    return {"Authorization": f"Bearer {printed.stdout.strip()}"}


async def test_make_run_slice_works_over_http_and_stops_cleanly(deployment: Deployment) -> None:
    async with httpx.AsyncClient(timeout=5) as http:

        async def all_ready() -> bool:
            for url in deployment.urls.values():
                try:
                    if (await http.get(f"{url}/readyz")).status_code != 200:
                        return False
                except httpx.TransportError:
                    return False
            return True

        await eventually(all_ready, timeout=60, interval=0.2, description="services ready")
        for url in deployment.urls.values():
            assert (await http.get(f"{url}/healthz")).json() == {"status": "ok"}
            assert "gatehouse_http_requests_total" in (await http.get(f"{url}/metrics")).text
            assert (await http.get(f"{url}/openapi.json")).status_code == 200

        alice = token(deployment, "alice", "requester")
        created = await http.post(
            f"{deployment.urls['intake']}/v1/projects",
            headers=alice,
            json={
                "title": "New CRM",
                "description": "Replace the CRM",
                "sponsor": "carol",
                "business_unit": "Sales",
                "project_type": "standard",
                "estimated_cost": {"amount": "250000.00", "currency": "EUR"},
                "start_date": "2027-01-04",
                "target_date": "2027-09-30",
                "expected_benefits": "Faster quotes",
                "risk_level": "medium",
            },
        )
        assert created.status_code == 201, created.text
        project_id = created.json()["id"]

        async def in_portfolio() -> bool:
            body = (
                await http.get(f"{deployment.urls['reporting']}/v1/portfolio", headers=alice)
            ).json()
            return [p["id"] for p in body["projects"]] == [project_id]

        async def known_to_governance() -> bool:
            response = await http.get(
                f"{deployment.urls['governance']}/v1/projects/{project_id}", headers=alice
            )
            return response.status_code == 200

        await eventually(in_portfolio, timeout=10, description="listed in the portfolio")
        await eventually(known_to_governance, timeout=10, description="known to governance")

    for process in deployment.processes.values():
        process.send_signal(signal.SIGTERM)
    for service, process in deployment.processes.items():
        # uvicorn shuts down gracefully, then re-raises the signal for the exit status.
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)
        assert '"service stopped"' in (deployment.logs / f"{service}.log").read_text(), (
            f"{service} did not run its shutdown"
        )
