"""Conditions of a conditional go, and the timers that watch them and the reviews' SLAs.

The timers sweep every 0.2 s here; the test moves the service's clock. To show that a sweep has
run after a move (and so that something did *not* happen), each test keeps a witness: another
review or condition that falls due at the same moment and must fire.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import select

from gatehouse.auth import DevIssuer, Role
from gatehouse.eventstore.schema import events
from gatehouse.testing.harness import TestDatabase, eventually, running_service
from governance.bootstrap import migrate
from governance.main import create_app

from .conftest import (
    Governance,
    IntakePlayer,
    MovableClock,
    assert_problem,
    gate,
    governance_settings,
    template,
)

pytestmark = pytest.mark.kafka


async def stored(governance: Governance, kind: str) -> list[dict[str, Any]]:
    """The data of the stored events of one type, oldest first, as governance reads them (the
    people in them opened)."""
    runtime = governance.service.app.state.runtime
    event_type = f"gatehouse.governance.{kind}"
    async with runtime.database.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(events.c.data, events.c.actor)
                .where(events.c.type == event_type)
                .order_by(events.c.position)
            )
        ).all()
        opened = await runtime.personal_data.open_many(
            connection, [(event_type, row.data, row.actor) for row in rows]
        )
    return [data for data, _ in opened]


async def until_stored(governance: Governance, kind: str, count: int) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        found = await stored(governance, kind)
        return found if len(found) >= count else None

    return await eventually(enough, timeout=10, description=f"{count} {kind}")


def condition(description: str, owner: str, due_date: str) -> dict[str, str]:
    return {"description": description, "owner": owner, "due_date": due_date}


async def conditional_go(
    governance: Governance, *conditions: dict[str, str]
) -> tuple[str, list[str]]:
    """A project whose G0 gina passed with conditions: its review and the conditions' ids."""
    await governance.define_template(template(gate("G0", {"user": "gina"})))
    project_id = await governance.known_project(requested_by="alice", sponsor="carol")
    review_id = (await governance.open_review(project_id)).json()["id"]
    review = (
        await governance.vote(
            review_id, governance.approver("gina"), "conditional_go", conditions=list(conditions)
        )
    ).json()["review"]
    assert review["outcome"] == "conditional_go"
    return review_id, [c["id"] for c in review["conditions"]]


async def mark_met(
    governance: Governance, review_id: str, condition_id: str, who: dict[str, str], **body: Any
) -> Any:
    body.setdefault("evidence", [{"url": "https://docs.example.com/dpo-appointment"}])
    return await governance.client.post(
        f"/v1/gate-reviews/{review_id}/conditions/{condition_id}/met", json=body, headers=who
    )


# --- Conditions -----------------------------------------------------------------------------


async def test_a_condition_is_met_with_evidence_by_its_owner_the_requester_or_the_pmo(
    governance: Governance,
) -> None:
    review_id, (dpo, dpa, audit) = await conditional_go(
        governance,
        condition("Name a DPO", "olga", "2027-03-15"),
        condition("Sign the DPA", "olga", "2027-03-20"),
        condition("Book the audit", "olga", "2027-03-20"),
    )
    olga = governance.service.auth("olga", Role.REQUESTER)

    by_owner = await mark_met(governance, review_id, dpo, olga, note="Appointed Dana")
    assert by_owner.status_code == 200, by_owner.text
    statuses = {c["id"]: c["status"] for c in by_owner.json()["conditions"]}
    assert statuses == {dpo: "met", dpa: "open", audit: "open"}
    assert (await mark_met(governance, review_id, dpa, governance.alice)).status_code == 200
    assert (await mark_met(governance, review_id, audit, governance.pmo)).status_code == 200

    met = await stored(governance, "ConditionMet")
    assert [(m["condition_id"], m["met_by"], m["late"]) for m in met] == [
        (dpo, "olga", False),
        (dpa, "alice", False),
        (audit, "pat", False),
    ]
    assert met[0]["note"] == "Appointed Dana"
    assert met[0]["evidence"][0]["url"] == "https://docs.example.com/dpo-appointment"
    review = await governance.review(review_id)
    assert [(c["status"], c["met"], c["breached"]) for c in review["conditions"]] == [
        ("met", True, False)
    ] * 3


