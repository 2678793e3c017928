"""Intake's database tables: the event store (the log is the record), the idempotency keys of
its API, and the project registry, a read model kept in the same transaction as each command.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Uuid,
)

from gatehouse.apikeys import include_api_key_tables
from gatehouse.database import UtcDateTime
from gatehouse.eventstore.schema import NAMING_CONVENTION, Position, include_event_store_tables
from gatehouse.idempotency import include_idempotency_tables
from gatehouse.personal_keys import include_personal_key_tables

__all__ = ["metadata", "project_registry"]

metadata = include_personal_key_tables(
    include_api_key_tables(
        include_idempotency_tables(
            include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION))
        )
    )
)

# One row per project, as it stands after its last event: what lists, filters and ranks read.
project_registry = Table(
    "project_registry",
    metadata,
    Column("project_id", Uuid, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("stage", String(32), nullable=True, index=True),
    Column("business_unit", String(200), nullable=False, index=True),
    Column("project_type", String(64), nullable=False),
    Column("sponsor", String(200), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("estimated_cost_amount", Numeric(20, 2), nullable=False),
    Column("estimated_cost_currency", String(3), nullable=False),
    Column("target_date", Date, nullable=True),
    Column("score", Numeric(12, 2), nullable=True),
    Column("scoring_model", String(64), nullable=True),
    Column("knocked_out", Boolean, nullable=False),
    Column("mandatory", Boolean, nullable=False),
    Column("rag", String(8), nullable=True),
    Column("created_position", Position, nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
)
