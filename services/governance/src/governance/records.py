"""Keeps governance's read models in step with its events, in the command's own transaction.

Each appended event updates the rows it concerns: a review's row and the seats it awaits, the
conditions of a conditional go, a delegation. The event store stays the record; these rows are
what inboxes, listings and the timers query.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.events.base import DomainEvent
from gatehouse.events.envelope import EventEnvelope
from gatehouse.events.governance import (
    ConditionBreached,
    ConditionMet,
    DelegationGranted,
    DelegationRevoked,
    GateDecided,
    GateReviewEscalated,
    GateReviewOpened,
    GateReviewWithdrawn,
    VoteCast,
    VoteRevised,
)
from gatehouse.identity import load_pseudonyms
from governance.domain import ProjectGates
from governance.tables import (
    delegations,
    gate_conditions,
    gate_reviews,
    review_awaiting,
    review_seats,
)

__all__ = ["erase_awaited_seat", "record_delegation_events", "record_gate_events"]

_REVIEW_EVENTS = (
    GateReviewOpened,
    VoteCast,
    VoteRevised,
    GateDecided,
    GateReviewWithdrawn,
    GateReviewEscalated,
    ConditionMet,
    ConditionBreached,
)


async def record_gate_events(
    connection: AsyncConnection,
    state: ProjectGates,
    appended: list[tuple[DomainEvent, EventEnvelope]],
) -> None:
    """Apply the events just appended to a project's gate record; ``state`` is after them."""
    for event, envelope in appended:
        at = envelope.time
        match event:
            case GateReviewOpened():
                await connection.execute(
                    insert(gate_reviews).values(
                        review_id=event.review_id,
                        project_id=event.project_id,
                        project_type=event.project_type,
                        gate=event.gate.key,
                        gate_name=event.gate.name,
                        template_version=event.template_version,
                        status="open",
                        opened_by=event.opened_by,
                        opened_at=at,
                        opened_position=envelope.position,
                        sla_due_at=event.sla_due_at,
                        updated_at=at,
                    )
                )
                pseudonyms = await load_pseudonyms(connection)
                await connection.execute(
                    insert(review_seats),
                    [
                        {
                            "review_id": event.review_id,
                            "position": position,
                            "holder_pseudonym": None
                            if seat.user is None
                            else pseudonyms.of(seat.user),
                            "caster_pseudonym": None,
                        }
                        for position, seat in enumerate(event.gate.approval.seats)
                    ],
                )
            case VoteCast() | VoteRevised():
                await _touch(connection, event.review_id, at)
                seats = state.reviews[event.review_id].gate.approval.seats
                position = next(i for i, seat in enumerate(seats) if seat.label == event.seat)
                pseudonyms = await load_pseudonyms(connection)
                await connection.execute(
                    update(review_seats)
                    .where(
                        review_seats.c.review_id == event.review_id,
                        review_seats.c.position == position,
                    )
                    .values(caster_pseudonym=pseudonyms.of(event.cast_by))
                )
            case GateDecided():
                await _close(
                    connection, event.review_id, at, status="decided", outcome=event.outcome
                )
                if event.conditions:
                    await connection.execute(
                        insert(gate_conditions),
                        [
                            {
                                "condition_id": c.condition_id,
                                "review_id": event.review_id,
                                "project_id": event.project_id,
                                "gate": event.gate,
                                "owner": c.owner,
                                "due_date": c.due_date,
                                "status": "open",
                            }
                            for c in event.conditions
                        ],
                    )
            case GateReviewWithdrawn():
                await _close(connection, event.review_id, at, status="withdrawn", outcome=None)
            case GateReviewEscalated():
                await connection.execute(
                    update(gate_reviews)
                    .where(gate_reviews.c.review_id == event.review_id)
                    .values(escalated_at=at, updated_at=at)
                )
            case ConditionMet():
                await connection.execute(
                    update(gate_conditions)
                    .where(gate_conditions.c.condition_id == event.condition_id)
                    .values(status="met", met_at=at)
                )
            case ConditionBreached():
                await connection.execute(
                    update(gate_conditions)
                    .where(gate_conditions.c.condition_id == event.condition_id)
                    .values(status="breached", breached_at=at)
                )
    for review_id in {
        event.review_id for event, _ in appended if isinstance(event, _REVIEW_EVENTS)
    }:
        review = state.reviews[review_id]
        await connection.execute(
            delete(review_awaiting).where(review_awaiting.c.review_id == review.review_id)
        )
        if review.awaiting:
            await connection.execute(
                insert(review_awaiting),
                [{"review_id": review.review_id, "seat": seat} for seat in review.awaiting],
            )


async def record_delegation_events(
    connection: AsyncConnection, appended: list[tuple[DomainEvent, EventEnvelope]]
) -> None:
    for event, envelope in appended:
        match event:
            case DelegationGranted():
                await connection.execute(
                    insert(delegations).values(
                        delegation_id=event.delegation_id,
                        from_user=event.from_user,
                        to_user=event.to_user,
                        starts_at=event.starts_at,
                        ends_at=event.ends_at,
                        scope_project_type=event.scope.project_type,
                        scope_gate=event.scope.gate,
                        scope_project_id=event.scope.project_id,
                        granted_at=envelope.time,
                        version=envelope.stream_version,
                    )
                )
            case DelegationRevoked():
                await connection.execute(
                    update(delegations)
                    .where(delegations.c.delegation_id == event.delegation_id)
                    .values(revoked_at=envelope.time, version=envelope.stream_version)
                )


async def _touch(connection: AsyncConnection, review_id: object, at: datetime) -> None:
    await connection.execute(
        update(gate_reviews).where(gate_reviews.c.review_id == review_id).values(updated_at=at)
    )


async def _close(
    connection: AsyncConnection,
    review_id: object,
    at: datetime,
    *,
    status: str,
    outcome: str | None,
) -> None:
    await connection.execute(
        update(gate_reviews)
        .where(gate_reviews.c.review_id == review_id)
        .values(status=status, outcome=outcome, closed_at=at, updated_at=at)
    )


async def erase_awaited_seat(connection: AsyncConnection, seat: str, erased: str) -> None:
    """Reviews awaiting ``seat`` await ``erased`` instead (once per review: a review awaiting
    two forgotten people awaits one erased seat)."""
    already = select(review_awaiting.c.review_id).where(review_awaiting.c.seat == erased)
    await connection.execute(
        delete(review_awaiting).where(
            review_awaiting.c.seat == seat, review_awaiting.c.review_id.in_(already)
        )
    )
    await connection.execute(
        update(review_awaiting).where(review_awaiting.c.seat == seat).values(seat=erased)
    )
