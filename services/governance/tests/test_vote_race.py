"""Fifty approvers vote on one review at the same moment: one outcome, every vote once.

Each vote loads the project's gate record, decides and appends at the version it read. The
losers of each race are run again on the new state, so the review closes exactly once and every
vote that was accepted (201) is in the log exactly once; votes that arrive after the close are
refused with 409 and leave nothing behind.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from gatehouse.eventstore.schema import events

from .conftest import Governance, gate, template

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

APPROVERS = [f"approver{n:02d}" for n in range(50)]


async def vote_all_at_once(governance: Governance, review_id: str) -> list[Any]:
    async def vote(name: str) -> Any:
        return await governance.client.post(
            f"/v1/gate-reviews/{review_id}/votes",
            json={"decision": "go"},
            headers=governance.approver(name),
        )

    return list(await asyncio.gather(*(vote(name) for name in APPROVERS)))


async def stored_votes_and_decisions(
    governance: Governance,
) -> tuple[list[str], list[dict[str, Any]]]:
    database = governance.service.app.state.runtime.database
    async with database.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(events.c.type, events.c.data).order_by(events.c.position)
            )
        ).all()
    votes = [row.data["vote_id"] for row in rows if row.type.endswith("VoteCast")]
    decisions = [row.data for row in rows if row.type.endswith("GateDecided")]
    return votes, decisions


@pytest.mark.parametrize("any_database", ["postgresql"], indirect=True)
async def test_fifty_concurrent_votes_on_a_majority_gate_close_it_once(
    governance: Governance,
) -> None:
    await governance.define_template(
        template(gate("G0", *({"user": name} for name in APPROVERS), quorum="majority"))
    )
    project_id = await governance.known_project()
    review_id = (await governance.open_review(project_id)).json()["id"]

    responses = await vote_all_at_once(governance, review_id)

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 26, 409: 24}, statuses
    assert all(r.json()["rule"] == "review-closed" for r in responses if r.status_code == 409)
    accepted = sorted(r.json()["vote"]["id"] for r in responses if r.status_code == 201)
    stored, decisions = await stored_votes_and_decisions(governance)
    assert sorted(stored) == accepted
    assert len(decisions) == 1
    assert decisions[0]["outcome"] == "go"
    assert sorted(decisions[0]["votes"]) == accepted


@pytest.mark.parametrize("any_database", ["postgresql"], indirect=True)
async def test_fifty_concurrent_votes_on_a_unanimous_gate_are_all_kept(
    governance: Governance,
) -> None:
    await governance.define_template(
        template(gate("G0", *({"user": name} for name in APPROVERS), quorum="all"))
    )
    project_id = await governance.known_project()
    review_id = (await governance.open_review(project_id)).json()["id"]

    responses = await vote_all_at_once(governance, review_id)

    assert [r.status_code for r in responses] == [201] * 50
    stored, decisions = await stored_votes_and_decisions(governance)
    assert sorted(stored) == sorted(r.json()["vote"]["id"] for r in responses)
    assert len(set(stored)) == 50
    assert len(decisions) == 1
    assert len(decisions[0]["votes"]) == 50
    review = await governance.review(review_id)
    assert review["status"] == "decided"
    assert sorted(review["decided_by"]) == APPROVERS
