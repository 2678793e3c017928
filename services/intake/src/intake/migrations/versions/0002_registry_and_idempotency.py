"""The project registry (read model kept with each command) and the API's idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gatehouse.eventstore.revisions import create_idempotency_keys_v1, drop_idempotency_keys_v1

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_idempotency_keys_v1()
    op.create_table(
        "project_registry",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("stage", sa.String(32), nullable=True),
        sa.Column("business_unit", sa.String(200), nullable=False),
        sa.Column("project_type", sa.String(64), nullable=False),
        sa.Column("sponsor", sa.String(200), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("estimated_cost_amount", sa.Numeric(20, 2), nullable=False),
        sa.Column("estimated_cost_currency", sa.String(3), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("score", sa.Numeric(12, 2), nullable=True),
        sa.Column("scoring_model", sa.String(64), nullable=True),
        sa.Column("knocked_out", sa.Boolean(), nullable=False),
        sa.Column("mandatory", sa.Boolean(), nullable=False),
        sa.Column("rag", sa.String(8), nullable=True),
        sa.Column("created_position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_project_registry"),
        sa.UniqueConstraint("created_position", name="uq_project_registry_created_position"),
    )
    for column in ("status", "stage", "business_unit"):
        op.create_index(f"ix_project_registry_{column}", "project_registry", [column])


def downgrade() -> None:
    op.drop_table("project_registry")
    drop_idempotency_keys_v1()
