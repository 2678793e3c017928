"""Queries over governance's read models: known projects, reviews, inboxes, delegations, timers."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.errors import InvalidInput
from gatehouse.events.governance import DelegationScope
from governance.domain import ActiveDelegation, ProjectFacts, SeatPeople
from governance.tables import (
    delegations,
    gate_conditions,
    gate_reviews,
    known_projects,
    review_awaiting,
    review_seats,
)

__all__ = [
    "KnownProject",
    "ReviewFilter",
    "ReviewPage",
    "active_delegations_to",
    "awaiting_seats_of",
    "conditions_past_due",
    "cursor_after",
    "known_project",
    "list_delegations",
    "list_reviews",
    "project_facts",
    "projects_facts",
    "review_project",
    "reviews_past_sla",
    "seat_people",
]


@dataclass(frozen=True)
class KnownProject:
    id: UUID
    title: str
    sponsor: str
    requested_by: str
    business_unit: str
    project_type: str
    status: str


async def known_project(connection: AsyncConnection, project_id: UUID) -> KnownProject | None:
    row = (
        await connection.execute(
            select(known_projects).where(known_projects.c.project_id == project_id)
        )
    ).first()
    if row is None:
        return None
    return KnownProject(
        id=row.project_id,
        title=row.title,
        sponsor=row.sponsor,
        requested_by=row.requested_by,
        business_unit=row.business_unit,
        project_type=row.project_type,
        status=row.status,
    )


async def project_facts(connection: AsyncConnection, project_id: UUID) -> ProjectFacts | None:
    return (await projects_facts(connection, {project_id})).get(project_id)


async def seat_people(connection: AsyncConnection, review_id: UUID) -> dict[int, SeatPeople]:
    """Who holds each seat of the review and who cast its ballot, by position, as pseudonyms
    (none for a review opened before governance kept them)."""
    rows = await connection.execute(
        select(review_seats).where(review_seats.c.review_id == review_id)
    )
    return {
        row.position: SeatPeople(holder=row.holder_pseudonym, caster=row.caster_pseudonym)
        for row in rows
    }


async def review_project(connection: AsyncConnection, review_id: UUID) -> UUID | None:
    """The project a review belongs to (its gate record holds the review itself)."""
    return (
        await connection.execute(
            select(gate_reviews.c.project_id).where(gate_reviews.c.review_id == review_id)
        )
    ).scalar_one_or_none()


# --- Reviews and inboxes ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewFilter:
    status: Sequence[str] = ()
    project_id: UUID | None = None
    gate: str | None = None
    # The inbox: reviews awaiting one of these seats now ("user:gina", "role:finance").
    awaiting_seats: Sequence[str] | None = None


@dataclass(frozen=True)
class ReviewPage:
    rows: list[Row[Any]]
    next_cursor: str | None


async def list_reviews(
    connection: AsyncConnection, where: ReviewFilter, *, cursor: str | None, limit: int
) -> ReviewPage:
    """Reviews, oldest opened first, a page at a time (keyset on the opening's position)."""
    query = select(gate_reviews)
    if where.status:
        query = query.where(gate_reviews.c.status.in_(where.status))
    if where.project_id is not None:
        query = query.where(gate_reviews.c.project_id == where.project_id)
    if where.gate is not None:
        query = query.where(gate_reviews.c.gate == where.gate)
    if where.awaiting_seats is not None:
        query = query.where(
            exists().where(
                review_awaiting.c.review_id == gate_reviews.c.review_id,
                review_awaiting.c.seat.in_(list(where.awaiting_seats)),
            )
        )
    if cursor is not None:
        query = query.where(gate_reviews.c.opened_position > _decode_cursor(cursor))
    query = query.order_by(gate_reviews.c.opened_position).limit(limit + 1)
    rows = list((await connection.execute(query)).all())
    if len(rows) <= limit:
        return ReviewPage(rows, None)
    rows = rows[:limit]
    return ReviewPage(rows, cursor_after(rows[-1]))


def cursor_after(row: Row[Any]) -> str:
    """The cursor of the page that follows ``row``."""
    return base64.urlsafe_b64encode(f"r:{row.opened_position}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    kind, _, position = raw.partition(":")
    if kind != "r" or not position.isascii() or not position.isdigit():
        raise InvalidInput.for_field("cursor", "not a cursor this API returned", location="query")
    return int(position)


async def awaiting_seats_of(
    connection: AsyncConnection, review_ids: Sequence[UUID]
) -> dict[UUID, set[str]]:
    """The seats each of these reviews waits for now."""
    rows = await connection.execute(
        select(review_awaiting).where(review_awaiting.c.review_id.in_(list(review_ids)))
    )
    seats: dict[UUID, set[str]] = {}
    for row in rows:
        seats.setdefault(row.review_id, set()).add(row.seat)
    return seats


async def projects_facts(
    connection: AsyncConnection, project_ids: set[UUID]
) -> dict[UUID, ProjectFacts]:
    rows = await connection.execute(
        select(known_projects).where(known_projects.c.project_id.in_(list(project_ids)))
    )
    return {
        row.project_id: ProjectFacts(
            project_id=row.project_id,
            project_type=row.project_type,
            requested_by=row.requested_by,
            sponsor=row.sponsor,
            status=row.status,
            requester_pseudonym=row.requester_pseudonym,
            sponsor_pseudonym=row.sponsor_pseudonym,
        )
        for row in rows
    }


# --- Delegations ------------------------------------------------------------------------------


async def active_delegations_to(
    connection: AsyncConnection, user: str, at: datetime
) -> tuple[ActiveDelegation, ...]:
    """The unrevoked delegations to ``user`` in force at ``at``."""
    rows = await connection.execute(
        select(delegations)
        .where(
            delegations.c.to_user == user,
            delegations.c.revoked_at.is_(None),
            delegations.c.starts_at <= at,
            delegations.c.ends_at > at,
        )
        .order_by(delegations.c.granted_at)
    )
    return tuple(
        ActiveDelegation(
            delegation_id=row.delegation_id,
            from_user=row.from_user,
            to_user=row.to_user,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            scope=DelegationScope(
                project_type=row.scope_project_type,
                gate=row.scope_gate,
                project_id=row.scope_project_id,
            ),
        )
        for row in rows
    )


async def list_delegations(
    connection: AsyncConnection, *, involving: str | None, active_at: datetime | None, limit: int
) -> list[Row[Any]]:
    query = select(delegations)
    if involving is not None:
        query = query.where(
            or_(delegations.c.from_user == involving, delegations.c.to_user == involving)
        )
    if active_at is not None:
        query = query.where(
            delegations.c.revoked_at.is_(None),
            delegations.c.starts_at <= active_at,
            delegations.c.ends_at > active_at,
        )
    query = query.order_by(delegations.c.granted_at, delegations.c.delegation_id).limit(limit)
    return list((await connection.execute(query)).all())


# --- Timers -----------------------------------------------------------------------------------


async def reviews_past_sla(
    connection: AsyncConnection, now: datetime, *, limit: int
) -> list[tuple[UUID, UUID]]:
    """(project, review) of open reviews past their SLA and not yet escalated."""
    rows = await connection.execute(
        select(gate_reviews.c.project_id, gate_reviews.c.review_id)
        .where(
            gate_reviews.c.status == "open",
            gate_reviews.c.sla_due_at <= now,
            gate_reviews.c.escalated_at.is_(None),
        )
        .order_by(gate_reviews.c.sla_due_at)
        .limit(limit)
    )
    return [(row.project_id, row.review_id) for row in rows]


async def conditions_past_due(
    connection: AsyncConnection, now: datetime, *, limit: int
) -> list[tuple[UUID, UUID, UUID]]:
    """(project, review, condition) of open conditions whose due day has ended."""
    rows = await connection.execute(
        select(
            gate_conditions.c.project_id,
            gate_conditions.c.review_id,
            gate_conditions.c.condition_id,
        )
        .where(and_(gate_conditions.c.status == "open", gate_conditions.c.due_date < now.date()))
        .order_by(gate_conditions.c.due_date)
        .limit(limit)
    )
    return [(row.project_id, row.review_id, row.condition_id) for row in rows]
