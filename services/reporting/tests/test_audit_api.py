"""GET /v1/audit/decisions: every vote, revision and gate decision, for auditors.

Two projects, three reviews, eight records: gina and hugo vote on RA (hugo revises his hold to
go), judy votes for ivan under a delegation on RB (kill), gina gives a conditional go on RC.
A decision taken by the vote that completes its panel has that vote's time: the API orders
such ties by event id, and so does the test.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from .conftest import Reporting, Review, assert_problem, condition, hours

pytestmark = pytest.mark.kafka

T0 = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
COLUMNS = [
    "time",
    "kind",
    "project_id",
    "gate",
    "review_id",
    "approver",
    "cast_by",
    "decision",
    "rationale",
    "event_id",
    "detail",
]


def t(n: int) -> datetime:
    return T0 + hours(n)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Record:
    time: datetime
    kind: str
    review: Review
    approver: str | None
    cast_by: str | None
    decision: str
    event_id: UUID

    @property
    def shape(self) -> tuple[str, str, str, str, str | None, str | None, str, str]:
        return (
            iso(self.time),
            self.kind,
            str(self.review.review_id),
            self.review.gate,
            self.approver,
            self.cast_by,
            self.decision,
            str(self.event_id),
        )


@dataclass(frozen=True)
class Trail:
    alpha: UUID
    beta: UUID
    records: list[Record]

    def expect(
        self, keep: Callable[[Record], bool] = lambda record: True
    ) -> list[tuple[str, str, str, str, str | None, str | None, str, str]]:
        """The records ``keep`` accepts, in the API's order: by time, ties by event id."""
        chosen = sorted(
            (r for r in self.records if keep(r)), key=lambda r: (r.time, r.event_id.hex)
        )
        return [record.shape for record in chosen]


