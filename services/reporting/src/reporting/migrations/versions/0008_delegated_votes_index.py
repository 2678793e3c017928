"""Audit by approver: the index on who cast a vote keeps only votes cast for someone else.

``approver=`` asks for the records whose seat the person held, merged in time order with the
votes they cast for another seat holder (as a delegate). The full ``cast_by`` index made that
second question read every vote the person cast for their own seat and drop it; the partial
index holds only the delegated votes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_decision_records_cast_by_time_event_id", table_name="decision_records")
    op.create_index("ix_decision_records_delegated_cast_by", "decision_records",
                    ["cast_by", "time", "event_id"],
                    postgresql_where=sa.text("cast_by IS DISTINCT FROM approver"),
                    sqlite_where=sa.text("cast_by IS NOT approver"))


def downgrade() -> None:
    op.drop_index("ix_decision_records_delegated_cast_by",
                  table_name="decision_records")
    op.create_index("ix_decision_records_cast_by_time_event_id", "decision_records",
                    ["cast_by", "time", "event_id"])
