"""A project's gate record: given these events, when this command, then these events.

The rules written down here, each with the refusal that enforces it:

    opening:  the project stands where a review may open; one open review per project; the
              next gate of the template, in order; the gate's required evidence is linked;
              a go or conditional go passes the gate, a kill ends the project's gates
    voting:   the review is open; neither the requester nor the sponsor votes, not even
              through a delegation; only the panel's seats vote (a named user, a holder of
              a role, or a delegate of a named user, directly); one vote per seat, revised
              only with a reason; a sequential panel in order; a rationale for anything but
              go; conditions only, and always, on a conditional go; assessments that fit the
              gate's criteria, every must-meet met for a favourable vote
    outcome:  GateDecided exactly when the quorum rule is satisfied
    after:    conditions met with evidence (late when past their day); an open review
              escalated once past its SLA; an unmet condition breached once past its day
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

import pytest

from gatehouse.errors import Conflict, Forbidden, GatehouseError, NotFound
from gatehouse.events.base import DomainEvent
from gatehouse.events.governance import (
    ConditionBreached,
    ConditionMet,
    CriterionAssessment,
    DelegationScope,
    EvidenceLink,
    EvidenceRequirement,
    GateCondition,
    GateCriterion,
    GateDecided,
    GateDefinition,
    GateOutcome,
    GateReviewEscalated,
    GateReviewOpened,
    GateReviewWithdrawn,
    VoteCast,
    VoteRevised,
)
from governance.domain import (
    REVIEWABLE_STATUSES,
    Command,
    Escalate,
    MarkConditionMet,
    ProjectGates,
    RecordBreach,
    Voter,
    WithdrawReview,
    decide,
)

from .builders import (
    NOW,
    PROJECT_ID,
    REQUESTER,
    REVIEW_ID,
    SPONSOR,
    approval,
    assessed,
    condition,
    delegation,
    gate,
    given,
    invalid_field,
    link,
    number,
    open_review,
    review_opened,
    role,
    run,
    template,
    vote,
    vote_cast,
    voter,
)

SCREENING = gate("screening")
BUSINESS_CASE = gate(
    "business_case",
    evidence=(
        EvidenceRequirement(key="business_case", name="Business case"),
        EvidenceRequirement(key="plan", name="Project plan"),
    ),
    sla_hours=72,
)
DELIVERY = gate("delivery")
TEMPLATE = template(SCREENING, BUSINESS_CASE, DELIVERY)
BOTH_DOCUMENTS = (link("business_case"), link("plan"))
SECOND_REVIEW = number(0xA2)
THIRD_REVIEW = number(0xA3)


def when(state: ProjectGates, command: Command) -> list[DomainEvent]:
    return decide(state, command)


def refused(state: ProjectGates, command: Command) -> GatehouseError:
    with pytest.raises(GatehouseError) as refusal:
        decide(state, command)
    return refusal.value


def refused_rule(state: ProjectGates, command: Command, kind: type[GatehouseError]) -> str:
    """The rule a 409 or 403 names."""
    error = refused(state, command)
    assert type(error) is kind, repr(error)
    return str(error.extensions["rule"])


def refused_field(state: ProjectGates, command: Command) -> str:
    return invalid_field(refused(state, command))


def decided(
    outcome: GateOutcome,
    *,
    reviewed: GateDefinition = SCREENING,
    review_id: UUID = REVIEW_ID,
    conditions: tuple[GateCondition, ...] = (),
) -> GateDecided:
    """How a review of ``reviewed`` closed (details other than the outcome do not matter)."""
    return GateDecided(
        review_id=review_id,
        project_id=PROJECT_ID,
        gate=reviewed.key,
        outcome=outcome,
        conditions=conditions,
    )


def opening(
    review_id: UUID = SECOND_REVIEW,
    *,
    gate_key: str | None = None,
    evidence: tuple[EvidenceLink, ...] = (),
    status: str = "submitted",
    now: datetime = NOW,
) -> Command:
    """Open the project's next review on the three-gate template."""
    return open_review(
        review_id, of=TEMPLATE, gate_key=gate_key, evidence=evidence, status=status, now=now
    )


def gate_opened_by(events: list[DomainEvent]) -> str:
    [event] = events
    assert isinstance(event, GateReviewOpened)
    return event.gate.key


PASSED_SCREENING = (review_opened(SCREENING), decided("go"))
WITHDRAWN = GateReviewWithdrawn(
    review_id=REVIEW_ID,
    project_id=PROJECT_ID,
    gate="screening",
    reason="rework",
    withdrawn_by="pat",
)


# --- Opening a review -----------------------------------------------------------------------


def test_the_first_review_opens_the_first_gate_as_the_template_has_it() -> None:
    evidence = (link(url="https://docs.example/idea"),)

    assert when(given(), open_review(REVIEW_ID, of=TEMPLATE, evidence=evidence)) == [
        GateReviewOpened(
            review_id=REVIEW_ID,
            project_id=PROJECT_ID,
            project_type="standard",
            template_version=1,
            escalation_role="pmo_admin",
            gate=SCREENING,
            evidence=evidence,
            note="",
            opened_by="pat",
            sla_due_at=NOW + timedelta(hours=48),
        )
    ]


