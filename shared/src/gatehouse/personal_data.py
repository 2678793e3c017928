"""Personal data in events, sealed with a key per person so that a person can be forgotten.

The people named in events (requesters, sponsors, approvers, voters, delegates, actors) are
identified by strings such as ``alice@example.com``. An event class marks each field that holds
such an identifier with :data:`Person` (``Person | None``, ``tuple[Person, ...]`` and nested
dataclasses work too). Before an event is stored, every marked value is replaced by a *sealed
token*::

    pd1.<ref>.<base64url(nonce || AES-256-GCM ciphertext and tag)>

``ref`` names the person's key (``p`` and 32 hex digits, random: it says nothing about the
person), the nonce is 12 random bytes, and the additional authenticated data is the ref, so a
token cannot be moved to another person's key. The hash chain is computed over the tokens.

Forgetting a person destroys their keys. Their tokens stay in every copy of the log, the chain
still verifies, and every reader opens them as :data:`ERASED`. Two tokens with the same ref still
show that the same (forgotten) person appears twice, which an audit may need; nothing else about
the person can be recovered.

This module is the pure part: which fields are personal, and sealing and opening one value with a
key. :mod:`gatehouse.personal_keys` keeps the keys.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "ERASED",
    "KEY_BYTES",
    "Person",
    "PersonalField",
    "SealedToken",
    "is_sealed",
    "map_personal_values",
    "new_key",
    "new_ref",
    "open_value",
    "parse_token",
    "personal_paths",
    "personal_values",
    "seal_value",
]

ERASED = "[erased]"
"""What a sealed value reads as once its person's keys are destroyed."""

KEY_BYTES = 32
_NONCE_BYTES = 12
_PREFIX = "pd1"
_REF = re.compile(r"^p[0-9a-f]{32}$")


@dataclass(frozen=True)
class PersonalField:
    """Marks a string field of an event as identifying a person.

    With ``after`` (a prefix ending in ``:``), only a value starting with that prefix names a
    person, the rest of the value: a seat label ``user:alice`` is sealed as ``user:pd1.…``,
    while ``role:finance`` names no one and stays as it is.
    """

    after: str = ""

    def __post_init__(self) -> None:
        if self.after and not self.after.endswith(":"):
            raise ValueError("a personal value's prefix ends with ':'")


Person = Annotated[str, PersonalField()]
"""A string naming a person; sealed in stored events."""

# A path to personal values inside event data: field names, ``*`` for each item of a list and,
# last, for values that name a person after a prefix, that prefix (it ends with ``:``, which no
# field name does).
Path = tuple[str, ...]


def new_ref() -> str:
    return "p" + os.urandom(16).hex()


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


@dataclass(frozen=True)
class SealedToken:
    ref: str
    payload: bytes


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(_PREFIX + ".")


def parse_token(value: str) -> SealedToken:
    """Split a sealed token; raises ``ValueError`` when ``value`` is not one."""
    prefix, _, rest = value.partition(".")
    ref, _, encoded = rest.partition(".")
    if prefix != _PREFIX or not _REF.match(ref) or not encoded:
        raise ValueError("not a sealed personal-data token")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError("not a sealed personal-data token") from error
    if len(payload) <= _NONCE_BYTES:
        raise ValueError("not a sealed personal-data token")
    return SealedToken(ref=ref, payload=payload)


def seal_value(value: str, *, ref: str, key: bytes) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, value.encode("utf-8"), ref.encode("ascii"))
    encoded = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
    return f"{_PREFIX}.{ref}.{encoded}"


def open_value(token: SealedToken, key: bytes | None) -> str:
    """The sealed value, or :data:`ERASED` when the key is gone; ``ValueError`` if tampered."""
    if key is None:
        return ERASED
    nonce, sealed = token.payload[:_NONCE_BYTES], token.payload[_NONCE_BYTES:]
    try:
        return AESGCM(key).decrypt(nonce, sealed, token.ref.encode("ascii")).decode("utf-8")
    except InvalidTag as error:
        raise ValueError(f"sealed value of {token.ref} does not open with its key") from error


_paths_by_class: dict[type[Any], tuple[Path, ...]] = {}


def personal_paths(event_class: type[Any]) -> tuple[Path, ...]:
    """Where an event class (a dataclass) holds personal values, found from its type hints."""
    paths = _paths_by_class.get(event_class)
    if paths is None:
        paths = _paths_by_class[event_class] = tuple(
            _paths_of_dataclass(event_class, seen=frozenset())
        )
    return paths


def _paths_of_dataclass(cls: type[Any], *, seen: frozenset[type[Any]]) -> Iterator[Path]:
    if cls in seen:
        return
    hints = typing.get_type_hints(cls, include_extras=True)
    for field in dataclasses.fields(cls):
        for path in _paths_of_type(hints[field.name], seen=seen | {cls}):
            yield (field.name, *path)


def _paths_of_type(hint: Any, *, seen: frozenset[type[Any]]) -> Iterator[Path]:
    origin = typing.get_origin(hint)
    if origin is Annotated:
        marks = [extra for extra in hint.__metadata__ if isinstance(extra, PersonalField)]
        if marks:
            yield (marks[0].after,) if marks[0].after else ()
            return
        yield from _paths_of_type(hint.__origin__, seen=seen)
    elif origin in (typing.Union, types.UnionType):
        found: set[Path] = set()
        for option in typing.get_args(hint):
            found.update(_paths_of_type(option, seen=seen))
        yield from sorted(found)
    elif origin in (tuple, list, frozenset, set):
        for item in {arg for arg in typing.get_args(hint) if arg is not Ellipsis}:
            for path in _paths_of_type(item, seen=seen):
                yield ("*", *path)
    elif origin is dict:
        _, value_type = typing.get_args(hint)
        if any(True for _ in _paths_of_type(value_type, seen=seen)):
            raise TypeError("personal values inside dict fields are not supported")
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        yield from _paths_of_dataclass(hint, seen=seen)


def personal_values(data: Mapping[str, Any], paths: tuple[Path, ...]) -> set[str]:
    """The strings found at ``paths`` in JSON event data."""
    found: set[str] = set()

    def collect(value: str) -> str:
        found.add(value)
        return value

    map_personal_values(data, paths, collect)
    return found


def map_personal_values(
    data: Mapping[str, Any], paths: tuple[Path, ...], change: Callable[[str], str]
) -> dict[str, Any]:
    """A copy of JSON event data with ``change`` applied to every string at ``paths``."""
    result: Any = dict(data)
    for path in paths:
        result = _map_path(result, path, change)
    assert isinstance(result, dict)
    return result


def _map_path(node: Any, path: Path, change: Callable[[str], str]) -> Any:
    if not path:
        return change(node) if isinstance(node, str) else node
    step, rest = path[0], path[1:]
    if not rest and step.endswith(":"):
        if isinstance(node, str) and node.startswith(step) and len(node) > len(step):
            return step + change(node[len(step) :])
        return node
    if step == "*":
        if isinstance(node, list):
            return [_map_path(item, rest, change) for item in node]
        return node
    if isinstance(node, dict) and step in node:
        return {**node, step: _map_path(node[step], rest, change)}
    return node
