"""Idempotency keys and If-Match: the store and execute_command on SQLite and PostgreSQL, and
the pure helpers (fingerprint, parse_if_match, check_version)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from gatehouse.commands import (
    REPLAYED_HEADER,
    CommandResponse,
    check_version,
    execute_command,
    parse_if_match,
)
from gatehouse.database import Database
from gatehouse.errors import InvalidInput, NotFound, PreconditionFailed, PreconditionRequired
from gatehouse.eventstore import ConcurrencyError, EventStore, NewEvent
from gatehouse.eventstore.schema import NAMING_CONVENTION, events, include_event_store_tables
from gatehouse.idempotency import (
    IdempotencyKeyRace,
    IdempotencyKeyReused,
    IdempotencyStore,
    StoredResponse,
    fingerprint,
    idempotency_keys,
    include_idempotency_tables,
)
from gatehouse.testing.harness import TestDatabase

Run = Callable[[AsyncConnection], Awaitable[CommandResponse]]

BODY = {"title": "CRM replacement", "budget": {"amount": "10", "currency": "EUR"}}


@pytest.fixture
async def database(any_database: TestDatabase) -> AsyncIterator[Database]:
    """The event store and idempotency tables on SQLite or PostgreSQL."""
    database = Database.from_url(any_database.url, schema=any_database.schema)
    metadata = include_idempotency_tables(
        include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION))
    )
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
def event_store() -> EventStore:
    return EventStore(source="/gatehouse/test", topic="test.events")


class CountingCommand:
    """A command that appends one event to ``stream`` at its current version."""

    def __init__(self, event_store: EventStore, stream: str | None = None) -> None:
        self.event_store = event_store
        self.stream = stream
        self.calls = 0

    async def __call__(self, connection: AsyncConnection) -> CommandResponse:
        self.calls += 1
        stream = self.stream or f"project-{uuid.uuid4()}"
        version = await self.event_store.stream_version(connection, stream)
        await self.event_store.append(
            connection,
            stream,
            [NewEvent(type="test.Happened", data={"call": self.calls})],
            expected_version=version,
        )
        return CommandResponse(
            201,
            {"stream": stream, "version": version + 1},
            {"ETag": f'"{version + 1}"', "Location": f"/v1/{stream}"},
        )


async def execute(
    database: Database,
    run: Run,
    *,
    key: str | None = "key-1",
    body: Any = BODY,
    principal: str = "alice",
    store: IdempotencyStore | None = None,
) -> Response:
    request_fingerprint = fingerprint("POST", "/v1/projects", json.dumps(body).encode())
    if store is None:
        return await execute_command(
            database,
            principal=principal,
            idempotency_key=key,
            request_fingerprint=request_fingerprint,
            run=run,
        )
    return await execute_command(
        database,
        principal=principal,
        idempotency_key=key,
        request_fingerprint=request_fingerprint,
        run=run,
        store=store,
    )


async def count(database: Database, table: Any) -> int:
    async with database.transaction() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


def body_of(response: Response) -> Any:
    return json.loads(bytes(response.body))


# --- execute_command --------------------------------------------------------------------------


async def test_a_retry_with_the_same_key_and_body_replays_the_stored_response(
    database: Database, event_store: EventStore
) -> None:
    command = CountingCommand(event_store)

    first = await execute(database, command)
    again = await execute(database, command, body=dict(reversed(BODY.items())))

    assert command.calls == 1
    assert first.status_code == again.status_code == 201
    assert body_of(again) == body_of(first)
    assert again.headers["etag"] == first.headers["etag"] == '"1"'
    assert again.headers["location"] == first.headers["location"]
    assert again.headers[REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER not in first.headers
    assert await count(database, events) == 1


async def test_the_same_key_with_another_body_is_refused_and_writes_nothing(
    database: Database, event_store: EventStore
) -> None:
    command = CountingCommand(event_store)
    await execute(database, command)

    with pytest.raises(IdempotencyKeyReused) as raised:
        await execute(database, command, body={**BODY, "title": "Something else"})

    assert raised.value.status == 422
    assert raised.value.type_uri == "/problems/idempotency-key-reused"
    assert raised.value.extensions["errors"][0]["field"] == "Idempotency-Key"
    assert raised.value.extensions["errors"][0]["in"] == "header"
    assert command.calls == 1
    assert await count(database, events) == 1
    assert await count(database, idempotency_keys) == 1


async def test_keys_belong_to_their_caller(database: Database, event_store: EventStore) -> None:
    command = CountingCommand(event_store)

    alice = await execute(database, command, principal="alice")
    bob = await execute(database, command, principal="bob")

    assert command.calls == 2
    assert REPLAYED_HEADER not in bob.headers
    assert body_of(alice) != body_of(bob)


async def test_without_a_key_every_request_runs(
    database: Database, event_store: EventStore
) -> None:
    command = CountingCommand(event_store)

    await execute(database, command, key=None)
    await execute(database, command, key=None)

    assert command.calls == 2
    assert await count(database, idempotency_keys) == 0


async def test_an_expired_key_runs_again_and_its_record_is_replaced(
    database: Database, event_store: EventStore
) -> None:
    command = CountingCommand(event_store)
    await execute(database, command)
    await expire_all_keys(database)

    again = await execute(database, command, body={"another": "body"})

    assert command.calls == 2
    assert REPLAYED_HEADER not in again.headers
    replayed = await execute(database, command, body={"another": "body"})
    assert replayed.headers[REPLAYED_HEADER] == "true"
    assert body_of(replayed) == body_of(again)
    assert await count(database, idempotency_keys) == 1


async def test_a_refused_command_records_nothing_and_its_key_stays_usable(
    database: Database, event_store: EventStore
) -> None:
    async def refuse(connection: AsyncConnection) -> CommandResponse:
        await event_store.append(
            connection, "s-1", [NewEvent(type="test.Happened", data={})], expected_version=0
        )
        raise NotFound("no such project")

    with pytest.raises(NotFound):
        await execute(database, refuse)
    assert await count(database, idempotency_keys) == 0
    assert await count(database, events) == 0

    command = CountingCommand(event_store)
    response = await execute(database, command, body={"corrected": True})

    assert command.calls == 1
    assert response.status_code == 201


async def test_a_response_without_a_body_is_replayed_without_one(
    database: Database, event_store: EventStore
) -> None:
    async def delete_something(connection: AsyncConnection) -> CommandResponse:
        return CommandResponse(204, None, {"ETag": '"3"'})

    await execute(database, delete_something)
    again = await execute(database, delete_something)

    assert again.status_code == 204
    assert again.body == b""
    assert again.headers["etag"] == '"3"'
    assert again.headers[REPLAYED_HEADER] == "true"


@pytest.mark.parametrize("key", ["", " ", "x" * 201, "clé", "tab\there", "new\nline"])
async def test_an_invalid_key_is_refused_naming_the_header(
    database: Database, event_store: EventStore, key: str
) -> None:
    command = CountingCommand(event_store)

    with pytest.raises(InvalidInput) as raised:
        await execute(database, command, key=key)

    assert raised.value.extensions["errors"][0]["field"] == "Idempotency-Key"
    assert raised.value.extensions["errors"][0]["in"] == "header"
    assert command.calls == 0


async def test_the_longest_and_plainest_keys_are_accepted(
    database: Database, event_store: EventStore
) -> None:
    for key in ["x" * 200, "a", "order 42: retry #1 (~!)"]:
        response = await execute(database, CountingCommand(event_store), key=key)
        assert response.status_code == 201


@pytest.mark.parametrize("shared_stream", [True, False], ids=["one-stream", "new-streams"])
async def test_twenty_concurrent_twins_run_once_and_get_the_same_response(
    database: Database, event_store: EventStore, shared_stream: bool
) -> None:
    # One stream: the losers fail on the stream version (ConcurrencyError). New streams: they
    # all append, and the losers fail on the key (IdempotencyKeyRace) and roll back.
    command = CountingCommand(event_store, "contended" if shared_stream else None)

    responses = await asyncio.gather(*(execute(database, command) for _ in range(20)))

    assert await count(database, events) == 1
    assert await count(database, idempotency_keys) == 1
    assert {response.status_code for response in responses} == {201}
    assert len({json.dumps(body_of(response), sort_keys=True) for response in responses}) == 1
    assert sum(REPLAYED_HEADER in response.headers for response in responses) == 19


async def test_a_command_that_lost_a_race_runs_again_on_the_new_state(
    database: Database, event_store: EventStore
) -> None:
    async with database.transaction() as connection:
        await event_store.append(
            connection, "s-1", [NewEvent(type="test.Happened", data={})], expected_version=0
        )
    calls = 0

    async def first_attempt_reads_stale(connection: AsyncConnection) -> CommandResponse:
        nonlocal calls
        calls += 1
        version = 0 if calls == 1 else await event_store.stream_version(connection, "s-1")
        await event_store.append(
            connection, "s-1", [NewEvent(type="test.Happened", data={})], expected_version=version
        )
        return CommandResponse(201, {"version": version + 1})

    response = await execute(database, first_attempt_reads_stale)

    assert response.status_code == 201
    assert body_of(response) == {"version": 2}
    assert calls == 2
    assert await count(database, events) == 2
    assert await count(database, idempotency_keys) == 1


async def test_a_command_that_keeps_losing_raises_after_its_attempts(
    database: Database, event_store: EventStore
) -> None:
    async with database.transaction() as connection:
        await event_store.append(
            connection, "s-1", [NewEvent(type="test.Happened", data={})], expected_version=0
        )
    calls = 0

    async def stale(connection: AsyncConnection) -> CommandResponse:
        nonlocal calls
        calls += 1
        await event_store.append(
            connection, "s-1", [NewEvent(type="test.Happened", data={})], expected_version=0
        )
        return CommandResponse(200, {})

    for key in ("key-1", None):
        with pytest.raises(ConcurrencyError):
            await execute_command(
                database,
                principal="alice",
                idempotency_key=key,
                request_fingerprint="f",
                run=stale,
                conflict_attempts=3,
            )

    assert calls == 6  # three attempts with a key, three without
    assert await count(database, events) == 1
    assert await count(database, idempotency_keys) == 0


# --- IdempotencyStore -------------------------------------------------------------------------


async def test_recording_a_live_key_twice_is_a_race(database: Database) -> None:
    store = IdempotencyStore()
    response = StoredResponse(200, {}, {"ok": True})
    async with database.transaction() as connection:
        await store.record(
            connection, principal="alice", key="k", fingerprint="f", response=response
        )

    with pytest.raises(IdempotencyKeyRace):
        async with database.transaction() as connection:
            await store.record(
                connection, principal="alice", key="k", fingerprint="f", response=response
            )


async def test_lookup_finds_live_keys_only(database: Database) -> None:
    store = IdempotencyStore(retention=timedelta(hours=1))
    response = StoredResponse(201, {"ETag": '"1"'}, {"id": 1, "tags": ["a"]})
    async with database.transaction() as connection:
        await store.record(
            connection, principal="alice", key="k", fingerprint="f", response=response
        )
        assert (
            await store.lookup(connection, principal="alice", key="k", fingerprint="f") == response
        )
        assert await store.lookup(connection, principal="bob", key="k", fingerprint="f") is None
        with pytest.raises(IdempotencyKeyReused):
            await store.lookup(connection, principal="alice", key="k", fingerprint="g")

    await expire_all_keys(database)

    async with database.transaction() as connection:
        assert await store.lookup(connection, principal="alice", key="k", fingerprint="g") is None


async def test_recording_purges_the_oldest_expired_keys_in_bounded_batches(
    database: Database,
) -> None:
    store = IdempotencyStore()
    response = StoredResponse(200, {}, None)
    async with database.transaction() as connection:
        for n in range(105):
            await store.record(
                connection, principal="alice", key=f"old-{n}", fingerprint="f", response=response
            )
    await expire_all_keys(database)

    async with database.transaction() as connection:
        await store.record(
            connection, principal="alice", key="new", fingerprint="f", response=response
        )
    assert await count(database, idempotency_keys) == 1 + 5

    async with database.transaction() as connection:
        assert await store.purge_expired(connection) == 5
    assert await count(database, idempotency_keys) == 1


async def expire_all_keys(database: Database) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with database.transaction() as connection:
        await connection.execute(update(idempotency_keys).values(expires_at=past))


# --- fingerprint ------------------------------------------------------------------------------


def test_equal_json_bodies_have_the_same_fingerprint() -> None:
    compact = b'{"a":1,"b":{"c":[1,2],"d":null}}'
    reordered = b'{ "b": {"d": null, "c": [1, 2]},\n "a": 1 }'
    assert fingerprint("POST", "/v1/x", compact) == fingerprint("post", "/v1/x", reordered)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/v1/x", b'{"a":1}'),
        ("POST", "/v1/y", b'{"a":1}'),
        ("POST", "/v1/x", b'{"a":2}'),
        ("POST", "/v1/x", b'{"a":[1]}'),
        ("POST", "/v1/x", b""),
        ("POST", "/v1/x{", b'"a":1}'),
    ],
)
def test_a_different_method_path_or_body_changes_the_fingerprint(
    method: str, path: str, body: bytes
) -> None:
    assert fingerprint(method, path, body) != fingerprint("POST", "/v1/x", b'{"a":1}')


def test_a_body_that_is_not_json_is_compared_byte_for_byte() -> None:
    digest = fingerprint("POST", "/v1/x", b"\xff not json")
    assert len(digest) == 64
    assert digest == fingerprint("POST", "/v1/x", b"\xff not json")
    assert digest != fingerprint("POST", "/v1/x", b"\xff  not json")


# --- If-Match ---------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "  "])
def test_a_missing_if_match_is_428(header: str | None) -> None:
    with pytest.raises(PreconditionRequired) as raised:
        parse_if_match(header)
    assert raised.value.status == 428
    assert "If-Match" in raised.value.detail


def test_a_strong_etag_matches_its_version_only() -> None:
    expected = parse_if_match('"7"')
    check_version(expected, 7, resource="project p-1")
    with pytest.raises(PreconditionFailed) as raised:
        check_version(expected, 8, resource="project p-1")
    assert raised.value.status == 412
    assert raised.value.extensions == {"current_etag": '"8"'}
    assert raised.value.detail == (
        'project p-1 is at version 8; your If-Match was "7"; reload and retry'
    )


def test_a_list_of_etags_matches_any_of_them() -> None:
    expected = parse_if_match('"3", "4" ,"5"')
    for version in (3, 4, 5):
        check_version(expected, version, resource="r")
    with pytest.raises(PreconditionFailed):
        check_version(expected, 6, resource="r")


def test_a_star_matches_any_existing_version() -> None:
    expected = parse_if_match(" * ")
    check_version(expected, 1, resource="r")
    check_version(expected, 99, resource="r")
    with pytest.raises(PreconditionFailed):
        check_version(expected, 0, resource="r")


@pytest.mark.parametrize("header", ['W/"7"', "7", '"seven"', '"-7"', '""', '"7', '"\u0667"', "**"])
def test_a_weak_or_malformed_etag_never_matches(header: str) -> None:
    expected = parse_if_match(header)
    with pytest.raises(PreconditionFailed) as raised:
        check_version(expected, 7, resource="project p-1")
    assert raised.value.extensions == {"current_etag": '"7"'}
    assert "no ETag this service issues" in raised.value.detail


def test_a_weak_etag_in_a_list_is_ignored_but_a_strong_one_counts() -> None:
    expected = parse_if_match('W/"7", "8"')
    check_version(expected, 8, resource="r")
    with pytest.raises(PreconditionFailed):
        check_version(expected, 7, resource="r")
