"""Personal data in events: which fields are personal, sealing with a key per person, and
forgetting a person, which leaves the sealed values (and so the hash chain) as they were while
they read as erased."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from gatehouse.database import Database
from gatehouse.events.base import DomainEvent, EventRegistry
from gatehouse.events.envelope import EventEnvelope
from gatehouse.eventstore.chain import ChainVerifier
from gatehouse.eventstore.schema import NAMING_CONVENTION, events, include_event_store_tables
from gatehouse.eventstore.store import EventMetadata, EventStore, NewEvent, envelope_from_row
from gatehouse.messaging.kafka import KafkaAdmin, create_idempotent_producer
from gatehouse.personal_data import (
    ERASED,
    Person,
    PersonalField,
    is_sealed,
    map_personal_values,
    new_key,
    new_ref,
    open_value,
    parse_token,
    personal_paths,
    personal_values,
    seal_value,
)
from gatehouse.personal_keys import (
    KEYS_TOPIC_CONFIG,
    KeyFollower,
    KeyPublisher,
    PersonalKeys,
    SealedEventData,
    erase_from_tables,
    include_personal_key_tables,
    personal_keys,
    personal_keys_topic,
)
from gatehouse.testing.harness import TestDatabase

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class Vote:
    approver: Person
    cast_by: Person
    comment: str


@dataclass(frozen=True, kw_only=True)
class Seat:
    name: str
    approvers: tuple[Person, ...]


@dataclass(frozen=True, kw_only=True)
class Decided:
    title: str
    sponsor: Person
    delegate: Person | None = None
    seats: tuple[Seat, ...] = ()
    votes: list[Vote] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


DATA = {
    "title": "CRM replacement",
    "sponsor": "alice@example.com",
    "delegate": None,
    "seats": [{"name": "finance", "approvers": ["bob@example.com", "carol@example.com"]}],
    "votes": [
        {
            "approver": "bob@example.com",
            "cast_by": "dave@example.com",
            "comment": "fine by alice@example.com",
        }
    ],
    "counts": {"go": 1},
}


def test_personal_fields_are_found_through_optionals_sequences_and_nested_dataclasses() -> None:
    assert personal_paths(Decided) == (
        ("sponsor",),
        ("delegate",),
        ("seats", "*", "approvers", "*"),
        ("votes", "*", "approver"),
        ("votes", "*", "cast_by"),
    )


def test_the_values_at_the_personal_paths_are_the_people_named_and_nothing_else() -> None:
    assert personal_values(DATA, personal_paths(Decided)) == {
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
    }


def test_mapping_changes_only_personal_values_and_leaves_the_input_alone() -> None:
    changed = map_personal_values(DATA, personal_paths(Decided), str.upper)
    assert changed["sponsor"] == "ALICE@EXAMPLE.COM"
    assert changed["seats"][0] == {
        "name": "finance",
        "approvers": ["BOB@EXAMPLE.COM", "CAROL@EXAMPLE.COM"],
    }
    assert changed["votes"][0]["comment"] == "fine by alice@example.com"
    assert changed["delegate"] is None
    assert DATA["sponsor"] == "alice@example.com"


def test_a_sealed_value_opens_with_its_key_and_reads_as_erased_without_it() -> None:
    ref, key = new_ref(), new_key()
    token = seal_value("alice@example.com", ref=ref, key=key)
    assert is_sealed(token)
    assert "alice" not in token
    assert parse_token(token).ref == ref
    assert open_value(parse_token(token), key) == "alice@example.com"
    assert open_value(parse_token(token), None) == ERASED


def test_sealing_twice_gives_different_tokens_of_the_same_ref() -> None:
    ref, key = new_ref(), new_key()
    first, second = (seal_value("alice", ref=ref, key=key) for _ in range(2))
    assert first != second
    assert parse_token(first).ref == parse_token(second).ref == ref


def test_a_token_moved_to_another_persons_ref_or_altered_does_not_open() -> None:
    alice_ref, bob_ref, key = new_ref(), new_ref(), new_key()
    token = seal_value("alice", ref=alice_ref, key=key)
    with pytest.raises(ValueError, match="does not open"):
        open_value(parse_token(token.replace(alice_ref, bob_ref)), key)
    altered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(ValueError, match="does not open"):
        open_value(parse_token(altered), key)


@pytest.mark.parametrize(
    "value",
    [
        "alice",
        "pd1.",
        "pd1.p123.abc",
        "pd1." + "p" + "0" * 32,
        "pd1.p" + "0" * 32 + ".!!!",
        "pd2.p" + "0" * 32 + ".AAAA",
    ],
)
def test_strings_that_are_not_tokens_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not a sealed"):
        parse_token(value)


SeatLabel = Annotated[str, PersonalField(after="user:")]


@dataclass(frozen=True, kw_only=True)
class Voted:
    seat: SeatLabel
    awaiting: tuple[SeatLabel, ...] = ()


def test_a_value_that_names_a_person_after_a_prefix_is_personal_only_after_it() -> None:
    data = {"seat": "user:alice", "awaiting": ["role:finance", "user:bob", "user:"]}
    assert personal_paths(Voted) == (("seat", "user:"), ("awaiting", "*", "user:"))
    assert personal_values(data, personal_paths(Voted)) == {"alice", "bob"}
    assert map_personal_values(data, personal_paths(Voted), str.upper) == {
        "seat": "user:ALICE",
        "awaiting": ["role:finance", "user:BOB", "user:"],
    }


def test_a_prefix_that_does_not_end_with_a_colon_is_refused() -> None:
    with pytest.raises(ValueError, match="ends with ':'"):
        PersonalField(after="user")


@pytest.fixture
async def database(any_database: TestDatabase) -> AsyncIterator[Database]:
    database = Database.from_url(any_database.url, schema=any_database.schema)
    metadata = include_personal_key_tables(MetaData(naming_convention=NAMING_CONVENTION))
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def test_sealed_event_data_names_nobody_and_opens_to_the_original(database: Database) -> None:
    keys, paths = PersonalKeys(), personal_paths(Decided)
    async with database.transaction() as connection:
        sealed = await keys.seal(connection, DATA, paths, now=NOW)
        opened = await keys.open(connection, sealed, paths)
    assert "@example.com" not in str({k: v for k, v in sealed.items() if k != "votes"})
    assert sealed["votes"][0]["comment"] == "fine by alice@example.com"
    assert opened == DATA


async def test_one_person_gets_one_key_across_events(database: Database) -> None:
    keys, paths = PersonalKeys(), personal_paths(Decided)
    async with database.transaction() as connection:
        first = await keys.seal(connection, DATA, paths, now=NOW)
        second = await keys.seal(connection, {**DATA, "sponsor": "bob@example.com"}, paths, now=NOW)
        rows = (await connection.execute(select(personal_keys))).all()
    assert sorted(row.subject for row in rows) == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
    ]
    bob_in_first = parse_token(first["seats"][0]["approvers"][0]).ref
    assert parse_token(second["sponsor"]).ref == bob_in_first


async def test_a_key_lookup_is_one_statement_whatever_the_number_of_people(
    database: Database,
) -> None:
    """On PostgreSQL the subjects travel as one array: no new statement to prepare for each
    number of people (elsewhere, an IN list)."""
    keys, statements = PersonalKeys(), []

    def note(*args: Any) -> None:
        statements.append(args[2])

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        async with database.transaction() as connection:
            for people in (
                ["ann@example.com"],
                ["ann@example.com", "ben@example.com"],
                ["ann@example.com", "ben@example.com", "cy@example.com"],
            ):
                found = await keys.keys_for(connection, people, now=NOW)
                assert sorted(found) == people
    finally:
        event.remove(engine, "before_cursor_execute", note)
    lookups = {statement for statement in statements if statement.startswith("SELECT")}
    assert len(lookups) == (1 if database.dialect == "postgresql" else 3)


async def test_forgetting_a_person_erases_their_values_and_no_one_elses(database: Database) -> None:
    keys, paths = PersonalKeys(), personal_paths(Decided)
    async with database.transaction() as connection:
        sealed = await keys.seal(connection, DATA, paths, now=NOW)
        actor = await keys.seal_one(connection, "alice@example.com", now=NOW)
        forgotten = await keys.forget(connection, "alice@example.com", now=NOW)
        opened = await keys.open(connection, sealed, paths)
        opened_actor = await keys.open_one(connection, actor)
        row = (
            await connection.execute(
                select(personal_keys).where(personal_keys.c.ref == forgotten[0])
            )
        ).one()
    assert forgotten == [parse_token(sealed["sponsor"]).ref]
    assert opened["sponsor"] == ERASED
    assert opened_actor == ERASED
    assert opened["seats"][0]["approvers"] == ["bob@example.com", "carol@example.com"]
    assert (row.subject, row.key, row.erased_at) == (None, None, NOW)


async def test_a_seat_label_keeps_its_prefix_and_seals_the_person_with_their_key(
    database: Database,
) -> None:
    keys, paths = PersonalKeys(), personal_paths(Voted)
    data = {"seat": "user:alice", "awaiting": ["role:finance", "user:alice"]}
    async with database.transaction() as connection:
        sealed = await keys.seal(connection, data, paths, now=NOW)
        sponsor = await keys.seal_one(connection, "alice", now=NOW)
        opened = await keys.open(connection, sealed, paths)
        await keys.forget(connection, "alice", now=NOW)
        erased = await keys.open(connection, sealed, paths)
    assert sealed["seat"].startswith("user:pd1.")
    assert "alice" not in str(sealed)
    assert sealed["awaiting"][0] == "role:finance"
    assert sponsor is not None
    assert parse_token(sealed["seat"].removeprefix("user:")).ref == parse_token(sponsor).ref
    assert opened == data
    assert erased == {"seat": f"user:{ERASED}", "awaiting": ["role:finance", f"user:{ERASED}"]}


async def test_a_forgotten_person_who_comes_back_gets_a_new_key(database: Database) -> None:
    keys = PersonalKeys()
    async with database.transaction() as connection:
        before = await keys.seal_one(connection, "alice", now=NOW)
        await keys.forget(connection, "alice", now=NOW)
        after = await keys.seal_one(connection, "alice", now=NOW)
        assert before is not None
        assert after is not None
        assert parse_token(before).ref != parse_token(after).ref
        assert await keys.open_one(connection, after) == "alice"
        assert await keys.open_one(connection, before) == ERASED


def test_every_field_of_the_event_catalogue_that_names_a_person_is_marked_personal() -> None:
    """The inventory of personal data in events; a new event naming someone belongs here."""
    from gatehouse.events.governance import governance_events
    from gatehouse.events.intake import intake_events

    inventory = {
        event_type.rsplit(".", 1)[1]: [".".join(path) for path in paths]
        for registry in (intake_events, governance_events)
        for event_type in registry.event_types
        if (paths := personal_paths(registry.class_for(event_type)))
    }
    assert inventory == {
        "ApiKeyIssued": ["subject", "issued_by"],
        "ApiKeyRevoked": ["revoked_by"],
        "ProjectEdited": ["changes.sponsor"],
        "ProjectRequested": ["sponsor", "requested_by"],
        "PersonalDataErased": ["requested_by"],
        "ProjectScored": ["assessed_by"],
        "RaidItemAdded": ["owner"],
        "RaidItemUpdated": ["changes.owner"],
        "StatusReported": ["reported_by"],
        "ConditionBreached": ["owner"],
        "ConditionMet": ["met_by"],
        "DelegationGranted": ["from_user", "to_user", "granted_by"],
        "DelegationRevoked": ["revoked_by"],
        "GateDecided": ["decided_by.*", "conditions.*.owner"],
        "GateReviewEscalated": ["awaiting.*.user:"],
        "GateReviewOpened": ["gate.approval.seats.*.user", "opened_by"],
        "GateReviewWithdrawn": ["withdrawn_by"],
        "GateTemplateDefined": ["gates.*.approval.seats.*.user", "defined_by"],
        "VoteCast": ["seat.user:", "approver", "cast_by", "conditions.*.owner"],
        "VoteRevised": ["seat.user:", "approver", "cast_by", "conditions.*.owner"],
    }


@pytest.mark.kafka
@pytest.mark.postgres
async def test_keys_travel_to_other_services_and_a_forgotten_person_is_erased_there_too(
    kafka_bootstrap: str,
    namespace: str,
    postgres_url: str,
    new_pg_schema: Callable[[], Awaitable[str]],
) -> None:
    """Intake seals a sponsor; governance learns the key from the keys topic and opens the
    sponsor; intake forgets the sponsor; the tombstone makes governance forget them too, and a
    key governance made for the same person is destroyed in governance's own table."""
    topic = personal_keys_topic(namespace)
    admin = KafkaAdmin(kafka_bootstrap, client_id="test-admin")
    await admin.start()
    await admin.ensure_topics([topic], partitions=1, configs=KEYS_TOPIC_CONFIG)
    await admin.close()
    intake_db = Database.from_url(postgres_url, schema=await new_pg_schema())
    governance_db = Database.from_url(postgres_url, schema=await new_pg_schema())
    for database in (intake_db, governance_db):
        async with database.transaction() as connection:
            await connection.run_sync(
                include_personal_key_tables(
                    MetaData(naming_convention=NAMING_CONVENTION)
                ).create_all
            )
    keys, paths = PersonalKeys(), personal_paths(Decided)
    publishers = [KeyPublisher(database, topic) for database in (intake_db, governance_db)]
    intake_keys, governance_keys = (
        KeyFollower(
            database=database,
            bootstrap_servers=kafka_bootstrap,
            topic=topic,
            client_id=f"test-follower-{n}",
        )
        for n, database in enumerate((intake_db, governance_db))
    )
    producer = create_idempotent_producer(kafka_bootstrap, client_id="test-keys")
    await producer.start()
    following = [asyncio.create_task(follower.run()) for follower in (intake_keys, governance_keys)]

    async def publish_and_follow() -> int:
        published = sum([await publisher.publish_pending(producer) for publisher in publishers])
        async with asyncio.timeout(30):
            await intake_keys.caught_up()
            await governance_keys.caught_up()
        return published

    try:
        async with intake_db.transaction() as connection:
            sealed = await keys.seal(connection, DATA, paths, now=NOW)
        async with governance_db.transaction() as connection:
            own_alice = await keys.seal_one(connection, "alice@example.com", now=NOW)
        assert await publish_and_follow() == 5
        assert await publish_and_follow() == 0
        async with governance_db.transaction() as connection:
            assert await keys.open(connection, sealed, paths, elsewhere=governance_keys) == DATA

        async with intake_db.transaction() as connection:
            forgotten = await keys.forget(
                connection, "alice@example.com", now=NOW, elsewhere=intake_keys
            )
        assert own_alice is not None
        assert forgotten == sorted([parse_token(sealed["sponsor"]).ref, parse_token(own_alice).ref])
        assert await publish_and_follow() == 2
        async with governance_db.transaction() as connection:
            opened = await keys.open(connection, sealed, paths, elsewhere=governance_keys)
            assert await keys.open_one(connection, own_alice) == ERASED
            own_row = (
                await connection.execute(
                    select(personal_keys).where(personal_keys.c.ref == parse_token(own_alice).ref)
                )
            ).one()
        assert opened["sponsor"] == ERASED
        assert opened["seats"] == DATA["seats"]
        assert governance_keys.key(parse_token(sealed["sponsor"]).ref) is None
        assert (own_row.subject, own_row.key) == (None, None)
    finally:
        for task in following:
            task.cancel()
        await asyncio.gather(*following, return_exceptions=True)
        await producer.stop()
        await intake_db.dispose()
        await governance_db.dispose()


