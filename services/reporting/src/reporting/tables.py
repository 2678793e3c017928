"""Reporting's read models (disposable: rebuilt from the log) and the consumer tracking tables.

- ``event_log``: every event reporting has consumed, from every service: the timeline, the
  audit trail, time travel (``as_of``) and chain verification read it.
- ``project_views``: one document per project, its current view across intake and governance.
- ``review_records``, ``decision_records``, ``condition_records``: gate reviews, every vote and
  decision, the conditions of conditional gos, for KPIs, workload and audit queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    text,
)

from gatehouse.apikeys import include_api_key_tables
from gatehouse.database import UtcDateTime
from gatehouse.eventstore.schema import (
    NAMING_CONVENTION,
    Json,
    Position,
    include_event_store_tables,
)
from gatehouse.personal_keys import include_personal_key_tables

__all__ = [
    "LIVE",
    "ReadModel",
    "condition_records",
    "decision_records",
    "event_log",
    "metadata",
    "project_views",
    "review_records",
]

metadata = include_personal_key_tables(
    include_api_key_tables(
        include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION))
    )
)

event_log = Table(
    "event_log",
    metadata,
    Column("seq", Position, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("source", String(200), nullable=False),
    Column("type", String(200), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("position", Position, nullable=True),
    Column("time", UtcDateTime, nullable=False),
    Column("actor", String(200), nullable=True),
    Column("correlation_id", String(200), nullable=True),
    Column("causation_id", String(200), nullable=True),
    Column("project_id", Uuid, nullable=True),
    Column("data", Json, nullable=False),
    Column("hash", String(64), nullable=True),
    Column("prev_hash", String(64), nullable=True),
    Column("log_head", String(64), nullable=True),
    Index("ix_event_log_project_id_time", "project_id", "time"),
    Index("ix_event_log_time", "time"),
    Index("ix_event_log_stream_id_stream_version", "stream_id", "stream_version"),
    sqlite_autoincrement=True,
)

project_views = Table(
    "project_views",
    metadata,
    Column("project_id", Uuid, primary_key=True),
    Column("view", Json, nullable=False),
    Column("demand_status", String(32), nullable=True),
    Column("stage", String(32), nullable=True),
    Column("business_unit", String(200), nullable=True),
    Column("project_type", String(64), nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)

review_records = Table(
    "review_records",
    metadata,
    Column("review_id", Uuid, primary_key=True),
    Column("project_id", Uuid, nullable=False, index=True),
    Column("gate", String(64), nullable=False),
    Column("gate_name", String(200), nullable=False),
    Column("project_type", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("outcome", String(16), nullable=True),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("sla_due_at", UtcDateTime, nullable=False),
    Column("escalated_at", UtcDateTime, nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("panel", Json, nullable=False),
    Index("ix_review_records_status", "status"),
)

decision_records = Table(
    "decision_records",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("review_id", Uuid, nullable=False),
    Column("project_id", Uuid, nullable=False, index=True),
    Column("gate", String(64), nullable=False),
    Column("approver", String(200), nullable=True),
    Column("cast_by", String(200), nullable=True),
    Column("decision", String(16), nullable=False),
    Column("rationale", Text, nullable=False),
    Column("detail", Json, nullable=False),
    Column("time", UtcDateTime, nullable=False),
    Index("ix_decision_records_time_event_id", "time", "event_id"),
    # GET /v1/audit/decisions?approver=: who held the seat, or who cast the vote for another
    # (a delegate: few rows, so a partial index), in time order.
    Index("ix_decision_records_approver_time_event_id", "approver", "time", "event_id"),
    Index(
        "ix_decision_records_delegated_cast_by",
        "cast_by",
        "time",
        "event_id",
        postgresql_where=text("cast_by IS DISTINCT FROM approver"),
        sqlite_where=text("cast_by IS NOT approver"),
    ),
)

condition_records = Table(
    "condition_records",
    metadata,
    Column("condition_id", Uuid, primary_key=True),
    Column("review_id", Uuid, nullable=False),
    Column("project_id", Uuid, nullable=False),
    Column("gate", String(64), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("status", String(16), nullable=False),
)


@dataclass(frozen=True)
class ReadModel:
    """The tables one run of the projections writes: the live ones, or a rebuild's shadows."""

    event_log: Table
    project_views: Table
    review_records: Table
    decision_records: Table
    condition_records: Table

    @property
    def tables(self) -> tuple[Table, ...]:
        return (
            self.event_log,
            self.project_views,
            self.review_records,
            self.decision_records,
            self.condition_records,
        )

    def shadow(self, suffix: str = "__shadow") -> ReadModel:
        """Copies of the tables named ``<table><suffix>``, their indexes and constraints too
        (names are unique per schema), in a metadata of their own."""
        shadow_metadata = MetaData(naming_convention=NAMING_CONVENTION)
        copies = []
        for table in self.tables:
            copy = table.to_metadata(shadow_metadata, name=f"{table.name}{suffix}")
            named: list[Any] = [*copy.indexes, *copy.constraints]
            for item in named:
                if isinstance(item.name, str) and suffix not in item.name:
                    item.name = f"{item.name}{suffix}"
            copies.append(copy)
        return ReadModel(*copies)


LIVE = ReadModel(event_log, project_views, review_records, decision_records, condition_records)
