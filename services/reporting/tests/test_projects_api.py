"""GET /v1/projects/{id}: one project's view across intake and governance, now or as it stood
at a past moment (``as_of``), and its timeline of every event from both services."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from gatehouse.events.intake import (
    ProjectApproved,
    ProjectQualified,
    ProjectScreeningStarted,
    ProjectStageAdvanced,
)

from .conftest import Producers, Reporting, assert_problem, condition, eur, hours

pytestmark = pytest.mark.kafka

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class History:
    """A project from request to planning through three gates, the fourth one open."""

    def __init__(self, producers: Producers) -> None:
        self.producers = producers
        self.project_id = uuid4()
        self.cond_met = condition("Sign the vendor contract", due=(T0 + 30 * DAY).date())
        self.cond_breached = condition("Hire an architect", due=(T0 + 32 * DAY).date())

    async def governance(self) -> None:
        """Governance's gate record: G1, G2 (escalated), G3 (conditional go), G4 open."""
        producers, project = self.producers, self.project_id
        g1 = await producers.open_review(
            project, "G1", T0 + 2 * DAY, seats=("user:gina", "user:hugo")
        )
        gina = await producers.vote(g1, "gina", "go", T0 + 2 * DAY + hours(3))
        hugo = await producers.vote(g1, "hugo", "go", T0 + 2 * DAY + hours(5))
        await producers.decide(
            g1, "go", T0 + 2 * DAY + hours(5), decided_by=["gina", "hugo"], votes=[gina, hugo]
        )
        g2 = await producers.open_review(project, "G2", T0 + 5 * DAY)
        await producers.escalate(g2, T0 + 7 * DAY + hours(1))
        vote = await producers.vote(g2, "gina", "go", T0 + 8 * DAY)
        await producers.decide(g2, "go", T0 + 8 * DAY, votes=[vote])
        self.g3 = g3 = await producers.open_review(project, "G3", T0 + 10 * DAY)
        conditions = [self.cond_met, self.cond_breached]
        vote = await producers.vote(
            g3, "gina", "conditional_go", T0 + 11 * DAY, conditions=conditions
        )
        await producers.decide(
            g3, "conditional_go", T0 + 11 * DAY, votes=[vote], conditions=conditions
        )
        await producers.condition_met(g3, self.cond_met, T0 + 26 * DAY)
        await producers.condition_breached(g3, self.cond_breached, T0 + 33 * DAY)
        self.g4 = g4 = await producers.open_review(project, "G4", T0 + 35 * DAY)
        await producers.escalate(g4, T0 + 37 * DAY + hours(1))

    async def intake(self) -> None:
        """Intake's record: the request, its steps at each gate, status, tolerances, RAID."""
        producers, project = self.producers, self.project_id
        await producers.request(
            T0,
            title="Data platform",
            business_unit="IT",
            project_type="strategic",
            cost=eur("300000.00"),
            project_id=project,
        )
        await producers.submit(project, T0 + hours(1))
        await producers.score(project, "72.50", T0 + DAY)
        await producers.step(
            project,
            ProjectScreeningStarted,
            T0 + 2 * DAY + hours(6),
            from_status="submitted",
            to_status="screening",
        )
        await producers.step(
            project,
            ProjectQualified,
            T0 + 8 * DAY + hours(1),
            from_status="screening",
            to_status="qualified",
        )
        await producers.step(
            project,
            ProjectApproved,
            T0 + 11 * DAY + hours(1),
            from_status="qualified",
            to_status="approved",
            to_stage="initiating",
        )
        await producers.step(
            project,
            ProjectStageAdvanced,
            T0 + 20 * DAY,
            from_status="approved",
            to_status="approved",
            from_stage="initiating",
            to_stage="planning",
        )
        await producers.report_status(project, T0 + 21 * DAY, "amber", schedule="red", cost="amber")
        await producers.breach(project, "cost", T0 + 21 * DAY)
        await producers.breach(project, "schedule", T0 + 21 * DAY)
        items = [await producers.add_raid(project, T0 + 22 * DAY) for _ in range(3)]
        await producers.close_raid(project, items[1], T0 + 25 * DAY)
        await producers.recover(project, "schedule", T0 + 28 * DAY)