@pytest.mark.parametrize("status", sorted(REVIEWABLE_STATUSES))
def test_a_review_opens_from_submission_until_the_project_closes(status: str) -> None:
    assert gate_opened_by(when(given(), opening(status=status))) == "screening"


@pytest.mark.parametrize(
    "status", ["draft", "recycled", "rejected", "withdrawn", "closed", "killed"]
)
def test_a_review_does_not_open_for_a_project_that_is_not_reviewable(status: str) -> None:
    error = refused(given(), opening(status=status))

    assert isinstance(error, Conflict)
    assert error.extensions == {"rule": "project-not-reviewable", "project_status": status}


def test_a_project_has_one_open_review_at_a_time() -> None:
    error = refused(given(review_opened(SCREENING)), opening())

    assert isinstance(error, Conflict)
    assert error.extensions == {"rule": "one-open-review", "open_review_id": str(REVIEW_ID)}


def test_the_next_review_is_of_the_next_gate_in_template_order() -> None:
    state = given(*PASSED_SCREENING)

    assert gate_opened_by(when(state, opening(evidence=BOTH_DOCUMENTS))) == "business_case"
    assert (
        gate_opened_by(when(state, opening(evidence=BOTH_DOCUMENTS, gate_key="business_case")))
        == "business_case"
    )


@pytest.mark.parametrize("wrong", ["screening", "delivery", "no_such_gate"])
def test_a_review_of_any_other_gate_is_refused_naming_the_next_one(wrong: str) -> None:
    error = refused(given(*PASSED_SCREENING), opening(evidence=BOTH_DOCUMENTS, gate_key=wrong))

    assert isinstance(error, Conflict)
    assert error.extensions == {
        "rule": "next-gate",
        "next_gate": "business_case",
        "passed": ["screening"],
    }


def test_no_review_opens_once_every_gate_is_passed() -> None:
    state = given(
        *PASSED_SCREENING,
        review_opened(BUSINESS_CASE, review_id=SECOND_REVIEW),
        decided("conditional_go", reviewed=BUSINESS_CASE, review_id=SECOND_REVIEW),
        review_opened(DELIVERY, review_id=THIRD_REVIEW),
        decided("go", reviewed=DELIVERY, review_id=THIRD_REVIEW),
    )

    error = refused(state, opening(number(0xA4)))

    assert isinstance(error, Conflict)
    assert error.extensions == {
        "rule": "next-gate",
        "passed": ["screening", "business_case", "delivery"],
    }


@pytest.mark.parametrize(
    "given_links",
    [
        pytest.param((), id="none"),
        pytest.param((link("plan"),), id="the-business-case-missing"),
        pytest.param(
            (link("business_case"), link(url="https://docs.example/plan")),
            id="the-plan-only-as-an-extra-link",
        ),
    ],
)
def test_a_review_needs_every_piece_of_evidence_its_gate_requires(
    given_links: tuple[EvidenceLink, ...],
) -> None:
    assert refused_field(given(*PASSED_SCREENING), opening(evidence=given_links)) == "evidence"


def test_evidence_for_an_item_the_gate_does_not_ask_for_is_refused() -> None:
    links = (*BOTH_DOCUMENTS, link("budget"))

    assert refused_field(given(*PASSED_SCREENING), opening(evidence=links)) == "evidence.2.key"


def test_extra_evidence_without_a_key_is_welcome() -> None:
    links = (link(url="https://docs.example/extra"), *BOTH_DOCUMENTS)

    [event] = when(given(*PASSED_SCREENING), opening(evidence=links))

    assert isinstance(event, GateReviewOpened)
    assert event.evidence == links


def test_the_review_is_due_its_gates_sla_hours_after_it_opened() -> None:
    opened_at = datetime.fromisoformat("2027-03-05T16:30:00+00:00")

    [event] = when(given(*PASSED_SCREENING), opening(evidence=BOTH_DOCUMENTS, now=opened_at))

    assert isinstance(event, GateReviewOpened)
    assert event.sla_due_at == datetime.fromisoformat("2027-03-08T16:30:00+00:00")  # 72 hours


def test_the_review_keeps_the_template_version_and_the_gate_it_opened_with() -> None:
    version_3 = template(SCREENING, BUSINESS_CASE, version=3)
    [event] = when(given(), open_review(REVIEW_ID, of=version_3))
    assert isinstance(event, GateReviewOpened)
    assert event.template_version == 3
    # Its votes are counted on the gate it opened with, and the decision names the version.
    state, _ = run(given(event), vote("dave", vote_id=1))

    [_, outcome] = when(state, vote("erin", vote_id=2))

    assert isinstance(outcome, GateDecided)
    assert outcome.template_version == 3


@pytest.mark.parametrize("outcome", ["hold", "recycle"])
def test_after_a_hold_or_recycle_the_same_gate_is_next(outcome: GateOutcome) -> None:
    state = given(review_opened(SCREENING), decided(outcome))

    assert state.passed == ()
    assert gate_opened_by(when(state, opening())) == "screening"


def test_after_a_withdrawal_the_same_gate_is_next() -> None:
    state = given(review_opened(SCREENING), WITHDRAWN)

    assert gate_opened_by(when(state, opening())) == "screening"


