"""When has a gate's panel decided, and what? Plain Python, no framework.

A panel is the ordered seats of an :class:`ApprovalRule`. Each seat holds at most one current
ballot. The rule needs ``need`` favourable ballots (go or conditional go):

- ``all``: every seat; ``any``: one; ``n_of_m``: ``n``; ``majority``: more than half the seats.

The verdict, checked after every ballot:

1. With ``kill_veto``, a kill from any seat ends the review as a kill.
2. ``need`` favourable ballots: go, or conditional go when any of them is conditional (the
   conditions of all of them apply).
3. Too few seats left to reach ``need``: the panel has said no. The outcome is the decision
   most of the unfavourable ballots chose; a tie goes to the more severe (kill, then recycle,
   then hold).
4. Otherwise the review stays open.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from gatehouse.events.governance import ApprovalRule, GateCondition, GateOutcome, VoteDecision

__all__ = [
    "FAVOURABLE",
    "SEVERITY",
    "Ballot",
    "Verdict",
    "awaiting",
    "describe",
    "needed",
    "verdict",
]

FAVOURABLE: frozenset[VoteDecision] = frozenset({"go", "conditional_go"})
# Most severe first: breaks ties between unfavourable decisions.
SEVERITY: tuple[VoteDecision, ...] = ("kill", "recycle", "hold")


@dataclass(frozen=True, kw_only=True)
class Ballot:
    """A seat's current vote."""

    vote_id: UUID
    seat: str
    approver: str
    cast_by: str
    decision: VoteDecision
    rationale: str = ""
    conditions: tuple[GateCondition, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Verdict:
    outcome: GateOutcome
    ballots: tuple[Ballot, ...]
    conditions: tuple[GateCondition, ...] = ()

    @property
    def rationale(self) -> str:
        """The ballots' rationales in seat order. It names no one: who gave each is in the
        decision's ``votes`` and ``decided_by``, where people are sealed (free text is not)."""
        return "; ".join(b.rationale for b in self.ballots if b.rationale)


def needed(rule: ApprovalRule) -> int:
    """How many favourable ballots the rule needs."""
    seats = len(rule.seats)
    match rule.quorum:
        case "all":
            return seats
        case "any":
            return 1
        case "n_of_m":
            assert rule.n is not None
            return rule.n
        case "majority":
            return seats // 2 + 1
    raise AssertionError(rule.quorum)


def verdict(rule: ApprovalRule, ballots: Mapping[str, Ballot]) -> Verdict | None:
    """The panel's outcome given each seat's current ballot, or None while it is open."""
    ordered = [ballots[seat.label] for seat in rule.seats if seat.label in ballots]
    if rule.kill_veto:
        kills = tuple(b for b in ordered if b.decision == "kill")
        if kills:
            return Verdict(outcome="kill", ballots=kills)
    favourable = tuple(b for b in ordered if b.decision in FAVOURABLE)
    need = needed(rule)
    if len(favourable) >= need:
        conditional = any(b.decision == "conditional_go" for b in favourable)
        return Verdict(
            outcome="conditional_go" if conditional else "go",
            ballots=favourable,
            conditions=tuple(c for b in favourable for c in b.conditions),
        )
    pending = len(rule.seats) - len(ordered)
    if len(favourable) + pending >= need:
        return None
    against = [b for b in ordered if b.decision not in FAVOURABLE]
    counts = Counter(b.decision for b in against)
    outcome = max(counts, key=lambda decision: (counts[decision], -SEVERITY.index(decision)))
    return Verdict(outcome=outcome, ballots=tuple(b for b in against if b.decision == outcome))


def awaiting(rule: ApprovalRule, ballots: Mapping[str, Ballot]) -> list[str]:
    """The seats that may vote now: every empty seat, or in a sequential panel the first."""
    empty = [seat.label for seat in rule.seats if seat.label not in ballots]
    if rule.order == "sequential":
        return empty[:1]
    return empty


def describe(rule: ApprovalRule) -> str:
    """The rule in words, for decisions and reviews: "2 of 3 seats, sequential, kill veto"."""
    seats = len(rule.seats)
    match rule.quorum:
        case "all":
            count = f"all {seats} seats"
        case "any":
            count = f"any 1 of {seats} seats"
        case "n_of_m":
            count = f"{rule.n} of {seats} seats"
        case _:
            count = f"a majority ({needed(rule)}) of {seats} seats"
    parts = [count, rule.order]
    if rule.kill_veto:
        parts.append("kill veto")
    return ", ".join(parts)
