"""The Kafka broker SIGKILLed and restarted on its own state while intake keeps taking commands:
every acknowledged command's event reaches reporting exactly once, and the outbox drains.

The broker belongs to this test (its own ports and state directory, started with
``deploy/kafka/kafka.sh`` like every broker here): the shared test broker stays untouched."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gatehouse.auth import DevIssuer, Role
from gatehouse.testing.harness import eventually

from .audit import acknowledged_events, pending_outbox
from .conftest import (
    Databases,
    ReportFigures,
    audit,
    free_port,
    in_process,
    project_request,
    reporting_caught_up,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

KAFKA_SH = Path(__file__).parents[2] / "deploy" / "kafka" / "kafka.sh"


@dataclass
class Broker:
    state_dir: Path
    port: int
    controller_port: int

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, command: str, *, fresh: bool = False) -> None:
        env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_STATE_DIR": str(self.state_dir),
            "KAFKA_FRESH": "1" if fresh else "0",
            "KAFKA_READY_TIMEOUT": "170",
        }
        done = subprocess.run(
            ["bash", str(KAFKA_SH), command], env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, f"kafka.sh {command} failed:\n{done.stderr}"

    async def start(self, *, fresh: bool = False) -> None:
        await asyncio.to_thread(self._run, "start", fresh=fresh)

    async def stop(self) -> None:
        await asyncio.to_thread(self._run, "stop")

    async def sigkill(self) -> None:
        pid = int((self.state_dir / "kafka.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        await eventually(
            lambda: asyncio.to_thread(_dead, pid), timeout=30, description="the broker process died"
        )


def _dead(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # a zombie holds no port and no file


@pytest.fixture
async def own_broker() -> AsyncIterator[Broker]:
    # Not under pytest's tmp_path: concurrent pytest runs prune each other's old base temps.
    with tempfile.TemporaryDirectory(prefix="gatehouse-broker-") as state_dir:
        broker = Broker(Path(state_dir), free_port(), free_port())
        await broker.start(fresh=True)
        try:
            yield broker
        finally:
            await broker.stop()


async def test_the_broker_sigkilled_and_restarted_while_commands_keep_coming(
    databases: Databases,
    own_broker: Broker,
    namespace: str,
    dev_issuer: DevIssuer,
    report_figures: ReportFigures,
) -> None:
    answers: dict[int, httpx.Response] = {}
    async with in_process(
        databases,
        bootstrap_servers=own_broker.bootstrap_servers,
        namespace=namespace,
        issuer=dev_issuer,
    ) as services:
        intake = services.intake
        alice = intake.auth("alice", Role.REQUESTER)
        sending = True

        async def keep_sending() -> None:
            n = 0
            while sending:
                answers[n] = await intake.client.post(
                    "/v1/projects", json=project_request(n), headers=alice
                )
                n += 1
                await asyncio.sleep(0.05)

        sender = asyncio.create_task(keep_sending())
        await eventually(lambda: _at_least(answers, 10), timeout=30, description="commands")
        await own_broker.sigkill()
        sent_before_the_kill = len(answers)
        await eventually(
            lambda: _at_least(answers, sent_before_the_kill + 20),
            timeout=30,
            description="commands while the broker is down",
        )
        await own_broker.start()
        restarted_at = len(answers)
        await eventually(
            lambda: _at_least(answers, restarted_at + 10),
            timeout=30,
            description="commands after the restart",
        )
        sending = False
        await sender

        statuses = {response.status_code for response in answers.values()}
        assert statuses <= {201, 503}, statuses

        async def outbox_drained() -> bool:
            return await pending_outbox(databases.intake) == 0

        await eventually(
            outbox_drained, timeout=120, interval=0.2, description="the outbox drained"
        )
        await reporting_caught_up(databases, timeout=120)

    stored = await acknowledged_events(databases.intake)
    created = {f"project-{r.json()['id']}" for r in answers.values() if r.status_code == 201}
    assert created <= {stream_id for stream_id, _ in stored.values()}
    print(
        f"{len(answers)} commands, {len(created)} acknowledged, "
        f"{restarted_at - sent_before_the_kill} while the broker was down"
    )
    figures = await audit(
        "broker SIGKILLed and restarted under load",
        databases,
        own_broker.bootstrap_servers,
        namespace,
    )
    assert figures.acknowledged == len(created)
    report_figures(figures)


async def _at_least(answers: dict[int, httpx.Response], count: int) -> bool:
    return len(answers) >= count
