"""Frozen Alembic operations for the event store tables, shared by every service's history.

A service's first revision calls :func:`create_event_store_v1`. Later changes to the event store
get a new function here and a new revision in every service; never edit a released one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations
from sqlalchemy.dialects.postgresql import JSONB

from gatehouse.eventstore.chain import GENESIS_HASH, event_hash

__all__ = [
    "add_event_hash_chain_v1",
    "create_api_keys_v1",
    "create_event_store_v1",
    "create_idempotency_keys_v1",
    "create_personal_keys_v1",
    "create_unpublished_personal_keys_index_v1",
    "drop_api_keys_v1",
    "drop_event_hash_chain_v1",
    "drop_event_store_v1",
    "drop_idempotency_keys_v1",
    "drop_personal_keys_v1",
    "drop_unpublished_personal_keys_index_v1",
]

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
        sa.ForeignKeyConstraint(
            ["position"], ["events.position"], name="fk_outbox_position_events"
        ),
        sa.PrimaryKeyConstraint("position", name="pk_outbox"),
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["position"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
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


def create_api_keys_v1() -> None:
    """The API keys a service accepts, hashed (see gatehouse/apikeys.py)."""
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("roles", _json, nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("issued_by", sa.String(200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )


def drop_api_keys_v1() -> None:
    op.drop_table("api_keys")


def create_personal_keys_v1() -> None:
    """The keys that seal personal data in events (see gatehouse/personal_keys.py)."""
    op.create_table(
        "personal_keys",
        sa.Column("ref", sa.String(33), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("key", sa.LargeBinary(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("ref", name="pk_personal_keys"),
    )
    op.create_index("ix_personal_keys_subject", "personal_keys", ["subject"])


def drop_personal_keys_v1() -> None:
    op.drop_index("ix_personal_keys_subject", table_name="personal_keys")
    op.drop_table("personal_keys")


def create_unpublished_personal_keys_index_v1() -> None:
    """The keys not yet on the keys topic, indexed (the relay asks with every page it reads)."""
    op.create_index(
        "ix_personal_keys_unpublished",
        "personal_keys",
        ["created_at", "ref"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )


def drop_unpublished_personal_keys_index_v1() -> None:
    op.drop_index("ix_personal_keys_unpublished", table_name="personal_keys")


def add_event_hash_chain_v1(source: str) -> None:
    """Chain every stream (``events.prev_hash``, ``events.hash``) and keep log heads (``outbox``).

    Existing events are chained stream by stream in version order, as ``source`` (the service's
    CloudEvents source, e.g. ``/gatehouse/intake``) would have chained them when appending.
    Every outbox row is then put back for publishing: the relay republishes the whole log with
    hashes and log heads (consumers skip the copies they have applied), so the published log can
    be verified from its first event.
    """
    op.add_column("events", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("events", sa.Column("hash", sa.String(64), nullable=True))
    op.add_column("outbox", sa.Column("log_head", sa.String(64), nullable=True))
    bind = op.get_bind()
    _backfill_event_hashes(bind, source)
    bind.execute(sa.update(_outbox_v2).values(published_at=None, log_head=None))

    def not_null(batch: BatchOperations) -> None:
        for column in ("prev_hash", "hash"):
            batch.alter_column(column, existing_type=sa.String(64), nullable=False)

    _alter_events(not_null)


def drop_event_hash_chain_v1() -> None:
    # SQLite drops unindexed columns in place (3.35+).
    op.drop_column("outbox", "log_head")
    op.drop_column("events", "hash")
    op.drop_column("events", "prev_hash")


_events_v2 = sa.table(
    "events",
    sa.column("position", _position),
    sa.column("event_id", sa.Uuid()),
    sa.column("stream_id", sa.String(200)),
    sa.column("version", sa.Integer()),
    sa.column("type", sa.String(200)),
    sa.column("schema_version", sa.Integer()),
    sa.column("data", _json),
    sa.column("recorded_at", sa.DateTime(timezone=True)),
    sa.column("correlation_id", sa.String(200)),
    sa.column("causation_id", sa.String(200)),
    sa.column("actor", sa.String(200)),
    sa.column("prev_hash", sa.String(64)),
    sa.column("hash", sa.String(64)),
)

_outbox_v2 = sa.table(
    "outbox",
    sa.column("position", _position),
    sa.column("topic", sa.String(255)),
    sa.column("published_at", sa.DateTime(timezone=True)),
    sa.column("log_head", sa.String(64)),
)


def _backfill_event_hashes(bind: sa.Connection, source: str) -> None:
    rows = bind.execute(
        sa.select(_events_v2).order_by(_events_v2.c.stream_id, _events_v2.c.version)
    )
    updates: list[dict[str, Any]] = []
    stream_id: str | None = None
    previous = GENESIS_HASH
    for row in rows:
        if row.stream_id != stream_id:
            stream_id, previous = row.stream_id, GENESIS_HASH
        recorded_at = row.recorded_at
        if recorded_at.tzinfo is None:  # SQLite keeps no offset; the store writes UTC
            recorded_at = recorded_at.replace(tzinfo=UTC)
        digest = event_hash(
            event_id=row.event_id,
            source=source,
            stream_id=row.stream_id,
            version=row.version,
            type=row.type,
            schema_version=row.schema_version,
            data=row.data,
            recorded_at=recorded_at,
            actor=row.actor,
            correlation_id=row.correlation_id,
            causation_id=row.causation_id,
            prev_hash=previous,
        )
        updates.append({"at_position": row.position, "new_prev_hash": previous, "new_hash": digest})
        previous = digest
    if updates:
        bind.execute(
            sa.update(_events_v2)
            .where(_events_v2.c.position == sa.bindparam("at_position"))
            .values(prev_hash=sa.bindparam("new_prev_hash"), hash=sa.bindparam("new_hash")),
            updates,
        )


def _alter_events(alter: Callable[[BatchOperations], None]) -> None:
    """Alter ``events`` in place (PostgreSQL) or by copying it (SQLite, batch mode).

    SQLite drops the old table after the copy; ``outbox`` rows refer to it and foreign keys are
    on, so they step aside meanwhile and come back unchanged.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        with op.batch_alter_table("events") as batch:
            alter(batch)
        return
    parked = [dict(row._mapping) for row in bind.execute(sa.select(_outbox_v2))]
    bind.execute(sa.delete(_outbox_v2))
    with op.batch_alter_table(
        "events", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        alter(batch)
    if parked:
        bind.execute(sa.insert(_outbox_v2), parked)
