"""Personal keys: the keys that seal personal data in events (see gatehouse/personal_keys.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from gatehouse.eventstore.revisions import create_personal_keys_v1, drop_personal_keys_v1

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_personal_keys_v1()


def downgrade() -> None:
    drop_personal_keys_v1()
