"""Properties of a gate review under random panels and random votes.

Hypothesis draws an approval rule (1 to 9 seats, named users and roles, every quorum, ``n``,
parallel or sequential, with or without kill veto) and a sequence of votes (any seat, a
stranger, a delegate in a named seat, any decision, revisions), and feeds them through
``decide`` and ``evolve`` on a review opened the real way. A small model written here from
the rule's definition says which votes are accepted and what the panel has decided; then:

(a) a GateDecided follows a vote exactly when the rule is satisfied, with the outcome (and
    the votes it rests on) the rule's definition gives;
(b) once decided, the review accepts no vote from anyone;
(c) every accepted vote appears exactly once in the events, in order;
(d) replaying the events, also after a round trip through the JSON wire format, gives the
    state that was folded step by step.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st

from gatehouse.errors import Conflict, Forbidden, GatehouseError
from gatehouse.events.base import DomainEvent
from gatehouse.events.governance import (
    ApprovalRule,
    GateCondition,
    GateDecided,
    VoteCast,
    VoteDecision,
    VoteRevised,
    governance_events,
)
from governance.domain import CastVote, ProjectGates, Voter, decide, evolve, replay

from .builders import (
    NOW,
    PROJECT_ID,
    REVIEW_ID,
    approval,
    delegation,
    gate,
    number,
    open_review,
    role,
    template,
    user,
    vote,
    voter,
)

DECISIONS: tuple[VoteDecision, ...] = ("go", "conditional_go", "hold", "recycle", "kill")
FAVOURABLE = {"go", "conditional_go"}
MOST_SEVERE_FIRST = ("kill", "recycle", "hold")


# --- What is drawn --------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One vote: by the holder of seat ``seat`` (a stranger when it is past the last seat)."""

    seat: int
    decision: VoteDecision
    revise: bool
    by_delegate: bool