@pytest.mark.parametrize("outcome", ["go", "conditional_go"])
def test_a_go_or_conditional_go_passes_the_gate(outcome: GateOutcome) -> None:
    state = given(review_opened(SCREENING), decided(outcome))

    assert state.passed == ("screening",)
    assert gate_opened_by(when(state, opening(evidence=BOTH_DOCUMENTS))) == "business_case"


def test_a_kill_ends_the_projects_gates() -> None:
    state = given(review_opened(SCREENING), decided("kill"))

    assert state.killed
    assert refused_rule(state, opening(status="executing"), Conflict) == "project-not-reviewable"


# --- Who votes ------------------------------------------------------------------------------


def test_a_named_approver_votes_in_their_own_seat() -> None:
    state = given(review_opened())

    assert when(state, vote("dave", rationale="clear case")) == [
        vote_cast("dave", rationale="clear case")
    ]


def test_a_vote_on_an_unknown_review_is_not_found() -> None:
    assert isinstance(refused(given(), vote("dave")), NotFound)


@pytest.mark.parametrize(
    "closing",
    [
        pytest.param(decided("go"), id="decided"),
        pytest.param(WITHDRAWN, id="withdrawn"),
    ],
)
def test_a_closed_review_takes_no_votes(closing: DomainEvent) -> None:
    assert refused_rule(given(review_opened(), closing), vote("dave"), Conflict) == "review-closed"


@pytest.mark.parametrize("person", [REQUESTER, SPONSOR])
def test_neither_requester_nor_sponsor_votes_even_in_a_seat_of_their_own(person: str) -> None:
    state = given(review_opened(gate("screening", approval(person, "dave"))))

    assert refused_rule(state, vote(person), Forbidden) == "segregation-of-duties"


@pytest.mark.parametrize("person", [REQUESTER, SPONSOR])
def test_neither_requester_nor_sponsor_votes_by_role(person: str) -> None:
    state = given(review_opened(gate("screening", approval(role("finance"), "dave"))))

    assert refused_rule(state, vote(voter(person, "finance")), Forbidden) == "segregation-of-duties"


@pytest.mark.parametrize("person", [REQUESTER, SPONSOR])
@pytest.mark.parametrize("naming_the_seat", [True, False])
def test_neither_requester_nor_sponsor_votes_as_someones_delegate(
    person: str, naming_the_seat: bool
) -> None:
    state = given(review_opened())
    delegate = voter(person, delegations=(delegation("dave", person),))
    command = vote(delegate, on_behalf_of="dave" if naming_the_seat else None)

    assert refused_rule(state, command, Forbidden) == "segregation-of-duties"


@pytest.mark.parametrize("naming_the_seat", [True, False])
def test_a_delegate_does_not_vote_in_the_sponsors_seat(naming_the_seat: bool) -> None:
    """Where the sponsor sits on a panel, nobody votes in their place either."""
    state = given(review_opened(gate("screening", approval(SPONSOR, "dave"))))
    delegate = voter("grace", delegations=(delegation(SPONSOR, "grace"),))
    command = vote(delegate, on_behalf_of=SPONSOR if naming_the_seat else None)

    assert refused_rule(state, command, Forbidden) == "segregation-of-duties"


@pytest.mark.parametrize(
    "who",
    [
        pytest.param(voter("zed"), id="a-stranger"),
        pytest.param(voter("zed", "auditor", "pmo_admin"), id="roles-the-panel-lacks"),
        pytest.param(
            voter("zed", delegations=(delegation("frank", "zed"),)),
            id="a-delegate-of-someone-not-on-the-panel",
        ),
    ],
)
def test_only_the_panel_votes(who: Voter) -> None:
    state = given(review_opened(gate("screening", approval("dave", role("finance")))))

    assert refused_rule(state, vote(who), Forbidden) == "approver-rule"


def test_a_holder_of_a_role_votes_in_that_roles_seat_as_themselves() -> None:
    state = given(review_opened(gate("screening", approval("dave", role("finance")))))

    assert when(state, vote(voter("frank", "finance", "staff"))) == [
        vote_cast("frank", seat="role:finance")
    ]


def test_a_holder_of_several_roles_fills_the_first_empty_seat_of_theirs() -> None:
    panel = approval(role("finance"), role("legal"), "dave")
    state, _ = run(
        given(review_opened(gate("screening", panel))), vote(voter("frank", "finance"), vote_id=1)
    )

    [event] = when(state, vote(voter("gina", "finance", "legal"), vote_id=2))

    assert event == vote_cast("gina", vote_id=2, seat="role:legal")


def test_once_the_seats_of_a_role_have_voted_another_holder_may_not() -> None:
    panel = approval(role("finance"), "dave")
    state, _ = run(
        given(review_opened(gate("screening", panel))), vote(voter("frank", "finance"), vote_id=1)
    )

    assert (
        refused_rule(state, vote(voter("gina", "finance"), vote_id=2), Conflict)
        == "one-vote-per-approver"
    )


# --- Delegations ----------------------------------------------------------------------------


def grace_for(
    from_user: str = "dave",
    *,
    scope: DelegationScope | None = None,
    starts_at: datetime = NOW - timedelta(days=1),
    ends_at: datetime = NOW + timedelta(days=7),
) -> Voter:
    """grace, holding a delegation from ``from_user`` (dave by default)."""
    return voter(
        "grace",
        delegations=(
            delegation(from_user, "grace", scope=scope, starts_at=starts_at, ends_at=ends_at),
        ),
    )


