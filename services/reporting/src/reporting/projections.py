"""Projections: fold consumed events into reporting's read models.

The tracking consumer calls the :func:`projector` of the live tables inside the transaction that
also records the event's stream version and the partition's offset, so a redelivered event never
counts twice and every read model moves together with the consumer's position.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import upsert
from gatehouse.events.base import DomainEvent
from gatehouse.events.envelope import EventEnvelope
from gatehouse.events.governance import (
    ConditionBreached,
    ConditionMet,
    GateDecided,
    GateReviewEscalated,
    GateReviewOpened,
    GateReviewWithdrawn,
    VoteCast,
    VoteRevised,
)
from gatehouse.messaging.consumer import EventHandler
from gatehouse.personal_keys import SealedEventData
from reporting import views
from reporting.tables import LIVE, ReadModel
from reporting.views import ProjectView

__all__ = ["PROJECTIONS_CONSUMER", "hash_keeper", "keep_hashes", "projector"]

PROJECTIONS_CONSUMER = "reporting.projections"


def projector(model: ReadModel, personal_data: SealedEventData | None = None) -> EventHandler:
    """The handler that applies events to ``model``'s tables (live, or a rebuild's shadow).

    The log keeps each event as it came, its people sealed (so that its hash still verifies
    and a forgotten person is forgotten there too); the read models get them opened.
    """

    async def apply(connection: AsyncConnection, envelope: EventEnvelope) -> None:
        await _apply(model, connection, envelope, personal_data)

    return apply


async def _apply(model: ReadModel, connection: AsyncConnection, envelope: EventEnvelope,
                 personal_data: SealedEventData | None) -> None:
    """Record the event in the log and advance every read model it concerns."""
    project_id = views.project_id_of(envelope.data)
    await connection.execute(insert(model.event_log).values(
        event_id=envelope.id, source=envelope.source, type=envelope.type,
        schema_version=envelope.schema_version, stream_id=envelope.stream_id,
        stream_version=envelope.stream_version, position=envelope.position, time=envelope.time,
        actor=envelope.actor, correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id, project_id=project_id, data=dict(envelope.data),
        hash=envelope.hash, prev_hash=envelope.prev_hash, log_head=envelope.log_head))
    if personal_data is not None:
        envelope = await personal_data.open(connection, envelope)
    event = views.decode(envelope)
    if event is None or project_id is None:
        return  # a type this version does not know, or one about no project (templates)
    await _advance_project_view(model, connection, project_id, event, envelope)
    await _record_gate_event(model, connection, event, envelope)


async def _advance_project_view(model: ReadModel, connection: AsyncConnection, project_id: Any,
                                event: DomainEvent, envelope: EventEnvelope) -> None:
    # A project's events come from two topics, whose partitions two reporting instances may
    # share out: lock the row so that their read-modify-writes take turns.
    row = (await connection.execute(select(model.project_views.c.view).where(
        model.project_views.c.project_id == project_id).with_for_update())).first()
    current = views.from_document(row.view) if row else ProjectView(project_id=project_id)
    view = views.evolve(current, event, envelope)
    await upsert(connection, model.project_views, {
        "project_id": project_id, "view": views.to_document(view),
        "demand_status": view.demand_status, "stage": view.stage,
        "business_unit": view.business_unit or None, "project_type": view.project_type or None,
        "updated_at": view.updated_at or envelope.time}, key=["project_id"])


async def _record_gate_event(model: ReadModel, connection: AsyncConnection, event: DomainEvent,
                             envelope: EventEnvelope) -> None:
    at = envelope.time
    match event:
        case GateReviewOpened():
            rule = event.gate.approval
            await connection.execute(insert(model.review_records).values(
                review_id=event.review_id, project_id=event.project_id, gate=event.gate.key,
                gate_name=event.gate.name, project_type=event.project_type, status="open",
                opened_at=at, sla_due_at=event.sla_due_at,
                panel={"seats": [seat.label for seat in rule.seats], "order": rule.order,
                       "ballots": {}}))
        case VoteCast() | VoteRevised():
            gate = await _record_ballot(model, connection, event)
            detail: dict[str, Any] = {
                "seat": event.seat, "delegation_id": _str(event.delegation_id),
                "conditions": [{"condition_id": str(c.condition_id),
                                "description": c.description, "owner": c.owner,
                                "due_date": c.due_date.isoformat()} for c in event.conditions],
                "assessments": [{"criterion": a.criterion, "met": a.met, "score": a.score}
                                for a in event.assessments]}
            if isinstance(event, VoteRevised):
                detail |= {"revises": str(event.revises), "reason": event.reason}
            await connection.execute(insert(model.decision_records).values(
                event_id=envelope.id, kind="revision" if isinstance(event, VoteRevised)
                else "vote", review_id=event.review_id, project_id=event.project_id,
                gate=gate, approver=event.approver,
                cast_by=event.cast_by, decision=event.decision, rationale=event.rationale,
                detail=detail, time=at))
        case GateDecided():
            await connection.execute(update(model.review_records)
                                     .where(model.review_records.c.review_id == event.review_id)
                                     .values(status="decided", outcome=event.outcome,
                                             closed_at=at))
            await connection.execute(insert(model.decision_records).values(
                event_id=envelope.id, kind="decision", review_id=event.review_id,
                project_id=event.project_id, gate=event.gate, approver=None, cast_by=None,
                decision=event.outcome, rationale=event.rationale, detail={
                    "decided_by": list(event.decided_by),
                    "votes": [str(vote) for vote in event.votes], "rule": event.rule,
                    "template_version": event.template_version,
                    "conditions": len(event.conditions)}, time=at))
            if event.conditions:
                await connection.execute(insert(model.condition_records), [{
                    "condition_id": c.condition_id, "review_id": event.review_id,
                    "project_id": event.project_id, "gate": event.gate, "owner": c.owner,
                    "due_date": c.due_date, "status": "open"} for c in event.conditions])
        case GateReviewWithdrawn():
            await connection.execute(update(model.review_records)
                                     .where(model.review_records.c.review_id == event.review_id)
                                     .values(status="withdrawn", closed_at=at))
        case GateReviewEscalated():
            await connection.execute(update(model.review_records)
                                     .where(model.review_records.c.review_id == event.review_id)
                                     .values(escalated_at=at))
        case ConditionMet():
            await connection.execute(update(model.condition_records)
                                     .where(model.condition_records.c.condition_id
                                            == event.condition_id)
                                     .values(status="met"))
        case ConditionBreached():
            await connection.execute(update(model.condition_records)
                                     .where(model.condition_records.c.condition_id
                                            == event.condition_id,
                                            model.condition_records.c.status == "open")
                                     .values(status="breached"))


async def _record_ballot(model: ReadModel, connection: AsyncConnection,
                         vote: VoteCast | VoteRevised) -> str:
    """Put the vote on its review's panel; answers the review's gate ("" if unknown)."""
    row = (await connection.execute(
        select(model.review_records.c.panel, model.review_records.c.gate)
        .where(model.review_records.c.review_id == vote.review_id))).first()
    if row is None:
        return ""
    panel = dict(row.panel)
    panel["ballots"] = {**panel.get("ballots", {}), vote.seat: vote.decision}
    await connection.execute(update(model.review_records)
                             .where(model.review_records.c.review_id == vote.review_id)
                             .values(panel=panel))
    return str(row.gate)


def _str(value: object | None) -> str | None:
    return None if value is None else str(value)


def hash_keeper(model: ReadModel) -> EventHandler:
    """For copies skipped as already applied: when the copy carries the hash chain and the
    recorded one does not (it was published before the chain existed and republished with it
    on upgrade), keep the chain's fields, so verification covers the event."""

    async def keep(connection: AsyncConnection, envelope: EventEnvelope) -> None:
        if envelope.hash is None:
            return
        await connection.execute(
            update(model.event_log)
            .where(model.event_log.c.event_id == envelope.id, model.event_log.c.hash.is_(None))
            .values(hash=envelope.hash, prev_hash=envelope.prev_hash,
                    log_head=envelope.log_head, position=envelope.position))

    return keep


keep_hashes = hash_keeper(LIVE)
