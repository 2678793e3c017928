"""Hash chain.

Revision ID: 0002
Revises: 0001
"""

from gatehouse.eventstore.revisions import add_event_hash_chain_v1, drop_event_hash_chain_v1

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_event_hash_chain_v1("/gatehouse/test")


def downgrade() -> None:
    drop_event_hash_chain_v1()