@st.composite
def rules(draw: st.DrawFn) -> ApprovalRule:
    seats = draw(st.integers(min_value=1, max_value=9))
    quorum = draw(st.sampled_from(["all", "any", "n_of_m", "majority"]))
    return approval(
        *(role(f"r{i}") if draw(st.booleans()) else user(f"a{i}") for i in range(seats)),
        quorum=quorum,
        n=draw(st.integers(min_value=1, max_value=seats)) if quorum == "n_of_m" else None,
        order=draw(st.sampled_from(["parallel", "sequential"])),
        kill_veto=draw(st.booleans()),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[ApprovalRule, list[Step]]:
    rule = draw(rules())
    seats = len(rule.seats)
    steps = st.builds(
        Step,
        # Mostly the panel; now and then a stranger (one past the last seat).
        seat=st.integers(0, 4 * seats).map(lambda n: n % seats if n < 4 * seats else seats),
        decision=st.sampled_from(DECISIONS),
        revise=st.integers(0, 3).map(lambda n: n == 0),
        by_delegate=st.booleans(),
    )
    return rule, draw(st.lists(steps, max_size=4 * seats + 4))


# --- Who votes how --------------------------------------------------------------------------


def voter_for(rule: ApprovalRule, step: Step) -> Voter:
    """Seat i's voter: ``a<i>`` in a named seat (or ``d<i>``, their delegate), ``h<i>``
    holding role ``r<i>`` for a role seat, and ``zed`` for a stranger."""
    if step.seat >= len(rule.seats):
        return voter("zed", "staff")
    seat = rule.seats[step.seat]
    if seat.role is not None:
        return voter(f"h{step.seat}", seat.role)
    if step.by_delegate:
        return voter(
            f"d{step.seat}",
            delegations=(delegation(f"a{step.seat}", f"d{step.seat}", ident=700 + step.seat),),
        )
    return voter(f"a{step.seat}")


def approver_of(rule: ApprovalRule, seat: int) -> str:
    named = rule.seats[seat].user
    return named if named is not None else f"h{seat}"


def command_for(rule: ApprovalRule, step: Step, index: int) -> CastVote:
    conditions: tuple[GateCondition, ...] = ()
    if step.decision == "conditional_go":
        conditions = (
            GateCondition(
                condition_id=number(10_000 + index),
                description=f"condition of vote {index}",
                owner="pat",
                due_date=NOW.date() + timedelta(days=30),
            ),
        )
    return vote(
        voter_for(rule, step),
        step.decision,
        vote_id=index + 1,
        rationale=f"reason {index}",
        conditions=conditions,
        revision_reason="changed my mind" if step.revise else None,
    )


# --- The model: the rule as its definition states it ----------------------------------------


@dataclass
class Model:
    """Each seat's current vote (id, decision, conditions) and the outcome once decided."""

    rule: ApprovalRule
    ballots: dict[int, tuple[UUID, VoteDecision, tuple[GateCondition, ...]]] = field(
        default_factory=dict
    )
    decided: bool = False

    def refusal(self, step: Step) -> tuple[type[GatehouseError], str] | None:
        """Why the vote must be refused, or None when it must be accepted."""
        if self.decided:
            return Conflict, "review-closed"
        if step.seat >= len(self.rule.seats):
            return Forbidden, "approver-rule"
        if step.revise and step.seat not in self.ballots:
            return Conflict, "revise-needs-a-vote"
        if not step.revise and step.seat in self.ballots:
            return Conflict, "one-vote-per-approver"
        if not step.revise and self.rule.order == "sequential":
            first_empty = min(i for i in range(len(self.rule.seats)) if i not in self.ballots)
            if step.seat != first_empty:
                return Conflict, "sequential-order"
        return None

    def needed(self) -> int:
        seats = len(self.rule.seats)
        match self.rule.quorum:
            case "all":
                return seats
            case "any":
                return 1
            case "n_of_m":
                assert self.rule.n is not None
                return self.rule.n
            case "majority":  # more than half the seats
                return next(k for k in range(seats + 1) if 2 * k > seats)
        raise AssertionError(self.rule.quorum)

    def outcome(self) -> tuple[str, list[int]] | None:
        """The outcome and the seats whose votes it rests on, or None while still open."""
        decisions = {seat: self.ballots[seat][1] for seat in sorted(self.ballots)}
        kills = [seat for seat, decision in decisions.items() if decision == "kill"]
        if self.rule.kill_veto and kills:
            return "kill", kills
        favourable = [seat for seat, decision in decisions.items() if decision in FAVOURABLE]
        if len(favourable) >= self.needed():
            conditional = any(decisions[seat] == "conditional_go" for seat in favourable)
            return ("conditional_go" if conditional else "go"), favourable
        empty = len(self.rule.seats) - len(decisions)
        if len(favourable) + empty >= self.needed():
            return None
        counts = Counter(d for d in decisions.values() if d not in FAVOURABLE)
        most = max(counts.values())
        chosen = next(d for d in MOST_SEVERE_FIRST if counts[d] == most)
        return chosen, [seat for seat, decision in decisions.items() if decision == chosen]


# --- Running it -----------------------------------------------------------------------------


def opened(rule: ApprovalRule) -> tuple[ProjectGates, list[DomainEvent]]:
    state = ProjectGates(project_id=PROJECT_ID)
    events = decide(state, open_review(REVIEW_ID, of=template(gate("screening", rule))))
    for event in events:
        state = evolve(state, event)
    return state, list(events)


def refuse(state: ProjectGates, command: CastVote) -> GatehouseError:
    with pytest.raises(GatehouseError) as refusal:
        decide(state, command)
    return refusal.value


def through_json(event: DomainEvent) -> DomainEvent:
    wire = json.loads(json.dumps(governance_events.serialize(event)))
    return governance_events.deserialize(event.event_type, wire)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_a_review_decides_exactly_as_its_rule_says_and_replays_to_the_same_state(
    scenario: tuple[ApprovalRule, list[Step]],
) -> None:
    rule, steps = scenario
    state, events = opened(rule)
    model = Model(rule=rule)
    accepted: list[UUID] = []

    for index, step in enumerate(steps):
        command = command_for(rule, step, index)
        expected_refusal = model.refusal(step)
        if expected_refusal is not None:
            error = refuse(state, command)
            kind, rule_name = expected_refusal
            assert (type(error), error.extensions.get("rule")) == (kind, rule_name), error
            continue

        emitted = decide(state, command)
        for event in emitted:
            state = evolve(state, event)
        events += emitted
        accepted.append(command.vote_id)

        recorded = emitted[0]
        assert isinstance(recorded, VoteRevised if step.revise else VoteCast)
        assert (recorded.vote_id, recorded.decision) == (command.vote_id, step.decision)
        assert recorded.approver == approver_of(rule, step.seat)
        assert recorded.cast_by == command.voter.subject
        delegated = recorded.cast_by != recorded.approver
        assert recorded.delegation_id == (number(700 + step.seat) if delegated else None)
        if isinstance(recorded, VoteRevised):
            assert recorded.revises == model.ballots[step.seat][0]
        model.ballots[step.seat] = (command.vote_id, step.decision, command.conditions)

        # (a) a decision exactly when the rule is satisfied, and the one it gives
        expected = model.outcome()
        if expected is None:
            assert emitted == [recorded]
            assert state.reviews[REVIEW_ID].is_open
            continue
        outcome, seats = expected
        [_, decision] = emitted
        assert isinstance(decision, GateDecided)
        assert decision.outcome == outcome
        assert decision.votes == tuple(model.ballots[seat][0] for seat in seats)
        assert decision.decided_by == tuple(approver_of(rule, seat) for seat in seats)
        assert decision.conditions == (
            tuple(c for seat in seats for c in model.ballots[seat][2])
            if outcome in FAVOURABLE
            else ()
        )
        model.decided = True
        tally(f"decided {outcome}" + (" after a revision" if step.revise else ""))

    if not model.decided:
        tally("still open")
    # (b) once decided, nobody's vote is accepted, new or revised
    if model.decided:
        assert state.reviews[REVIEW_ID].status == "decided"
        for seat in range(len(rule.seats)):
            for revise in (False, True):
                late = command_for(rule, Step(seat, "go", revise, False), len(steps))
                error = refuse(state, late)
                assert (type(error), error.extensions.get("rule")) == (Conflict, "review-closed")
    assert sum(isinstance(event, GateDecided) for event in events) == int(model.decided)

    # (c) each accepted vote exactly once, in order
    recorded_ids = [e.vote_id for e in events if isinstance(e, VoteCast | VoteRevised)]
    assert recorded_ids == accepted
    assert len(set(recorded_ids)) == len(recorded_ids)

    # (d) replay, directly and through the wire format
    assert replay(PROJECT_ID, events) == state
    wired = [through_json(event) for event in events]
    assert wired == events
    assert replay(PROJECT_ID, wired) == state
