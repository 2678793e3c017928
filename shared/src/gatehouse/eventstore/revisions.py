"""Frozen Alembic operations for the event store tables, shared by every service's history.

A service's first revision calls :func:`create_event_store_v1`. Later changes to the event store
get a new function here and a new revision in every service; never edit a released one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["create_event_store_v1", "create_idempotency_keys_v1", "drop_event_store_v1",
           "drop_idempotency_keys_v1"]

_position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_json = sa.JSON().with_variant(JSONB(), "postgresql")


def create_event_store_v1() -> None:
    op.create_table(
        "events",
        sa.Column("position", _position, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("data", _json, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("correlation_id", sa.String(200)),
        sa.Column("causation_id", sa.String(200)),
        sa.Column("actor", sa.String(200)),
        sa.PrimaryKeyConstraint("position", name="pk_events"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
        sa.UniqueConstraint("stream_id", "version", name="uq_events_stream_id_version"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "outbox",
        sa.Column("position", _position, nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(["position"], ["events.position"],
                                name="fk_outbox_position_events"),
        sa.PrimaryKeyConstraint("position", name="pk_outbox"),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["position"],
                    postgresql_where=sa.text("published_at IS NULL"),
                    sqlite_where=sa.text("published_at IS NULL"))
    op.create_table(
        "consumer_streams",
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "stream_id", name="pk_consumer_streams"),
    )
    op.create_table(
        "consumer_offsets",
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "topic", "partition", name="pk_consumer_offsets"),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", _position, autoincrement=True, nullable=False),
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(200)),
        sa.Column("stream_id", sa.String(200)),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
        sqlite_autoincrement=True,
    )


def drop_event_store_v1() -> None:
    for table in ("dead_letters", "consumer_offsets", "consumer_streams"):
        op.drop_table(table)
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("events")


def create_idempotency_keys_v1() -> None:
    """The stored responses of requests sent with an ``Idempotency-Key`` (see idempotency.py)."""
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("headers", _json, nullable=False),
        sa.Column("body", _json, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])


def drop_idempotency_keys_v1() -> None:
    op.drop_table("idempotency_keys")
