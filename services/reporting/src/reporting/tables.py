"""Reporting's read models (disposable: rebuilt from the log) and the consumer tracking tables."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, Numeric, String, Table, Uuid

from gatehouse.database import UtcDateTime
from gatehouse.eventstore.schema import NAMING_CONVENTION, include_event_store_tables

__all__ = ["metadata", "portfolio_projects"]

metadata = include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION))

portfolio_projects = Table(
    "portfolio_projects",
    metadata,
    Column("project_id", Uuid, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("sponsor", String(200), nullable=False),
    Column("business_unit", String(200), nullable=False),
    Column("project_type", String(64), nullable=False),
    Column("estimated_cost_amount", Numeric(20, 2), nullable=False),
    Column("estimated_cost_currency", String(3), nullable=False),
    Column("demand_status", String(32), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Index("ix_portfolio_projects_requested_at", "requested_at"),
)