async def test_a_condition_refuses_strangers_unknown_ids_repeats_and_no_evidence(
    governance: Governance,
) -> None:
    review_id, (dpo,) = await conditional_go(
        governance, condition("Name a DPO", "olga", "2027-03-15")
    )
    olga = governance.service.auth("olga", Role.REQUESTER)
    before = await governance.row_counts()

    stranger = await mark_met(governance, review_id, dpo, governance.approver("zed"))
    assert_problem(stranger, 403, rule="object-ownership")
    unknown = await mark_met(governance, review_id, str(uuid4()), olga)
    assert_problem(unknown, 404)
    no_review = await mark_met(governance, str(uuid4()), dpo, olga)
    assert_problem(no_review, 404)
    for evidence, field in (([], "evidence"), ([{"url": "not a link"}], "evidence.0.url")):
        assert_problem(
            await mark_met(governance, review_id, dpo, olga, evidence=evidence), 422, field=field
        )
    no_evidence = await governance.client.post(
        f"/v1/gate-reviews/{review_id}/conditions/{dpo}/met", json={"note": "done"}, headers=olga
    )
    assert_problem(no_evidence, 422, field="evidence")
    stale = await governance.client.post(
        f"/v1/gate-reviews/{review_id}/conditions/{dpo}/met",
        json={"evidence": [{"url": "https://docs.example.com/dpo"}]},
        headers={**olga, "If-Match": '"1"'},
    )
    assert_problem(stale, 412)
    assert await governance.row_counts() == before

    assert (await mark_met(governance, review_id, dpo, olga)).status_code == 200
    twice = await mark_met(governance, review_id, dpo, governance.pmo)
    assert_problem(twice, 409, rule="condition-already-met")
    assert len(await stored(governance, "ConditionMet")) == 1


async def test_an_unmet_condition_past_its_due_day_is_breached_once(governance: Governance) -> None:
    review_id, (met, overdue, later) = await conditional_go(
        governance,
        condition("Name a DPO", "olga", "2027-03-15"),
        condition("Sign the DPA", "olga", "2027-03-15"),
        condition("Book the audit", "olga", "2027-03-20"),
    )
    await mark_met(governance, review_id, met, governance.alice)

    governance.clock.advance(days=14, hours=14)  # 2027-03-15 23:00: due today, not yet late
    await asyncio.sleep(0.6)
    assert await stored(governance, "ConditionBreached") == []

    governance.clock.advance(hours=2)  # 2027-03-16 01:00
    breached = await until_stored(governance, "ConditionBreached", 1)
    assert [(b["condition_id"], b["owner"], b["due_date"]) for b in breached] == [
        (overdue, "olga", "2027-03-15")
    ]
    review = await governance.review(review_id)
    assert {c["id"]: c["status"] for c in review["conditions"]} == {
        met: "met",
        overdue: "breached",
        later: "open",
    }

    governance.clock.advance(days=5)  # the witness falls due: sweeps run past the first breach
    breached = await until_stored(governance, "ConditionBreached", 2)
    assert [b["condition_id"] for b in breached] == [overdue, later]
    assert (await governance.stored_types()).count("ConditionBreached") == 2

    late = await mark_met(governance, review_id, overdue, governance.alice)
    assert late.status_code == 200, late.text
    assert (await stored(governance, "ConditionMet"))[-1]["late"] is True
    status = {c["id"]: (c["status"], c["breached"]) for c in late.json()["conditions"]}
    assert status[overdue] == ("met", True)


# --- The SLA --------------------------------------------------------------------------------


async def open_review_of_type(governance: Governance, project_type: str, sla_hours: int) -> str:
    await governance.define_template(
        template(gate("G0", {"user": "gina"}, sla_hours=sla_hours)), project_type=project_type
    )
    project_id = await governance.known_project(project_type=project_type)
    review_id: str = (await governance.open_review(project_id)).json()["id"]
    return review_id


