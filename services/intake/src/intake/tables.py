"""Intake's database tables: the event store's (the log is the record)."""

from __future__ import annotations

from sqlalchemy import MetaData

from gatehouse.eventstore.schema import NAMING_CONVENTION, include_event_store_tables

__all__ = ["metadata"]

metadata = include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION))
