"""Governance's tables: its event store and its own view of intake's projects."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid

from gatehouse.database import UtcDateTime
from gatehouse.eventstore.schema import NAMING_CONVENTION, include_event_store_tables

__all__ = ["known_projects", "metadata"]

metadata = include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION))

# What governance knows of each project, from gatehouse.intake.events (never from intake's API).
known_projects = Table(
    "known_projects",
    metadata,
    Column("project_id", Uuid, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("sponsor", String(200), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("business_unit", String(200), nullable=False),
    Column("project_type", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
)
