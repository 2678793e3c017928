"""A probe: one request, the status it must get and the field that answer must name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select

from gatehouse.eventstore.schema import events

from .conftest import Gatehouse

__all__ = ["Probe", "answer_problem", "stored_events"]


@dataclass(frozen=True)
class Probe:
    service: Literal["intake", "governance", "reporting"]
    method: str
    path: str
    field: str
    json: Any = None
    params: dict[str, str] | None = None
    status: int = 422

    def __str__(self) -> str:
        sent = self.json if self.json is not None else self.params
        return f"{self.service}: {self.method} {self.path} {sent!r}"


async def answer_problem(
    gatehouse: Gatehouse, probe: Probe, headers: dict[str, str], **path: str
) -> None:
    """Send the probe (its path filled in from ``path``) and check the answer: its status, as
    problem+json naming its field."""
    service = getattr(gatehouse, probe.service)
    response = await service.client.request(
        probe.method,
        probe.path.format(**path),
        json=probe.json,
        params=probe.params,
        headers=headers,
    )
    assert response.status_code == probe.status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert probe.field in [error["field"] for error in response.json()["errors"]], response.text


async def stored_events(gatehouse: Gatehouse) -> tuple[int, int]:
    """How many events intake and governance have stored."""
    counts = []
    for service in (gatehouse.intake, gatehouse.governance):
        async with service.app.state.runtime.database.read() as connection:
            counts.append(
                int(
                    (
                        await connection.execute(select(func.count()).select_from(events))
                    ).scalar_one()
                )
            )
    return counts[0], counts[1]
