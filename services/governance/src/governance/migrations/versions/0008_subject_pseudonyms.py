"""Segregation of duties survives an erasure: keyed pseudonyms of each project's requester and
sponsor, and of each review seat's holder and voter, which an erasure leaves in place while it
replaces their names by ``[erased]``.

The key is made here, once, at random, and kept in the service's database. Projects known
before this revision get their pseudonyms from the names held now; a name already erased
leaves the pseudonym empty, and votes on that project are refused (nobody can tell who may not
vote). Reviews opened before this revision have no seat rows: their voters are told by name.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gatehouse.identity import SUBJECT_PSEUDONYMS, Pseudonyms, new_pseudonym_key

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    keys = op.create_table(
        "pseudonym_keys",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_pseudonym_keys"),
    )
    key = new_pseudonym_key()
    op.bulk_insert(keys, [{"name": SUBJECT_PSEUDONYMS, "key": key}])
    op.add_column("known_projects",
                  sa.Column("requester_pseudonym", sa.LargeBinary(), nullable=True))
    op.add_column("known_projects",
                  sa.Column("sponsor_pseudonym", sa.LargeBinary(), nullable=True))
    pseudonyms = Pseudonyms(key)
    projects = sa.table("known_projects", sa.column("project_id", sa.Uuid()),
                        sa.column("requested_by", sa.String()), sa.column("sponsor", sa.String()),
                        sa.column("requester_pseudonym", sa.LargeBinary()),
                        sa.column("sponsor_pseudonym", sa.LargeBinary()))
    connection = op.get_bind()
    rows = connection.execute(sa.select(projects.c.project_id, projects.c.requested_by,
                                        projects.c.sponsor)).all()
    for row in rows:
        connection.execute(projects.update().where(projects.c.project_id == row.project_id)
                           .values(requester_pseudonym=pseudonyms.of_named(row.requested_by),
                                   sponsor_pseudonym=pseudonyms.of_named(row.sponsor)))
    op.create_table(
        "review_seats",
        sa.Column("review_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder_pseudonym", sa.LargeBinary(), nullable=True),
        sa.Column("caster_pseudonym", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["review_id"], ["gate_reviews.review_id"],
                                name="fk_review_seats_review_id_gate_reviews",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("review_id", "position", name="pk_review_seats"),
    )


def downgrade() -> None:
    op.drop_table("review_seats")
    with op.batch_alter_table("known_projects") as batch:
        batch.drop_column("sponsor_pseudonym")
        batch.drop_column("requester_pseudonym")
    op.drop_table("pseudonym_keys")
