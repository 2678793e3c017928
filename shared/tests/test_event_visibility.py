"""Who may read which events: every event type has its row, the rows say what the policy says,
and docs/SECURITY.md holds the same table."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from uuid import uuid4

import pytest

from gatehouse.auth import Role
from gatehouse.events.base import EventRegistry
from gatehouse.events.governance import (
    DelegationGranted,
    GateDecided,
    VoteCast,
    VoteRevised,
    governance_events,
)
from gatehouse.events.intake import ApiKeyIssued, ProjectSubmitted, intake_events
from gatehouse.events.visibility import (
    AUDIT,
    EVENT_VISIBILITY,
    EVERYONE,
    PANEL,
    Visibility,
    sees_whole,
    visible_data,
    visible_types,
)

REGISTRIES = (intake_events, governance_events)
EVERY_TYPE = {event_type for registry in REGISTRIES for event_type in registry.event_types}
SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "SECURITY.md"
ROLE_SETS = [frozenset({role}) for role in Role] + [EVERYONE]
# The policy, said once more by hand. What only the audit roles read, in any form:
AUDIT_ONLY = {
    "gatehouse.intake.ApiKeyIssued",
    "gatehouse.intake.ApiKeyRevoked",
    "gatehouse.intake.PersonalDataErased",
    "gatehouse.governance.DelegationGranted",
    "gatehouse.governance.DelegationRevoked",
}
# and what the approvers read besides them: the votes.
VOTES = {"gatehouse.governance.VoteCast", "gatehouse.governance.VoteRevised"}


def registry_of(event_type: str) -> EventRegistry:
    return next(registry for registry in REGISTRIES if event_type in registry)


def test_every_event_type_has_a_row() -> None:
    assert set(EVENT_VISIBILITY) == EVERY_TYPE


@pytest.mark.parametrize("event_type", sorted(EVENT_VISIBILITY))
def test_each_row_names_readers_and_only_fields_its_event_has(event_type: str) -> None:
    visibility = EVENT_VISIBILITY[event_type]
    assert visibility.readers()
    assert not visibility.whole & visibility.part
    assert bool(visibility.part) == bool(visibility.fields)
    event_fields = {
        field.name for field in dataclasses.fields(registry_of(event_type).class_for(event_type))
    }
    assert set(visibility.fields) <= event_fields


@pytest.mark.parametrize(
    ("role", "unseen"),
    [
        (Role.PMO_ADMIN, set()),
        (Role.AUDITOR, set()),
        (Role.APPROVER, AUDIT_ONLY),
        (Role.REQUESTER, AUDIT_ONLY | VOTES),
    ],
)
def test_the_audit_roles_read_every_type_approvers_the_votes_too_requesters_neither(
    role: Role, unseen: set[str]
) -> None:
    assert visible_types({role}) == EVERY_TYPE - unseen


@pytest.mark.parametrize("roles", ROLE_SETS)
def test_no_one_reads_the_hash_of_an_api_key_secret(roles: frozenset[Role]) -> None:
    issued = intake_events.serialize(
        ApiKeyIssued(
            key_id="k1",
            name="ERP connector",
            subject="erp",
            roles=("requester",),
            secret_sha256="ab" * 32,
            issued_by="pat",
        )
    )
    shown = visible_data(ApiKeyIssued.event_type, issued, roles)
    if roles & AUDIT:
        assert shown == {name: value for name, value in issued.items() if name != "secret_sha256"}
    else:
        assert shown is None


@pytest.mark.parametrize("roles", ROLE_SETS)
def test_a_decision_reaches_everyone_and_the_votes_it_rests_on_only_who_reads_votes(
    roles: frozenset[Role],
) -> None:
    vote_id = uuid4()
    decided = governance_events.serialize(
        GateDecided(
            review_id=uuid4(),
            project_id=uuid4(),
            gate="G0",
            outcome="hold",
            rationale="The vendor is not chosen yet",
            decided_by=("gina",),
            votes=(vote_id,),
            rule="any of 1 seat",
        )
    )
    shown = visible_data(GateDecided.event_type, decided, roles)
    assert shown is not None
    if roles & PANEL:
        assert shown == decided
    else:
        assert shown == {name: value for name, value in decided.items() if name != "votes"}
        assert str(vote_id) not in str(shown)


def test_a_vote_reaches_the_audit_and_the_approvers_and_an_unknown_type_no_one() -> None:
    for roles in ({Role.AUDITOR}, {Role.APPROVER}, {Role.REQUESTER, Role.APPROVER}):
        assert visible_data(VoteCast.event_type, {"rationale": "r"}, roles) == {"rationale": "r"}
    assert visible_data(VoteCast.event_type, {"rationale": "r"}, {Role.REQUESTER}) is None
    assert visible_data("gatehouse.intake.SomethingNew", {"x": 1}, EVERYONE) is None
    submitted = {"project_id": str(uuid4())}
    assert visible_data(ProjectSubmitted.event_type, submitted, {Role.REQUESTER}) == submitted


@pytest.mark.parametrize("roles", ROLE_SETS)
def test_a_service_asks_whether_roles_read_a_type_whole(roles: frozenset[Role]) -> None:
    """What governance asks before it shows votes, or a delegation not the caller's."""
    for vote in (VoteCast, VoteRevised):
        assert sees_whole(vote.event_type, roles) == bool(roles & PANEL)
    assert sees_whole(DelegationGranted.event_type, roles) == bool(roles & AUDIT)
    assert not sees_whole(GateDecided.event_type, {Role.REQUESTER})  # in part is not whole
    assert not sees_whole(ApiKeyIssued.event_type, roles)  # no one reads it whole
    assert not sees_whole("gatehouse.intake.SomethingNew", roles)


def test_the_security_document_holds_the_same_table() -> None:
    text = SECURITY_DOC.read_text(encoding="utf-8")
    section = text.split("\n## What each role may see\n", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, Visibility] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        names, whole, part, fields, _why = (cell.strip() for cell in line.strip("|").split("|"))
        row = Visibility(
            whole=_roles(whole), part=_roles(part), fields=tuple(re.findall(r"`(\w+)`", fields))
        )
        for name in re.findall(r"`(\w+)`", names):
            assert name not in documented, f"{name} has two rows"
            documented[name] = row
    assert documented == {
        event_type.rsplit(".", 1)[-1]: visibility
        for event_type, visibility in EVENT_VISIBILITY.items()
    }


def _roles(cell: str) -> frozenset[Role]:
    if cell == "everyone":
        return EVERYONE
    if cell == "no one":
        return frozenset()
    return frozenset(Role(name) for name in re.findall(r"`(\w+)`", cell))