async def test_a_project_reads_across_intake_and_governance(reporting: Reporting) -> None:
    history = History(reporting.producers)
    # Governance's relay happens to publish first; intake's events are older in part.
    await history.governance()
    await reporting.caught_up()
    await history.intake()
    await reporting.caught_up()

    project = await reporting.get(f"/v1/projects/{history.project_id}", headers=reporting.alice)

    assert project == {
        "id": str(history.project_id),
        "as_of": None,
        "title": "Data platform",
        "description": "Data platform: the description",
        "sponsor": "carol",
        "requested_by": "alice",
        "business_unit": "IT",
        "project_type": "strategic",
        "estimated_cost": {"amount": "300000.00", "currency": "EUR"},
        "demand_status": "approved",
        "stage": "planning",
        "requested_at": iso(T0),
        "approved_at": iso(T0 + 11 * DAY + hours(1)),
        "closed_at": None,
        "score": "72.50",
        "scoring_model": "value",
        "mandatory": False,
        "knocked_out": False,
        "rag": "amber",
        "health": {"schedule": "red", "cost": "amber", "scope": "green"},
        "tolerance_breaches": ["cost"],
        "open_raid_items": 2,
        "passed_gates": ["G1", "G2", "G3"],
        "open_gate": {
            "review_id": str(history.g4.review_id),
            "gate": "G4",
            "gate_name": "Gate G4",
            "opened_at": iso(T0 + 35 * DAY),
            "sla_due_at": iso(T0 + 37 * DAY),
            "escalated": True,
        },
        "last_decision": {
            "review_id": str(history.g3.review_id),
            "gate": "G3",
            "outcome": "conditional_go",
            "decided_at": (T0 + 11 * DAY).isoformat(),
            "decided_by": ["gina"],
        },
        # Of the two conditions, one was met and one breached: none is open any more.
        "open_conditions": 0,
        "breached_conditions": 1,
        "escalations": 2,
        "updated_at": iso(T0 + 37 * DAY + hours(1)),
        "events": 30,
    }

    # The same moment replayed from the log says the same.
    replayed = await reporting.get(f"/v1/projects/{history.project_id}", as_of=iso(T0 + 40 * DAY))
    assert replayed == {**project, "as_of": iso(T0 + 40 * DAY)}


async def test_an_unknown_project_is_not_found(reporting: Reporting) -> None:
    await reporting.producers.request(T0)
    await reporting.caught_up()

    unknown = uuid4()
    assert_problem(
        await reporting.client.get(f"/v1/projects/{unknown}", headers=reporting.pmo), 404
    )
    assert_problem(
        await reporting.client.get(f"/v1/projects/{unknown}/timeline", headers=reporting.pmo), 404
    )


async def test_time_travel_answers_as_things_stood(reporting: Reporting) -> None:
    history = History(reporting.producers)
    await history.intake()
    await history.governance()
    later = await reporting.producers.request(T0 + 9 * DAY, title="Later", cost=eur("1000.00"))
    await reporting.caught_up()
    path = f"/v1/projects/{history.project_id}"

    # Between G1's opening and its decision: submitted, scored, waiting at G1 for 4 hours.
    moment = T0 + 2 * DAY + hours(4)
    then = await reporting.get(path, as_of=iso(moment))
    assert then["as_of"] == iso(moment)
    assert (then["demand_status"], then["stage"], then["score"]) == ("submitted", None, "72.50")
    assert then["open_gate"]["gate"] == "G1"
    assert then["passed_gates"] == []
    assert then["last_decision"] is None
    assert (then["rag"], then["tolerance_breaches"], then["open_raid_items"]) == (None, [], 0)
    assert then["events"] == 5  # requested, submitted, scored, G1 opened, gina's vote
    assert then["updated_at"] == iso(T0 + 2 * DAY + hours(3))

    portfolio = await reporting.get("/v1/portfolio", as_of=iso(moment))
    assert portfolio["as_of"] == iso(moment)
    assert portfolio["count"] == 1
    assert portfolio["count_by_status"] == {"submitted": 1}
    assert [entry["id"] for entry in portfolio["pipeline"]] == [str(history.project_id)]
    (waiting,) = portfolio["waiting_at_gate"]
    assert (waiting["gate"], waiting["waiting_hours"], waiting["overdue"]) == ("G1", 4.0, False)

    # G2 past its SLA, as things stood: overdue and escalated; the later request not yet made.
    moment = T0 + 7 * DAY + hours(2)
    then = await reporting.get(path, as_of=iso(moment))
    assert (then["demand_status"], then["passed_gates"]) == ("screening", ["G1"])
    assert then["open_gate"]["escalated"] is True
    assert then["last_decision"]["outcome"] == "go"
    portfolio = await reporting.get("/v1/portfolio", as_of=iso(moment))
    assert portfolio["count"] == 1
    (waiting,) = portfolio["waiting_at_gate"]
    assert (waiting["waiting_hours"], waiting["overdue"]) == (50.0, True)

    # An event at exactly the moment counts; the later request is there a moment after.
    portfolio = await reporting.get("/v1/portfolio", as_of=iso(T0 + 9 * DAY))
    assert portfolio["count"] == 2
    assert {entry["id"] for entry in portfolio["projects"]} == {str(history.project_id), str(later)}
    # Now: as live.
    live = await reporting.get("/v1/portfolio")
    assert live["count"] == 2
    assert live["waiting_at_gate"][0]["gate"] == "G4"

    # Before the request reporting knew nothing of the project, nor of any other.
    empty = await reporting.get("/v1/portfolio", as_of=iso(T0 - hours(1)))
    assert (empty["count"], empty["count_by_status"], empty["cost_by_currency"]) == (0, {}, {})
    assert (empty["pipeline"], empty["waiting_at_gate"], empty["projects"]) == ([], [], [])
    assert_problem(
        await reporting.client.get(
            path, params={"as_of": iso(T0 - hours(1))}, headers=reporting.pmo
        ),
        404,
    )
    # A time without its offset is ambiguous; a number is not an RFC 3339 time.
    for route in (path, "/v1/portfolio"):
        for not_a_time in ("2027-01-05T09:00:00", "1798707600", "0.5"):
            assert_problem(
                await reporting.client.get(
                    route, params={"as_of": not_a_time}, headers=reporting.pmo
                ),
                422,
                field="as_of",
            )


