"""The audit of a fault-injection run: the same five figures, computed the same way, for every
scenario.

- acknowledged: events the producing service committed (its event store; the tests also check
  that every 2xx response's events are among them);
- applied: those events in reporting's read model (``event_log``: one row per applied event,
  written in the transaction that records the consumer's stream versions and offsets);
- lost: acknowledged events reporting never applied;
- duplicates applied: an event (or a stream version) applied more than once;
- order violations: a stream whose events were applied out of stream-version order or with a
  gap (``event_log.seq`` is the order of application);
- equal: reporting's read models equal a rebuild from scratch: the rebuild path replays every
  topic into fresh tables, and their checksums equal the live tables'.

Pass: lost 0, duplicates applied 0, order violations 0, equal.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import func, select, text

from gatehouse.database import Database
from gatehouse.events.governance import governance_events
from gatehouse.events.intake import intake_events
from gatehouse.eventstore.schema import dead_letters, events, outbox
from gatehouse.personal_keys import KeyFollower, SealedEventData, personal_keys_topic
from reporting.projections import PROJECTIONS_CONSUMER
from reporting.rebuild import Rebuilder, checksums
from reporting.tables import LIVE, event_log

__all__ = ["RebuildFromScratch", "RunFigures", "acknowledged_events", "audit_run", "pending_outbox"]

AUDIT_SUFFIX = "__audit"


@dataclass(frozen=True)
class RunFigures:
    scenario: str
    acknowledged: int
    applied: int
    lost: int
    duplicates_applied: int
    order_violations: int
    equal_to_rebuild: bool
    dead_lettered: int

    @property
    def passed(self) -> bool:
        return (
            self.lost == 0
            and self.duplicates_applied == 0
            and self.order_violations == 0
            and self.equal_to_rebuild
        )

    def line(self) -> str:
        return (
            f"{self.scenario}: acknowledged={self.acknowledged} applied={self.applied} "
            f"lost={self.lost} duplicates_applied={self.duplicates_applied} "
            f"order_violations={self.order_violations} "
            f"equal_to_rebuild={self.equal_to_rebuild} dead_lettered={self.dead_lettered} "
            f"-> {'PASS' if self.passed else 'FAIL'}"
        )


async def acknowledged_events(producer: Database) -> dict[UUID, tuple[str, int]]:
    """Every event the producing service committed: id → (stream, version)."""
    async with producer.engine.connect() as connection:
        rows = await connection.execute(
            select(events.c.event_id, events.c.stream_id, events.c.version)
        )
        return {row.event_id: (row.stream_id, row.version) for row in rows}


async def pending_outbox(producer: Database) -> int:
    async with producer.engine.connect() as connection:
        return int(
            (
                await connection.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
                )
            ).scalar_one()
        )


async def audit_run(
    scenario: str,
    *,
    producer: Database,
    source: str,
    reporting: Database,
    bootstrap_servers: str,
    namespace: str,
    topics: Sequence[str],
    rebuild: RebuildFromScratch | None = None,
) -> RunFigures:
    """Count the figures of the events ``producer`` (whose events carry ``source``) committed;
    then rebuild reporting's read models from ``topics`` and
    compare. Call it once reporting has caught up and nothing else is being produced; a
    ``rebuild`` started earlier (once everything was published) saves waiting for one."""
    if rebuild is None:
        rebuild = RebuildFromScratch(reporting, bootstrap_servers, topics, namespace=namespace)
        await rebuild.start()
    acknowledged = await acknowledged_events(producer)
    async with reporting.engine.connect() as connection:
        applied = list(
            await connection.execute(
                select(event_log.c.event_id, event_log.c.stream_id, event_log.c.stream_version)
                .where(event_log.c.source == source)
                .order_by(event_log.c.seq)
            )
        )
        dead_lettered = int(
            (
                await connection.execute(
                    select(func.count())
                    .select_from(dead_letters)
                    .where(dead_letters.c.consumer == PROJECTIONS_CONSUMER)
                )
            ).scalar_one()
        )
    applied_ids = Counter(row.event_id for row in applied)
    applied_versions = Counter((row.stream_id, row.stream_version) for row in applied)
    duplicates = sum(count - 1 for count in applied_ids.values()) + sum(
        count - 1 for count in applied_versions.values()
    )
    return RunFigures(
        scenario=scenario,
        acknowledged=len(acknowledged),
        applied=len(applied_ids),
        lost=len(set(acknowledged) - set(applied_ids)),
        duplicates_applied=duplicates,
        order_violations=_order_violations(
            [(row.stream_id, row.stream_version) for row in applied]
        ),
        equal_to_rebuild=await rebuild.equals_live(),
        dead_lettered=dead_lettered,
    )


def _order_violations(applied_in_order: list[tuple[str, int]]) -> int:
    """Events applied before their stream's previous version, or after a gap."""
    last: dict[str, int] = {}
    violations = 0
    for stream_id, version in applied_in_order:
        if version != last.get(stream_id, 0) + 1:
            violations += 1
        last[stream_id] = max(version, last.get(stream_id, 0))
    return violations


class RebuildFromScratch:
    """A rebuild of reporting's read models through the rebuild path (a plain consumer reading
    every topic from the beginning into fresh tables with the projection code), into tables of
    its own (``<table>__audit``) rather than swapped in, so the live ones stay as they are.

    Started once everything is published, it reads beside the live consumer, never past it, and
    finishes once the live consumer has applied everything: :meth:`equals_live` then compares
    the two models' checksums."""

    def __init__(
        self, reporting: Database, bootstrap_servers: str, topics: Sequence[str], *, namespace: str
    ) -> None:
        self._database = reporting
        self.model = LIVE.shadow(AUDIT_SUFFIX)
        # The people in the events open with the keys every service publishes, as in reporting.
        self._keys = KeyFollower(
            database=reporting,
            bootstrap_servers=bootstrap_servers,
            topic=personal_keys_topic(namespace),
            client_id="audit-keys",
        )
        self._rebuilder = Rebuilder(
            database=reporting,
            bootstrap_servers=bootstrap_servers,
            consumer_name=PROJECTIONS_CONSUMER,
            topics=topics,
            live=self.model,
            personal_data=SealedEventData([intake_events, governance_events], follower=self._keys),
        )
        self._following: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async with self._database.transaction() as connection:
            for table in reversed(self.model.tables):
                await connection.execute(text(f'DROP TABLE IF EXISTS "{table.name}"'))
            for table in self.model.tables:
                await connection.run_sync(table.create)
        self._following = asyncio.create_task(self._keys.run())
        self._rebuilder.start()

    async def equals_live(self) -> bool:
        try:
            status = await self._rebuilder.wait()
        finally:
            if self._following is not None:
                self._following.cancel()
                await asyncio.gather(self._following, return_exceptions=True)
        if status.state != "done":
            raise AssertionError(f"the rebuild did not finish: {status}")
        async with self._database.engine.connect() as connection:
            live = await checksums(connection, LIVE)
            rebuilt = await checksums(connection, self.model)
        return list(live.values()) == list(rebuilt.values())
