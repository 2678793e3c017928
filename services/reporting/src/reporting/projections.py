"""Projections: fold consumed events into reporting's read models.

The tracking consumer calls the :func:`projector` of the live tables inside the transaction that
also records the event's stream version and the partition's offset, so a redelivered event never
counts twice and every read model moves together with the consumer's position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Table, insert, select, update
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
from gatehouse.messaging.consumer import BatchHandler, EventHandler
from gatehouse.personal_keys import SealedEventData
from reporting import views
from reporting.tables import LIVE, ReadModel
from reporting.views import ProjectView

__all__ = ["PROJECTIONS_CONSUMER", "apply_events", "hash_keeper", "keep_hashes", "projector"]

PROJECTIONS_CONSUMER = "reporting.projections"


def projector(model: ReadModel, personal_data: SealedEventData | None = None) -> BatchHandler:
    """The handler that applies events to ``model``'s tables (live, or a rebuild's shadow).

    The log keeps each event as it came, its people sealed (so that its hash still verifies
    and a forgotten person is forgotten there too); the read models get them opened.
    """

    async def apply(connection: AsyncConnection, envelopes: Sequence[EventEnvelope]) -> None:
        await apply_events(model, connection, envelopes, personal_data)

    return apply


async def apply_events(model: ReadModel, connection: AsyncConnection,
                       envelopes: Sequence[EventEnvelope],
                       personal_data: SealedEventData | None = None) -> None:
    """Record the events in the log and advance every read model they concern, in order.

    Each table is read once and written once for the whole batch (a rebuild applies hundreds
    of events at a time); the outcome is the same as applying the events one by one. The log
    keeps the people sealed; the read models get them opened (``personal_data``).
    """
    if not envelopes:
        return
    decoded = [(envelope, views.project_id_of(envelope.data)) for envelope in envelopes]
    await connection.execute(insert(model.event_log), [{
        "event_id": envelope.id, "source": envelope.source, "type": envelope.type,
        "schema_version": envelope.schema_version, "stream_id": envelope.stream_id,
        "stream_version": envelope.stream_version, "position": envelope.position,
        "time": envelope.time, "actor": envelope.actor,
        "correlation_id": envelope.correlation_id, "causation_id": envelope.causation_id,
        "project_id": project_id, "data": dict(envelope.data), "hash": envelope.hash,
        "prev_hash": envelope.prev_hash, "log_head": envelope.log_head}
        for envelope, project_id in decoded])
    if personal_data is not None:
        values = await personal_data.open_many(
            connection, [(envelope.type, envelope.data, envelope.actor) for envelope, _ in decoded])
        decoded = [(replace(envelope, data=data, actor=actor), project_id)
                   for (envelope, project_id), (data, actor) in zip(decoded, values, strict=True)]
    about_projects: list[tuple[DomainEvent, EventEnvelope, UUID]] = []
    for envelope, project_id in decoded:
        event = views.decode(envelope)
        if event is not None and project_id is not None:
            about_projects.append((event, envelope, project_id))
        # else: a type this version does not know, or one about no project (templates)
    if not about_projects:
        return
    await _advance_project_views(model, connection, about_projects)
    await _record_gate_events(model, connection, about_projects)


async def _advance_project_views(model: ReadModel, connection: AsyncConnection,
                                 batch: Sequence[tuple[DomainEvent, EventEnvelope, UUID]]
                                 ) -> None:
    table = model.project_views
    project_ids = sorted({project_id for _, _, project_id in batch})
    # A project's events come from two topics, whose partitions two reporting instances may
    # share out: lock the rows (in one order) so that their read-modify-writes take turns.
    rows = await connection.execute(
        select(table.c.project_id, table.c.view).where(table.c.project_id.in_(project_ids))
        .order_by(table.c.project_id).with_for_update())
    current = {row.project_id: views.from_document(row.view) for row in rows}
    last_time: dict[UUID, datetime] = {}
    for event, envelope, project_id in batch:
        view = current.get(project_id) or ProjectView(project_id=project_id)
        current[project_id] = views.evolve(view, event, envelope)
        last_time[project_id] = envelope.time
    await upsert(connection, table, [{
        "project_id": project_id, "view": views.to_document(view),
        "demand_status": view.demand_status, "stage": view.stage,
        "business_unit": view.business_unit or None, "project_type": view.project_type or None,
        "updated_at": view.updated_at or last_time[project_id]}
        for project_id, view in current.items() if project_id in last_time],
        key=["project_id"])


@dataclass
class _Records:
    """The review and condition rows a batch touches, read once, written once."""

    reviews: dict[UUID, dict[str, Any]]
    conditions: dict[UUID, dict[str, Any]]
    new_reviews: set[UUID] = field(default_factory=set)
    changed_reviews: set[UUID] = field(default_factory=set)
    new_conditions: set[UUID] = field(default_factory=set)
    changed_conditions: set[UUID] = field(default_factory=set)
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def review(self, review_id: UUID) -> dict[str, Any] | None:
        """A review to change (None when reporting never saw it opened)."""
        row = self.reviews.get(review_id)
        if row is not None and review_id not in self.new_reviews:
            self.changed_reviews.add(review_id)
        return row

    def condition(self, condition_id: UUID) -> dict[str, Any] | None:
        row = self.conditions.get(condition_id)
        if row is not None and condition_id not in self.new_conditions:
            self.changed_conditions.add(condition_id)
        return row


async def _record_gate_events(model: ReadModel, connection: AsyncConnection,
                              batch: Sequence[tuple[DomainEvent, EventEnvelope, UUID]]) -> None:
    review_ids = {event.review_id for event, _, _ in batch if isinstance(event, (
        VoteCast, VoteRevised, GateDecided, GateReviewWithdrawn, GateReviewEscalated))}
    condition_ids = {event.condition_id for event, _, _ in batch
                     if isinstance(event, (ConditionMet, ConditionBreached))}
    if not review_ids and not condition_ids and not any(
            isinstance(event, GateReviewOpened) for event, _, _ in batch):
        return
    records = _Records(reviews=await _rows(connection, model.review_records,
                                           model.review_records.c.review_id, review_ids),
                       conditions=await _rows(connection, model.condition_records,
                                              model.condition_records.c.condition_id,
                                              condition_ids))
    for event, envelope, _ in batch:
        _record_gate_event(records, event, envelope)
    reviews, conditions = model.review_records, model.condition_records
    if records.new_reviews:  # in the order they were opened
        await connection.execute(insert(reviews), [
            row for review_id, row in records.reviews.items()
            if review_id in records.new_reviews])
    if records.changed_reviews:
        await upsert(connection, reviews, [records.reviews[review_id]
                                           for review_id in records.changed_reviews],
                     key=["review_id"])
    if records.decisions:
        await connection.execute(insert(model.decision_records), records.decisions)
    if records.new_conditions:
        await connection.execute(insert(conditions), [
            row for condition_id, row in records.conditions.items()
            if condition_id in records.new_conditions])
    if records.changed_conditions:
        await upsert(connection, conditions, [records.conditions[condition_id]
                                              for condition_id in records.changed_conditions],
                     key=["condition_id"])


async def _rows(connection: AsyncConnection, table: Table, key: Column[Any], ids: set[UUID]
                ) -> dict[UUID, dict[str, Any]]:
    if not ids:
        return {}
    rows = await connection.execute(select(table).where(key.in_(sorted(ids))))
    return {row._mapping[key.name]: dict(row._mapping) for row in rows}


def _record_gate_event(records: _Records, event: DomainEvent, envelope: EventEnvelope) -> None:
    at = envelope.time
    match event:
        case GateReviewOpened():
            rule = event.gate.approval
            records.reviews[event.review_id] = {
                "review_id": event.review_id, "project_id": event.project_id,
                "gate": event.gate.key, "gate_name": event.gate.name,
                "project_type": event.project_type, "status": "open", "outcome": None,
                "opened_at": at, "sla_due_at": event.sla_due_at, "closed_at": None,
                "escalated_at": None, "panel": {
                    "seats": [seat.label for seat in rule.seats], "order": rule.order,
                    "ballots": {}}}
            records.new_reviews.add(event.review_id)
        case VoteCast() | VoteRevised():
            review = records.review(event.review_id)
            gate = ""  # a vote on a review reporting never saw opened
            if review is not None:
                # Put the vote on its review's panel.
                panel = dict(review["panel"])
                panel["ballots"] = {**panel.get("ballots", {}), event.seat: event.decision}
                review["panel"] = panel
                gate = str(review["gate"])
            detail: dict[str, Any] = {
                "seat": event.seat, "delegation_id": _str(event.delegation_id),
                "conditions": [{"condition_id": str(c.condition_id),
                                "description": c.description, "owner": c.owner,
                                "due_date": c.due_date.isoformat()} for c in event.conditions],
                "assessments": [{"criterion": a.criterion, "met": a.met, "score": a.score}
                                for a in event.assessments]}
            if isinstance(event, VoteRevised):
                detail |= {"revises": str(event.revises), "reason": event.reason}
            records.decisions.append({
                "event_id": envelope.id, "kind": "revision" if isinstance(event, VoteRevised)
                else "vote", "review_id": event.review_id, "project_id": event.project_id,
                "gate": gate, "approver": event.approver, "cast_by": event.cast_by,
                "decision": event.decision, "rationale": event.rationale, "detail": detail,
                "time": at})
        case GateDecided():
            review = records.review(event.review_id)
            if review is not None:
                review |= {"status": "decided", "outcome": event.outcome, "closed_at": at}
            records.decisions.append({
                "event_id": envelope.id, "kind": "decision", "review_id": event.review_id,
                "project_id": event.project_id, "gate": event.gate, "approver": None,
                "cast_by": None, "decision": event.outcome, "rationale": event.rationale,
                "detail": {"decided_by": list(event.decided_by),
                           "votes": [str(vote) for vote in event.votes], "rule": event.rule,
                           "template_version": event.template_version,
                           "conditions": len(event.conditions)}, "time": at})
            for c in event.conditions:
                records.conditions[c.condition_id] = {
                    "condition_id": c.condition_id, "review_id": event.review_id,
                    "project_id": event.project_id, "gate": event.gate, "owner": c.owner,
                    "due_date": c.due_date, "status": "open"}
                records.new_conditions.add(c.condition_id)
        case GateReviewWithdrawn():
            review = records.review(event.review_id)
            if review is not None:
                review |= {"status": "withdrawn", "closed_at": at}
        case GateReviewEscalated():
            review = records.review(event.review_id)
            if review is not None:
                review["escalated_at"] = at
        case ConditionMet():
            condition = records.condition(event.condition_id)
            if condition is not None:
                condition["status"] = "met"
        case ConditionBreached():
            condition = records.condition(event.condition_id)
            if condition is not None and condition["status"] == "open":
                condition["status"] = "breached"


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