@dataclass(frozen=True, kw_only=True)
class SponsorNamed(DomainEvent):
    event_type = "gatehouse.test.SponsorNamed"

    title: str
    sponsor: Person
    approvers: tuple[Person, ...] = ()


@pytest.fixture
async def event_database(any_database: TestDatabase) -> AsyncIterator[Database]:
    database = Database.from_url(any_database.url, schema=any_database.schema)
    metadata = include_personal_key_tables(
        include_event_store_tables(MetaData(naming_convention=NAMING_CONVENTION))
    )
    async with database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def test_the_store_keeps_people_sealed_and_its_chain_still_verifies_once_one_is_forgotten(
    event_database: Database,
) -> None:
    sealed_data = SealedEventData([EventRegistry([SponsorNamed])])
    store = EventStore(source="/gatehouse/test", topic="test.events", personal_data=sealed_data)
    named = SponsorNamed(title="CRM", sponsor="alice@example.com", approvers=("bob@example.com",))
    async with event_database.transaction() as connection:
        await store.append(
            connection,
            "project-1",
            [NewEvent(type=SponsorNamed.event_type, data=EventRegistry.serialize(named))],
            expected_version=0,
            metadata=EventMetadata(actor="alice@example.com"),
        )

    async def stored_and_loaded() -> tuple[list[EventEnvelope], list[EventEnvelope]]:
        async with event_database.transaction() as connection:
            rows = (await connection.execute(select(events))).all()
            loaded = await store.load_stream(connection, "project-1")
            assert await store.load_last(connection, "project-1") == loaded[-1], (
                "the last event alone is opened (or read as erased) as the stream is"
            )
        return [envelope_from_row(row, store.source) for row in rows], loaded

    stored, loaded = await stored_and_loaded()
    assert "example.com" not in str(stored[0].data) + str(stored[0].actor)
    assert loaded[0].data == EventRegistry.serialize(named)
    assert loaded[0].actor == "alice@example.com"
    verifier = ChainVerifier(check_log=False)
    verifier.add_all(stored)
    assert verifier.report().intact

    async with event_database.transaction() as connection:
        await sealed_data.keys.forget(connection, "alice@example.com", now=NOW)
    after_stored, after_loaded = await stored_and_loaded()
    assert after_stored == stored
    verifier = ChainVerifier(check_log=False)
    verifier.add_all(after_stored)
    assert verifier.report().intact
    assert after_loaded[0].data == {**EventRegistry.serialize(named), "sponsor": ERASED}
    assert after_loaded[0].actor == ERASED


