"""The SLA and condition timers: escalate reviews open past their SLA, breach overdue conditions.

The timers keep no state in memory: each sweep asks the database what is due (open reviews
past ``sla_due_at`` not yet escalated, open conditions past their due day) and sends each its
command. The aggregate raises each escalation and breach once, and the stream's optimistic
concurrency settles two instances sweeping at the same moment, so a restart, a crash or a second
replica never loses nor repeats one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from gatehouse.database import Database
from gatehouse.events.governance import governance_events
from gatehouse.eventstore.errors import ConcurrencyError
from gatehouse.eventstore.store import EventStore
from gatehouse.runtime import ServiceRuntime
from gatehouse.unit_of_work import unit_of_work
from governance import handlers, queries
from governance.domain import Escalate, RecordBreach

__all__ = ["GateTimers", "SweepResult"]

log = logging.getLogger(__name__)

ACTOR = "governance-timer"


@dataclass(frozen=True)
class SweepResult:
    escalated: int
    breached: int


class GateTimers:
    def __init__(
        self, *, event_store: EventStore, interval_seconds: float, batch_size: int = 200
    ) -> None:
        self.event_store = event_store
        self.interval_seconds = interval_seconds
        self.batch_size = batch_size

    async def run(self, runtime: ServiceRuntime) -> None:
        """Sweep every ``interval_seconds`` until cancelled; a failed sweep is retried next."""
        while True:
            try:
                result = await self.sweep(runtime.database, runtime.clock())
                runtime.metrics.timer_events(event="GateReviewEscalated").inc(result.escalated)
                runtime.metrics.timer_events(event="ConditionBreached").inc(result.breached)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("gate timer sweep failed; retrying at the next tick")
            await asyncio.sleep(self.interval_seconds)

    async def sweep(self, database: Database, now: datetime) -> SweepResult:
        async with database.read() as connection:
            due_reviews = await queries.reviews_past_sla(connection, now, limit=self.batch_size)
            due_conditions = await queries.conditions_past_due(
                connection, now, limit=self.batch_size
            )
        escalated = 0
        for project_id, review_id in due_reviews:
            escalated += await self._step(
                database, project_id, Escalate(review_id=review_id, now=now)
            )
        breached = 0
        for project_id, review_id, condition_id in due_conditions:
            breached += await self._step(
                database,
                project_id,
                RecordBreach(review_id=review_id, condition_id=condition_id, now=now),
            )
        if escalated or breached:
            log.info("gate timers fired", extra={"escalated": escalated, "breached": breached})
        return SweepResult(escalated, breached)

    async def _step(
        self, database: Database, project_id: UUID, command: Escalate | RecordBreach
    ) -> int:
        try:
            async with unit_of_work(
                database, self.event_store, governance_events, actor=ACTOR
            ) as uow:
                return await handlers.run_timer_command(project_id, command, uow)
        except ConcurrencyError:
            return 0  # another command (or instance) changed the record; the next sweep sees it
