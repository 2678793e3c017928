"""Audit by approver: indexes on who holds the seat and who cast the vote, in time order.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_decision_records_approver_time_event_id", "decision_records",
                    ["approver", "time", "event_id"])
    op.create_index("ix_decision_records_cast_by_time_event_id", "decision_records",
                    ["cast_by", "time", "event_id"])


def downgrade() -> None:
    op.drop_index("ix_decision_records_cast_by_time_event_id", table_name="decision_records")
    op.drop_index("ix_decision_records_approver_time_event_id", table_name="decision_records")
