"""A rebuild keeps the live stream's event ids. Each event keeps its number in reporting's log
(``seq``: the SSE ``id`` a dashboard resumes after with Last-Event-ID), an event the live log
lacked comes after every number given, and so do the events after the swap: no dashboard
misses one or gets one twice because the read models were rebuilt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import delete, select, text

from gatehouse.database import Database
from reporting.projections import PROJECTIONS_CONSUMER
from reporting.rebuild import Rebuilder
from reporting.tables import event_log

from .conftest import Reporting

T0 = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
# Numbers a rolled-back transaction drew and never kept (PostgreSQL's sequences give no number
# twice); the stream may have passed over them, and a new event must come after them.
BURNED = 5


async def numbers(database: Database) -> dict[UUID, int]:
    async with database.read() as connection:
        rows = await connection.execute(select(event_log.c.event_id, event_log.c.seq))
        return {row.event_id: row.seq for row in rows}


async def test_every_event_keeps_its_number_and_what_is_new_comes_after_every_number_given(
    reporting: Reporting,
) -> None:
    producers = reporting.producers
    for n in range(3):
        project = await producers.request(T0 + timedelta(days=n), title=f"Project {n}")
        await producers.submit(project, T0 + timedelta(days=n, hours=1))
    await reporting.caught_up()
    runtime = reporting.service.app.state.runtime
    database: Database = runtime.database
    before = await numbers(database)
    # The live log lost a row, as a log that a rebuild repairs might have.
    lost = min(before, key=before.__getitem__)
    async with database.transaction() as connection:
        await connection.execute(delete(event_log).where(event_log.c.event_id == lost))
        if database.dialect == "postgresql":
            await connection.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('event_log', 'seq')) "
                    "FROM generate_series(1, :burned)"
                ),
                {"burned": BURNED},
            )
    given = max(before.values()) + (BURNED if database.dialect == "postgresql" else 0)
    rebuilder: Rebuilder = reporting.service.app.state.rebuilders[PROJECTIONS_CONSUMER]

    assert rebuilder.start()
    status = await rebuilder.wait()

    assert status.state == "done", status
    after = await numbers(database)
    assert after.keys() == before.keys()
    assert {event: after[event] for event in after if event != lost} == {
        event: number for event, number in before.items() if event != lost
    }
    assert after[lost] > given
    await producers.request(T0 + timedelta(days=9), title="After the rebuild")
    await reporting.caught_up()
    (newest,) = (await numbers(database)).keys() - after.keys()
    assert (await numbers(database))[newest] > after[lost]