async def erase_from_a_table(
    database: TestDatabase, table: Table, rows: list[dict[str, Any]], subject: str, **options: Any
) -> tuple[int, dict[int, Any]]:
    """Create ``table`` holding ``rows``, erase ``subject`` from it; the rows changed, and the
    rows after, by id."""
    engine = Database.from_url(database.url, schema=database.schema)
    try:
        async with engine.transaction() as connection:
            await connection.run_sync(table.metadata.create_all)
            await connection.execute(insert(table), rows)
            changed = await erase_from_tables(connection, subject, [table], **options)
            after = {row.id: row for row in await connection.execute(select(table))}
    finally:
        await engine.dispose()
    return changed, after


async def test_a_forgotten_person_leaves_the_read_models_wherever_they_were_a_value(
    any_database: TestDatabase,
) -> None:
    views = Table(
        "views",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("sponsor", String(200)),
        Column("currency", String(3)),
        Column("document", JSON().with_variant(JSONB(), "postgresql")),
    )
    changed, rows = await erase_from_a_table(
        any_database,
        views,
        [
            {
                "id": 1,
                "sponsor": "alice",
                "currency": "EUR",
                "document": {
                    "sponsor": "alice",
                    "panel": ["alice", "bob"],
                    "note": "alice's project",
                    "votes": [{"by": "alice"}],
                },
            },
            {"id": 2, "sponsor": "bob", "currency": "EUR", "document": {"sponsor": "bob"}},
        ],
        "alice",
    )
    assert changed == 2
    assert rows[1].sponsor == ERASED
    assert rows[1].document == {
        "sponsor": ERASED,
        "panel": [ERASED, "bob"],
        "note": "alice's project",
        "votes": [{"by": ERASED}],
    }
    assert (rows[2].sponsor, rows[2].document) == ("bob", {"sponsor": "bob"})


