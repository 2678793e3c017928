"""Governance's local view of projects, folded from intake's events.

When a project ends in intake (withdrawn, rejected, killed or closed) while one of its gate
reviews is open, governance withdraws the review in the same transaction: nobody should be asked
to vote on a project that no longer exists.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import upsert
from gatehouse.events.envelope import EventEnvelope
from gatehouse.events.governance import governance_events
from gatehouse.events.intake import (
    ProjectEdited,
    ProjectRequested,
    ProjectTransitioned,
    intake_events,
)
from gatehouse.eventstore.store import EventMetadata, EventStore
from gatehouse.identity import load_pseudonyms
from gatehouse.messaging.consumer import BatchHandler, EventHandler, one_by_one
from gatehouse.unit_of_work import UnitOfWork
from governance import handlers
from governance.tables import known_projects

__all__ = ["ENDED", "intake_event_handler"]

log = logging.getLogger(__name__)

# Where a project's life ends: an open review of it is withdrawn.
ENDED = frozenset({"withdrawn", "rejected", "killed", "closed"})


def intake_event_handler(event_store: EventStore) -> BatchHandler:
    """Consumes ``gatehouse.intake.events`` into ``known_projects``.

    New projects are written together, one statement for a run of ``ProjectRequested``; any
    other event first writes the projects requested before it, then applies on its own.
    """
    apply_change = one_by_one(_project_change_handler(event_store))

    async def apply(connection: AsyncConnection, envelopes: Sequence[EventEnvelope]) -> None:
        requested: dict[UUID, dict[str, Any]] = {}
        changes: list[EventEnvelope] = []
        pseudonyms = await load_pseudonyms(connection)
        for envelope in envelopes:
            if envelope.type not in intake_events:
                continue
            event = intake_events.deserialize(envelope.type, envelope.data)
            if not isinstance(event, ProjectRequested):
                changes.append(envelope)
                continue
            if changes or event.project_id in requested:
                await _record_requested(connection, requested)
                await apply_change(connection, changes)
                changes = []
            requested[event.project_id] = {
                "project_id": event.project_id,
                "title": event.title,
                "sponsor": event.sponsor,
                "requested_by": event.requested_by,
                # Read from the log after an erasure, a name is [erased]: no pseudonym.
                "requester_pseudonym": pseudonyms.of_named(event.requested_by),
                "sponsor_pseudonym": pseudonyms.of_named(event.sponsor),
                "business_unit": event.business_unit,
                "project_type": event.project_type,
                "status": "draft",
                "updated_at": envelope.time,
                "version": envelope.stream_version,
            }
        await _record_requested(connection, requested)
        await apply_change(connection, changes)

    return apply


async def _record_requested(
    connection: AsyncConnection, requested: dict[UUID, dict[str, Any]]
) -> None:
    await upsert(connection, known_projects, list(requested.values()), key=["project_id"])
    requested.clear()


def _project_change_handler(event_store: EventStore) -> EventHandler:
    """Applies one of intake's events other than ``ProjectRequested``."""

    async def apply(connection: AsyncConnection, envelope: EventEnvelope) -> None:
        event = intake_events.deserialize(envelope.type, envelope.data)
        match event:
            case ProjectEdited():
                # Who sponsors a project matters to segregation of duties; its type to its gates.
                tracked = ("title", "sponsor", "business_unit", "project_type")
                values = {
                    name: getattr(event.changes, name)
                    for name in tracked
                    if name in event.changed_fields and getattr(event.changes, name) is not None
                }
                if "sponsor" in values:
                    pseudonyms = await load_pseudonyms(connection)
                    values["sponsor_pseudonym"] = pseudonyms.of_named(values["sponsor"])
                await connection.execute(
                    update(known_projects)
                    .where(known_projects.c.project_id == event.project_id)
                    .values(**values, updated_at=envelope.time, version=envelope.stream_version)
                )
            case ProjectTransitioned():
                # The stage once the project is in delivery, its demand status before that.
                status = event.to_stage or event.to_status
                await connection.execute(
                    update(known_projects)
                    .where(known_projects.c.project_id == event.project_id)
                    .values(
                        status=status, updated_at=envelope.time, version=envelope.stream_version
                    )
                )
                if status in ENDED:
                    await _withdraw_open_review(connection, event_store, envelope, event, status)

    return apply


async def _withdraw_open_review(
    connection: AsyncConnection,
    event_store: EventStore,
    envelope: EventEnvelope,
    event: ProjectTransitioned,
    status: str,
) -> None:
    uow = UnitOfWork(
        connection,
        event_store,
        governance_events,
        EventMetadata(
            actor=envelope.actor or "intake",
            correlation_id=envelope.correlation_id,
            causation_id=str(envelope.id),
        ),
    )
    record = await handlers.load_gates(event.project_id, uow)
    review = record.state.open_review
    if review is None:
        return
    reason = f"the project was {status} in intake" + (f": {event.reason}" if event.reason else "")
    await handlers.withdraw_review(
        review.review_id,
        reason=reason[:2000],
        actor=handlers.Actor(uow.metadata.actor or "intake", frozenset(), is_pmo_admin=True),
        uow=uow,
    )
    log.info(
        "open gate review withdrawn: its project ended",
        extra={
            "project_id": str(event.project_id),
            "review_id": str(review.review_id),
            "status": status,
        },
    )
