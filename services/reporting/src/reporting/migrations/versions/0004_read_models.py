"""The read models across intake and governance; the first portfolio table goes.

Read models are disposable: the consumer that fills these (``reporting.projections``) is new,
so it reads every topic from the start and rebuilds them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_index("ix_portfolio_projects_requested_at", table_name="portfolio_projects")
    op.drop_table("portfolio_projects")
    op.create_table(
        "event_log",
        sa.Column("seq", POSITION, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("stream_version", sa.Integer(), nullable=False),
        sa.Column("position", POSITION, nullable=True),
        sa.Column("time", TIME, nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("correlation_id", sa.String(200), nullable=True),
        sa.Column("causation_id", sa.String(200), nullable=True),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.Column("hash", sa.String(64), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=True),
        sa.Column("log_head", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_event_log"),
        sa.UniqueConstraint("event_id", name="uq_event_log_event_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_log_project_id_time", "event_log", ["project_id", "time"])
    op.create_index("ix_event_log_time", "event_log", ["time"])
    op.create_index("ix_event_log_stream_id_stream_version", "event_log",
                    ["stream_id", "stream_version"])
    op.create_table(
        "project_views",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("view", JSON, nullable=False),
        sa.Column("demand_status", sa.String(32), nullable=True),
        sa.Column("stage", sa.String(32), nullable=True),
        sa.Column("business_unit", sa.String(200), nullable=True),
        sa.Column("project_type", sa.String(64), nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_project_views"),
    )
    op.create_table(
        "review_records",
        sa.Column("review_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("gate", sa.String(64), nullable=False),
        sa.Column("gate_name", sa.String(200), nullable=False),
        sa.Column("project_type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("opened_at", TIME, nullable=False),
        sa.Column("sla_due_at", TIME, nullable=False),
        sa.Column("escalated_at", TIME, nullable=True),
        sa.Column("closed_at", TIME, nullable=True),
        sa.Column("panel", JSON, nullable=False),
        sa.PrimaryKeyConstraint("review_id", name="pk_review_records"),
    )
    op.create_index("ix_review_records_project_id", "review_records", ["project_id"])
    op.create_index("ix_review_records_status", "review_records", ["status"])
    op.create_table(
        "decision_records",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("review_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("gate", sa.String(64), nullable=False),
        sa.Column("approver", sa.String(200), nullable=True),
        sa.Column("cast_by", sa.String(200), nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("time", TIME, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_decision_records"),
    )
    op.create_index("ix_decision_records_project_id", "decision_records", ["project_id"])
    op.create_index("ix_decision_records_time_event_id", "decision_records",
                    ["time", "event_id"])
    op.create_table(
        "condition_records",
        sa.Column("condition_id", sa.Uuid(), nullable=False),
        sa.Column("review_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("gate", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("condition_id", name="pk_condition_records"),
    )


def downgrade() -> None:
    for table in ("condition_records", "decision_records", "review_records", "project_views",
                  "event_log"):
        op.drop_table(table)
    op.create_table(
        "portfolio_projects",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("sponsor", sa.String(200), nullable=False),
        sa.Column("business_unit", sa.String(200), nullable=False),
        sa.Column("project_type", sa.String(64), nullable=False),
        sa.Column("estimated_cost_amount", sa.Numeric(20, 2), nullable=False),
        sa.Column("estimated_cost_currency", sa.String(3), nullable=False),
        sa.Column("demand_status", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_portfolio_projects"),
    )
    op.create_index("ix_portfolio_projects_requested_at", "portfolio_projects", ["requested_at"])
