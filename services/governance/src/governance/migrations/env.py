"""Alembic environment for the governance database."""

from gatehouse.migrations import run_env
from governance.tables import metadata

run_env(metadata)