@pytest.mark.parametrize("naming_the_seat", [True, False])
def test_a_delegate_votes_in_the_delegators_seat_and_the_vote_records_both(
    naming_the_seat: bool,
) -> None:
    command = vote(grace_for("dave"), on_behalf_of="dave" if naming_the_seat else None)

    assert when(given(review_opened()), command) == [
        vote_cast("dave", cast_by="grace", delegation_id=number(900))
    ]


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param(DelegationScope(project_type="standard"), id="project-type"),
        pytest.param(DelegationScope(gate="screening"), id="gate"),
        pytest.param(DelegationScope(project_id=PROJECT_ID), id="project"),
        pytest.param(
            DelegationScope(project_type="standard", gate="screening", project_id=PROJECT_ID),
            id="all-three",
        ),
    ],
)
def test_a_scoped_delegation_covers_the_reviews_in_its_scope(scope: DelegationScope) -> None:
    [event] = when(given(review_opened()), vote(grace_for(scope=scope)))

    assert isinstance(event, VoteCast)
    assert (event.approver, event.cast_by) == ("dave", "grace")


OUT_OF_SCOPE = [
    pytest.param(DelegationScope(project_type="research"), id="other-project-type"),
    pytest.param(DelegationScope(gate="delivery"), id="other-gate"),
    pytest.param(DelegationScope(project_id=number(0xB0B)), id="other-project"),
    pytest.param(
        DelegationScope(project_type="standard", gate="delivery"), id="one-field-out-of-scope"
    ),
]


@pytest.mark.parametrize("scope", OUT_OF_SCOPE)
def test_a_delegation_scoped_elsewhere_does_not_cover_the_review(scope: DelegationScope) -> None:
    state = given(review_opened())
    delegate = grace_for(scope=scope)

    assert refused_rule(state, vote(delegate), Forbidden) == "approver-rule"
    assert refused_rule(state, vote(delegate, on_behalf_of="dave"), Forbidden) == "delegation"


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "covered"),
    [
        pytest.param(NOW, NOW + timedelta(days=1), True, id="starting-now"),
        pytest.param(
            NOW - timedelta(days=1), NOW + timedelta(seconds=1), True, id="ending-in-a-second"
        ),
        pytest.param(NOW + timedelta(seconds=1), NOW + timedelta(days=1), False, id="not-started"),
        pytest.param(NOW - timedelta(days=1), NOW, False, id="ending-now"),
        pytest.param(NOW - timedelta(days=2), NOW - timedelta(days=1), False, id="ended"),
    ],
)
def test_a_delegation_covers_votes_from_its_start_until_before_its_end(
    starts_at: datetime, ends_at: datetime, covered: bool
) -> None:
    delegate = grace_for(starts_at=starts_at, ends_at=ends_at)
    command = vote(delegate, on_behalf_of="dave")

    if covered:
        [event] = when(given(review_opened()), command)
        assert isinstance(event, VoteCast)
        assert event.cast_by == "grace"
    else:
        assert refused_rule(given(review_opened()), command, Forbidden) == "delegation"


def test_a_delegate_of_several_approvers_says_for_whom_they_vote() -> None:
    state = given(review_opened())
    delegate = voter(
        "grace",
        delegations=(
            delegation("dave", "grace", ident=901),
            delegation("erin", "grace", ident=902),
        ),
    )

    assert refused_field(state, vote(delegate)) == "on_behalf_of"
    assert when(state, vote(delegate, on_behalf_of="erin")) == [
        vote_cast("erin", cast_by="grace", delegation_id=number(902))
    ]


def test_a_delegate_may_not_vote_for_someone_without_a_seat() -> None:
    delegate = voter("grace", delegations=(delegation("frank", "grace"),))

    assert (
        refused_rule(given(review_opened()), vote(delegate, on_behalf_of="frank"), Forbidden)
        == "approver-rule"
    )


def test_a_delegate_may_not_vote_for_someone_who_did_not_delegate_to_them() -> None:
    assert (
        refused_rule(
            given(review_opened()), vote(grace_for("dave"), on_behalf_of="erin"), Forbidden
        )
        == "delegation"
    )


def test_a_delegation_to_someone_else_does_not_let_the_voter_in() -> None:
    """Only delegations to the voter count, whatever else the voter is handed."""
    stray = voter("heidi", delegations=(delegation("dave", "grace"),))

    assert refused_rule(given(review_opened()), vote(stray), Forbidden) == "approver-rule"
    assert (
        refused_rule(given(review_opened()), vote(stray, on_behalf_of="dave"), Forbidden)
        == "delegation"
    )


def test_a_delegate_cannot_pass_on_what_they_were_given() -> None:
    """dave delegates to grace and grace to heidi: heidi may not vote in dave's seat."""
    chain = (delegation("dave", "grace", ident=901), delegation("grace", "heidi", ident=902))
    heidi = voter("heidi", delegations=chain)
    state = given(review_opened())

    assert refused_rule(state, vote(heidi), Forbidden) == "approver-rule"
    assert refused_rule(state, vote(heidi, on_behalf_of="dave"), Forbidden) == "delegation"
    assert refused_rule(state, vote(heidi, on_behalf_of="grace"), Forbidden) == "approver-rule"
    assert when(state, vote(voter("grace", delegations=chain))) == [
        vote_cast("dave", cast_by="grace", delegation_id=number(901))
    ]


