"""Alembic environment for the reporting database."""

from gatehouse.migrations import run_env
from reporting.tables import metadata

run_env(metadata)
