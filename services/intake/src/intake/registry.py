"""The project registry: the SQL behind listing, filtering and ranking projects.

Each command writes the project's row in the same transaction as its events, so a list never
lags the log. Pages use keyset cursors: a cursor names the last row's sort values, so a page is
stable while projects are added or change rank.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import ColumnElement, Row, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.errors import InvalidInput
from intake.domain import Project
from intake.tables import project_registry

__all__ = [
    "SORTS",
    "ProjectFilter",
    "ProjectPage",
    "Sort",
    "insert_row",
    "list_projects",
    "update_row",
]

Sort = Literal["-score", "score", "-created", "created", "title", "-title"]
SORTS: tuple[Sort, ...] = ("-score", "score", "-created", "created", "title", "-title")

_NO_SCORE = Decimal("-1")
_table = project_registry.c
_score_rank = func.coalesce(_table.score, _NO_SCORE)

# Each sort's key columns (value expression, descending?); the project id breaks ties.
_SORT_KEYS: dict[Sort, list[tuple[ColumnElement[Any], bool]]] = {
    "-score": [(_table.mandatory, True), (_score_rank, True)],
    "score": [(_table.mandatory, False), (_score_rank, False)],
    "-created": [(_table.created_position, True)],
    "created": [(_table.created_position, False)],
    "title": [(_table.title, False)],
    "-title": [(_table.title, True)],
}


def _row_values(project: Project, version: int, at: datetime) -> dict[str, Any]:
    score = project.score
    return {
        "title": project.title,
        "status": project.status.value,
        "stage": project.stage.value if project.stage else None,
        "business_unit": project.business_unit,
        "project_type": project.project_type,
        "sponsor": project.sponsor,
        "requested_by": project.requested_by,
        "estimated_cost_amount": project.estimated_cost.amount,
        "estimated_cost_currency": project.estimated_cost.currency,
        "target_date": project.target_date,
        "score": score.value if score else None,
        "scoring_model": score.model_key if score else None,
        "knocked_out": bool(score and score.knocked_out),
        "mandatory": bool(score and score.mandatory),
        "rag": project.status_report.overall if project.status_report else None,
        "updated_at": at,
        "version": version,
    }


# Built once, the values bound when run: building a statement costs more than running it.
_INSERT_ROW = project_registry.insert()
_UPDATE_ROW = update(project_registry).where(_table.project_id == bindparam("the_project_id"))


async def insert_row(
    connection: AsyncConnection, project: Project, *, version: int, position: int, at: datetime
) -> None:
    await connection.execute(
        _INSERT_ROW,
        {
            "project_id": project.id,
            "created_position": position,
            "created_at": at,
            **_row_values(project, version, at),
        },
    )


async def update_row(
    connection: AsyncConnection, project: Project, *, version: int, at: datetime
) -> None:
    await connection.execute(
        _UPDATE_ROW, {"the_project_id": project.id, **_row_values(project, version, at)}
    )


@dataclass(frozen=True, kw_only=True)
class ProjectFilter:
    status: Sequence[str] = ()
    stage: Sequence[str] = ()
    business_unit: Sequence[str] = ()
    project_type: Sequence[str] = ()
    sponsor: str | None = None
    requested_by: str | None = None


@dataclass(frozen=True)
class ProjectPage:
    rows: list[Row[Any]]
    next_cursor: str | None


async def list_projects(
    connection: AsyncConnection, where: ProjectFilter, *, sort: Sort, cursor: str | None, limit: int
) -> ProjectPage:
    keys = [*_SORT_KEYS[sort], (_table.project_id, False)]
    query = select(project_registry, _score_rank.label("score_rank"))
    for column, values in (
        (_table.status, where.status),
        (_table.stage, where.stage),
        (_table.business_unit, where.business_unit),
        (_table.project_type, where.project_type),
    ):
        if values:
            query = query.where(column.in_(list(values)))
    if where.sponsor is not None:
        query = query.where(_table.sponsor == where.sponsor)
    if where.requested_by is not None:
        query = query.where(_table.requested_by == where.requested_by)
    if cursor is not None:
        query = query.where(_after(keys, _decode_cursor(cursor, sort, len(keys))))
    query = query.order_by(
        *[column.desc() if descending else column.asc() for column, descending in keys]
    ).limit(limit + 1)
    rows = list((await connection.execute(query)).all())
    if len(rows) <= limit:
        return ProjectPage(rows, None)
    rows = rows[:limit]
    return ProjectPage(rows, _encode_cursor(sort, _key_values(rows[-1], sort)))


def _after(keys: list[tuple[ColumnElement[Any], bool]], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order of ``keys`` (mixed directions allowed)."""
    alternatives = []
    for index, (column, descending) in enumerate(keys):
        equal_prefix = [keys[j][0] == values[j] for j in range(index)]
        beyond = column < values[index] if descending else column > values[index]
        alternatives.append(and_(*equal_prefix, beyond))
    return or_(*alternatives)


def _key_values(row: Row[Any], sort: Sort) -> list[Any]:
    mapping = row._mapping
    by_sort: dict[Sort, list[Any]] = {
        "-score": [mapping["mandatory"], mapping["score_rank"]],
        "score": [mapping["mandatory"], mapping["score_rank"]],
        "-created": [mapping["created_position"]],
        "created": [mapping["created_position"]],
        "title": [mapping["title"]],
        "-title": [mapping["title"]],
    }
    return [*by_sort[sort], mapping["project_id"]]


def _encode_cursor(sort: Sort, values: list[Any]) -> str:
    encoded = [str(value) if isinstance(value, UUID | Decimal) else value for value in values]
    raw = json.dumps([sort, *encoded], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: Sort, arity: int) -> list[Any]:
    def invalid(why: str) -> InvalidInput:
        return InvalidInput.for_field("cursor", why, location="query")

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
    except (binascii.Error, ValueError):
        raise invalid("not a cursor this API returned") from None
    if not isinstance(decoded, list) or not decoded or not isinstance(decoded[0], str):
        raise invalid("not a cursor this API returned")
    if decoded[0] != sort:
        raise invalid(f"this cursor belongs to sort={decoded[0]}; keep the sort while paging")
    if len(decoded) != arity + 1:
        raise invalid("not a cursor this API returned")
    values = decoded[1:]
    try:
        values[-1] = UUID(values[-1])
        if sort in ("-score", "score"):
            if not isinstance(values[0], bool):
                raise TypeError
            values[1] = Decimal(values[1])
    except (ValueError, TypeError, ArithmeticError):
        raise invalid("not a cursor this API returned") from None
    if sort in ("-created", "created") and not isinstance(values[0], int):
        raise invalid("not a cursor this API returned")
    if sort in ("title", "-title") and not isinstance(values[0], str):
        raise invalid("not a cursor this API returned")
    return values