def test_an_approver_votes_in_their_own_seat_before_one_delegated_to_them() -> None:
    dave = voter("dave", delegations=(delegation("erin", "dave"),))
    state = given(review_opened())

    assert when(state, vote(dave)) == [vote_cast("dave")]
    assert when(state, vote(dave, on_behalf_of="erin")) == [
        vote_cast("erin", cast_by="dave", delegation_id=number(900))
    ]


# --- One vote per seat, and revisions -------------------------------------------------------

MAJORITY_OF_THREE = gate("screening", approval("dave", "erin", "frank", quorum="majority"))


def test_an_approver_votes_once() -> None:
    state, _ = run(given(review_opened()), vote("dave", vote_id=1))

    error = refused(state, vote("dave", vote_id=2))

    assert isinstance(error, Conflict)
    assert error.extensions == {"rule": "one-vote-per-approver", "vote_id": str(number(1))}


def test_once_a_delegate_voted_for_an_approver_the_approver_has_voted() -> None:
    state, _ = run(given(review_opened()), vote(grace_for("dave"), vote_id=1))

    assert refused_rule(state, vote("dave", vote_id=2), Conflict) == "one-vote-per-approver"


def test_a_vote_is_revised_with_a_reason_and_the_old_vote_stays_in_the_history() -> None:
    revision = vote(
        "dave",
        "recycle",
        vote_id=2,
        rationale="scope unclear",
        revision_reason="the sponsor changed the scope",
    )

    state, history = run(
        given(review_opened(MAJORITY_OF_THREE)), vote("dave", "hold", vote_id=1), revision
    )

    assert history == [
        vote_cast("dave", "hold", vote_id=1),
        VoteRevised(
            review_id=REVIEW_ID,
            project_id=PROJECT_ID,
            vote_id=number(2),
            revises=number(1),
            seat="user:dave",
            approver="dave",
            cast_by="dave",
            decision="recycle",
            rationale="scope unclear",
            reason="the sponsor changed the scope",
        ),
    ]
    review = state.reviews[REVIEW_ID]
    assert review.ballots["user:dave"].vote_id == number(2)  # the revision counts now
    assert review.ballots["user:dave"].decision == "recycle"
    assert review.votes_cast == 2
    assert review.is_open


def test_a_revision_can_bring_the_review_to_its_outcome() -> None:
    state, _ = run(
        given(review_opened(MAJORITY_OF_THREE)),
        vote("dave", "hold", vote_id=1),
        vote("erin", vote_id=2),
    )

    [revised, outcome] = when(
        state, vote("dave", "go", vote_id=3, revision_reason="the risks are now covered")
    )

    assert isinstance(revised, VoteRevised)
    assert isinstance(outcome, GateDecided)
    assert outcome.outcome == "go"
    assert outcome.votes == (number(3), number(2))
    assert outcome.decided_by == ("dave", "erin")


def test_a_revision_can_turn_the_review_against_the_project() -> None:
    panel = approval("dave", "erin", "frank", "gina", quorum="n_of_m", n=3, kill_veto=False)
    state, _ = run(
        given(review_opened(gate("screening", panel))),
        vote("dave", vote_id=1),
        vote("erin", vote_id=2),
        vote("dave", "hold", vote_id=3, revision_reason="new facts"),
    )
    assert state.reviews[REVIEW_ID].is_open  # one go and two seats left: three goes possible

    [_, outcome] = when(state, vote("frank", "kill", vote_id=4))

    assert isinstance(outcome, GateDecided)
    assert outcome.outcome == "kill"  # one hold, one kill: the tie goes to the more severe
    assert outcome.votes == (number(4),)


def test_a_holder_of_a_role_revises_the_vote_they_cast_in_its_seat() -> None:
    panel = approval(role("finance"), role("legal"), "dave", quorum="majority")
    frank = voter("frank", "finance", "legal")
    state, _ = run(given(review_opened(gate("screening", panel))), vote(frank, "hold", vote_id=1))

    [event] = when(state, vote(frank, vote_id=2, revision_reason="budget confirmed"))

    assert isinstance(event, VoteRevised)
    assert (event.seat, event.revises) == ("role:finance", number(1))


def test_a_delegate_revises_the_vote_they_cast_for_an_approver() -> None:
    state, _ = run(
        given(review_opened(MAJORITY_OF_THREE)), vote(grace_for("dave"), "hold", vote_id=1)
    )

    [event] = when(
        state, vote(grace_for("dave"), "recycle", vote_id=2, revision_reason="on reflection")
    )

    assert isinstance(event, VoteRevised)
    assert (event.approver, event.cast_by, event.revises) == ("dave", "grace", number(1))


def test_there_is_nothing_to_revise_before_voting() -> None:
    assert (
        refused_rule(
            given(review_opened()), vote("dave", revision_reason="changed my mind"), Conflict
        )
        == "revise-needs-a-vote"
    )


SEQUENTIAL = gate("screening", approval("dave", "erin", "frank", order="sequential"))


