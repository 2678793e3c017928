"""The quorum rule: when a gate's panel has decided, and what.

The expectations are written from the rule as ``governance.rules`` states it: a panel needs
``all`` its seats, ``any`` one, ``n`` of them or a majority (more than half) to vote go or
conditional go; with kill veto one kill ends the review; once too few seats are left to reach
the quorum, the outcome is what most unfavourable ballots chose, a tie going to the more
severe (kill, then recycle, then hold).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import pytest

from gatehouse.events.governance import ApprovalRule, GateCondition, Quorum, VoteDecision
from governance.rules import Ballot, awaiting, describe, needed, verdict

from .builders import approval, condition, number, role

SEATS = ("s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9")


def panel(
    seats: int,
    quorum: Quorum = "all",
    *,
    n: int | None = None,
    order: Literal["parallel", "sequential"] = "parallel",
    kill_veto: bool = True,
) -> ApprovalRule:
    """A panel of named seats s1, s2, ... in that order."""
    return approval(*SEATS[:seats], quorum=quorum, n=n, order=order, kill_veto=kill_veto)


def ballot(
    seat: str,
    decision: VoteDecision,
    *,
    rationale: str = "",
    conditions: tuple[GateCondition, ...] = (),
) -> Ballot:
    return Ballot(
        vote_id=number(SEATS.index(seat) + 1),
        seat=f"user:{seat}",
        approver=seat,
        cast_by=seat,
        decision=decision,
        rationale=rationale,
        conditions=conditions,
    )


def ballots(*decisions: VoteDecision | None) -> dict[str, Ballot]:
    """Seat i's ballot is the i-th decision; None leaves the seat empty."""
    return {
        f"user:{seat}": ballot(seat, decision)
        for seat, decision in zip(SEATS, decisions, strict=False)
        if decision is not None
    }


def outcome(rule: ApprovalRule, cast: Mapping[str, Ballot]) -> str | None:
    found = verdict(rule, cast)
    return None if found is None else found.outcome


# --- How many favourable ballots ------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "need"),
    [
        pytest.param(panel(1, "all"), 1, id="all-of-1"),
        pytest.param(panel(4, "all"), 4, id="all-of-4"),
        pytest.param(panel(4, "any"), 1, id="any-of-4"),
        pytest.param(panel(5, "n_of_m", n=3), 3, id="3-of-5"),
        pytest.param(panel(1, "majority"), 1, id="majority-of-1"),
        pytest.param(panel(2, "majority"), 2, id="majority-of-2"),
        pytest.param(panel(3, "majority"), 2, id="majority-of-3"),
        pytest.param(panel(4, "majority"), 3, id="majority-of-4"),
        pytest.param(panel(9, "majority"), 5, id="majority-of-9"),
    ],
)
def test_the_rule_needs_all_any_n_or_more_than_half_the_seats(
    rule: ApprovalRule, need: int
) -> None:
    assert needed(rule) == need


# --- Favourable outcomes --------------------------------------------------------------------

# (rule, the seats' ballots in order, the outcome or None while the review stays open)
QUORUM_TABLE = [
    pytest.param(panel(3, "all"), (), None, id="all-nobody-voted"),
    pytest.param(panel(3, "all"), ("go", "go"), None, id="all-two-of-three"),
    pytest.param(panel(3, "all"), ("go", "go", "go"), "go", id="all-every-seat"),
    pytest.param(panel(3, "all"), ("go", None, "go"), None, id="all-a-seat-missing"),
    pytest.param(panel(3, "any"), (None, "go"), "go", id="any-one-go"),
    pytest.param(panel(3, "any"), ("hold", "recycle"), None, id="any-one-seat-left"),
    pytest.param(panel(4, "n_of_m", n=2), ("go",), None, id="2-of-4-one-go"),
    pytest.param(panel(4, "n_of_m", n=2), ("go", "hold", "go"), "go", id="2-of-4-two-go"),
    pytest.param(panel(4, "n_of_m", n=2), ("hold", "hold"), None, id="2-of-4-two-left"),
    pytest.param(panel(4, "majority"), ("go", "go"), None, id="majority-of-4-two-go"),
    pytest.param(panel(4, "majority"), ("go", "go", "go"), "go", id="majority-of-4-three-go"),
    pytest.param(
        panel(5, "majority"), ("go", "hold", "go", "go"), "go", id="majority-of-5-despite-a-hold"
    ),
]


