"""API keys for simple integrations: random, shown once, stored hashed, revocable.

A key reads ``ghk_<key_id>_<secret>``: ``key_id`` (16 hex digits) finds the row, ``secret``
(256 random bits, URL-safe base64) proves possession. Only ``sha256(secret)`` is stored, and
compared in constant time. A 256-bit secret needs no slow password hash: guessing it is out
of reach however fast the hash.

Intake issues and revokes keys (``ApiKeyIssued``, ``ApiKeyRevoked`` on its topic) and keeps
the ``api_keys`` table in the command's transaction; governance and reporting keep their own
copy from the same events (:func:`learning_api_keys`), so one key works at every service and
a revocation reaches each within its consumer lag.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, Column, MetaData, String, Table, Text, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.auth import Principal, Role
from gatehouse.database import UtcDateTime, upsert
from gatehouse.errors import Unauthenticated
from gatehouse.events.envelope import EventEnvelope
from gatehouse.events.intake import ApiKeyIssued, ApiKeyRevoked, intake_events
from gatehouse.messaging.consumer import BatchHandler
from gatehouse.personal_keys import SealedEventData

__all__ = [
    "API_KEY_HEADER",
    "IssuedSecret",
    "api_keys",
    "authenticate_api_key",
    "include_api_key_tables",
    "learning_api_keys",
    "new_secret",
    "record_api_key_event",
    "secret_sha256",
    "stream_id",
]

API_KEY_HEADER = "X-API-Key"
_KEY = re.compile(r"^ghk_(?P<key_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})$")

api_keys = Table(
    "api_keys",
    MetaData(),
    Column("key_id", String(16), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("roles", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("issued_by", String(200), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("revoked_by", String(200), nullable=True),
    Column("revoke_reason", Text, nullable=True),
)


def include_api_key_tables(metadata: MetaData) -> MetaData:
    """Copy the ``api_keys`` table into a service's metadata."""
    api_keys.to_metadata(metadata)
    return metadata


@dataclass(frozen=True)
class IssuedSecret:
    """A new key as its holder sees it, once: ``key`` is never stored anywhere."""

    key_id: str
    secret: str

    @property
    def key(self) -> str:
        return f"ghk_{self.key_id}_{self.secret}"

    @property
    def sha256(self) -> str:
        return secret_sha256(self.secret)


def new_secret() -> IssuedSecret:
    return IssuedSecret(key_id=secrets.token_hex(8), secret=secrets.token_urlsafe(32))


def secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def stream_id(key_id: str) -> str:
    return f"api-key-{key_id}"


async def authenticate_api_key(
    connection: AsyncConnection, presented: str, *, now: datetime
) -> Principal:
    """The principal a presented key stands for; 401 unless it is issued, unrevoked and
    unexpired. The answer does not say which of these failed for a well-formed key."""
    match = _KEY.fullmatch(presented.strip())
    if match is None:
        raise Unauthenticated(
            f"the {API_KEY_HEADER} header does not hold a Gatehouse API key (ghk_<id>_<secret>)"
        )
    row = (
        await connection.execute(select(api_keys).where(api_keys.c.key_id == match["key_id"]))
    ).one_or_none()
    valid = row is not None and hmac.compare_digest(
        row.secret_sha256, secret_sha256(match["secret"])
    )
    if (
        row is None
        or not valid
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
    ):
        raise Unauthenticated("the API key is unknown, revoked or expired")
    claimed = frozenset(str(role) for role in row.roles)
    roles = frozenset(Role(role) for role in claimed if role in Role.__members__.values())
    return Principal(
        subject=row.subject.lower(), roles=roles, claimed_roles=claimed, api_key_id=row.key_id
    )


async def record_api_key_event(connection: AsyncConnection, envelope: EventEnvelope) -> None:
    """Keep ``api_keys`` up to date with one event (any other event is left alone).

    Applying an event twice leaves the same row, so a redelivery is harmless.
    """
    if envelope.type not in (ApiKeyIssued.event_type, ApiKeyRevoked.event_type):
        return
    event = intake_events.deserialize(envelope.type, envelope.data)
    if isinstance(event, ApiKeyIssued):
        await upsert(
            connection,
            api_keys,
            {
                "key_id": event.key_id,
                "name": event.name,
                "subject": event.subject,
                "roles": list(event.roles),
                "secret_sha256": event.secret_sha256,
                "issued_by": event.issued_by,
                "issued_at": envelope.time,
                "expires_at": event.expires_at,
            },
            key=["key_id"],
        )
    elif isinstance(event, ApiKeyRevoked):
        await connection.execute(
            api_keys.update()
            .where(api_keys.c.key_id == event.key_id, api_keys.c.revoked_at.is_(None))
            .values(
                revoked_at=envelope.time, revoked_by=event.revoked_by, revoke_reason=event.reason
            )
        )


def learning_api_keys(
    handler: BatchHandler, personal_data: SealedEventData | None = None
) -> BatchHandler:
    """A consumer of intake's topic that also keeps this service's ``api_keys`` current.

    ``personal_data`` opens the key events' personal values (the holder) for the table only;
    ``handler`` gets the envelopes as they came.
    """

    async def apply(connection: AsyncConnection, envelopes: Sequence[EventEnvelope]) -> None:
        key_events = [
            envelope
            for envelope in envelopes
            if envelope.type in (ApiKeyIssued.event_type, ApiKeyRevoked.event_type)
        ]
        if key_events and personal_data is not None:
            key_events = await personal_data.open_all(connection, key_events)
        for envelope in key_events:
            await record_api_key_event(connection, envelope)
        await handler(connection, envelopes)

    return apply
