"""Governance's tables: its event store (the record), the idempotency keys of its API, its view
of intake's projects, and the read models its commands keep in their own transaction: reviews
(with the seats each awaits, for inboxes), the conditions of conditional gos (for the timer) and
delegations.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
)

from gatehouse.apikeys import include_api_key_tables
from gatehouse.database import UtcDateTime
from gatehouse.eventstore.schema import NAMING_CONVENTION, Position, include_event_store_tables
from gatehouse.idempotency import include_idempotency_tables
from gatehouse.identity import include_pseudonym_key_tables
from gatehouse.personal_keys import include_personal_key_tables

__all__ = [
    "delegations",
    "gate_conditions",
    "gate_reviews",
    "known_projects",
    "metadata",
    "review_awaiting",
    "review_seats",
]

metadata = include_pseudonym_key_tables(
    include_personal_key_tables(
        include_api_key_tables(
            include_idempotency_tables(
                include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION))
            )
        )
    )
)

# What governance knows of each project, from gatehouse.intake.events (never from intake's API).
known_projects = Table(
    "known_projects",
    metadata,
    Column("project_id", Uuid, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("sponsor", String(200), nullable=False),
    Column("requested_by", String(200), nullable=False),
    # Who the requester and sponsor are for segregation of duties (gatehouse.identity): an
    # erasure replaces the names above by [erased] and leaves these. Empty when the name was
    # already erased as governance learned it.
    Column("requester_pseudonym", LargeBinary, nullable=True),
    Column("sponsor_pseudonym", LargeBinary, nullable=True),
    Column("business_unit", String(200), nullable=False),
    Column("project_type", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
)

# One row per gate review as it stands after its last event.
gate_reviews = Table(
    "gate_reviews",
    metadata,
    Column("review_id", Uuid, primary_key=True),
    Column("project_id", Uuid, nullable=False, index=True),
    Column("project_type", String(64), nullable=False),
    Column("gate", String(64), nullable=False),
    Column("gate_name", String(200), nullable=False),
    Column("template_version", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("outcome", String(16), nullable=True),
    Column("opened_by", String(200), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("opened_position", Position, nullable=False, unique=True),
    Column("sla_due_at", UtcDateTime, nullable=False),
    Column("escalated_at", UtcDateTime, nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_gate_reviews_status_sla_due_at", "status", "sla_due_at"),
)

# The seats an open review waits for now ("user:gina", "role:finance"): the approvers' inboxes.
review_awaiting = Table(
    "review_awaiting",
    metadata,
    Column(
        "review_id",
        Uuid,
        ForeignKey("gate_reviews.review_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seat", String(210), primary_key=True),
    Index("ix_review_awaiting_seat", "seat"),
)

# Who holds each seat of a review and who cast its current ballot (by position on the panel),
# as keyed pseudonyms (gatehouse.identity): the one-vote-per-approver rule still knows a voter
# after an erasure has turned their name in the record into [erased].
review_seats = Table(
    "review_seats",
    metadata,
    Column(
        "review_id",
        Uuid,
        ForeignKey("gate_reviews.review_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("holder_pseudonym", LargeBinary, nullable=True),
    Column("caster_pseudonym", LargeBinary, nullable=True),
)

# The conditions of conditional gos, for the breach timer and for listings.
gate_conditions = Table(
    "gate_conditions",
    metadata,
    Column("condition_id", Uuid, primary_key=True),
    Column("review_id", Uuid, nullable=False, index=True),
    Column("project_id", Uuid, nullable=False),
    Column("gate", String(64), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("met_at", UtcDateTime, nullable=True),
    Column("breached_at", UtcDateTime, nullable=True),
    Index("ix_gate_conditions_status_due_date", "status", "due_date"),
)

delegations = Table(
    "delegations",
    metadata,
    Column("delegation_id", Uuid, primary_key=True),
    Column("from_user", String(200), nullable=False, index=True),
    Column("to_user", String(200), nullable=False, index=True),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("scope_project_type", String(64), nullable=True),
    Column("scope_gate", String(64), nullable=True),
    Column("scope_project_id", Uuid, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("granted_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
)