@pytest.mark.parametrize(("rule", "decisions", "expected"), QUORUM_TABLE)
def test_the_panel_decides_go_once_the_quorum_votes_favourably(
    rule: ApprovalRule, decisions: tuple[VoteDecision | None, ...], expected: str | None
) -> None:
    assert outcome(rule, ballots(*decisions)) == expected


def test_a_go_rests_on_the_favourable_ballots_in_seat_order() -> None:
    cast = {
        "user:s3": ballot("s3", "go", rationale="fits the strategy"),
        "user:s1": ballot("s1", "go"),
        "user:s2": ballot("s2", "hold", rationale="too early"),
    }

    found = verdict(panel(3, "n_of_m", n=2), cast)

    assert found is not None
    assert found.outcome == "go"
    assert [b.approver for b in found.ballots] == ["s1", "s3"]
    assert found.conditions == ()
    assert found.rationale == "fits the strategy"


def test_a_favourable_quorum_with_a_conditional_go_is_a_conditional_go_with_every_condition() -> (
    None
):
    first, second, third = condition(1), condition(2), condition(3)
    cast = {
        "user:s2": ballot("s2", "conditional_go", conditions=(second, third)),
        "user:s1": ballot("s1", "conditional_go", conditions=(first,)),
        "user:s3": ballot("s3", "go"),
    }

    found = verdict(panel(3, "all"), cast)

    assert found is not None
    assert found.outcome == "conditional_go"
    assert found.conditions == (first, second, third)
    assert [b.approver for b in found.ballots] == ["s1", "s2", "s3"]


def test_one_conditional_go_among_goes_makes_the_outcome_conditional() -> None:
    cast = ballots("go", "go")
    cast["user:s3"] = ballot("s3", "conditional_go", conditions=(condition(9),))

    found = verdict(panel(3, "all"), cast)

    assert found is not None
    assert found.outcome == "conditional_go"
    assert found.conditions == (condition(9),)


def test_ballots_for_seats_the_rule_does_not_have_do_not_count() -> None:
    cast = {
        "user:stranger": Ballot(
            vote_id=number(99),
            seat="user:stranger",
            approver="stranger",
            cast_by="stranger",
            decision="go",
        )
    }

    assert verdict(panel(2, "any"), cast) is None


def test_role_seats_count_like_named_seats() -> None:
    rule = approval(role("finance"), "s1", quorum="all")
    cast = {
        "role:finance": Ballot(
            vote_id=number(1), seat="role:finance", approver="frank", cast_by="frank", decision="go"
        ),
        "user:s1": ballot("s1", "go"),
    }

    found = verdict(rule, cast)

    assert found is not None
    assert [b.approver for b in found.ballots] == ["frank", "s1"]


# --- Kill veto ------------------------------------------------------------------------------


@pytest.mark.parametrize("quorum", ["all", "any", "n_of_m", "majority"])
def test_with_kill_veto_one_kill_ends_the_review_whatever_the_quorum(quorum: Quorum) -> None:
    rule = panel(5, quorum, n=2 if quorum == "n_of_m" else None, kill_veto=True)

    found = verdict(rule, ballots(None, "kill"))

    assert found is not None
    assert found.outcome == "kill"
    assert [b.approver for b in found.ballots] == ["s2"]


def test_with_kill_veto_a_kill_outweighs_a_favourable_quorum() -> None:
    found = verdict(panel(3, "n_of_m", n=2, kill_veto=True), ballots("go", "go", "kill"))

    assert found is not None
    assert found.outcome == "kill"
    assert [b.approver for b in found.ballots] == ["s3"]


def test_with_kill_veto_the_kill_rests_on_every_kill_ballot() -> None:
    found = verdict(panel(4, "majority"), ballots("kill", "go", "kill"))

    assert found is not None
    assert [b.approver for b in found.ballots] == ["s1", "s3"]


def test_without_kill_veto_a_kill_is_one_unfavourable_ballot_among_others() -> None:
    rule = panel(3, "majority", kill_veto=False)

    assert outcome(rule, ballots("kill")) is None
    assert outcome(rule, ballots("kill", "go")) is None
    assert outcome(rule, ballots("kill", "go", "go")) == "go"


def test_without_kill_veto_a_favourable_quorum_wins_over_a_kill() -> None:
    assert outcome(panel(2, "any", kill_veto=False), ballots("kill", "go")) == "go"


# --- Too few seats left ---------------------------------------------------------------------

