"""Delegations: given these events, when this command, then these events."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from gatehouse.errors import Conflict, InvalidInput
from gatehouse.events.base import DomainEvent
from gatehouse.events.governance import DelegationGranted, DelegationRevoked, DelegationScope
from governance.delegations import (
    Delegation,
    GrantDelegation,
    RevokeDelegation,
    decide,
    replay,
    stream_id,
)

from .builders import NOW, PROJECT_ID, invalid_field, number

DELEGATION_ID = number(0xD1)
STARTS = NOW + timedelta(days=1)
ENDS = NOW + timedelta(days=15)
SCOPE = DelegationScope(project_type="standard", gate="screening", project_id=PROJECT_ID)


def grant(
    *,
    from_user: str = "dave",
    to_user: str = "grace",
    starts_at: datetime = STARTS,
    ends_at: datetime = ENDS,
    now: datetime = NOW,
) -> GrantDelegation:
    return GrantDelegation(
        delegation_id=DELEGATION_ID,
        from_user=from_user,
        to_user=to_user,
        starts_at=starts_at,
        ends_at=ends_at,
        scope=SCOPE,
        reason="on leave",
        granted_by="dave",
        now=now,
    )


GRANTED = DelegationGranted(
    delegation_id=DELEGATION_ID,
    from_user="dave",
    to_user="grace",
    starts_at=STARTS,
    ends_at=ENDS,
    scope=SCOPE,
    reason="on leave",
    granted_by="dave",
)
REVOKED = DelegationRevoked(delegation_id=DELEGATION_ID, reason="back early", revoked_by="pat")


def revoke(now: datetime = NOW) -> RevokeDelegation:
    return RevokeDelegation(reason="back early", revoked_by="pat", now=now)


def refused_field(command: GrantDelegation) -> str:
    with pytest.raises(InvalidInput) as refusal:
        decide(None, command)
    return invalid_field(refusal.value)


# --- Granting -------------------------------------------------------------------------------


def test_a_delegation_is_granted_with_its_window_and_scope() -> None:
    assert decide(None, grant()) == [GRANTED]


def test_a_delegation_may_start_in_the_past_while_it_has_not_ended() -> None:
    [event] = decide(None, grant(starts_at=NOW - timedelta(days=3)))

    assert isinstance(event, DelegationGranted)
    assert event.starts_at == NOW - timedelta(days=3)


def test_nobody_delegates_to_themselves() -> None:
    assert refused_field(grant(from_user="dave", to_user="dave")) == "to"


@pytest.mark.parametrize("ends_at", [STARTS, STARTS - timedelta(seconds=1)])
def test_a_delegation_ends_after_it_starts(ends_at: datetime) -> None:
    assert refused_field(grant(ends_at=ends_at)) == "ends_at"


@pytest.mark.parametrize("ends_at", [NOW, NOW - timedelta(days=1)])
def test_a_delegation_that_has_already_ended_is_refused(ends_at: datetime) -> None:
    command = grant(starts_at=NOW - timedelta(days=5), ends_at=ends_at)

    assert refused_field(command) == "ends_at"


def test_a_delegation_is_granted_once() -> None:
    with pytest.raises(Conflict):
        decide(replay([GRANTED]), grant())


# --- Revoking -------------------------------------------------------------------------------


def test_a_delegation_is_revoked_before_it_starts_or_while_it_runs() -> None:
    assert decide(replay([GRANTED]), revoke()) == [REVOKED]
    assert decide(replay([GRANTED]), revoke(ENDS - timedelta(seconds=1))) == [REVOKED]


def test_a_delegation_is_revoked_once() -> None:
    with pytest.raises(Conflict) as refusal:
        decide(replay([GRANTED, REVOKED]), revoke())

    assert refusal.value.extensions["rule"] == "delegation-revoked"


@pytest.mark.parametrize("now", [ENDS, ENDS + timedelta(days=1)])
def test_a_delegation_that_has_ended_is_not_revoked(now: datetime) -> None:
    with pytest.raises(Conflict) as refusal:
        decide(replay([GRANTED]), revoke(now))

    assert refusal.value.extensions["rule"] == "delegation-ended"


# --- Replaying ------------------------------------------------------------------------------


def test_a_granted_delegation_replays_to_its_terms() -> None:
    assert replay([GRANTED]) == Delegation(
        delegation_id=DELEGATION_ID,
        from_user="dave",
        to_user="grace",
        starts_at=STARTS,
        ends_at=ENDS,
        scope=SCOPE,
        reason="on leave",
        granted_by="dave",
    )


def test_a_revoked_delegation_replays_as_revoked_by_whom_and_why() -> None:
    delegation = replay([GRANTED, REVOKED])

    assert delegation is not None
    assert (delegation.revoked, delegation.revoked_by, delegation.revocation_reason) == (
        True,
        "pat",
        "back early",
    )
    assert delegation.ends_at == ENDS


def test_no_events_replay_to_no_delegation() -> None:
    history: list[DomainEvent] = []

    assert replay(history) is None


def test_each_delegation_has_a_stream_of_its_own() -> None:
    assert stream_id(DELEGATION_ID) == f"delegation-{DELEGATION_ID}"
