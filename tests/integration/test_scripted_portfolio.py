"""A scripted portfolio of 60 projects through intake and governance, read back from reporting.

Every project follows one of ten scripts (draft, submitted, passed G0, killed at G0, qualified,
deferred, approved, recycled, waiting at G0, withdrawn). The test knows from the scripts alone
what the portfolio, the KPIs, the audit trail and a timeline must say, and compares reporting's
answers with those numbers: reporting learns everything from the two services' topics.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from gatehouse.auth import Role
from gatehouse.testing.harness import eventually

from .conftest import Gatehouse

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

TEMPLATE = {
    "name": "Standard stage gates",
    "gates": [
        {
            "key": "G0",
            "name": "Idea screen",
            "sla_hours": 72,
            "approval": {"approvers": [{"user": "gina"}], "quorum": "any"},
        },
        {
            "key": "G1",
            "name": "Business case",
            "sla_hours": 120,
            "approval": {"approvers": [{"user": "gina"}, {"user": "hal"}], "quorum": "all"},
        },
        {
            "key": "G2",
            "name": "Plan",
            "sla_hours": 120,
            "approval": {"approvers": [{"role": "finance"}], "quorum": "any"},
        },
    ],
}

# What each script does after the request: ("submit",), gate votes as (gate, [(who, decision)])
# and where the project must end up (demand status, stage).
SCRIPTS: list[tuple[str, list[Any], tuple[str, str | None]]] = [
    ("draft", [], ("draft", None)),
    ("submitted", ["submit"], ("submitted", None)),
    ("screening", ["submit", ("G0", [("gina", "go")])], ("screening", None)),
    ("killed at G0", ["submit", ("G0", [("gina", "kill")])], ("rejected", None)),
    (
        "qualified",
        ["submit", ("G0", [("gina", "go")]), ("G1", [("gina", "go"), ("hal", "go")])],
        ("qualified", None),
    ),
    (
        "deferred",
        ["submit", ("G0", [("gina", "go")]), ("G1", [("hal", "hold")])],
        ("deferred", None),
    ),
    (
        "approved",
        [
            "submit",
            ("G0", [("gina", "go")]),
            ("G1", [("gina", "go"), ("hal", "go")]),
            ("G2", [("finn", "go")]),
        ],
        ("approved", "initiating"),
    ),
    (
        "recycled",
        ["submit", ("G0", [("gina", "go")]), ("G1", [("gina", "recycle")])],
        ("recycled", None),
    ),
    ("waiting at G0", ["submit", "open G0"], ("submitted", None)),
    ("withdrawn", ["submit", "withdraw"], ("withdrawn", None)),
]
BUSINESS_UNITS = ("Sales", "Operations", "Finance")
PROJECTS = 60


@dataclass
class Expected:
    """What the scripts say reporting must answer."""

    statuses: Counter[str] = field(default_factory=Counter)
    stages: Counter[str] = field(default_factory=Counter)
    units: Counter[str] = field(default_factory=Counter)
    cost: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    cost_by_status: dict[str, dict[str, Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Decimal))
    )
    outcomes: Counter[str] = field(default_factory=Counter)
    decided_per_gate: Counter[str] = field(default_factory=Counter)
    votes: int = 0
    waiting: int = 0


async def test_reporting_answers_what_the_scripts_did(gatehouse: Gatehouse) -> None:
    intake, governance, reporting = gatehouse.intake, gatehouse.governance, gatehouse.reporting
    pmo = governance.auth("pat", Role.PMO_ADMIN)
    assert (
        await governance.client.put("/v1/gate-templates/standard", json=TEMPLATE, headers=pmo)
    ).status_code == 201
    people = {
        "gina": governance.auth("gina", Role.APPROVER),
        "hal": governance.auth("hal", Role.APPROVER),
        "finn": governance.auth("finn", Role.APPROVER, "finance"),
    }
    expected = Expected()
    limit = asyncio.Semaphore(10)

    async def run(n: int) -> str:
        name, steps, (status, stage) = SCRIPTS[n % len(SCRIPTS)]
        requester = ("alice", "bob")[n % 2]
        who = intake.auth(requester, Role.REQUESTER)
        unit = BUSINESS_UNITS[n % 3]
        currency = "EUR" if n % 4 else "USD"
        amount = Decimal(10_000 + 1_000 * n).quantize(Decimal("0.01"))
        async with limit:
            created = await intake.client.post(
                "/v1/projects",
                headers=who,
                json={
                    "title": f"Project {n:02d} ({name})",
                    "description": "scripted",
                    "sponsor": "carol",
                    "business_unit": unit,
                    "project_type": "standard",
                    "estimated_cost": {"amount": str(amount), "currency": currency},
                    "start_date": "2027-01-04",
                    "target_date": "2027-09-30",
                    "expected_benefits": "b",
                    "risk_level": "low",
                },
            )
            assert created.status_code == 201, created.text
            project_id: str = created.json()["id"]
            for step in steps:
                await _take(gatehouse, project_id, step, who, people, expected)
            await _intake_shows(gatehouse, project_id, status, stage)
        expected.statuses[status] += 1
        if stage:
            expected.stages[stage] += 1
        expected.units[unit] += 1
        expected.cost[currency] += amount
        expected.cost_by_status[status][currency] += amount
        return project_id

    project_ids = await asyncio.gather(*(run(n) for n in range(PROJECTS)))
    auditor = reporting.auth("ada", Role.AUDITOR)

    async def portfolio_settled() -> dict[str, Any] | None:
        # Quiet first: the statuses can match while a stage change is still on its way.
        if not await gatehouse.quiet():
            return None
        body: dict[str, Any] = (await reporting.client.get("/v1/portfolio", headers=auditor)).json()
        settled = (
            body["count"] == PROJECTS
            and body["count_by_status"] == dict(sorted(expected.statuses.items()))
            and len(body["waiting_at_gate"]) == expected.waiting
        )
        return body if settled else None

    portfolio = await eventually(
        portfolio_settled, timeout=60, description="reporting caught up with the portfolio"
    )
    assert portfolio["count_by_stage"] == dict(sorted(expected.stages.items()))
    assert portfolio["count_by_business_unit"] == dict(sorted(expected.units.items()))
    assert portfolio["count_by_project_type"] == {"standard": PROJECTS}
    assert portfolio["cost_by_currency"] == {
        c: f"{a:.2f}" for c, a in sorted(expected.cost.items())
    }
    assert portfolio["cost_by_status"] == {
        status: {c: f"{a:.2f}" for c, a in sorted(by_currency.items())}
        for status, by_currency in sorted(expected.cost_by_status.items())
    }
    assert {entry["demand_status"] for entry in portfolio["pipeline"]} <= {
        "submitted",
        "screening",
        "qualified",
        "deferred",
    }
    assert len(portfolio["pipeline"]) == sum(
        expected.statuses[s] for s in ("submitted", "screening", "qualified", "deferred")
    )

    async def kpis_settled() -> dict[str, Any] | None:
        body: dict[str, Any] = (await reporting.client.get("/v1/kpis", headers=auditor)).json()
        return body if body["decided"] == sum(expected.outcomes.values()) else None

    kpis = await eventually(kpis_settled, timeout=30, description="KPIs caught up")
    assert {k: v for k, v in kpis["outcomes"].items() if v} == dict(expected.outcomes)
    assert {gate: figures["decided"] for gate, figures in kpis["gate_cycle_time"].items()} == dict(
        expected.decided_per_gate
    )
    assert kpis["open_reviews"] == expected.waiting
    total = sum(expected.outcomes.values())
    assert kpis["rates"]["go"] == round(expected.outcomes["go"] / total, 4)
    month = next(iter(kpis["throughput"].values()))
    assert month["requested"] == PROJECTS
    assert month["approved"] == expected.statuses["approved"]
    assert month["gates_decided"] == total

    audit = await reporting.client.get(
        "/v1/audit/decisions", headers={**auditor, "Accept": "text/csv"}
    )
    assert audit.status_code == 200
    records = list(csv.DictReader(io.StringIO(audit.text)))
    assert Counter(record["kind"] for record in records) == {
        "vote": expected.votes,
        "decision": total,
    }
    assert (
        Counter(record["decision"] for record in records if record["kind"] == "decision")
        == expected.outcomes
    )

    approved = project_ids[6]  # the "approved" script: request, submit, three gates
    timeline = (
        await reporting.client.get(f"/v1/projects/{approved}/timeline", headers=auditor)
    ).json()["items"]
    types = [entry["type"].rsplit(".", 1)[-1] for entry in timeline]
    assert types[:2] == ["ProjectRequested", "ProjectSubmitted"]
    assert types.count("GateDecided") == 3
    assert types.count("VoteCast") == 4
    assert types[-1] == "ProjectApproved"
    times = [entry["time"] for entry in timeline]
    assert times == sorted(times)


async def _take(
    gatehouse: Gatehouse,
    project_id: str,
    step: Any,
    who: dict[str, str],
    people: dict[str, dict[str, str]],
    expected: Expected,
) -> None:
    intake, governance = gatehouse.intake, gatehouse.governance
    if step in ("submit", "withdraw"):
        etag = (await intake.client.get(f"/v1/projects/{project_id}", headers=who)).headers["etag"]
        body = {"reason": "no longer needed"} if step == "withdraw" else None
        response = await intake.client.post(
            f"/v1/projects/{project_id}/{step}", json=body, headers={**who, "If-Match": etag}
        )
        assert response.status_code == 200, response.text
        return
    gate, votes = ("G0", []) if step == "open G0" else step
    opened = await _open(gatehouse, project_id, gate, who)
    if not votes:
        expected.waiting += 1
        return
    outcome = None
    for voter, decision in votes:
        body: dict[str, Any] = {"decision": decision}
        if decision != "go":
            body["rationale"] = f"scripted {decision}"
        response = await governance.client.post(
            f"/v1/gate-reviews/{opened}/votes", json=body, headers=people[voter]
        )
        assert response.status_code == 201, response.text
        expected.votes += 1
        outcome = response.json()["review"]["outcome"]
    assert outcome is not None
    expected.outcomes[outcome] += 1
    expected.decided_per_gate[gate] += 1


async def _open(gatehouse: Gatehouse, project_id: str, gate: str, who: dict[str, str]) -> str:
    governance = gatehouse.governance

    async def opened() -> str | None:
        response = await governance.client.post(
            "/v1/gate-reviews", headers=who, json={"project_id": project_id, "gate": gate}
        )
        if response.status_code == 201:
            return str(response.json()["id"])
        # Governance has not heard of the project or of its last step from intake yet.
        assert response.status_code in (404, 409), response.text
        return None

    return await eventually(
        opened, timeout=20, interval=0.1, description=f"review of {gate} opened"
    )


async def _intake_shows(
    gatehouse: Gatehouse, project_id: str, status: str, stage: str | None
) -> None:
    intake = gatehouse.intake

    async def reached() -> bool:
        body = (
            await intake.client.get(
                f"/v1/projects/{project_id}", headers=intake.auth("pat", Role.PMO_ADMIN)
            )
        ).json()
        return (body["status"], body["stage"]) == (status, stage)

    await eventually(
        reached, timeout=30, interval=0.1, description=f"project {project_id} at {status}/{stage}"
    )
