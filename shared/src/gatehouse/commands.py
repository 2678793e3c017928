"""Running an HTTP command: one transaction, If-Match preconditions and idempotency keys.

A route hands :func:`execute_command` a ``run`` function that does the work in the transaction
it is given. The events, their outbox rows and the stored response (when the client sent an
``Idempotency-Key``) commit together or not at all.

The services' ETag is a strong ETag of the stream version, ``"7"``; a change sends it back in
``If-Match`` (:func:`parse_if_match`, then :func:`check_version` against the current version).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import JSONResponse, Response

from gatehouse.database import Database
from gatehouse.errors import InvalidInput, PreconditionFailed, PreconditionRequired
from gatehouse.eventstore.errors import ConcurrencyError
from gatehouse.idempotency import IdempotencyKeyRace, IdempotencyStore, StoredResponse

__all__ = [
    "CONFLICT_ATTEMPTS",
    "IDEMPOTENCY_KEY_HEADER",
    "MAX_ATTEMPTS",
    "REPLAYED_HEADER",
    "CommandResponse",
    "ExpectedVersion",
    "check_put_precondition",
    "check_version",
    "etag",
    "execute_command",
    "missing_if_match",
    "parse_if_match",
]

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_ATTEMPTS = 5
# Enough for dozens of approvers voting on one review at the same moment.
CONFLICT_ATTEMPTS = 100

_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]{1,200}")
_ENTITY_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*')

_default_store = IdempotencyStore()


@dataclass(frozen=True)
class CommandResponse:
    """What a command answers: status, a JSON-able body (None for no body) and headers."""

    status_code: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


# --- If-Match -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedVersion:
    """The versions an ``If-Match`` header accepts.

    ``versions`` is None for ``*`` (any existing version) and empty when the header holds no
    usable ETag (weak or malformed), which matches nothing.
    """

    versions: frozenset[int] | None
    header: str

    def matches(self, current: int) -> bool:
        if self.versions is None:
            return current > 0
        return current in self.versions


def parse_if_match(header: str | None) -> ExpectedVersion:
    """Read an ``If-Match`` header; raise PreconditionRequired (428) when it is missing or empty.

    - ``"7"``: version 7 only.
    - ``"3", "4"``: a list matches any of its versions.
    - ``*``: any existing version (not a resource that does not exist yet).
    - weak tags (``W/"7"``) never match: If-Match compares strongly (RFC 9110, 13.1.1).
    - anything else (``7`` unquoted, ``"abc"``, ``"-1"``) is not an ETag we issue and never
      matches either. A header that matches nothing fails in :func:`check_version` with 412
      and the current ETag, rather than being guessed at.
    """
    if header is None or not header.strip():
        raise missing_if_match()
    if header.strip() == "*":
        return ExpectedVersion(None, header.strip())
    versions: set[int] = set()
    for part in header.split(","):
        tag = _ENTITY_TAG.fullmatch(part)
        if (
            tag is not None
            and tag.group(1) is None
            and tag.group(2).isascii()
            and tag.group(2).isdigit()
        ):
            versions.add(int(tag.group(2)))
    return ExpectedVersion(frozenset(versions), header.strip())


def missing_if_match() -> PreconditionRequired:
    """The refusal of a change sent without If-Match (or with an empty one)."""
    return PreconditionRequired(
        "this change needs an If-Match header carrying the resource's ETag (read it with "
        "GET); it makes sure you change what you last saw"
    )


def etag(version: int) -> str:
    """The ETag of a resource at stream version ``version``: ``"7"``."""
    return f'"{version}"'


def check_put_precondition(
    expected: ExpectedVersion | None, current: int, *, resource: str
) -> None:
    """A PUT creating a resource needs no If-Match; one replacing it does (428 without)."""
    if expected is None:
        if current > 0:
            raise PreconditionRequired(
                f"replacing {resource} needs an If-Match header carrying the ETag from GET"
            )
        return
    check_version(expected, current, resource=resource)


def check_version(expected: ExpectedVersion, current: int, *, resource: str) -> None:
    """Raise PreconditionFailed (412, with ``current_etag``) unless ``current`` is accepted.

    Only compares: a resource that does not exist (version 0) is the caller's business.
    """
    if expected.matches(current):
        return
    if expected.versions == frozenset():
        hint = (
            f"your If-Match {expected.header} holds no ETag this service issues (strong, "
            f'like "{current}")'
        )
    else:
        hint = f"your If-Match was {expected.header}"
    raise PreconditionFailed(
        f"{resource} is at version {current}; {hint}; reload and retry", current_etag=f'"{current}"'
    )


# --- Executing a command with an idempotency key ----------------------------------------------


async def execute_command(
    database: Database,
    *,
    principal: str,
    idempotency_key: str | None,
    request_fingerprint: str,
    run: Callable[[AsyncConnection], Awaitable[CommandResponse]],
    store: IdempotencyStore = _default_store,
    conflict_attempts: int = CONFLICT_ATTEMPTS,
) -> Response:
    """Run ``run`` in one transaction and answer with its response, retrying on a lost race.

    A command that loses the race for a stream (another command appended first: the store
    raises ConcurrencyError) is run again from the start on the new state, after a short random
    pause, up to ``conflict_attempts`` times. Run again, it sees what the winner did: a vote on a
    review that the winner closed is refused, a stale If-Match answers 412. Only a command that
    keeps losing raises ConcurrencyError (answered 409).
    """
    for attempt in range(1, conflict_attempts + 1):
        try:
            return await _execute_once(
                database,
                principal=principal,
                idempotency_key=idempotency_key,
                request_fingerprint=request_fingerprint,
                run=run,
                store=store,
            )
        except ConcurrencyError:
            if attempt == conflict_attempts:
                raise
            await asyncio.sleep(random.uniform(0, min(0.002 * attempt, 0.05)))
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _execute_once(
    database: Database,
    *,
    principal: str,
    idempotency_key: str | None,
    request_fingerprint: str,
    run: Callable[[AsyncConnection], Awaitable[CommandResponse]],
    store: IdempotencyStore,
) -> Response:
    """Run ``run`` in one transaction and answer with its response.

    With a key: a retry of a recorded request gets the stored response plus
    ``Idempotent-Replayed: true`` and ``run`` is not called; the same key with another request
    is a 422 (IdempotencyKeyReused); otherwise the response is recorded with the command.

    A concurrent twin (same caller, key and request) that commits first makes this attempt roll
    back and answer with the twin's response: whether the twin won on the key (record fails) or
    on a stream (``run`` raises ConcurrencyError). A ConcurrencyError that was not caused by a
    twin is re-raised. Errors from ``run`` propagate and nothing is recorded, so a refused
    request does not use up its key.
    """
    if idempotency_key is None:
        async with database.transaction() as connection:
            result = await run(connection)
        return _response(_stored(result), replayed=False)
    _check_key(idempotency_key)
    conflict: ConcurrencyError | None = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with database.transaction() as connection:
                stored = await store.lookup(
                    connection,
                    principal=principal,
                    key=idempotency_key,
                    fingerprint=request_fingerprint,
                )
                if stored is not None:
                    return _response(stored, replayed=True)
                if conflict is not None:
                    raise conflict  # the writer that beat us was not a twin of this request
                response = _stored(await run(connection))
                await store.record(
                    connection,
                    principal=principal,
                    key=idempotency_key,
                    fingerprint=request_fingerprint,
                    response=response,
                )
            return _response(response, replayed=False)
        except IdempotencyKeyRace:
            if attempt == MAX_ATTEMPTS:
                raise
        except ConcurrencyError as error:
            if conflict is not None:
                raise
            conflict = error  # look once more: was it a twin with the same key?
    raise AssertionError("unreachable: the last attempt returns or raises")


def _check_key(key: str) -> None:
    if not _PRINTABLE_ASCII.fullmatch(key) or not key.strip():
        raise InvalidInput.for_field(
            IDEMPOTENCY_KEY_HEADER, "must be 1 to 200 printable ASCII characters", location="header"
        )


def _stored(result: CommandResponse) -> StoredResponse:
    return StoredResponse(result.status_code, dict(result.headers), result.body)


def _response(stored: StoredResponse, *, replayed: bool) -> Response:
    headers = dict(stored.headers)
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    if stored.body is None:
        return Response(status_code=stored.status_code, headers=headers)
    return JSONResponse(stored.body, status_code=stored.status_code, headers=headers)
