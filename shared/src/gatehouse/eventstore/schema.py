"""Tables every service database has: the event log, the outbox and consumer tracking.

A service's own tables join these in its ``metadata`` (see each service's ``tables`` module)
and one Alembic history creates them all.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from gatehouse.database import UtcDateTime

__all__ = [
    "NAMING_CONVENTION",
    "Json",
    "Position",
    "consumer_offsets",
    "consumer_streams",
    "dead_letters",
    "event_store_metadata",
    "events",
    "include_event_store_tables",
    "outbox",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL; INTEGER on SQLite, where only INTEGER PRIMARY KEY is the rowid alias.
Position = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")

event_store_metadata = MetaData(naming_convention=NAMING_CONVENTION)

events = Table(
    "events",
    event_store_metadata,
    Column("position", Position, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(200), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("data", Json, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("correlation_id", String(200)),
    Column("causation_id", String(200)),
    Column("actor", String(200)),
    # The hash chain of the stream (gatehouse.eventstore.chain): set by EventStore.append.
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("stream_id", "version"),
    sqlite_autoincrement=True,
)

outbox = Table(
    "outbox",
    event_store_metadata,
    Column("position", Position, ForeignKey("events.position"), primary_key=True),
    Column("topic", String(255), nullable=False),
    Column("published_at", UtcDateTime),
    # The running head of the published log after this event, stored when it is marked.
    Column("log_head", String(64)),
    Index(
        "ix_outbox_unpublished",
        "position",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
)

consumer_streams = Table(
    "consumer_streams",
    event_store_metadata,
    Column("consumer", String(200), primary_key=True),
    Column("stream_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
)

consumer_offsets = Table(
    "consumer_offsets",
    event_store_metadata,
    Column("consumer", String(200), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

dead_letters = Table(
    "dead_letters",
    event_store_metadata,
    Column("id", Position, primary_key=True, autoincrement=True),
    Column("consumer", String(200), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("event_id", String(200)),
    Column("stream_id", String(200)),
    Column("error", Text, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,
)


def include_event_store_tables(metadata: MetaData) -> MetaData:
    """Copy the event store's tables into a service's metadata."""
    for table in event_store_metadata.sorted_tables:
        table.to_metadata(metadata)
    return metadata
