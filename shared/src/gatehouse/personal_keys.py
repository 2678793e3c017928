"""The keys that seal personal data in a service's events (see :mod:`gatehouse.personal_data`).

Each service keeps the keys in its own database, in ``personal_keys``: one row per key, naming
the person (``subject``) it seals. The first time a service writes about a person it makes a key
in the same transaction as the event, so an event is never stored without the key that opens it.
A person may end up with several keys (two services met them at once); every one of them seals
and opens the same way, and forgetting a person destroys all of them.

Forgetting keeps the row with its ``ref`` and ``erased_at`` but removes ``subject`` and ``key``:
what was sealed with it reads as :data:`~gatehouse.personal_data.ERASED` from then on, and the
row records when that happened.

**Sharing keys between services.** Every service reads events that other services sealed, so the
keys travel on one compacted Kafka topic, ``gatehouse.personal-keys``, keyed by ref:

* :class:`KeyPublisher` publishes the rows not yet published (``published_at`` is NULL): a live
  key as a record, a forgotten one as a tombstone (a record without a value). The outbox relay
  calls it before it publishes a batch of events, so a key is on the topic before any event that
  needs it.
* :class:`KeyFollower` reads the topic from the beginning in every replica of every service,
  keeps the keys it finds, and forgets a ref when its tombstone arrives. Log compaction then
  removes the forgotten key from the topic itself.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Index,
    LargeBinary,
    MetaData,
    Select,
    String,
    Table,
    Text,
    bindparam,
    case,
    cast,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import Database, UtcDateTime, any_of
from gatehouse.events.base import EventRegistry
from gatehouse.events.envelope import EventEnvelope
from gatehouse.messaging.restarts import run_restarting
from gatehouse.personal_data import (
    ERASED,
    Path,
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

__all__ = [
    "KEYS_TOPIC_CONFIG",
    "ForgetPerson",
    "KeyFollower",
    "KeyPublisher",
    "PersonalKey",
    "PersonalKeys",
    "SealedEventData",
    "erase_from_tables",
    "include_personal_key_tables",
    "opening",
    "personal_keys",
    "personal_keys_topic",
]

if TYPE_CHECKING:
    from gatehouse.messaging.consumer import BatchHandler

log = logging.getLogger(__name__)

ForgetPerson = Callable[[AsyncConnection, str], Awaitable[object]]

# How long opening an event waits for the keys topic to deliver a key it has not seen.
KEY_WAIT_SECONDS = 30.0

KEYS_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    # Compact soon after a tombstone: the forgotten key should not stay on disk for long...
    "segment.ms": "3600000",
    "min.cleanable.dirty.ratio": "0.01",
    # ...but keep the tombstone a week, so a replica that was down still sees it.
    "delete.retention.ms": "604800000",
}


def personal_keys_topic(namespace: str = "") -> str:
    return f"{namespace}gatehouse.personal-keys"


personal_keys = Table(
    "personal_keys",
    MetaData(),
    Column("ref", String(33), primary_key=True),
    # NULL once the person is forgotten, like ``key``.
    Column("subject", String(200), nullable=True),
    Column("key", LargeBinary(32), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("erased_at", UtcDateTime, nullable=True),
    # When the key (or, once forgotten, its tombstone) was last put on the keys topic.
    Column("published_at", UtcDateTime, nullable=True),
    Index("ix_personal_keys_subject", "subject"),
    # The keys not yet on the topic, in the order they go out: the relay asks whether one
    # waits with every page it reads, and the publisher reads them.
    Index(
        "ix_personal_keys_unpublished",
        "created_at",
        "ref",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
)


# The key lookups of every append and read, built once per dialect: building one costs more
# than running it, and an IN list would be a new statement for every number of refs.
@functools.cache
def _keys_of_refs(dialect: str) -> Select[Any]:
    return select(personal_keys.c.ref, personal_keys.c.key).where(
        any_of(personal_keys.c.ref, "refs", dialect)
    )


@functools.cache
def _live_keys_of_subjects(dialect: str) -> Select[Any]:
    return (
        select(personal_keys.c.ref, personal_keys.c.subject, personal_keys.c.key)
        .where(
            any_of(personal_keys.c.subject, "subjects", dialect), personal_keys.c.key.is_not(None)
        )
        .order_by(personal_keys.c.created_at, personal_keys.c.ref)
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

    async def seal(
        self,
        connection: AsyncConnection,
        data: Mapping[str, Any],
        paths: tuple[Path, ...],
        *,
        now: datetime,
    ) -> dict[str, Any]:
        """A copy of ``data`` with every personal value sealed, making keys for new people."""
        seal = await self.sealer(connection, personal_values(data, paths), now=now)
        return map_personal_values(data, paths, seal)

    async def seal_one(
        self, connection: AsyncConnection, subject: str | None, *, now: datetime
    ) -> str | None:
        """One personal value (e.g. an event's actor) sealed; ``None`` stays ``None``."""
        if subject is None:
            return None
        return (await self.sealer(connection, {subject}, now=now))(subject)

    async def sealer(
        self, connection: AsyncConnection, values: Iterable[str], *, now: datetime
    ) -> Callable[[str], str]:
        """What seals each of ``values`` (one key lookup for them all); empty and already
        sealed values stay as they are."""
        keys = await self.keys_for(
            connection, {value for value in values if value and not is_sealed(value)}, now=now
        )

        def seal(value: str) -> str:
            key = keys.get(value)
            return value if key is None else seal_value(value, ref=key.ref, key=key.key)

        return seal

    async def open(
        self,
        connection: AsyncConnection,
        data: Mapping[str, Any],
        paths: tuple[Path, ...],
        *,
        elsewhere: KeyFollower | None = None,
    ) -> dict[str, Any]:
        """A copy of ``data`` with every sealed personal value opened (or read as erased).

        Keys this service did not make come from ``elsewhere`` (the keys topic).
        """
        open_ = await self.opener(connection, personal_values(data, paths), elsewhere=elsewhere)
        return map_personal_values(data, paths, open_)

    async def open_one(
        self,
        connection: AsyncConnection,
        value: str | None,
        *,
        elsewhere: KeyFollower | None = None,
    ) -> str | None:
        if value is None:
            return None
        return (await self.opener(connection, {value}, elsewhere=elsewhere))(value)

    async def opener(
        self,
        connection: AsyncConnection,
        values: Iterable[str],
        *,
        elsewhere: KeyFollower | None = None,
    ) -> Callable[[str], str]:
        """What opens each of ``values`` (one key lookup for them all); values that are not
        sealed stay as they are."""
        tokens = {value: parse_token(value) for value in values if is_sealed(value)}
        keys = (
            await self._resolve(connection, {token.ref for token in tokens.values()}, elsewhere)
            if tokens
            else {}
        )

        def open_(value: str) -> str:
            token = tokens.get(value)
            return value if token is None else open_value(token, keys[token.ref])

        return open_

    async def _resolve(
        self, connection: AsyncConnection, refs: set[str], elsewhere: KeyFollower | None
    ) -> dict[str, bytes | None]:
        """The key of each ref, ``None`` for one that is forgotten (or was never published)."""
        keys: dict[str, bytes | None] = {
            row.ref: row.key
            for row in await connection.execute(
                _keys_of_refs(connection.dialect.name), {"refs": sorted(refs)}
            )
        }
        others = refs - keys.keys()
        if others and elsewhere is not None:
            if not all(elsewhere.knows(ref) for ref in others):
                # Published before the event that needs it: on the topic, or forgotten.
                async with asyncio.timeout(KEY_WAIT_SECONDS):
                    await elsewhere.caught_up()
            keys.update((ref, elsewhere.key(ref)) for ref in others)
        return {ref: keys.get(ref) for ref in refs}

    async def keys_for(
        self, connection: AsyncConnection, subjects: Iterable[str], *, now: datetime
    ) -> dict[str, PersonalKey]:
        """The key that seals each subject's values: the oldest live one, or a new one."""
        wanted = set(subjects)
        if not wanted:
            return {}
        found: dict[str, PersonalKey] = {}
        for row in await connection.execute(
            _live_keys_of_subjects(connection.dialect.name), {"subjects": sorted(wanted)}
        ):
            found.setdefault(
                row.subject, PersonalKey(ref=row.ref, subject=row.subject, key=row.key)
            )
        missing = sorted(wanted - found.keys())
        if missing:
            made = [
                PersonalKey(ref=new_ref(), subject=subject, key=new_key()) for subject in missing
            ]
            await connection.execute(
                insert(personal_keys),
                [
                    {"ref": key.ref, "subject": key.subject, "key": key.key, "created_at": now}
                    for key in made
                ],
            )
            found.update((key.subject, key) for key in made)
        return found

    async def forget(
        self,
        connection: AsyncConnection,
        subject: str,
        *,
        now: datetime,
        elsewhere: KeyFollower | None = None,
    ) -> list[str]:
        """Destroy every key of ``subject``, here and (through tombstones) in every service;
        returns their refs (none: nothing about them was sealed).

        The keys other services made are known from ``elsewhere`` (the keys topic): a row is
        kept for each, forgotten, so that its tombstone is published too.
        """
        own = set(
            (
                await connection.execute(
                    select(personal_keys.c.ref).where(personal_keys.c.subject == subject)
                )
            ).scalars()
        )
        others = set(elsewhere.refs_of(subject) if elsewhere is not None else ()) - own
        if others:
            known = set(
                (
                    await connection.execute(
                        select(personal_keys.c.ref).where(personal_keys.c.ref.in_(others))
                    )
                ).scalars()
            )
            fresh = sorted(others - known)
            if fresh:
                await connection.execute(
                    insert(personal_keys),
                    [
                        {
                            "ref": ref,
                            "subject": None,
                            "key": None,
                            "created_at": now,
                            "erased_at": now,
                            "published_at": None,
                        }
                        for ref in fresh
                    ],
                )
        await self.forget_refs(connection, own | others, now=now)
        return sorted(own | others)

    async def forget_refs(
        self,
        connection: AsyncConnection,
        refs: Iterable[str],
        *,
        now: datetime,
        announce: bool = True,
    ) -> None:
        """Destroy these keys; ``announce`` puts their tombstones on the keys topic (not needed
        when the tombstone is where we learnt it)."""
        wanted = set(refs)
        if wanted:
            await connection.execute(
                update(personal_keys)
                .where(personal_keys.c.ref.in_(wanted), personal_keys.c.erased_at.is_(None))
                .values(
                    subject=None, key=None, erased_at=now, published_at=None if announce else now
                )
            )


def _key_record(
    ref: str, subject: str | None, key: bytes | None, created_at: datetime
) -> bytes | None:
    if key is None or subject is None:
        return None
    return json.dumps(
        {
            "ref": ref,
            "subject": subject,
            "key": base64.b64encode(key).decode("ascii"),
            "created_at": created_at.astimezone(UTC).isoformat(),
        }
    ).encode()


def _read_key_record(value: bytes) -> tuple[PersonalKey, datetime]:
    document = json.loads(value)
    key = PersonalKey(
        ref=document["ref"], subject=document["subject"], key=base64.b64decode(document["key"])
    )
    return key, datetime.fromisoformat(document["created_at"])


# A key (or tombstone) not yet on the keys topic.
_UNPUBLISHED = personal_keys.c.published_at.is_(None)


class KeyPublisher:
    """Puts the keys (and tombstones) a service has not published yet on the keys topic."""

    # True while a key or tombstone waits to be published (for the relay's page reads).
    WAITING: ColumnElement[bool] = select(personal_keys.c.ref).where(_UNPUBLISHED).exists()

    def __init__(self, database: Database, topic: str) -> None:
        self._database = database
        self._topic = topic

    async def publish_pending(self, producer: AIOKafkaProducer) -> int:
        """Publish and mark every unpublished row; returns how many were published."""
        async with self._database.autocommit() as connection:
            rows = list(
                await connection.execute(
                    select(personal_keys)
                    .where(_UNPUBLISHED)
                    .order_by(personal_keys.c.created_at, personal_keys.c.ref)
                )
            )
        if not rows:
            return 0
        deliveries = [
            await producer.send(
                self._topic,
                key=row.ref.encode("ascii"),
                value=_key_record(row.ref, row.subject, row.key, row.created_at),
            )
            for row in rows
        ]
        await asyncio.gather(*deliveries)
        now = datetime.now(UTC)
        async with self._database.transaction() as connection:
            # Only rows still as they were published: a key forgotten meanwhile stays pending
            # so that its tombstone follows.
            await connection.execute(
                update(personal_keys)
                .where(
                    personal_keys.c.ref == bindparam("published_ref"),
                    _UNPUBLISHED,
                    (personal_keys.c.key.is_(None)) == bindparam("was_forgotten"),
                )
                .values(published_at=now),
                [{"published_ref": row.ref, "was_forgotten": row.key is None} for row in rows],
            )
        return len(rows)


class KeyFollower:
    """Knows every key on the keys topic: read from the beginning, kept in memory, a ref forgotten
    when its tombstone arrives (and forgotten in this service's own table too, if it made it)."""

    def __init__(
        self,
        *,
        database: Database,
        bootstrap_servers: str,
        topic: str,
        client_id: str,
        keys: PersonalKeys | None = None,
        forget_person: ForgetPerson | None = None,
    ) -> None:
        self._database = database
        # What else the service does when a person is forgotten (e.g. clean its read models).
        self.forget_person = forget_person
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic
        self._client_id = client_id
        self._keys = keys or PersonalKeys()
        self._consumer: AIOKafkaConsumer | None = None
        self._read: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        # ref -> its key, or None once its tombstone was read.
        self._known: dict[str, PersonalKey | None] = {}

    def knows(self, ref: str) -> bool:
        return ref in self._known

    def key(self, ref: str) -> bytes | None:
        """The live key of ``ref``; ``None`` when it was forgotten or never seen."""
        found = self._known.get(ref)
        return found.key if found is not None else None

    def refs_of(self, subject: str) -> list[str]:
        """The live refs of ``subject``, whichever service made them."""
        return sorted(
            ref
            for ref, found in self._known.items()
            if found is not None and found.subject == subject
        )

    async def run(self) -> None:
        """Follow the topic from its beginning until cancelled; retries when Kafka is away."""
        await run_restarting(self._follow, what="following the personal keys")

    async def caught_up(self) -> None:
        """Wait until everything on the topic at the time of the call has been read."""
        async with self._progress:
            await self._progress.wait_for(lambda: self._consumer is not None)
        consumer = self._consumer
        assert consumer is not None
        partitions = sorted(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        async with self._progress:
            await self._progress.wait_for(
                lambda: all(
                    self._read.get(partition, -1) >= ends[partition] for partition in partitions
                )
            )

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=self._client_id,
        )
        try:
            await consumer.start()
            # Without a group, a subscribed consumer is assigned every partition when it starts.
            partitions = sorted(consumer.assignment())
            await consumer.seek_to_beginning(*partitions)
            async with self._progress:
                self._consumer = consumer
                self._progress.notify_all()
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                forgotten = [
                    found for records in batches.values() for found in self._remember(records)
                ]
                # The position is past the records getmany returned (and past compacted holes).
                read = {partition: await consumer.position(partition) for partition in partitions}
                async with self._progress:
                    self._read = read
                    self._progress.notify_all()
                if forgotten:
                    async with self._database.transaction() as connection:
                        await self._keys.forget_refs(
                            connection,
                            [ref for ref, _ in forgotten],
                            now=datetime.now(UTC),
                            announce=False,
                        )
                        subjects = sorted({subject for _, subject in forgotten if subject})
                        if self.forget_person is not None:
                            for subject in subjects:
                                await self.forget_person(connection, subject)
        finally:
            self._consumer = None
            self._read = {}
            await consumer.stop()

    def _remember(
        self, records: list[ConsumerRecord[bytes, bytes]]
    ) -> list[tuple[str, str | None]]:
        """Take in keys and tombstones; returns the refs forgotten, with whom they named."""
        forgotten: list[tuple[str, str | None]] = []
        for record in records:
            if record.key is None:
                continue
            ref = record.key.decode("ascii", errors="replace")
            if record.value is None:
                previous = self._known.get(ref)
                self._known[ref] = None
                forgotten.append((ref, previous.subject if previous is not None else None))
                continue
            try:
                key, _ = _read_key_record(record.value)
            except (ValueError, KeyError, TypeError):
                log.warning("not a personal key record", extra={"offset": record.offset})
                continue
            if self._known.get(ref, key) is not None:
                self._known[ref] = key
        return forgotten


class SealedEventData:
    """Seals the personal data of a service's events on the way into its store, opens it on the
    way out; the event classes of ``registries`` say which fields are personal."""

    def __init__(
        self,
        registries: Iterable[EventRegistry],
        keys: PersonalKeys | None = None,
        follower: KeyFollower | None = None,
    ) -> None:
        self._paths = {
            event_type: personal_paths(registry.class_for(event_type))
            for registry in registries
            for event_type in registry.event_types
        }
        self.keys = keys or PersonalKeys()
        # Where the keys other services made come from; None: this service's own keys only.
        self.follower = follower

    def paths(self, event_type: str) -> tuple[Path, ...]:
        """Where events of this type hold people (none for a type no registry knows)."""
        return self._paths.get(event_type, ())

    async def seal(
        self,
        connection: AsyncConnection,
        events: Sequence[tuple[str, Mapping[str, Any]]],
        actor: str | None,
        *,
        now: datetime,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The (type, data) of one append's events and its actor, their people sealed."""
        values = {
            value
            for event_type, data in events
            for value in personal_values(data, self.paths(event_type))
        }
        seal = await self.keys.sealer(connection, values | ({actor} if actor else set()), now=now)
        return (
            [
                map_personal_values(data, self.paths(event_type), seal)
                for event_type, data in events
            ],
            seal(actor) if actor is not None else None,
        )

    async def open_all(
        self, connection: AsyncConnection, envelopes: Sequence[EventEnvelope]
    ) -> list[EventEnvelope]:
        """The envelopes with their personal values (data and actor) opened, or read as erased;
        one key lookup for them all.

        Each ``hash`` stays the hash of the sealed event: verify chains on sealed envelopes.
        """
        opened = await self.open_many(
            connection, [(envelope.type, envelope.data, envelope.actor) for envelope in envelopes]
        )
        return [
            replace(envelope, data=data, actor=actor)
            for envelope, (data, actor) in zip(envelopes, opened, strict=True)
        ]

    async def open_many(
        self,
        connection: AsyncConnection,
        stored: Sequence[tuple[str, Mapping[str, Any], str | None]],
    ) -> list[tuple[dict[str, Any], str | None]]:
        """(data, actor) of each stored (type, data, actor), opened; one key lookup for all."""
        values = {
            value
            for event_type, data, actor in stored
            for value in [*personal_values(data, self.paths(event_type)), actor]
            if value is not None
        }
        open_ = await self.keys.opener(connection, values, elsewhere=self.follower)
        return [
            (
                map_personal_values(data, self.paths(event_type), open_),
                open_(actor) if actor is not None else None,
            )
            for event_type, data, actor in stored
        ]


def opening(personal_data: SealedEventData, handler: BatchHandler) -> BatchHandler:
    """A consumer's handler that sees events with their personal values opened (one key lookup
    per batch)."""

    async def apply(connection: AsyncConnection, envelopes: Sequence[EventEnvelope]) -> None:
        await handler(connection, await personal_data.open_all(connection, envelopes))

    return apply


async def erase_from_tables(
    connection: AsyncConnection,
    subject: str,
    tables: Iterable[Table],
    *,
    prefixes: Iterable[str] = (),
) -> int:
    """Replace ``subject`` by :data:`ERASED` wherever a read model holds it as a value: string
    columns equal to it, and strings equal to it inside JSON columns (values and object keys).
    With ``prefixes`` (such as ``user:``), ``<prefix><subject>`` becomes ``<prefix>[erased]``
    too. Returns the number of rows changed. (Event logs are not read models: they keep their
    sealed values.)"""
    replacements = {subject: ERASED, **{prefix + subject: prefix + ERASED for prefix in prefixes}}
    changed = 0
    for table in tables:
        for column in table.columns:
            if isinstance(column.type, JSON):
                changed += await _erase_from_json(connection, table, column, subject, replacements)
                continue
            held = {
                value: erased
                for value, erased in replacements.items()
                if _may_hold(column, value, erased)
            }
            if held:  # every form of the name in one statement a column
                result = await connection.execute(
                    update(table)
                    .where(column.in_(list(held)))
                    .values({column.name: case(held, value=column)})
                )
                changed += result.rowcount or 0
    return changed


async def _erase_from_json(
    connection: AsyncConnection,
    table: Table,
    column: Column[Any],
    subject: str,
    replacements: Mapping[str, str],
) -> int:
    keys = list(table.primary_key.columns)
    rows = (
        await connection.execute(select(*keys, column).where(cast(column, Text).contains(subject)))
    ).all()
    changes = []
    for row in rows:
        before = row._mapping[column.name]
        after = _replaced(before, replacements)
        if after != before:
            changes.append(
                {
                    **{f"key_{key.name}": row._mapping[key.name] for key in keys},
                    "erased_value": after,
                }
            )
    if changes:
        # One statement for all the rows (one round trip on PostgreSQL): a person may be named
        # in thousands of a read model's rows, such as an approver's votes.
        await connection.execute(
            update(table)
            .where(*(key == bindparam(f"key_{key.name}") for key in keys))
            .values({column.name: bindparam("erased_value", type_=column.type)}),
            changes,
        )
    return len(changes)


def _may_hold(column: Column[Any], value: str, erased: str) -> bool:
    """A string column (not a key) long enough for the value and its erased form."""
    if not isinstance(column.type, String) or column.primary_key:
        return False
    length = column.type.length
    return length is None or length >= max(len(value), len(erased))


def _replaced(value: Any, replacements: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return replacements.get(value, value)
    if isinstance(value, list):
        return [_replaced(item, replacements) for item in value]
    if isinstance(value, dict):
        return {
            replacements.get(key, key): _replaced(item, replacements) for key, item in value.items()
        }
    return value