async def test_the_timeline_shows_every_event_in_time_order(reporting: Reporting) -> None:
    producers = reporting.producers
    project = uuid4()
    # Governance's relay publishes before intake's: the timeline still reads in time order.
    review = await producers.open_review(project, "G1", T0 + hours(2))
    vote = await producers.vote(review, "gina", "go", T0 + hours(3))
    await producers.decide(review, "go", T0 + hours(3), votes=[vote])  # same moment as the vote
    await reporting.caught_up()
    await producers.request(T0, project_id=project)
    await producers.submit(project, T0 + hours(1))
    await producers.step(
        project,
        ProjectScreeningStarted,
        T0 + hours(4),
        from_status="submitted",
        to_status="screening",
        actor="gatehouse",
    )
    await producers.request(T0 + hours(1))  # another project's
    await reporting.caught_up()

    expected = [
        ("/gatehouse/intake", "gatehouse.intake.ProjectRequested", "alice", T0, 1),
        ("/gatehouse/intake", "gatehouse.intake.ProjectSubmitted", "alice", T0 + hours(1), 2),
        (
            "/gatehouse/governance",
            "gatehouse.governance.GateReviewOpened",
            "alice",
            T0 + hours(2),
            1,
        ),
        ("/gatehouse/governance", "gatehouse.governance.VoteCast", "gina", T0 + hours(3), 2),
        ("/gatehouse/governance", "gatehouse.governance.GateDecided", "gina", T0 + hours(3), 3),
        (
            "/gatehouse/intake",
            "gatehouse.intake.ProjectScreeningStarted",
            "gatehouse",
            T0 + hours(4),
            3,
        ),
    ]
    path = f"/v1/projects/{project}/timeline"

    def shape(items: list[dict[str, Any]]) -> list[tuple[str, str, str, datetime, int]]:
        return [
            (
                item["source"],
                item["type"],
                item["actor"],
                datetime.fromisoformat(item["time"]),
                item["stream_version"],
            )
            for item in items
        ]

    timeline = await reporting.get(path, headers=reporting.auditor)
    assert timeline["project_id"] == str(project)
    assert timeline["next_cursor"] is None
    assert shape(timeline["items"]) == expected
    assert [item["stream_id"] for item in timeline["items"]] == [f"project-{project}"] * 2 + [
        f"gates-{project}"
    ] * 3 + [f"project-{project}"]
    assert timeline["items"][4]["data"]["outcome"] == "go"
    assert timeline["items"][4]["data"]["votes"] == [str(vote)]
    published = {envelope.id for _, envelope in producers.published}
    assert {UUID(item["event_id"]) for item in timeline["items"]} <= published

    # A requester reads no vote, and the decision without the votes it rests on.
    as_requester = await reporting.get(path, headers=reporting.alice)
    assert shape(as_requester["items"]) == [
        entry for entry in expected if "VoteCast" not in entry[1]
    ]
    decided = as_requester["items"][3]["data"]
    assert (decided["outcome"], decided["rationale"]) == ("go", "panel said go")
    assert "votes" not in decided
    assert str(vote) not in json.dumps(as_requester)

    # Two at a time: every event exactly once, the page boundary inside a tie on time.
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await reporting.get(path, **params)
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(items) for items in pages] == [2, 2, 2]
    assert [item for items in pages for item in items] == timeline["items"]

    for bad in (
        "not-a-cursor",
        base64.urlsafe_b64encode(json.dumps(["d", iso(T0), str(uuid4())]).encode()).decode(),
    ):
        assert_problem(
            await reporting.client.get(path, params={"cursor": bad}, headers=reporting.pmo),
            422,
            field="cursor",
        )
    assert_problem(
        await reporting.client.get(path, params={"limit": 0}, headers=reporting.pmo),
        422,
        field="limit",
    )