async def test_a_review_open_past_its_sla_is_escalated_once(governance: Governance) -> None:
    day = await open_review_of_type(governance, "fast", 24)
    two_days = await open_review_of_type(governance, "standard", 48)
    three_days = await open_review_of_type(governance, "slow", 72)

    governance.clock.advance(hours=47)
    escalated = await until_stored(governance, "GateReviewEscalated", 1)
    assert [e["review_id"] for e in escalated] == [day]
    assert escalated[0]["escalation_role"] == "pmo_admin"
    assert escalated[0]["awaiting"] == ["user:gina"]
    assert (await governance.review(two_days))["escalated"] is False

    governance.clock.advance(hours=2)
    escalated = await until_stored(governance, "GateReviewEscalated", 2)
    assert [e["review_id"] for e in escalated] == [day, two_days]
    assert (await governance.review(two_days))["escalated"] is True

    governance.clock.advance(hours=24)
    escalated = await until_stored(governance, "GateReviewEscalated", 3)
    await asyncio.sleep(0.6)
    assert [e["review_id"] for e in await stored(governance, "GateReviewEscalated")] == [
        day,
        two_days,
        three_days,
    ]
    listed = (await governance.client.get("/v1/gate-reviews", headers=governance.pmo)).json()
    assert [item["escalated"] for item in listed["items"]] == [True, True, True]
    still_open = await governance.vote(two_days, governance.approver("gina"))
    assert still_open.json()["review"]["outcome"] == "go"


async def test_a_review_closed_before_its_sla_is_never_escalated(governance: Governance) -> None:
    await governance.define_template(template(gate("G0", {"user": "gina"}, sla_hours=48)))
    decided, withdrawn, witness = [
        (await governance.open_review(await governance.known_project())).json()["id"]
        for _ in range(3)
    ]
    await governance.vote(decided, governance.approver("gina"))
    await governance.client.post(
        f"/v1/gate-reviews/{withdrawn}/withdraw",
        json={"reason": "Re-scoping"},
        headers=governance.alice,
    )

    governance.clock.advance(hours=49)
    escalated = await until_stored(governance, "GateReviewEscalated", 1)
    await asyncio.sleep(0.6)

    assert [e["review_id"] for e in escalated] == [witness]
    assert (await governance.stored_types()).count("GateReviewEscalated") == 1
    assert (await governance.review(decided))["escalated"] is False
    assert (await governance.review(withdrawn))["escalated"] is False


async def test_the_sla_survives_a_restart(
    any_database: TestDatabase,
    kafka_bootstrap: str,
    namespace: str,
    dev_issuer: DevIssuer,
    intake_player: IntakePlayer,
    clock: MovableClock,
) -> None:
    """Escalations live in the database: one that fell due while the service was down fires
    after the restart, and one that fired before it does not fire again."""
    settings = governance_settings(
        any_database, kafka_bootstrap, namespace, dev_issuer, timer_interval_seconds=0.2
    )
    await asyncio.to_thread(migrate, settings)

    async with running_service(create_app(settings, clock=clock), dev_issuer) as service:
        governance = Governance(service, intake_player, clock)
        early = await open_review_of_type(governance, "fast", 24)
        late = await open_review_of_type(governance, "standard", 48)
        clock.advance(hours=25)
        await until_stored(governance, "GateReviewEscalated", 1)

    clock.advance(hours=24)  # the second review falls due while governance is down

    async with running_service(create_app(settings, clock=clock), dev_issuer) as service:
        governance = Governance(service, intake_player, clock)
        escalated = await until_stored(governance, "GateReviewEscalated", 2)
        await asyncio.sleep(0.6)

        assert [e["review_id"] for e in await stored(governance, "GateReviewEscalated")] == [
            early,
            late,
        ]
        assert escalated[1]["review_id"] == late
        assert (await governance.review(late))["escalated"] is True


async def test_an_empty_if_match_is_428_on_votes_withdrawals_and_conditions(
    governance: Governance,
) -> None:
    """An If-Match sent empty names no version: the change is refused as if it were missing,
    and nothing is written."""
    review_id, (dpo,) = await conditional_go(
        governance, condition("Name a DPO", "olga", "2027-03-15")
    )
    before = await governance.row_counts()
    empty = {"If-Match": ""}
    met = await governance.client.post(
        f"/v1/gate-reviews/{review_id}/conditions/{dpo}/met",
        json={"evidence": [{"url": "https://docs.example.com/dpo-appointment"}]},
        headers={**governance.pmo, **empty},
    )
    withdrawn = await governance.client.post(
        f"/v1/gate-reviews/{review_id}/withdraw",
        json={"reason": "Re-scoping"},
        headers={**governance.alice, **empty},
    )
    voted = await governance.client.post(
        f"/v1/gate-reviews/{review_id}/votes",
        json={"decision": "go"},
        headers={**governance.approver("gina"), **empty},
    )
    for response in (met, withdrawn, voted):
        assert_problem(response, 428)
    assert await governance.row_counts() == before
