"""Idempotency keys: a retried request gets the response of the first, nothing runs twice.

A client sends ``Idempotency-Key``. The first response to a request with that key (per caller)
is stored in the same transaction as the command's events. A retry with the same key and the
same request gets the stored response; the same key with a different request is a 422. Keys
are kept for ``retention`` (24 hours by default); expired keys are purged as new ones arrive.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Delete,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import UtcDateTime, insert_on
from gatehouse.errors import InvalidInput
from gatehouse.eventstore.schema import NAMING_CONVENTION, Json

__all__ = [
    "DEFAULT_RETENTION",
    "IdempotencyKeyRace",
    "IdempotencyKeyReused",
    "IdempotencyStore",
    "StoredResponse",
    "fingerprint",
    "idempotency_keys",
    "idempotency_metadata",
    "include_idempotency_tables",
]

DEFAULT_RETENTION = timedelta(hours=24)
PURGE_BATCH = 100

idempotency_metadata = MetaData(naming_convention=NAMING_CONVENTION)

idempotency_keys = Table(
    "idempotency_keys",
    idempotency_metadata,
    Column("principal", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("headers", Json, nullable=False),
    Column("body", Json, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
)


def include_idempotency_tables(metadata: MetaData) -> MetaData:
    """Copy the idempotency table into a service's metadata."""
    idempotency_keys.to_metadata(metadata)
    return metadata


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same": method, path and body, as a sha256 hex digest.

    A JSON body is compared by value: key order and whitespace do not matter.
    """
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON (ValueError covers bad UTF-8 too)
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: parts cannot run together
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    """The response sent to the first request with a key, as it is replayed to a retry."""

    status_code: int
    headers: dict[str, str]
    body: Any


class IdempotencyKeyReused(InvalidInput):
    """422: the key was already used for a different request."""

    slug, title = "idempotency-key-reused", "Idempotency key reused"

    def __init__(self) -> None:
        message = (
            "this Idempotency-Key was already used with a different request; send a new "
            "key with a new request"
        )
        super().__init__(
            f"Idempotency-Key: {message}",
            errors=[
                {
                    "field": "Idempotency-Key",
                    "in": "header",
                    "message": message,
                    "type": "idempotency_key_reused",
                }
            ],
        )


class IdempotencyKeyRace(Exception):
    """A concurrent request with the same key recorded its response first.

    Roll the caller's transaction back and look the key up again, which now finds the
    winner's response.
    """


# The statements of every command with a key, built once: building one costs more than running it.
_LOOKUP = select(idempotency_keys).where(
    idempotency_keys.c.principal == bindparam("principal"),
    idempotency_keys.c.key == bindparam("key"),
)


@functools.cache
def _record_statement(dialect: str) -> Any:
    """Insert a record, or replace an expired one (expired when the new one is created); a live
    one is left alone and no row comes back.

    On PostgreSQL the purge of expired keys rides along in the same statement (one round trip
    instead of two); it leaves the key being recorded to the insert, as one statement must not
    both delete and replace a row.
    """
    statement = insert_on(dialect, idempotency_keys)
    statement = statement.on_conflict_do_update(
        index_elements=[idempotency_keys.c.principal, idempotency_keys.c.key],
        set_={
            column.name: statement.excluded[column.name]
            for column in idempotency_keys.c
            if not column.primary_key
        },
        where=idempotency_keys.c.expires_at <= statement.excluded.created_at,
    ).returning(idempotency_keys.c.key)
    if dialect == "postgresql":
        statement = statement.add_cte(
            _purge_statement(PURGE_BATCH, but_the_recorded=True)
            .returning(idempotency_keys.c.key)
            .cte("purged")
        )
    return statement


@functools.cache
def _purge_statement(limit: int, *, but_the_recorded: bool = False) -> Delete:
    expired = idempotency_keys.c.expires_at <= bindparam("purge_before")
    if but_the_recorded:
        expired &= tuple_(idempotency_keys.c.principal, idempotency_keys.c.key) != tuple_(
            bindparam("recorded_principal"), bindparam("recorded_key")
        )
    oldest = (
        select(idempotency_keys.c.principal, idempotency_keys.c.key)
        .where(expired)
        .order_by(idempotency_keys.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )  # ignored on SQLite: writers are serial
    return delete(idempotency_keys).where(
        tuple_(idempotency_keys.c.principal, idempotency_keys.c.key).in_(oldest)
    )


class IdempotencyStore:
    """Reads and writes the ``idempotency_keys`` table, in the caller's transaction."""

    def __init__(self, retention: timedelta = DEFAULT_RETENTION) -> None:
        self.retention = retention

    async def lookup(
        self, connection: AsyncConnection, *, principal: str, key: str, fingerprint: str
    ) -> StoredResponse | None:
        """The stored response for this key; None when there is none or it expired.

        Raises IdempotencyKeyReused when the key is live but was used for another request.
        """
        row = (await connection.execute(_LOOKUP, {"principal": principal, "key": key})).first()
        if row is None or row.expires_at <= datetime.now(UTC):
            return None
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        return StoredResponse(row.status_code, dict(row.headers), row.body)

    async def record(
        self,
        connection: AsyncConnection,
        *,
        principal: str,
        key: str,
        fingerprint: str,
        response: StoredResponse,
    ) -> None:
        """Store the response for this key, replacing an expired one; purge expired keys.

        Raises IdempotencyKeyRace when a live record for the key exists (a concurrent request
        with the same key committed first).
        """
        now = datetime.now(UTC)
        values = {
            "principal": principal,
            "key": key,
            "fingerprint": fingerprint,
            "status_code": response.status_code,
            "headers": response.headers,
            "body": response.body,
            "created_at": now,
            "expires_at": now + self.retention,
        }
        dialect = connection.dialect.name
        if dialect == "postgresql":  # the purge is part of the statement
            values |= {"purge_before": now, "recorded_principal": principal, "recorded_key": key}
        recorded = await connection.execute(_record_statement(dialect), values)
        if recorded.first() is None:
            raise IdempotencyKeyRace(f"{principal}/{key}")
        if dialect != "postgresql":
            await self.purge_expired(connection, now=now)

    async def purge_expired(
        self, connection: AsyncConnection, *, now: datetime | None = None, limit: int = PURGE_BATCH
    ) -> int:
        """Delete up to ``limit`` of the oldest expired keys; return how many were deleted.

        On PostgreSQL rows another transaction is deleting are skipped, so concurrent purges
        neither wait for each other nor deadlock.
        """
        result = await connection.execute(
            _purge_statement(limit), {"purge_before": now or datetime.now(UTC)}
        )
        return result.rowcount
