"""Personal keys: an index on the keys not yet on the keys topic.

The outbox relay asks whether a key waits to be published with every page of events it reads
(``KeyPublisher.WAITING``), and the publisher reads the waiting keys in order: both scanned the
whole table. The partial index holds only the waiting keys.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from gatehouse.eventstore.revisions import (
    create_unpublished_personal_keys_index_v1,
    drop_unpublished_personal_keys_index_v1,
)

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_unpublished_personal_keys_index_v1()


def downgrade() -> None:
    drop_unpublished_personal_keys_index_v1()
