"""Tamper evidence: hash chain of every stream, running log head of the published log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from gatehouse.eventstore.revisions import add_event_hash_chain_v1, drop_event_hash_chain_v1

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCE = "/gatehouse/governance"


def upgrade() -> None:
    add_event_hash_chain_v1(SOURCE)


def downgrade() -> None:
    drop_event_hash_chain_v1()