def test_a_sequential_panel_votes_in_seat_order() -> None:
    error = refused(given(review_opened(SEQUENTIAL)), vote("erin"))

    assert isinstance(error, Conflict)
    assert error.extensions == {"rule": "sequential-order", "awaiting": ["user:dave"]}
    state, events = run(
        given(review_opened(SEQUENTIAL)), vote("dave", vote_id=1), vote("erin", vote_id=2)
    )
    assert [e.approver for e in events if isinstance(e, VoteCast)] == ["dave", "erin"]
    assert state.reviews[REVIEW_ID].awaiting == ["user:frank"]


def test_in_a_sequential_panel_an_earlier_seat_may_revise_out_of_turn() -> None:
    state, _ = run(given(review_opened(SEQUENTIAL)), vote("dave", vote_id=1))

    [event] = when(
        state,
        vote("dave", vote_id=2, rationale="with more detail", revision_reason="added my reasons"),
    )

    assert isinstance(event, VoteRevised)


# --- What a vote must say -------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["hold", "recycle", "kill"])
@pytest.mark.parametrize("blank", ["", "   "])
def test_anything_but_a_go_needs_a_rationale(decision: GateOutcome, blank: str) -> None:
    assert (
        refused_field(given(review_opened()), vote("dave", decision, rationale=blank))
        == "rationale"
    )


def test_a_conditional_go_needs_a_rationale_too() -> None:
    command = vote("dave", "conditional_go", rationale=" ", conditions=(condition(),))

    assert refused_field(given(review_opened()), command) == "rationale"


def test_a_go_needs_no_rationale() -> None:
    assert when(given(review_opened()), vote("dave", rationale="")) == [vote_cast("dave")]


def test_a_conditional_go_needs_conditions() -> None:
    assert refused_field(given(review_opened()), vote("dave", "conditional_go")) == "conditions"


def test_a_conditional_go_has_at_most_twenty_conditions() -> None:
    many = tuple(condition(number) for number in range(21))

    assert (
        refused_field(given(review_opened()), vote("dave", "conditional_go", conditions=many))
        == "conditions"
    )


@pytest.mark.parametrize("decision", ["go", "hold", "recycle", "kill"])
def test_only_a_conditional_go_carries_conditions(decision: GateOutcome) -> None:
    command = vote("dave", decision, conditions=(condition(),))

    assert refused_field(given(review_opened()), command) == "conditions"


def test_a_condition_may_be_due_today_but_not_before() -> None:
    today, yesterday = condition(1, due=NOW.date()), condition(2, due=date(2027, 2, 28))
    state = given(review_opened())

    [event] = when(state, vote("dave", "conditional_go", conditions=(today,)))
    assert isinstance(event, VoteCast)
    assert event.conditions == (today,)
    assert (
        refused_field(state, vote("dave", "conditional_go", conditions=(today, yesterday)))
        == "conditions.1.due_date"
    )


CRITERIA = gate(
    "screening",
    approval("dave", "erin", quorum="majority"),
    criteria=(
        GateCriterion(key="legal", name="Legally sound", kind="must_meet"),
        GateCriterion(key="funded", name="Funded", kind="must_meet"),
        GateCriterion(key="fit", name="Strategic fit", kind="should_meet", weight=3),
    ),
)
ALL_MET = (assessed("legal", met=True), assessed("funded", met=True))


def test_a_vote_records_its_assessments() -> None:
    assessments = (*ALL_MET, assessed("fit", score=4))

    [event] = when(given(review_opened(CRITERIA)), vote("dave", assessments=assessments))

    assert event == vote_cast("dave", assessments=assessments)


@pytest.mark.parametrize(
    ("assessments", "field"),
    [
        pytest.param(
            (*ALL_MET, assessed("cost", score=3)),
            "assessments.2.criterion",
            id="unknown-criterion",
        ),
        pytest.param(
            (
                assessed("legal", met=True),
                assessed("funded", met=True),
                assessed("legal", met=True),
            ),
            "assessments.2.criterion",
            id="assessed-twice",
        ),
        pytest.param(
            (assessed("legal"), assessed("funded", met=True)),
            "assessments.0.met",
            id="must-meet-without-met",
        ),
        pytest.param(
            (assessed("legal", met=True, score=5), assessed("funded", met=True)),
            "assessments.0.met",
            id="must-meet-with-a-score",
        ),
        pytest.param(
            (*ALL_MET, assessed("fit")), "assessments.2.score", id="should-meet-without-a-score"
        ),
        pytest.param(
            (*ALL_MET, assessed("fit", met=True, score=3)),
            "assessments.2.score",
            id="should-meet-with-met",
        ),
        pytest.param(
            (assessed("legal", met=True),), "assessments", id="go-with-a-must-meet-unassessed"
        ),
        pytest.param(
            (assessed("legal", met=True), assessed("funded", met=False)),
            "assessments",
            id="go-with-a-must-meet-unmet",
        ),
    ],
)
def test_assessments_must_fit_the_gates_criteria(
    assessments: tuple[CriterionAssessment, ...], field: str
) -> None:
    assert (
        refused_field(given(review_opened(CRITERIA)), vote("dave", assessments=assessments))
        == field
    )


def test_a_conditional_go_also_needs_every_must_meet_met() -> None:
    command = vote(
        "dave",
        "conditional_go",
        conditions=(condition(),),
        assessments=(assessed("legal", met=True),),
    )

    assert refused_field(given(review_opened(CRITERIA)), command) == "assessments"


