"""Event store, outbox and consumer tracking tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from gatehouse.eventstore.revisions import create_event_store_v1, drop_event_store_v1

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_event_store_v1()


def downgrade() -> None:
    drop_event_store_v1()
