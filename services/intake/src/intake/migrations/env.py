"""Alembic environment for the intake database."""

from gatehouse.migrations import run_env
from intake.tables import metadata

run_env(metadata)
