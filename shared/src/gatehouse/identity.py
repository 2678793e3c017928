"""Who someone is, as every rule compares it: identifiers, normalised once at the edge.

A rule such as segregation of duties compares the person acting (a token's ``sub``, an API
key's subject) with the people a record names (requester, sponsor, approver seats, delegates,
condition and RAID owners). It can only hold if the two sides are spelled one way. So every
identifier, whether it comes from a token or a request body, is read here:

- It is ASCII: letters, digits and ``_ . @ : + | -``, starting with a letter or a digit, at
  most 200 characters. Nothing invisible (``gina\\u200b``), no look-alike from another script
  (a Cyrillic ``\\u0456`` for the ``i`` of ``gina``), no width or compatibility form
  (full-width ``\\uff47\\uff49\\uff4e\\uff41``), no white space.
  An identifier that is not in this form is refused (422 in a body, 401 in a token), never
  cleaned up: what the caller meant cannot be guessed.
- Case does not matter: ``Gina`` and ``gina`` are one person. Gatehouse keeps identifiers in
  lower case, so every comparison, in Python or SQL, is a plain equality.
- Gatehouse's own markers can never be an identifier: the ``[erased]`` that stands for a
  forgotten person, ``[api-key …]`` and a value that reads as sealed personal data
  (``pd1.<ref>.<…>``), which would be taken for someone else's sealed name.

Segregation of duties must also survive an erasure, which replaces a person's name by
``[erased]`` everywhere it can be read. The rules that keep someone *out* (a requester may not
vote on her own project) therefore compare a keyed pseudonym (:class:`Pseudonyms`: HMAC-SHA256
of the identifier under a key the service keeps in its database), which an erasure leaves in
place and which names no one to a reader without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import weakref
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema
from sqlalchemy import Column, Engine, LargeBinary, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.json_types import AnyText
from gatehouse.personal_data import ERASED

__all__ = [
    "IDENTIFIER_PATTERN",
    "SUBJECT_PSEUDONYMS",
    "Identifier",
    "PersonFilter",
    "Pseudonyms",
    "identifier_problem",
    "include_pseudonym_key_tables",
    "load_pseudonyms",
    "new_pseudonym_key",
    "normalise_identifier",
    "pseudonym_keys",
]

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:+|-]{0,199}$"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
# A value that Gatehouse reads as sealed personal data (gatehouse.personal_data).
_SEALED_PREFIX = "pd1."
PSEUDONYM_KEY_BYTES = 32


def identifier_problem(value: object) -> str | None:
    """Why ``value`` is not an identifier, in words; ``None`` when it is one."""
    if not isinstance(value, str):
        return "must be a string"
    if not value.strip():
        return "must not be blank"
    if len(value) > 200:
        return "must be at most 200 characters"
    if not value.isascii():
        return (
            "must be ASCII letters, digits and _ . @ : + | - (no invisible, look-alike "
            "or other non-ASCII characters)"
        )
    if not _IDENTIFIER.fullmatch(value):
        return (
            "must start with a letter or a digit and hold only letters, digits and "
            "_ . @ : + | - (no spaces, brackets or control characters)"
        )
    if value.lower().startswith(_SEALED_PREFIX):
        return f"must not start with {_SEALED_PREFIX!r}, which marks sealed personal data"
    return None


def normalise_identifier(value: object) -> str:
    """The identifier as Gatehouse keeps it (lower case); ``ValueError`` naming what is wrong
    when ``value`` is not one."""
    problem = identifier_problem(value)
    if problem is not None:
        raise ValueError(f"an identifier {problem}")
    assert isinstance(value, str)
    return value.lower()


# A field naming a person (sponsor, owner, an approver seat's user, a delegate, a key's
# subject): refused in words when out of form, else kept in lower case; JSON Schema shows the
# pattern.
Identifier = Annotated[
    str,
    BeforeValidator(normalise_identifier),
    WithJsonSchema({"type": "string", "pattern": IDENTIFIER_PATTERN, "maxLength": 200}),
]

# A query filter naming a person (sponsor=, requested_by=, approver=, involving=, assignee=):
# any text but NUL, compared as identifiers are kept, in lower case.
PersonFilter = Annotated[AnyText, AfterValidator(str.lower)]


def new_pseudonym_key() -> bytes:
    return secrets.token_bytes(PSEUDONYM_KEY_BYTES)


class Pseudonyms:
    """Keyed pseudonyms of identifiers: the same person always gets the same 32 bytes, and
    nobody without the key can tell whose they are (or test a guessed name)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < PSEUDONYM_KEY_BYTES:
            raise ValueError(f"a pseudonym key has at least {PSEUDONYM_KEY_BYTES} bytes")
        self._key = key

    def of(self, identifier: str) -> bytes:
        return hmac.new(self._key, identifier.lower().encode(), hashlib.sha256).digest()

    def of_named(self, name: str) -> bytes | None:
        """The pseudonym of the person a record names; None when the record reads
        :data:`~gatehouse.personal_data.ERASED`: who that was can no longer be told."""
        return None if name == ERASED else self.of(name)


# The keys of a service's pseudonyms, made once by its migrations: a row per purpose.
pseudonym_keys = Table(
    "pseudonym_keys",
    MetaData(),
    Column("name", String(32), primary_key=True),
    Column("key", LargeBinary, nullable=False),
)
# The purpose of the pseudonyms that rules compare people by.
SUBJECT_PSEUDONYMS = "subjects"


def include_pseudonym_key_tables(metadata: MetaData) -> MetaData:
    """Copy the ``pseudonym_keys`` table into a service's metadata."""
    pseudonym_keys.to_metadata(metadata)
    return metadata


# The key never changes once made: read once per database (engine).
_loaded: weakref.WeakKeyDictionary[Engine, Pseudonyms] = weakref.WeakKeyDictionary()


async def load_pseudonyms(connection: AsyncConnection) -> Pseudonyms:
    """The service's subject pseudonyms, with the key its migrations made."""
    loaded = _loaded.get(connection.sync_engine)
    if loaded is None:
        key = (
            await connection.execute(
                select(pseudonym_keys.c.key).where(pseudonym_keys.c.name == SUBJECT_PSEUDONYMS)
            )
        ).scalar_one()
        loaded = _loaded[connection.sync_engine] = Pseudonyms(bytes(key))
    return loaded
