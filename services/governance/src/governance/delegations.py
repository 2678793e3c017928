"""Delegations: an approver lets someone vote in their place for a while. Plain Python.

A delegate votes in the delegator's seat and the vote records both names. Only a direct
delegation counts: a delegate cannot pass on what they were given (no re-delegation), and
segregation of duties applies to the delegate as to anyone (see ``domain``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from gatehouse.errors import Conflict, InvalidInput
from gatehouse.events.base import DomainEvent
from gatehouse.events.governance import DelegationGranted, DelegationRevoked, DelegationScope

__all__ = [
    "Delegation",
    "GrantDelegation",
    "RevokeDelegation",
    "decide",
    "evolve",
    "replay",
    "stream_id",
]


@dataclass(frozen=True, kw_only=True)
class Delegation:
    delegation_id: UUID
    from_user: str
    to_user: str
    starts_at: datetime
    ends_at: datetime
    scope: DelegationScope
    reason: str
    granted_by: str
    revoked: bool = False
    revoked_by: str | None = None
    revocation_reason: str = ""


@dataclass(frozen=True, kw_only=True)
class GrantDelegation:
    delegation_id: UUID
    from_user: str
    to_user: str
    starts_at: datetime
    ends_at: datetime
    scope: DelegationScope
    reason: str
    granted_by: str
    now: datetime


@dataclass(frozen=True, kw_only=True)
class RevokeDelegation:
    reason: str
    revoked_by: str
    now: datetime


def stream_id(delegation_id: UUID) -> str:
    return f"delegation-{delegation_id}"


def decide(
    state: Delegation | None, command: GrantDelegation | RevokeDelegation
) -> list[DomainEvent]:
    if isinstance(command, GrantDelegation):
        if state is not None:
            raise Conflict(f"delegation {command.delegation_id} exists")
        if command.to_user == command.from_user:
            raise InvalidInput.for_field("to", "a delegation goes to someone else")
        if command.ends_at <= command.starts_at:
            raise InvalidInput.for_field("ends_at", "must be after starts_at")
        if command.ends_at <= command.now:
            raise InvalidInput.for_field("ends_at", "must be in the future")
        return [
            DelegationGranted(
                delegation_id=command.delegation_id,
                from_user=command.from_user,
                to_user=command.to_user,
                starts_at=command.starts_at,
                ends_at=command.ends_at,
                scope=command.scope,
                reason=command.reason,
                granted_by=command.granted_by,
            )
        ]
    assert state is not None
    if state.revoked:
        raise Conflict(
            f"delegation {state.delegation_id} is already revoked", rule="delegation-revoked"
        )
    if state.ends_at <= command.now:
        raise Conflict(
            f"delegation {state.delegation_id} has already ended", rule="delegation-ended"
        )
    return [
        DelegationRevoked(
            delegation_id=state.delegation_id, reason=command.reason, revoked_by=command.revoked_by
        )
    ]


def evolve(state: Delegation | None, event: DomainEvent) -> Delegation | None:
    match event:
        case DelegationGranted():
            return Delegation(
                delegation_id=event.delegation_id,
                from_user=event.from_user,
                to_user=event.to_user,
                starts_at=event.starts_at,
                ends_at=event.ends_at,
                scope=event.scope,
                reason=event.reason,
                granted_by=event.granted_by,
            )
        case DelegationRevoked():
            assert state is not None
            return replace(
                state, revoked=True, revoked_by=event.revoked_by, revocation_reason=event.reason
            )
    return state


def replay(history: Iterable[DomainEvent]) -> Delegation | None:
    state: Delegation | None = None
    for event in history:
        state = evolve(state, event)
    return state