async def every_page(reporting: Reporting, **params: Any) -> list[dict[str, Any]]:
    """The audit trail's pages for these parameters, following each next cursor to the end."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await reporting.get(
            "/v1/audit/decisions",
            headers=reporting.auditor,
            **params,
            **({"cursor": cursor} if cursor else {}),
        )
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


async def a_decision_trail(reporting: Reporting) -> Trail:
    producers = reporting.producers
    records: list[Record] = []

    def record(
        at: datetime,
        kind: str,
        review: Review,
        approver: str | None,
        cast_by: str | None,
        decision: str,
    ) -> None:
        records.append(
            Record(at, kind, review, approver, cast_by, decision, producers.published[-1][1].id)
        )

    alpha = await producers.request(T0 - hours(24), title="Alpha")
    beta = await producers.request(T0 - hours(24), title="Beta")
    ra = await producers.open_review(alpha, "G1", T0, seats=("user:gina", "user:hugo"))
    gina = await producers.vote(ra, "gina", "go", t(1))
    record(t(1), "vote", ra, "gina", "gina", "go")
    hold = await producers.vote(ra, "hugo", "hold", t(2))
    record(t(2), "vote", ra, "hugo", "hugo", "hold")
    hugo = await producers.vote(ra, "hugo", "go", t(3), revises=hold)
    record(t(3), "revision", ra, "hugo", "hugo", "go")
    # The vote that completes the panel decides at the same moment.
    await producers.decide(ra, "go", t(3), decided_by=["gina", "hugo"], votes=[gina, hugo])
    record(t(3), "decision", ra, None, None, "go")
    rb = await producers.open_review(beta, "G1", t(4), seats=("user:ivan",))
    kill = await producers.vote(rb, "ivan", "kill", t(5), cast_by="judy")
    record(t(5), "vote", rb, "ivan", "judy", "kill")
    await producers.decide(rb, "kill", t(5), decided_by=["ivan"], votes=[kill])
    record(t(5), "decision", rb, None, None, "kill")
    rc = await producers.open_review(alpha, "G2", t(6))
    terms = [condition("Sign the contract")]
    vote = await producers.vote(rc, "gina", "conditional_go", t(7), conditions=terms)
    record(t(7), "vote", rc, "gina", "gina", "conditional_go")
    await producers.decide(rc, "conditional_go", t(8), votes=[vote], conditions=terms)
    record(t(8), "decision", rc, None, None, "conditional_go")
    await reporting.caught_up()
    return Trail(alpha, beta, records)


def shape(
    items: list[dict[str, Any]],
) -> list[tuple[str, str, str, str, str | None, str | None, str, str]]:
    return [
        (
            item["time"],
            item["kind"],
            item["review_id"],
            item["gate"],
            item["approver"],
            item["cast_by"],
            item["decision"],
            item["event_id"],
        )
        for item in items
    ]


async def test_the_audit_trail_lists_every_vote_revision_and_decision(reporting: Reporting) -> None:
    trail = await a_decision_trail(reporting)

    page = await reporting.get("/v1/audit/decisions", headers=reporting.auditor)

    assert page["next_cursor"] is None
    assert shape(page["items"]) == trail.expect()
    assert [item["kind"] for item in page["items"]].count("vote") == 4
    items = {(item["kind"], item["decision"], item["approver"]): item for item in page["items"]}
    revision = items["revision", "go", "hugo"]
    assert revision["rationale"] == ""
    assert revision["detail"]["reason"] == "new facts"
    assert revision["detail"]["seat"] == "user:hugo"
    hold = items["vote", "hold", "hugo"]
    assert hold["rationale"] == "because hold"
    assert revision["detail"]["revises"] == next(
        envelope.data["vote_id"]
        for _, envelope in reporting.producers.published
        if envelope.id == UUID(hold["event_id"])
    )
    decision = items["decision", "go", None]
    assert decision["project_id"] == str(trail.alpha)
    assert decision["rationale"] == "panel said go"
    assert decision["detail"]["decided_by"] == ["gina", "hugo"]
    assert len(decision["detail"]["votes"]) == 2
    assert items["decision", "conditional_go", None]["detail"]["conditions"] == 1
    conditional = items["vote", "conditional_go", "gina"]
    assert conditional["detail"]["conditions"][0]["description"] == "Sign the contract"
    assert items["vote", "kill", "ivan"]["cast_by"] == "judy"

    # The PMO may read it too.
    assert len((await reporting.get("/v1/audit/decisions", headers=reporting.pmo))["items"]) == 8


async def test_the_audit_trail_filters_and_pages(reporting: Reporting) -> None:
    trail = await a_decision_trail(reporting)

    async def records(
        **params: Any,
    ) -> list[tuple[str, str, str, str, str | None, str | None, str, str]]:
        return shape(
            (await reporting.get("/v1/audit/decisions", headers=reporting.auditor, **params))[
                "items"
            ]
        )

    assert await records(project_id=str(trail.beta)) == trail.expect(
        lambda r: r.review.project_id == trail.beta
    )
    assert await records(gate="G2") == trail.expect(lambda r: r.review.gate == "G2")
    assert await records(gate="G1", project_id=str(trail.alpha)) == trail.expect(
        lambda r: r.review.gate == "G1" and r.review.project_id == trail.alpha
    )
    # The approver filter finds whoever holds the seat or cast the vote.
    for who in ("hugo", "judy", "ivan", "gina"):
        assert await records(approver=who) == trail.expect(
            lambda r, who=who: who in (r.approver, r.cast_by)
        ), who
    assert len(await records(approver="judy")) == 1
    assert await records(outcome="kill") == trail.expect(lambda r: r.decision == "kill")
    assert await records(outcome=["go", "conditional_go"]) == trail.expect(
        lambda r: r.decision in ("go", "conditional_go")
    )
    assert await records(kind="decision") == trail.expect(lambda r: r.kind == "decision")
    assert await records(kind=["vote", "revision"]) == trail.expect(lambda r: r.kind != "decision")
    assert await records(kind="revision", approver="gina") == []
    # since is inclusive, until exclusive.
    assert await records(since=iso(t(5))) == trail.expect(lambda r: r.time >= t(5))
    assert len(await records(since=iso(t(5)))) == 4
    assert await records(until=iso(t(5))) == trail.expect(lambda r: r.time < t(5))
    assert await records(since=iso(t(2)), until=iso(t(5))) == trail.expect(
        lambda r: t(2) <= r.time < t(5)
    )
    assert await records(since="2027-01-11T11:00:00+02:00") == trail.expect()  # = 09:00Z

    # Three at a time: every record once, in order, though a page ends inside a tie on time.
    pages = await every_page(reporting, limit=3)
    seen = [item for page in pages for item in page["items"]]
    sizes = [len(page["items"]) for page in pages]
    assert sizes == [3, 3, 2]
    assert shape(seen) == trail.expect()
    assert seen[2]["time"] == seen[3]["time"] == iso(t(3))
    # The filter holds across pages.
    first = await reporting.get(
        "/v1/audit/decisions", headers=reporting.auditor, limit=1, kind="decision"
    )
    rest = await reporting.get(
        "/v1/audit/decisions",
        headers=reporting.auditor,
        limit=5,
        kind="decision",
        cursor=first["next_cursor"],
    )
    assert rest["next_cursor"] is None
    assert shape(first["items"] + rest["items"]) == trail.expect(lambda r: r.kind == "decision")


async def test_an_approver_pages_through_their_own_seats_and_the_votes_they_cast_for_others(
    reporting: Reporting,
) -> None:
    producers = reporting.producers
    project = await producers.request(T0 - hours(24), title="Gamma")
    first = await producers.open_review(project, "G1", T0, seats=("user:judy", "user:hugo"))
    second = await producers.open_review(project, "G2", T0, seats=("user:ivan", "user:judy"))
    votes: list[tuple[str, UUID]] = []
    for review, seat, at in (
        (first, "judy", t(1)),
        (first, "hugo", t(2)),
        (second, "ivan", t(3)),
        (second, "judy", t(4)),
    ):
        await producers.vote(review, seat, "go", at, cast_by="judy")
        votes.append((seat, producers.published[-1][1].id))
    await producers.vote(second, "ivan", "hold", t(5), cast_by="ivan")  # not judy's
    await reporting.caught_up()

    async def one_at_a_time(**params: Any) -> list[tuple[str, str]]:
        pages = await every_page(reporting, approver="judy", limit=1, **params)
        return [(item["approver"], item["event_id"]) for page in pages for item in page["items"]]

    expected = [(seat, str(event_id)) for seat, event_id in votes]
    assert await one_at_a_time() == expected
    assert await one_at_a_time(sort="-time") == expected[::-1]


async def test_the_audit_trail_exports_csv(reporting: Reporting) -> None:
    trail = await a_decision_trail(reporting)

    response = await reporting.client.get(
        "/v1/audit/decisions",
        params={"limit": 2},
        headers={**reporting.auditor, "Accept": "text/csv"},
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == COLUMNS
    body = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
    assert len(body) == 8  # everything that matches, whatever the page size
    assert [
        (
            iso(datetime.fromisoformat(row["time"])),
            row["kind"],
            row["review_id"],
            row["gate"],
            row["approver"] or None,
            row["cast_by"] or None,
            row["decision"],
            row["event_id"],
        )
        for row in body
    ] == trail.expect()
    kill = next(row for row in body if row["kind"] == "vote" and row["decision"] == "kill")
    assert kill["project_id"] == str(trail.beta)
    assert kill["rationale"] == "because kill"
    decision = next(row for row in body if row["kind"] == "decision" and row["decision"] == "kill")
    assert json.loads(decision["detail"])["decided_by"] == ["ivan"]
    events = {str(envelope.id) for _, envelope in reporting.producers.published}
    assert {row["event_id"] for row in body} <= events

    filtered = await reporting.client.get(
        "/v1/audit/decisions",
        params={"project_id": str(trail.beta)},
        headers={**reporting.auditor, "Accept": "text/csv"},
    )
    rows = list(csv.reader(io.StringIO(filtered.text)))
    assert rows[0] == COLUMNS
    assert sorted(row[1] for row in rows[1:]) == ["decision", "vote"]


async def test_only_auditors_and_the_pmo_read_the_audit_trail(reporting: Reporting) -> None:
    assert_problem(await reporting.client.get("/v1/audit/decisions", headers=reporting.alice), 403)
    approver = reporting.service.auth("gina", "approver")
    assert_problem(await reporting.client.get("/v1/audit/decisions", headers=approver), 403)
    for params, field in (
        ({"outcome": "maybe"}, "outcome"),
        ({"kind": "ballot"}, "kind"),
        ({"since": "2027-01-11T09:00:00"}, "since"),
        ({"cursor": "bm9wZQ"}, "cursor"),
    ):
        assert_problem(
            await reporting.client.get(
                "/v1/audit/decisions", params=params, headers=reporting.auditor
            ),
            422,
            field=field,
        )
