"""The numbers of reporting's log (``event_log.seq``) through a rebuild.

A log row's number is the live stream's event id: a dashboard resumes after it with
``Last-Event-ID``. A rebuild writes the log again, in its own order, into a shadow table, so
the rebuilt rows take their numbers from the live log instead of drawing new ones:

* an event the live log holds keeps its number there (:func:`keep_live_numbers`);
* an event it lacks (a log a rebuild repairs) draws a new number from the live log's own
  numbering, above every number that log has given: a dashboard gets it once, as news;
* at the swap, the shadow's numbering goes on above every number the live log gave
  (:func:`continue_live_numbering`), also numbers a rolled-back transaction drew and never
  kept: a dashboard that saw number *n* must never be handed a new event at or below *n*.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import any_of

__all__ = ["continue_live_numbering", "keep_live_numbers"]

LOOKUP = 5000


async def keep_live_numbers(
    connection: AsyncConnection, rows: Sequence[dict[str, Any]], live: Table
) -> None:
    """Set each rebuilt log row's ``seq``: its event's number in ``live``, or a new one."""
    if not rows:
        return
    lookup = select(live.c.event_id, live.c.seq).where(
        any_of(live.c.event_id, "ids", connection.dialect.name)
    )
    ids = [row["event_id"] for row in rows]
    found: dict[Any, int] = {}
    for start in range(0, len(ids), LOOKUP):  # SQLite binds each id: fewer than its limit
        result = await connection.execute(lookup, {"ids": ids[start : start + LOOKUP]})
        found.update((row.event_id, row.seq) for row in result)
    fresh = iter(await _new_numbers(connection, live, len(ids) - len(found)))
    for row in rows:
        kept = found.get(row["event_id"])
        row["seq"] = kept if kept is not None else next(fresh)


async def continue_live_numbering(connection: AsyncConnection, live: Table, shadow: Table) -> None:
    """Make the shadow's next number follow every number ``live`` has given (at the swap, with
    ``live`` locked)."""
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:shadow, 'seq'), greatest("
                " coalesce(pg_sequence_last_value("
                "  CAST(pg_get_serial_sequence(:live, 'seq') AS regclass)), 0),"
                f' (SELECT coalesce(max(seq), 0) FROM "{shadow.name}"), 1))'
            ),
            {"live": live.name, "shadow": shadow.name},
        )
        return
    await _set_sqlite_sequence(
        connection,
        shadow.name,
        max(await _sqlite_top(connection, live.name), await _sqlite_top(connection, shadow.name)),
    )


async def _new_numbers(connection: AsyncConnection, live: Table, count: int) -> list[int]:
    """``count`` numbers from ``live``'s own numbering, ascending, above all it has given."""
    if count == 0:
        return []
    if connection.dialect.name == "postgresql":
        drawn = await connection.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:live, 'seq')) "
                "FROM generate_series(1, :count)"
            ),
            {"live": live.name, "count": count},
        )
        return sorted(int(number) for number in drawn.scalars())
    # SQLite (one writer: the rebuild holds the database): AUTOINCREMENT goes on from the
    # largest number in sqlite_sequence, so the numbers are taken by raising it.
    top = await _sqlite_top(connection, live.name)
    await _set_sqlite_sequence(connection, live.name, top + count)
    return list(range(top + 1, top + count + 1))


async def _sqlite_top(connection: AsyncConnection, table: str) -> int:
    """The largest number the SQLite table has given (AUTOINCREMENT never gives one again)."""
    return int(
        (
            await connection.execute(
                text(
                    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = :table), 0),"
                    f' coalesce((SELECT max(seq) FROM "{table}"), 0))'
                ),
                {"table": table},
            )
        ).scalar_one()
    )


async def _set_sqlite_sequence(connection: AsyncConnection, table: str, top: int) -> None:
    updated = await connection.execute(
        text("UPDATE sqlite_sequence SET seq = :top WHERE name = :table"),
        {"table": table, "top": top},
    )
    if not updated.rowcount:
        await connection.execute(
            text("INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :top)"),
            {"table": table, "top": top},
        )