async def test_a_forgotten_persons_seat_is_erased_in_values_and_object_keys(
    any_database: TestDatabase,
) -> None:
    panels = Table(
        "panels",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("seat", String(40)),
        Column("panel", JSON().with_variant(JSONB(), "postgresql")),
    )
    changed, rows = await erase_from_a_table(
        any_database,
        panels,
        [
            {
                "id": 1,
                "seat": "user:alice",
                "panel": {
                    "seats": ["user:alice", "role:alice"],
                    "ballots": {"user:alice": "go", "user:bob": "hold"},
                },
            },
            {"id": 2, "seat": "user:alicia", "panel": {"seats": ["user:alicia"]}},
        ],
        "alice",
        prefixes=["user:"],
    )
    assert changed == 2
    assert rows[1].seat == f"user:{ERASED}"
    assert rows[1].panel == {
        "seats": [f"user:{ERASED}", "role:alice"],
        "ballots": {f"user:{ERASED}": "go", "user:bob": "hold"},
    }
    assert (rows[2].seat, rows[2].panel) == ("user:alicia", {"seats": ["user:alicia"]})


@pytest.mark.postgres
async def test_whether_a_key_waits_is_answered_from_the_waiting_keys_alone(
    postgres_url: str, pg_schema: str
) -> None:
    """The relay asks with every page it reads: among 20,000 published keys and one waiting,
    the answer reads the partial index of the waiting keys, not the table."""
    database = Database.from_url(postgres_url, schema=pg_schema)
    metadata = include_personal_key_tables(MetaData())
    try:
        async with database.transaction() as connection:
            await connection.run_sync(metadata.create_all)
            await connection.execute(
                insert(personal_keys),
                [
                    {
                        "ref": new_ref(),
                        "subject": f"person-{n}",
                        "key": new_key(),
                        "created_at": NOW,
                        "published_at": None if n == 0 else NOW,
                    }
                    for n in range(20_000)
                ],
            )
        async with database.autocommit() as connection:
            await connection.execute(text("ANALYZE personal_keys"))
            question = select(KeyPublisher.WAITING)
            waiting = (await connection.execute(question)).scalar_one()
            plan = json.dumps(
                (
                    await connection.execute(
                        text(
                            f"EXPLAIN (FORMAT JSON) {question.compile(dialect=connection.dialect)}"
                        )
                    )
                ).scalar_one()
            )
        assert waiting is True
        assert "ix_personal_keys_unpublished" in plan
        assert "Seq Scan" not in plan
    finally:
        await database.dispose()
