"""Portfolio read model.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_portfolio_projects"),
    )
    op.create_index("ix_portfolio_projects_requested_at", "portfolio_projects", ["requested_at"])


def downgrade() -> None:
    op.drop_index("ix_portfolio_projects_requested_at", table_name="portfolio_projects")
    op.drop_table("portfolio_projects")
