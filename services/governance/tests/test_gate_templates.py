"""Gate templates: each definition is checked, then recorded as the next version.

Every refusal is a 422 naming the field at fault, so that the admin's form can point at it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gatehouse.errors import InvalidInput
from gatehouse.events.base import DomainEvent
from gatehouse.events.governance import (
    ApproverSeat,
    EvidenceRequirement,
    GateCriterion,
    GateDefinition,
    GateTemplateDefined,
    Quorum,
)
from governance.templates import DefineGateTemplate, GateTemplate, define, template_at

from .builders import approval, gate, invalid_field, role

SCREENING = gate("screening")
BUSINESS_CASE = gate(
    "business_case",
    approval("dave", role("finance"), "erin", quorum="n_of_m", n=2),
    criteria=(
        GateCriterion(key="strategic_fit", name="Strategic fit", kind="must_meet"),
        GateCriterion(key="roi", name="Return", kind="should_meet", weight=3),
    ),
    evidence=(EvidenceRequirement(key="business_case", name="Business case"),),
    sla_hours=72,
)
DELIVERY = gate("delivery", approval("frank", quorum="any", order="sequential"), sla_hours=1)


def definition(*gates: GateDefinition, name: str = "Standard gates") -> DefineGateTemplate:
    return DefineGateTemplate(
        project_type="standard",
        name=name,
        description="Three gates",
        escalation_role="portfolio_office",
        gates=gates,
        defined_by="pat",
    )


def refused_field(*gates: GateDefinition) -> str:
    with pytest.raises(InvalidInput) as refusal:
        define(0, definition(*gates))
    return invalid_field(refusal.value)


# --- Defining and versioning ----------------------------------------------------------------


def test_a_first_definition_is_version_1_with_everything_it_was_given() -> None:
    assert define(0, definition(SCREENING, BUSINESS_CASE, DELIVERY)) == [
        GateTemplateDefined(
            project_type="standard",
            version=1,
            name="Standard gates",
            description="Three gates",
            escalation_role="portfolio_office",
            gates=(SCREENING, BUSINESS_CASE, DELIVERY),
            defined_by="pat",
        )
    ]


def test_defining_again_records_the_next_version() -> None:
    [event] = define(4, definition(SCREENING))

    assert isinstance(event, GateTemplateDefined)
    assert event.version == 5


def history_of_two_versions() -> list[DomainEvent]:
    history = define(0, definition(SCREENING, BUSINESS_CASE, name="First"))
    return history + define(1, definition(SCREENING, DELIVERY, name="Second"))


def test_defined_twice_the_template_has_versions_1_and_2_and_the_latest_is_2() -> None:
    history = history_of_two_versions()

    assert [e.version for e in history if isinstance(e, GateTemplateDefined)] == [1, 2]
    assert template_at(history) == GateTemplate(
        project_type="standard",
        version=2,
        name="Second",
        description="Three gates",
        escalation_role="portfolio_office",
        gates=(SCREENING, DELIVERY),
        defined_by="pat",
    )


def test_an_earlier_version_stays_readable_as_it_was() -> None:
    first = template_at(history_of_two_versions(), version=1)

    assert first is not None
    assert first.version == 1
    assert first.name == "First"
    assert first.gates == (SCREENING, BUSINESS_CASE)


def test_a_version_never_defined_is_none_and_so_is_a_template_never_defined() -> None:
    assert template_at(history_of_two_versions(), version=3) is None
    assert template_at([]) is None
    assert template_at([], version=1) is None


def test_a_template_finds_its_gates_by_key() -> None:
    found = template_at(define(0, definition(SCREENING, BUSINESS_CASE)))

    assert found is not None
    assert found.gate("business_case") == BUSINESS_CASE
    assert found.gate("delivery") is None


# --- What a template must be ----------------------------------------------------------------


def test_a_template_needs_at_least_one_gate() -> None:
    assert refused_field() == "gates"


def test_a_template_has_at_most_twenty_gates() -> None:
    gates = [gate(f"g{number}") for number in range(21)]

    assert refused_field(*gates) == "gates"
    assert len(define(0, definition(*gates[:20]))) == 1


def test_gate_keys_are_unique_in_a_template() -> None:
    assert refused_field(SCREENING, BUSINESS_CASE, replace(DELIVERY, key="screening")) == "gates"


def test_criterion_keys_are_unique_in_a_gate() -> None:
    twice = replace(
        BUSINESS_CASE,
        criteria=(
            *BUSINESS_CASE.criteria,
            GateCriterion(key="roi", name="ROI again", kind="must_meet"),
        ),
    )

    assert refused_field(SCREENING, twice) == "gates.1.criteria"


def test_evidence_keys_are_unique_in_a_gate() -> None:
    twice = replace(
        BUSINESS_CASE,
        evidence=(*BUSINESS_CASE.evidence, EvidenceRequirement(key="business_case", name="Again")),
    )

    assert refused_field(twice) == "gates.0.evidence"


def test_a_gate_needs_at_least_one_seat() -> None:
    assert refused_field(SCREENING, gate("empty", approval())) == "gates.1.approval.approvers"


@pytest.mark.parametrize(
    "seat",
    [
        pytest.param(ApproverSeat(user="dave", role="finance"), id="both"),
        pytest.param(ApproverSeat(), id="neither"),
    ],
)
def test_a_seat_names_exactly_one_of_user_or_role(seat: ApproverSeat) -> None:
    refused = refused_field(gate("screening", approval("erin", seat)))
    assert refused == "gates.0.approval.approvers.1"


@pytest.mark.parametrize(
    "seats",
    [
        pytest.param(("dave", "erin", "dave"), id="same-user"),
        pytest.param((role("finance"), "dave", role("finance")), id="same-role"),
    ],
)
def test_a_seat_appears_once_on_a_panel(seats: tuple[ApproverSeat | str, ...]) -> None:
    assert refused_field(gate("screening", approval(*seats))) == "gates.0.approval.approvers"


def test_a_user_and_a_role_of_the_same_name_are_different_seats() -> None:
    assert len(define(0, definition(gate("screening", approval("finance", role("finance")))))) == 1


@pytest.mark.parametrize("n", [None, 0, -1, 4])
def test_n_of_m_needs_n_between_1_and_the_number_of_seats(n: int | None) -> None:
    panel = approval("dave", "erin", "frank", quorum="n_of_m", n=n)

    assert refused_field(SCREENING, gate("vote", panel)) == "gates.1.approval.n"


@pytest.mark.parametrize("n", [1, 3])
def test_n_of_m_accepts_n_from_1_to_the_number_of_seats(n: int) -> None:
    panel = approval("dave", "erin", "frank", quorum="n_of_m", n=n)

    assert len(define(0, definition(gate("vote", panel)))) == 1


@pytest.mark.parametrize("quorum", ["all", "any", "majority"])
def test_n_is_only_for_the_n_of_m_quorum(quorum: Quorum) -> None:
    panel = approval("dave", "erin", quorum=quorum, n=1)

    assert refused_field(gate("vote", panel)) == "gates.0.approval.n"


@pytest.mark.parametrize("hours", [0, -24])
def test_a_gate_allows_its_panel_at_least_an_hour(hours: int) -> None:
    assert refused_field(SCREENING, replace(DELIVERY, sla_hours=hours)) == "gates.1.sla_hours"


def test_the_refusal_says_what_is_wrong() -> None:
    with pytest.raises(InvalidInput) as refusal:
        define(0, definition(SCREENING, replace(BUSINESS_CASE, key="screening")))

    assert refusal.value.status == 422
    assert "'screening' appears twice" in refusal.value.detail
