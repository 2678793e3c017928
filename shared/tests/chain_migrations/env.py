"""Alembic environment of the test history that exercises the event store's revisions."""

from sqlalchemy import MetaData

from gatehouse.eventstore.schema import NAMING_CONVENTION, include_event_store_tables
from gatehouse.migrations import run_env

run_env(include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION)))
