"""Gate reviews, their awaited seats and conditions, delegations, and idempotency keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gatehouse.eventstore.revisions import create_idempotency_keys_v1, drop_idempotency_keys_v1

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    create_idempotency_keys_v1()
    op.create_table(
        "gate_reviews",
        sa.Column("review_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("project_type", sa.String(64), nullable=False),
        sa.Column("gate", sa.String(64), nullable=False),
        sa.Column("gate_name", sa.String(200), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_position", POSITION, nullable=False),
        sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("review_id", name="pk_gate_reviews"),
        sa.UniqueConstraint("opened_position", name="uq_gate_reviews_opened_position"),
    )
    op.create_index("ix_gate_reviews_project_id", "gate_reviews", ["project_id"])
    op.create_index("ix_gate_reviews_status_sla_due_at", "gate_reviews",
                    ["status", "sla_due_at"])
    op.create_table(
        "review_awaiting",
        sa.Column("review_id", sa.Uuid(), nullable=False),
        sa.Column("seat", sa.String(210), nullable=False),
        sa.ForeignKeyConstraint(["review_id"], ["gate_reviews.review_id"],
                                name="fk_review_awaiting_review_id_gate_reviews",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("review_id", "seat", name="pk_review_awaiting"),
    )
    op.create_index("ix_review_awaiting_seat", "review_awaiting", ["seat"])
    op.create_table(
        "gate_conditions",
        sa.Column("condition_id", sa.Uuid(), nullable=False),
        sa.Column("review_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("gate", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("condition_id", name="pk_gate_conditions"),
    )
    op.create_index("ix_gate_conditions_review_id", "gate_conditions", ["review_id"])
    op.create_index("ix_gate_conditions_status_due_date", "gate_conditions",
                    ["status", "due_date"])
    op.create_table(
        "delegations",
        sa.Column("delegation_id", sa.Uuid(), nullable=False),
        sa.Column("from_user", sa.String(200), nullable=False),
        sa.Column("to_user", sa.String(200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scope_project_type", sa.String(64), nullable=True),
        sa.Column("scope_gate", sa.String(64), nullable=True),
        sa.Column("scope_project_id", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("delegation_id", name="pk_delegations"),
    )
    op.create_index("ix_delegations_from_user", "delegations", ["from_user"])
    op.create_index("ix_delegations_to_user", "delegations", ["to_user"])


def downgrade() -> None:
    op.drop_table("delegations")
    op.drop_table("gate_conditions")
    op.drop_table("review_awaiting")
    op.drop_table("gate_reviews")
    drop_idempotency_keys_v1()
