"""Projections: fold consumed events into reporting's read models.

The tracking consumer calls the :func:`projector` of the live tables inside the transaction that
also records the event's stream version and the partition's offset, so a redelivered event never
counts twice and every read model moves together with the consumer's position.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy import Column, Select, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import Database, any_of, bulk_insert, upsert
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
from reporting.log_numbers import keep_live_numbers
from reporting.stream import announce_logged_events
from reporting.tables import LIVE, ReadModel
from reporting.views import ProjectView

__all__ = [
    "PROJECTIONS_CONSUMER",
    "Projection",
    "apply_events",
    "hash_keeper",
    "keep_hashes",
    "projector",
]

PROJECTIONS_CONSUMER = "reporting.projections"


def projector(model: ReadModel, personal_data: SealedEventData | None = None) -> BatchHandler:
    """The handler that applies events to ``model``'s tables (live, or a rebuild's shadow).

    The log keeps each event as it came, its people sealed (so that its hash still verifies
    and a forgotten person is forgotten there too); the read models get them opened.
    """

    async def apply(connection: AsyncConnection, envelopes: Sequence[EventEnvelope]) -> None:
        await apply_events(model, connection, envelopes, personal_data)

    return apply


async def apply_events(
    model: ReadModel,
    connection: AsyncConnection,
    envelopes: Sequence[EventEnvelope],
    personal_data: SealedEventData | None = None,
) -> None:
    """Record the events in the log and advance every read model they concern, in order.

    Each table is read once and written once for the whole batch; the outcome is the same as
    applying the events one by one. The log keeps the people sealed; the read models get them
    opened (``personal_data``).
    """
    projection = Projection(model, personal_data)
    await projection.apply(connection, envelopes)
    await projection.flush(connection)
    if envelopes:
        await announce_logged_events(connection)


Row = dict[str, Any]
_Item = TypeVar("_Item")


@dataclass(frozen=True)
class _Writes:
    """The rows of one flush, per table: new ones (inserted) and changed ones (upserted)."""

    log: list[Row]
    new_views: list[Row]
    changed_views: list[Row]
    new_reviews: list[Row]
    changed_reviews: list[Row]
    decisions: list[Row]
    new_conditions: list[Row]
    changed_conditions: list[Row]


class _Rows(Generic[_Item]):
    """One table's rows by key, as read or made by the fold, and which of them to write.

    ``None`` stands for a key looked up and not found, so that it is not looked up again.
    ``sole_writer``: the table started empty and only this fold writes it (a rebuild's
    shadows), so the keys it wrote are all the table holds: any other key is known missing
    without asking the table.
    """

    def __init__(self, *, sole_writer: bool = False) -> None:
        self.sole_writer = sole_writer
        self.items: dict[UUID, _Item | None] = {}
        self.stored: set[UUID] = set()  # keys the table holds (of those in items, or all)
        self.changed: dict[UUID, None] = {}  # keys to write, in the order first changed

    def missing(self, keys: Iterable[UUID]) -> list[UUID]:
        """The keys to read from the table."""
        unknown = {key for key in keys if key not in self.items}
        if not self.sole_writer:
            return sorted(unknown)
        for key in unknown - self.stored:
            self.items[key] = None
        return sorted(unknown & self.stored)

    def loaded(self, keys: Sequence[UUID], found: Mapping[UUID, _Item]) -> None:
        for key in keys:
            self.items[key] = found.get(key)
        self.stored.update(found)

    def get(self, key: UUID) -> _Item | None:
        return self.items.get(key)

    def put(self, key: UUID, item: _Item) -> None:
        """A new row, or a changed copy of one (to write at the next flush)."""
        self.items[key] = item
        self.changed[key] = None

    def to_write(self) -> tuple[list[_Item], list[_Item]]:
        """The changed rows the table does not hold yet, and those it does."""
        new: list[_Item] = []
        existing: list[_Item] = []
        for key in self.changed:
            item = self.items[key]
            assert item is not None
            (existing if key in self.stored else new).append(item)
        return new, existing

    def written(self, keep: int) -> None:
        """The changes are written; keep at most the ``keep`` newest rows in memory."""
        self.stored.update(self.changed)
        self.changed.clear()
        for key in list(itertools.islice(self.items, max(len(self.items) - keep, 0))):
            del self.items[key]
            if not self.sole_writer:
                self.stored.discard(key)


class Projection:
    """Folds events into one read model's tables.

    The rows a run of events changes are read once, changed in memory and written back
    together by :meth:`flush`. The live consumer folds each batch into a projection of its
    own and flushes it in the batch's transaction; its log rows are written as the batch is
    folded (see :meth:`apply`). A rebuild keeps one projection for the
    whole replay (``keep`` rows of each table stay in memory between flushes) and flushes it
    every few thousand events: a project's view is then decoded and written once per flush
    instead of once per batch. ``bulk`` is for tables that started empty and that nobody
    else writes (a rebuild's shadows): new rows go in with COPY, and a row the fold never
    wrote is known not to be there.
    """

    def __init__(
        self,
        model: ReadModel,
        personal_data: SealedEventData | None = None,
        *,
        bulk: bool = False,
        keep: int = 0,
        numbered_by: Table | None = None,
    ) -> None:
        self.model = model
        self.personal_data = personal_data
        self.bulk = bulk
        self.keep = keep
        # A rebuild's: the live log whose numbers the log rows keep (reporting.log_numbers).
        self.numbered_by = numbered_by
        self._log: list[Row] = []
        self._decisions: list[Row] = []
        self._views = _Rows[ProjectView](sole_writer=bulk)
        self._reviews = _Rows[Row](sole_writer=bulk)
        self._conditions = _Rows[Row](sole_writer=bulk)
        self._behind: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Events folded and not written yet."""
        return len(self._log)

    async def apply(self, connection: AsyncConnection, envelopes: Sequence[EventEnvelope]) -> None:
        """Fold the events, in order (reading the rows they concern that are not in memory)."""
        if not envelopes:
            return
        decoded = [(envelope, views.project_id_of(envelope.data)) for envelope in envelopes]
        log_rows = [_log_row(envelope, project_id) for envelope, project_id in decoded]
        if self.bulk:
            self._log.extend(log_rows)
        else:
            # The log first, before any read model is read: a rebuild's swap locks the live
            # tables in that order (event_log, project_views, ...), and a consumer taking
            # them in another order would deadlock with it.
            await _insert(connection, self.model.event_log, log_rows)
        if self.personal_data is not None:
            values = await self.personal_data.open_many(
                connection,
                [(envelope.type, envelope.data, envelope.actor) for envelope, _ in decoded],
            )
            decoded = [
                (replace(envelope, data=data, actor=actor), project_id)
                for (envelope, project_id), (data, actor) in zip(decoded, values, strict=True)
            ]
        about_projects: list[tuple[DomainEvent, EventEnvelope, UUID]] = []
        for envelope, project_id in decoded:
            event = views.decode(envelope)
            if event is not None and project_id is not None:
                about_projects.append((event, envelope, project_id))
            # else: a type this version does not know, or one about no project (templates)
        if not about_projects:
            return
        await self._load(connection, about_projects)
        for event, envelope, project_id in about_projects:
            view = self._views.get(project_id) or ProjectView(project_id=project_id)
            self._views.put(project_id, views.evolve(view, event, envelope))
            self._record_gate_event(event, envelope)

    async def flush(self, connection: AsyncConnection) -> None:
        """Write everything folded since the last flush (after a write behind in flight)."""
        await self.written_behind()
        await self._write(connection, self._take())

    async def write_behind(self, database: Database) -> None:
        """Start writing everything folded so far in a transaction of its own, and return:
        the fold goes on while the database writes (``bulk`` only: a rebuild's shadows).

        A write behind starts after the one before has ended, and the fold reads a row back
        from the table only after the write in flight has ended (see :meth:`_load`), so it
        never misses a row. :meth:`written_behind` waits for it and raises its error.
        """
        assert self.bulk, "only a projection that is the tables' sole writer writes behind"
        await self.written_behind()
        writes = self._take()

        async def write() -> None:
            async with database.transaction() as connection:
                await self._write(connection, writes)

        self._behind = asyncio.create_task(write(), name="projection-write-behind")

    async def written_behind(self) -> None:
        """Wait for the write behind in flight, if any; raise its error."""
        behind, self._behind = self._behind, None
        if behind is not None:
            await behind

    async def abandon(self) -> None:
        """Cancel the write behind in flight, if any (the fold is being given up)."""
        behind, self._behind = self._behind, None
        if behind is not None:
            behind.cancel()
            await asyncio.gather(behind, return_exceptions=True)

    def _take(self) -> _Writes:
        """The rows folded since the last take, to write; the fold forgets they are pending."""
        new_views, changed_views = self._views.to_write()
        if not self.bulk:  # another instance may have made the row meanwhile (see _load)
            new_views, changed_views = [], new_views + changed_views
        new_reviews, changed_reviews = self._reviews.to_write()
        new_conditions, changed_conditions = self._conditions.to_write()
        writes = _Writes(
            log=self._log,
            new_views=[_view_row(view) for view in new_views],
            changed_views=[_view_row(view) for view in changed_views],
            new_reviews=new_reviews,
            changed_reviews=changed_reviews,
            decisions=self._decisions,
            new_conditions=new_conditions,
            changed_conditions=changed_conditions,
        )
        self._log, self._decisions = [], []
        for rows in (self._views, self._reviews, self._conditions):
            rows.written(self.keep)
        return writes

    async def _write(self, connection: AsyncConnection, writes: _Writes) -> None:
        model = self.model
        insert_new = bulk_insert if self.bulk else _insert
        if self.numbered_by is not None:
            await keep_live_numbers(connection, writes.log, self.numbered_by)
        await bulk_insert(connection, model.event_log, writes.log)  # a rebuild's, held back
        await insert_new(connection, model.project_views, writes.new_views)
        await upsert(connection, model.project_views, writes.changed_views, key=["project_id"])
        await insert_new(connection, model.review_records, writes.new_reviews)
        await upsert(connection, model.review_records, writes.changed_reviews, key=["review_id"])
        await insert_new(connection, model.decision_records, writes.decisions)
        await insert_new(connection, model.condition_records, writes.new_conditions)
        await upsert(
            connection, model.condition_records, writes.changed_conditions, key=["condition_id"]
        )

    async def _load(
        self, connection: AsyncConnection, batch: Sequence[tuple[DomainEvent, EventEnvelope, UUID]]
    ) -> None:
        model = self.model
        project_ids = self._views.missing(project_id for _, _, project_id in batch)
        review_ids = self._reviews.missing(
            event.review_id for event, _, _ in batch if isinstance(event, _ABOUT_A_REVIEW)
        )
        condition_ids = self._conditions.missing(
            event.condition_id for event, _, _ in batch if isinstance(event, _ABOUT_A_CONDITION)
        )
        if project_ids or review_ids or condition_ids:
            await self.written_behind()  # a row to read back may be in the write in flight
        if project_ids:
            # A project's events come from two topics, whose partitions two reporting
            # instances may share out: lock the rows (in one order) so that their
            # read-modify-writes take turns.
            rows = await connection.execute(
                _views_for_update(model.project_views, connection.dialect.name),
                {"ids": sorted(project_ids)},
            )
            self._views.loaded(
                project_ids, {row.project_id: views.from_document(row.view) for row in rows}
            )
        self._reviews.loaded(
            review_ids,
            await _rows(
                connection, model.review_records, model.review_records.c.review_id, review_ids
            ),
        )
        self._conditions.loaded(
            condition_ids,
            await _rows(
                connection,
                model.condition_records,
                model.condition_records.c.condition_id,
                condition_ids,
            ),
        )

    def _record_gate_event(self, event: DomainEvent, envelope: EventEnvelope) -> None:
        at = envelope.time
        match event:
            case GateReviewOpened():
                rule = event.gate.approval
                self._reviews.put(
                    event.review_id,
                    {
                        "review_id": event.review_id,
                        "project_id": event.project_id,
                        "gate": event.gate.key,
                        "gate_name": event.gate.name,
                        "project_type": event.project_type,
                        "status": "open",
                        "outcome": None,
                        "opened_at": at,
                        "sla_due_at": event.sla_due_at,
                        "closed_at": None,
                        "escalated_at": None,
                        "panel": {
                            "seats": [seat.label for seat in rule.seats],
                            "order": rule.order,
                            "ballots": {},
                        },
                    },
                )
            case VoteCast() | VoteRevised():
                review = self._reviews.get(event.review_id)
                gate = ""  # a vote on a review reporting never saw opened
                if review is not None:
                    # Put the vote on its review's panel.
                    panel = dict(review["panel"])
                    panel["ballots"] = {**panel.get("ballots", {}), event.seat: event.decision}
                    self._reviews.put(event.review_id, review | {"panel": panel})
                    gate = str(review["gate"])
                detail: dict[str, Any] = {
                    "seat": event.seat,
                    "delegation_id": _str(event.delegation_id),
                    "conditions": [
                        {
                            "condition_id": str(c.condition_id),
                            "description": c.description,
                            "owner": c.owner,
                            "due_date": c.due_date.isoformat(),
                        }
                        for c in event.conditions
                    ],
                    "assessments": [
                        {"criterion": a.criterion, "met": a.met, "score": a.score}
                        for a in event.assessments
                    ],
                }
                if isinstance(event, VoteRevised):
                    detail |= {"revises": str(event.revises), "reason": event.reason}
                self._decisions.append(
                    {
                        "event_id": envelope.id,
                        "kind": "revision" if isinstance(event, VoteRevised) else "vote",
                        "review_id": event.review_id,
                        "project_id": event.project_id,
                        "gate": gate,
                        "approver": event.approver,
                        "cast_by": event.cast_by,
                        "decision": event.decision,
                        "rationale": event.rationale,
                        "detail": detail,
                        "time": at,
                    }
                )
            case GateDecided():
                review = self._reviews.get(event.review_id)
                if review is not None:
                    self._reviews.put(
                        event.review_id,
                        review | {"status": "decided", "outcome": event.outcome, "closed_at": at},
                    )
                self._decisions.append(
                    {
                        "event_id": envelope.id,
                        "kind": "decision",
                        "review_id": event.review_id,
                        "project_id": event.project_id,
                        "gate": event.gate,
                        "approver": None,
                        "cast_by": None,
                        "decision": event.outcome,
                        "rationale": event.rationale,
                        "detail": {
                            "decided_by": list(event.decided_by),
                            "votes": [str(vote) for vote in event.votes],
                            "rule": event.rule,
                            "template_version": event.template_version,
                            "conditions": len(event.conditions),
                        },
                        "time": at,
                    }
                )
                for c in event.conditions:
                    self._conditions.put(
                        c.condition_id,
                        {
                            "condition_id": c.condition_id,
                            "review_id": event.review_id,
                            "project_id": event.project_id,
                            "gate": event.gate,
                            "owner": c.owner,
                            "due_date": c.due_date,
                            "status": "open",
                        },
                    )
            case GateReviewWithdrawn():
                review = self._reviews.get(event.review_id)
                if review is not None:
                    self._reviews.put(
                        event.review_id, review | {"status": "withdrawn", "closed_at": at}
                    )
            case GateReviewEscalated():
                review = self._reviews.get(event.review_id)
                if review is not None:
                    self._reviews.put(event.review_id, review | {"escalated_at": at})
            case ConditionMet():
                condition = self._conditions.get(event.condition_id)
                if condition is not None:
                    self._conditions.put(event.condition_id, condition | {"status": "met"})
            case ConditionBreached():
                condition = self._conditions.get(event.condition_id)
                if condition is not None and condition["status"] == "open":
                    self._conditions.put(event.condition_id, condition | {"status": "breached"})


_ABOUT_A_REVIEW = (VoteCast, VoteRevised, GateDecided, GateReviewWithdrawn, GateReviewEscalated)
_ABOUT_A_CONDITION = (ConditionMet, ConditionBreached)


def _log_row(envelope: EventEnvelope, project_id: UUID | None) -> Row:
    return {
        "event_id": envelope.id,
        "source": envelope.source,
        "type": envelope.type,
        "schema_version": envelope.schema_version,
        "stream_id": envelope.stream_id,
        "stream_version": envelope.stream_version,
        "position": envelope.position,
        "time": envelope.time,
        "actor": envelope.actor,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "project_id": project_id,
        "data": dict(envelope.data),
        "hash": envelope.hash,
        "prev_hash": envelope.prev_hash,
        "log_head": envelope.log_head,
    }


def _view_row(view: ProjectView) -> Row:
    assert view.updated_at is not None  # every event sets it
    return {
        "project_id": view.project_id,
        "view": views.to_document(view),
        "demand_status": view.demand_status,
        "stage": view.stage,
        "business_unit": view.business_unit or None,
        "project_type": view.project_type or None,
        "updated_at": view.updated_at,
    }


async def _insert(connection: AsyncConnection, table: Table, rows: Sequence[Row]) -> None:
    if rows:
        await connection.execute(insert(table), rows)


async def _rows(
    connection: AsyncConnection, table: Table, key: Column[Any], ids: list[UUID]
) -> dict[UUID, Row]:
    if not ids:
        return {}
    rows = await connection.execute(_rows_of(table, key, connection.dialect.name), {"ids": ids})
    return {row._mapping[key.name]: dict(row._mapping) for row in rows}


# The batch reads, built once per table and dialect (the live tables and each rebuild's
# shadows); on PostgreSQL the ids travel as one array, one statement whatever their number.
@functools.lru_cache(maxsize=64)
def _views_for_update(table: Table, dialect: str) -> Select[Any]:
    return (
        select(table.c.project_id, table.c.view)
        .where(any_of(table.c.project_id, "ids", dialect))
        .order_by(table.c.project_id)
        .with_for_update()
    )


@functools.lru_cache(maxsize=64)
def _rows_of(table: Table, key: Column[Any], dialect: str) -> Select[Any]:
    return select(table).where(any_of(key, "ids", dialect))


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
            .values(
                hash=envelope.hash,
                prev_hash=envelope.prev_hash,
                log_head=envelope.log_head,
                position=envelope.position,
            )
        )

    return keep


keep_hashes = hash_keeper(LIVE)