@pytest.mark.parametrize("decision", ["hold", "recycle", "kill"])
def test_an_unfavourable_vote_may_find_a_must_meet_unmet_or_leave_it(decision: GateOutcome) -> None:
    [event, *_] = when(
        given(review_opened(CRITERIA)),
        vote("dave", decision, assessments=(assessed("legal", met=False),)),
    )

    assert isinstance(event, VoteCast)
    assert event.assessments == (assessed("legal", met=False),)


# --- The outcome ----------------------------------------------------------------------------


def test_the_review_stays_open_until_the_rule_is_satisfied_then_it_is_decided() -> None:
    state, first = run(
        given(review_opened(template_version=2)), vote("dave", rationale="good fit", vote_id=1)
    )
    assert first == [vote_cast("dave", rationale="good fit", vote_id=1)]
    assert state.reviews[REVIEW_ID].is_open

    events = when(state, vote("erin", vote_id=2))

    assert events == [
        vote_cast("erin", vote_id=2),
        GateDecided(
            review_id=REVIEW_ID,
            project_id=PROJECT_ID,
            gate="screening",
            outcome="go",
            template_version=2,
            rationale="good fit",
            decided_by=("dave", "erin"),
            votes=(number(1), number(2)),
            conditions=(),
            rule="all 2 seats, parallel, kill veto",
        ),
    ]
    after, _ = run(state, vote("erin", vote_id=2))
    review = after.reviews[REVIEW_ID]
    assert (review.status, review.outcome, review.decided_by) == ("decided", "go", ("dave", "erin"))
    assert review.awaiting == []


def test_a_conditional_go_decision_carries_every_voters_conditions() -> None:
    contract, hiring = condition(1), condition(2, description="Hire a project manager")
    state, _ = run(
        given(review_opened()), vote("dave", "conditional_go", vote_id=1, conditions=(contract,))
    )

    [_, outcome] = when(state, vote("erin", "conditional_go", vote_id=2, conditions=(hiring,)))

    assert isinstance(outcome, GateDecided)
    assert outcome.outcome == "conditional_go"
    assert outcome.conditions == (contract, hiring)


def test_a_kill_with_veto_decides_at_once_on_the_kill_alone() -> None:
    state, _ = run(given(review_opened(MAJORITY_OF_THREE)), vote("dave", vote_id=1))

    [_, outcome] = when(state, vote("erin", "kill", vote_id=2, rationale="no market"))

    assert outcome == GateDecided(
        review_id=REVIEW_ID,
        project_id=PROJECT_ID,
        gate="screening",
        outcome="kill",
        rationale="no market",
        decided_by=("erin",),
        votes=(number(2),),
        rule="a majority (2) of 3 seats, parallel, kill veto",
    )


def test_an_any_quorum_decides_on_the_first_go() -> None:
    panel = approval("dave", "erin", "frank", quorum="any")
    state, events = run(
        given(review_opened(gate("screening", panel))),
        vote("dave", "hold", vote_id=1),
        vote("erin", "recycle", vote_id=2),
    )
    assert not any(isinstance(e, GateDecided) for e in events)

    [_, outcome] = when(state, vote("frank", vote_id=3))

    assert isinstance(outcome, GateDecided)
    assert (outcome.outcome, outcome.votes) == ("go", (number(3),))


# --- Withdrawing ----------------------------------------------------------------------------


def test_an_open_review_is_withdrawn() -> None:
    command = WithdrawReview(
        review_id=REVIEW_ID, reason="evidence was outdated", withdrawn_by="pat"
    )
    events = when(given(review_opened()), command)

    assert events == [
        GateReviewWithdrawn(
            review_id=REVIEW_ID,
            project_id=PROJECT_ID,
            gate="screening",
            reason="evidence was outdated",
            withdrawn_by="pat",
        )
    ]
    assert given(review_opened(), *events).open_review is None


@pytest.mark.parametrize(
    "closing",
    [
        pytest.param(decided("hold"), id="decided"),
        pytest.param(WITHDRAWN, id="withdrawn"),
    ],
)
def test_a_closed_review_is_not_withdrawn(closing: DomainEvent) -> None:
    command = WithdrawReview(review_id=REVIEW_ID, reason="r", withdrawn_by="pat")

    assert refused_rule(given(review_opened(), closing), command, Conflict) == "review-closed"


def test_withdrawing_an_unknown_review_is_not_found() -> None:
    command = WithdrawReview(review_id=REVIEW_ID, reason="r", withdrawn_by="pat")

    assert isinstance(refused(given(), command), NotFound)


# --- Conditions -----------------------------------------------------------------------------

DUE = date(2027, 4, 30)
CONTRACT = condition(1, due=DUE)
CONDITIONAL = (review_opened(), decided("conditional_go", conditions=(CONTRACT,)))
PROOF = (link(url="https://docs.example/signed-contract"),)


def met(
    at: datetime, *, condition_id: int = 1, evidence: tuple[EvidenceLink, ...] = PROOF
) -> MarkConditionMet:
    return MarkConditionMet(
        review_id=REVIEW_ID,
        condition_id=number(condition_id),
        evidence=evidence,
        note="signed",
        met_by="dave",
        now=at,
    )


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def breached() -> ConditionBreached:
    return ConditionBreached(
        review_id=REVIEW_ID,
        project_id=PROJECT_ID,
        condition_id=CONTRACT.condition_id,
        gate="screening",
        description=CONTRACT.description,
        owner="dave",
        due_date=DUE,
    )