# (rule, the seats' ballots in order, the outcome). In each the quorum can no longer be met.
UNFAVOURABLE_TABLE = [
    pytest.param(panel(3, "all"), ("go", "hold"), "hold", id="all-one-hold"),
    pytest.param(
        panel(3, "all", kill_veto=False), ("kill",), "kill", id="all-one-kill-without-veto"
    ),
    pytest.param(
        panel(2, "any"), ("recycle", "hold"), "recycle", id="any-tie-goes-to-recycle-over-hold"
    ),
    pytest.param(
        panel(2, "any", kill_veto=False),
        ("hold", "kill"),
        "kill",
        id="any-tie-goes-to-kill-over-hold",
    ),
    pytest.param(
        panel(2, "any", kill_veto=False),
        ("recycle", "kill"),
        "kill",
        id="any-tie-goes-to-kill-over-recycle",
    ),
    pytest.param(panel(5, "n_of_m", n=4), ("hold", "recycle"), "recycle", id="4-of-5-two-against"),
    pytest.param(
        panel(7, "n_of_m", n=5), ("hold", "hold", "recycle"), "hold", id="plurality-beats-severity"
    ),
    pytest.param(
        panel(5, "majority", kill_veto=False),
        ("hold", "recycle", "recycle"),
        "recycle",
        id="majority-plurality-of-recycles",
    ),
    pytest.param(
        panel(5, "majority", kill_veto=False),
        ("go", "kill", "hold", "hold"),
        "hold",
        id="favourable-ballots-do-not-count-for-the-plurality",
    ),
    pytest.param(
        panel(6, "majority", kill_veto=False),
        ("hold", "kill", "hold", "kill"),
        "kill",
        id="two-two-tie-goes-to-kill",
    ),
]


@pytest.mark.parametrize(("rule", "decisions", "expected"), UNFAVOURABLE_TABLE)
def test_when_too_few_seats_are_left_the_most_chosen_unfavourable_decision_wins(
    rule: ApprovalRule, decisions: tuple[VoteDecision, ...], expected: str
) -> None:
    assert outcome(rule, ballots(*decisions)) == expected


def test_an_unfavourable_outcome_rests_on_the_ballots_that_chose_it() -> None:
    found = verdict(panel(7, "n_of_m", n=5), ballots("hold", "go", "recycle", "hold"))

    assert found is not None
    assert found.outcome == "hold"
    assert [b.approver for b in found.ballots] == ["s1", "s4"]
    assert found.conditions == ()


def test_the_review_stays_open_while_the_seats_left_can_still_reach_the_quorum() -> None:
    rule = panel(5, "n_of_m", n=3, kill_veto=False)

    assert outcome(rule, ballots("hold", "recycle")) is None  # 3 seats left for 3 goes
    assert outcome(rule, ballots("hold", "recycle", "go")) is None  # 2 left for 2 more
    assert outcome(rule, ballots("hold", "recycle", "go", "kill")) == "kill"  # tie: 1 each


# --- Who may vote now -----------------------------------------------------------------------


def test_a_parallel_panel_awaits_every_empty_seat_in_seat_order() -> None:
    rule = panel(4, "all")

    assert awaiting(rule, {}) == ["user:s1", "user:s2", "user:s3", "user:s4"]
    assert awaiting(rule, ballots(None, "go", None, "go")) == ["user:s1", "user:s3"]
    assert awaiting(rule, ballots("go", "go", "go", "go")) == []


def test_a_sequential_panel_awaits_only_its_first_empty_seat() -> None:
    rule = panel(3, "all", order="sequential")

    assert awaiting(rule, {}) == ["user:s1"]
    assert awaiting(rule, ballots("go")) == ["user:s2"]
    assert awaiting(rule, ballots("go", "go")) == ["user:s3"]
    assert awaiting(rule, ballots("go", "go", "go")) == []


# --- The rule in words ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        (panel(3, "all"), "all 3 seats, parallel, kill veto"),
        (panel(4, "any", kill_veto=False), "any 1 of 4 seats, parallel"),
        (panel(3, "n_of_m", n=2, order="sequential"), "2 of 3 seats, sequential, kill veto"),
        (panel(5, "majority", kill_veto=False), "a majority (3) of 5 seats, parallel"),
        (
            panel(4, "majority", order="sequential"),
            "a majority (3) of 4 seats, sequential, kill veto",
        ),
    ],
)
def test_describe_says_the_quorum_the_order_and_the_veto(rule: ApprovalRule, words: str) -> None:
    assert describe(rule) == words
