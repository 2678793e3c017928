"""The keys that seal personal data in a service's events (see :mod:`gatehouse.personal_data`).

Each service keeps the keys in its own database, in ``personal_keys``: one row per key, naming
the person (``subject``) it seals. The first time a service writes about a person it makes a key
in the same transaction as the event, so an event is never stored without the key that opens it.
A person may end up with several keys (two services met them at once); every one of them seals
and opens the same way, and forgetting a person destroys all of them.

Forgetting keeps the row with its ``ref`` and ``erased_at`` but removes ``subject`` and ``key``:
what was sealed with it reads as :data:`~gatehouse.personal_data.ERASED` from then on, and the
row records when that happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, LargeBinary, MetaData, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import UtcDateTime
from gatehouse.personal_data import (
    Path,
    is_sealed,
    map_personal_values,
    new_key,
    new_ref,
    open_value,
    parse_token,
    personal_values,
    seal_value,
)

__all__ = ["PersonalKey", "PersonalKeys", "include_personal_key_tables", "personal_keys"]

personal_keys = Table(
    "personal_keys",
    MetaData(),
    Column("ref", String(33), primary_key=True),
    # NULL once the person is forgotten, like ``key``.
    Column("subject", String(200), nullable=True),
    Column("key", LargeBinary(32), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("erased_at", UtcDateTime, nullable=True),
    Index("ix_personal_keys_subject", "subject"),
)


def include_personal_key_tables(metadata: MetaData) -> MetaData:
    """Copy the ``personal_keys`` table into a service's metadata."""
    personal_keys.to_metadata(metadata)
    return metadata


@dataclass(frozen=True)
class PersonalKey:
    ref: str
    subject: str
    key: bytes


class PersonalKeys:
    """Seals and opens the personal values of event data with the keys in ``personal_keys``."""

    async def seal(self, connection: AsyncConnection, data: Mapping[str, Any],
                   paths: tuple[Path, ...], *, now: datetime) -> dict[str, Any]:
        """A copy of ``data`` with every personal value sealed, making keys for new people."""
        subjects = {value for value in personal_values(data, paths)
                    if value and not is_sealed(value)}
        if not subjects:
            return dict(data)
        keys = await self.keys_for(connection, subjects, now=now)
        return map_personal_values(
            data, paths,
            lambda value: seal_value(value, ref=keys[value].ref, key=keys[value].key)
            if value in keys else value)

    async def seal_one(self, connection: AsyncConnection, subject: str | None, *,
                       now: datetime) -> str | None:
        """One personal value (e.g. an event's actor) sealed; ``None`` stays ``None``."""
        if not subject or is_sealed(subject):
            return subject
        key = (await self.keys_for(connection, {subject}, now=now))[subject]
        return seal_value(subject, ref=key.ref, key=key.key)

    async def open(self, connection: AsyncConnection, data: Mapping[str, Any],
                   paths: tuple[Path, ...]) -> dict[str, Any]:
        """A copy of ``data`` with every sealed personal value opened (or read as erased)."""
        tokens = {value: parse_token(value) for value in personal_values(data, paths)
                  if is_sealed(value)}
        if not tokens:
            return dict(data)
        keys = await self.keys_by_ref(connection, {token.ref for token in tokens.values()})
        return map_personal_values(
            data, paths,
            lambda value: open_value(tokens[value], keys.get(tokens[value].ref))
            if value in tokens else value)

    async def open_one(self, connection: AsyncConnection, value: str | None) -> str | None:
        if value is None or not is_sealed(value):
            return value
        token = parse_token(value)
        keys = await self.keys_by_ref(connection, {token.ref})
        return open_value(token, keys.get(token.ref))

    async def keys_for(self, connection: AsyncConnection, subjects: Iterable[str], *,
                       now: datetime) -> dict[str, PersonalKey]:
        """The key that seals each subject's values: the oldest live one, or a new one."""
        wanted = set(subjects)
        query = (select(personal_keys.c.ref, personal_keys.c.subject, personal_keys.c.key)
                 .where(personal_keys.c.subject.in_(wanted), personal_keys.c.key.is_not(None))
                 .order_by(personal_keys.c.created_at, personal_keys.c.ref))
        found: dict[str, PersonalKey] = {}
        for row in await connection.execute(query):
            found.setdefault(row.subject, PersonalKey(ref=row.ref, subject=row.subject,
                                                      key=row.key))
        missing = sorted(wanted - found.keys())
        if missing:
            made = [PersonalKey(ref=new_ref(), subject=subject, key=new_key())
                    for subject in missing]
            await connection.execute(insert(personal_keys), [
                {"ref": key.ref, "subject": key.subject, "key": key.key, "created_at": now}
                for key in made])
            found.update((key.subject, key) for key in made)
        return found

    async def keys_by_ref(self, connection: AsyncConnection, refs: Iterable[str]
                          ) -> dict[str, bytes]:
        """The live keys among ``refs``; a forgotten or unknown ref is absent."""
        query = select(personal_keys.c.ref, personal_keys.c.key).where(
            personal_keys.c.ref.in_(set(refs)), personal_keys.c.key.is_not(None))
        return {row.ref: row.key for row in await connection.execute(query)}

    async def learn(self, connection: AsyncConnection, key: PersonalKey, *,
                    created_at: datetime) -> None:
        """Keep a key another service made (idempotent; a forgotten ref stays forgotten)."""
        known = (await connection.execute(
            select(personal_keys.c.ref).where(personal_keys.c.ref == key.ref))).first()
        if known is None:
            await connection.execute(insert(personal_keys).values(
                ref=key.ref, subject=key.subject, key=key.key, created_at=created_at))

    async def forget(self, connection: AsyncConnection, subject: str, *, now: datetime
                     ) -> list[str]:
        """Destroy every key of ``subject``; returns their refs (none: nothing was sealed)."""
        refs = list((await connection.execute(
            select(personal_keys.c.ref).where(personal_keys.c.subject == subject)
            .order_by(personal_keys.c.ref))).scalars())
        await self.forget_refs(connection, refs, now=now)
        return refs

    async def forget_refs(self, connection: AsyncConnection, refs: Iterable[str], *,
                          now: datetime) -> None:
        wanted = set(refs)
        if wanted:
            await connection.execute(
                update(personal_keys).where(personal_keys.c.ref.in_(wanted),
                                            personal_keys.c.erased_at.is_(None))
                .values(subject=None, key=None, erased_at=now))