@pytest.mark.parametrize("moment", ["2027-04-01T09:00:00+00:00", "2027-04-30T23:59:59+00:00"])
def test_a_condition_met_by_its_due_day_is_met_on_time(moment: str) -> None:
    assert when(given(*CONDITIONAL), met(at(moment))) == [
        ConditionMet(
            review_id=REVIEW_ID,
            project_id=PROJECT_ID,
            condition_id=number(1),
            evidence=PROOF,
            note="signed",
            met_by="dave",
            late=False,
        )
    ]


def test_a_condition_met_after_its_due_day_is_met_late() -> None:
    [event] = when(given(*CONDITIONAL), met(at("2027-05-01T00:00:00+00:00")))

    assert isinstance(event, ConditionMet)
    assert event.late


def test_a_breached_condition_is_met_late_whenever_it_is_met() -> None:
    [event] = when(given(*CONDITIONAL, breached()), met(at("2027-04-01T09:00:00+00:00")))

    assert isinstance(event, ConditionMet)
    assert event.late


def test_an_unknown_condition_is_not_found() -> None:
    assert isinstance(refused(given(*CONDITIONAL), met(NOW, condition_id=2)), NotFound)
    assert isinstance(refused(given(), met(NOW)), NotFound)


def test_a_condition_is_met_once() -> None:
    state, _ = run(given(*CONDITIONAL), met(NOW))

    assert refused_rule(state, met(NOW), Conflict) == "condition-already-met"


def test_a_condition_is_met_with_evidence() -> None:
    assert refused_field(given(*CONDITIONAL), met(NOW, evidence=())) == "evidence"


# --- Timers ---------------------------------------------------------------------------------

SLA_DUE = NOW + timedelta(hours=48)


def test_an_open_review_is_escalated_once_its_sla_has_run_out() -> None:
    state, _ = run(given(review_opened(MAJORITY_OF_THREE)), vote("erin", vote_id=1))

    assert when(state, Escalate(review_id=REVIEW_ID, now=SLA_DUE - timedelta(seconds=1))) == []
    for moment in (SLA_DUE, SLA_DUE + timedelta(days=3)):
        assert when(state, Escalate(review_id=REVIEW_ID, now=moment)) == [
            GateReviewEscalated(
                review_id=REVIEW_ID,
                project_id=PROJECT_ID,
                gate="screening",
                escalation_role="pmo_admin",
                sla_due_at=SLA_DUE,
                awaiting=("user:dave", "user:frank"),
            )
        ]


def test_a_sequential_review_escalates_naming_the_seat_whose_turn_it_is() -> None:
    state, _ = run(given(review_opened(SEQUENTIAL)), vote("dave", vote_id=1))

    [event] = when(state, Escalate(review_id=REVIEW_ID, now=SLA_DUE))

    assert isinstance(event, GateReviewEscalated)
    assert event.awaiting == ("user:erin",)


def test_a_review_is_escalated_only_once() -> None:
    state, _ = run(given(review_opened()), Escalate(review_id=REVIEW_ID, now=SLA_DUE))

    assert state.reviews[REVIEW_ID].escalated
    assert when(state, Escalate(review_id=REVIEW_ID, now=SLA_DUE + timedelta(days=1))) == []


@pytest.mark.parametrize(
    "closing",
    [
        pytest.param(decided("hold"), id="decided"),
        pytest.param(WITHDRAWN, id="withdrawn"),
    ],
)
def test_a_closed_review_is_not_escalated(closing: DomainEvent) -> None:
    assert when(given(review_opened(), closing), Escalate(review_id=REVIEW_ID, now=SLA_DUE)) == []


def test_escalating_an_unknown_review_does_nothing() -> None:
    assert when(given(), Escalate(review_id=REVIEW_ID, now=SLA_DUE)) == []


def breach_at(moment: str, condition_id: int = 1) -> RecordBreach:
    return RecordBreach(review_id=REVIEW_ID, condition_id=number(condition_id), now=at(moment))


def test_an_unmet_condition_is_breached_after_its_due_day() -> None:
    state = given(*CONDITIONAL)

    assert when(state, breach_at("2027-04-30T23:59:59+00:00")) == []  # the due day itself
    assert when(state, breach_at("2027-05-01T00:00:00+00:00")) == [breached()]


def test_a_condition_is_breached_once() -> None:
    assert when(given(*CONDITIONAL, breached()), breach_at("2027-05-02T00:00:00+00:00")) == []


def test_a_met_condition_is_not_breached() -> None:
    state, _ = run(given(*CONDITIONAL), met(at("2027-04-29T12:00:00+00:00")))

    assert state.reviews[REVIEW_ID].conditions[number(1)].met
    assert when(state, breach_at("2027-05-01T00:00:00+00:00")) == []


def test_a_breach_of_an_unknown_condition_or_review_does_nothing() -> None:
    assert when(given(*CONDITIONAL), breach_at("2027-05-01T00:00:00+00:00", 2)) == []
    assert when(given(), breach_at("2027-05-01T00:00:00+00:00")) == []
