"""Tamper evidence: the hash chain of every stream and the running head of every service's log.

An auditor can reimplement all of this from the description below and check a Gatehouse log
without trusting any Gatehouse database.

**Canonical encoding of an event.** A JSON object with exactly these twelve members:

=================  ==========================================================================
``event_id``       the event's UUID as a string, lower case, hyphenated (``ce_id``)
``source``         the producing service, e.g. ``/gatehouse/intake`` (``ce_source``)
``stream_id``      the stream (aggregate) id (``ce_streamid``)
``version``        the event's version in its stream, an integer from 1 (``ce_streamversion``)
``type``           the event type, e.g. ``intake.ProjectRequested`` (``ce_type``)
``schema_version`` an integer (``ce_schemaversion``, 1 when absent)
``data``           the event data, a JSON object (the Kafka record value)
``recorded_at``    when it was stored, RFC 3339 in UTC with exactly six fractional digits and a
                   ``Z``: ``2026-11-23T10:00:00.123456Z`` (``ce_time``, re-formatted)
``actor``          a string or ``null`` (``ce_actor``; absent header = ``null``)
``correlation_id`` a string or ``null`` (``ce_correlationid``)
``causation_id``   a string or ``null`` (``ce_causationid``)
``prev_hash``      the ``hash`` of the previous event of the same stream (``ce_gatehouseprevhash``)
=================  ==========================================================================

serialised as UTF-8 JSON with the object keys sorted at every level, no insignificant
whitespace (separators ``,`` and ``:``), non-ASCII characters written as themselves (not
``\\u`` escapes) and no NaN or infinity — in Python
``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
.encode("utf-8")``. Numbers inside ``data`` are written as Python's ``json`` writes them
(integers in full, floats in their shortest round-trip form); Gatehouse events carry amounts
as decimal strings.

**Event hash.** ``hash = lower-case hex SHA-256 of the canonical encoding`` (64 characters).
The first event of a stream (version 1) has ``prev_hash`` = 64 zeros (:data:`GENESIS_HASH`);
event *n* has ``prev_hash`` = the ``hash`` of event *n* - 1. The store computes both when it
appends and keeps them with the event; on Kafka they travel as ``ce_gatehousehash`` and
``ce_gatehouseprevhash``.

**Log head.** The outbox relay of a service publishes the service's events in position order
(the global feed) and carries a running head in ``ce_gatehouseloghead``:
``log_head_n = SHA-256 hex of the ASCII string log_head_{n-1} + hash_n`` (two 64-character hex
strings concatenated, 128 bytes), with ``log_head_0`` = 64 zeros, over the events in ascending
``ce_position``. Positions may have holes (a rolled-back append draws a position and never uses
it); an event dropped from the log changes every later head, so a head that does not follow
from the one before shows that an event is missing. A republished copy of an event carries the
same head as the first copy.

:class:`ChainVerifier` checks both, fed with envelopes in any order.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from gatehouse.events.envelope import EventEnvelope

__all__ = [
    "GENESIS_HASH",
    "BreakKind",
    "ChainBreak",
    "ChainReport",
    "ChainVerifier",
    "canonical_encoding",
    "envelope_hash",
    "event_hash",
    "format_recorded_at",
    "next_log_head",
]

GENESIS_HASH = "0" * 64


def format_recorded_at(moment: datetime) -> str:
    """``2026-11-23T10:00:00.123456Z``: UTC, always six fractional digits."""
    if moment.tzinfo is None:
        raise ValueError(f"recorded_at {moment!r} has no UTC offset")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_encoding(
    *,
    event_id: UUID | str,
    source: str,
    stream_id: str,
    version: int,
    type: str,
    schema_version: int,
    data: Mapping[str, Any],
    recorded_at: datetime,
    actor: str | None,
    correlation_id: str | None,
    causation_id: str | None,
    prev_hash: str,
) -> bytes:
    """The bytes an event's hash is computed over (see the module documentation)."""
    document = {
        "event_id": str(event_id),
        "source": source,
        "stream_id": stream_id,
        "version": version,
        "type": type,
        "schema_version": schema_version,
        "data": data,
        "recorded_at": format_recorded_at(recorded_at),
        "actor": actor,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "prev_hash": prev_hash,
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def event_hash(
    *,
    event_id: UUID | str,
    source: str,
    stream_id: str,
    version: int,
    type: str,
    schema_version: int,
    data: Mapping[str, Any],
    recorded_at: datetime,
    actor: str | None,
    correlation_id: str | None,
    causation_id: str | None,
    prev_hash: str,
) -> str:
    """The SHA-256 (lower-case hex) of the event's canonical encoding."""
    encoded = canonical_encoding(
        event_id=event_id,
        source=source,
        stream_id=stream_id,
        version=version,
        type=type,
        schema_version=schema_version,
        data=data,
        recorded_at=recorded_at,
        actor=actor,
        correlation_id=correlation_id,
        causation_id=causation_id,
        prev_hash=prev_hash,
    )
    return hashlib.sha256(encoded).hexdigest()


def envelope_hash(envelope: EventEnvelope, prev_hash: str | None = None) -> str:
    """The hash an envelope's content gives, with its own ``prev_hash`` unless one is passed."""
    previous = prev_hash if prev_hash is not None else envelope.prev_hash
    if previous is None:
        raise ValueError("the envelope carries no prev_hash")
    return event_hash(
        event_id=envelope.id,
        source=envelope.source,
        stream_id=envelope.stream_id,
        version=envelope.stream_version,
        type=envelope.type,
        schema_version=envelope.schema_version,
        data=envelope.data,
        recorded_at=envelope.time,
        actor=envelope.actor,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        prev_hash=previous,
    )


def next_log_head(previous_head: str, hash_: str) -> str:
    """``sha256(previous_head + hash_)`` over the two hex strings."""
    return hashlib.sha256((previous_head + hash_).encode("ascii")).hexdigest()


class BreakKind(StrEnum):
    HASH_MISMATCH = "hash mismatch"
    PREV_HASH_MISMATCH = "prev_hash is not the previous event's hash"
    MISSING_VERSION = "missing version"
    DUPLICATE = "duplicate"
    MISSING_HASH = "event carries no hash"
    MISSING_FROM_LOG = "an event is missing from the log"
    MISSING_LOG_HEAD = "event carries no log head"


@dataclass(frozen=True, kw_only=True)
class ChainBreak:
    """Where a chain stops holding, and why."""

    kind: BreakKind
    stream_id: str
    version: int
    event_id: str | None
    position: int | None
    detail: str

    def describe(self) -> str:
        where = f"stream {self.stream_id} version {self.version}"
        if self.event_id is not None:
            where += f" (event {self.event_id}"
            where += f", position {self.position})" if self.position is not None else ")"
        return f"{self.kind.value} at {where}: {self.detail}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.name.lower(),
            "stream_id": self.stream_id,
            "version": self.version,
            "event_id": self.event_id,
            "position": self.position,
            "detail": self.detail,
            "message": self.describe(),
        }


@dataclass(frozen=True, kw_only=True)
class ChainReport:
    records: int
    events_checked: int
    streams_checked: int
    log_head: str | None
    log_position: int | None
    breaks: list[ChainBreak] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> ChainBreak | None:
        return self.breaks[0] if self.breaks else None

    def as_dict(self) -> dict[str, Any]:
        first = self.first_break
        return {
            "records": self.records,
            "events_checked": self.events_checked,
            "streams_checked": self.streams_checked,
            "log_head": self.log_head,
            "log_position": self.log_position,
            "intact": self.intact,
            "first_break": first.as_dict() if first is not None else None,
            "breaks": [found.as_dict() for found in self.breaks],
        }


class ChainVerifier:
    """Fed the envelopes of one service's log in any order; reports where the chains break.

    The report lists the first break of each stream (in log order), then the first break of
    the log heads; ``first_break`` is the first of that list.

    Identical copies of an event (a relay republishes after a crash) count once. A copy without
    a hash (published before the chain existed) is compared with the chained copy of the same
    event when there is one. ``check_log=False`` checks the stream chains only, e.g. envelopes
    read from a database rather than from the published log.
    """

    def __init__(self, *, check_log: bool = True) -> None:
        self._check_log = check_log
        self._streams: dict[str, dict[int, list[EventEnvelope]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self._records = 0

    def add(self, envelope: EventEnvelope) -> None:
        self._records += 1
        self._streams[envelope.stream_id][envelope.stream_version].append(envelope)

    def add_all(self, envelopes: Iterable[EventEnvelope]) -> None:
        for envelope in envelopes:
            self.add(envelope)

    def report(self) -> ChainReport:
        breaks: list[ChainBreak] = []
        events_checked = sum(len(versions) for versions in self._streams.values())
        for stream_id in sorted(self._streams):
            found = _check_stream(stream_id, self._streams[stream_id])
            if found is not None:
                breaks.append(found)
        breaks.extend(_check_event_ids(self._streams))
        breaks.sort(key=_log_order)
        log_head: str | None = None
        log_position: int | None = None
        if self._check_log:
            chained = [
                copy
                for versions in self._streams.values()
                for copies in versions.values()
                for copy in copies
                if copy.hash is not None
            ]
            log_break, log_head, log_position = _check_log(chained)
            if log_break is not None:
                # After the stream breaks: those name the altered event, a log break may only
                # be their consequence (a rehashed event changes every later head).
                breaks.append(log_break)
        return ChainReport(
            records=self._records,
            events_checked=events_checked,
            streams_checked=len(self._streams),
            log_head=log_head,
            log_position=log_position,
            breaks=breaks,
        )


def _check_stream(stream_id: str, versions: Mapping[int, list[EventEnvelope]]) -> ChainBreak | None:
    """The stream's first break, if any."""
    expected_prev = GENESIS_HASH

    def stop(kind: BreakKind, version: int, envelope: EventEnvelope, detail: str) -> ChainBreak:
        return ChainBreak(
            kind=kind,
            stream_id=stream_id,
            version=version,
            event_id=str(envelope.id),
            position=envelope.position,
            detail=detail,
        )

    for expected_version, version in enumerate(sorted(versions), start=1):
        copies = versions[version]
        first = copies[0]
        if version != expected_version:
            return stop(
                BreakKind.MISSING_VERSION,
                expected_version,
                first,
                f"the stream has no version {expected_version}; "
                f"the next event found is version {version}",
            )
        hashed = [copy for copy in copies if copy.hash is not None]
        if not hashed:
            return stop(
                BreakKind.MISSING_HASH,
                version,
                first,
                "no copy of this event carries ce_gatehousehash",
            )
        for copy in hashed:
            if copy.prev_hash is None:
                return stop(
                    BreakKind.MISSING_HASH,
                    version,
                    copy,
                    "the event carries a hash but no ce_gatehouseprevhash",
                )
            computed = envelope_hash(copy)
            if computed != copy.hash:
                return stop(
                    BreakKind.HASH_MISMATCH,
                    version,
                    copy,
                    f"its content hashes to {computed}, it carries {copy.hash}",
                )
        distinct = {(copy.hash, copy.id) for copy in hashed}
        if len(distinct) > 1:
            ids = ", ".join(sorted(str(event_id) for _, event_id in distinct))
            return stop(
                BreakKind.DUPLICATE, version, first, f"different events claim this version: {ids}"
            )
        chosen = hashed[0]
        for copy in copies:
            if copy.hash is None and envelope_hash(copy, chosen.prev_hash) != chosen.hash:
                return stop(
                    BreakKind.HASH_MISMATCH,
                    version,
                    copy,
                    "an earlier, unchained copy of this event differs from the chained copy",
                )
        if chosen.prev_hash != expected_prev:
            return stop(
                BreakKind.PREV_HASH_MISMATCH,
                version,
                chosen,
                f"it carries prev_hash {chosen.prev_hash}, the previous event's hash "
                f"is {expected_prev}",
            )
        expected_prev = chosen.hash or GENESIS_HASH
    return None


def _check_event_ids(streams: Mapping[str, Mapping[int, list[EventEnvelope]]]) -> list[ChainBreak]:
    places: dict[UUID, set[tuple[str, int]]] = defaultdict(set)
    first_copy: dict[UUID, EventEnvelope] = {}
    for stream_id, versions in streams.items():
        for version, copies in versions.items():
            for copy in copies:
                places[copy.id].add((stream_id, version))
                first_copy.setdefault(copy.id, copy)
    breaks = []
    for event_id, where in places.items():
        if len(where) > 1:
            stream_id, version = max(where)
            listed = ", ".join(f"{s} v{v}" for s, v in sorted(where))
            breaks.append(
                ChainBreak(
                    kind=BreakKind.DUPLICATE,
                    stream_id=stream_id,
                    version=version,
                    event_id=str(event_id),
                    position=first_copy[event_id].position,
                    detail=f"one event id at several places: {listed}",
                )
            )
    return breaks


def _check_log(chained: list[EventEnvelope]) -> tuple[ChainBreak | None, str | None, int | None]:
    """Recompute the running head in position order: (first break, last head, last position)."""
    by_position: dict[int, list[EventEnvelope]] = defaultdict(list)
    for envelope in chained:
        if envelope.position is None:
            return (
                _log_break(
                    BreakKind.MISSING_LOG_HEAD, envelope, "the event carries no ce_position"
                ),
                None,
                None,
            )
        by_position[envelope.position].append(envelope)
    head = GENESIS_HASH
    last_position: int | None = None
    for position in sorted(by_position):
        copies = by_position[position]
        with_head = [copy for copy in copies if copy.log_head is not None]
        if not with_head:
            return (
                _log_break(
                    BreakKind.MISSING_LOG_HEAD,
                    copies[0],
                    "no copy of this event carries ce_gatehouseloghead",
                ),
                head,
                last_position,
            )
        pairs = {(copy.hash, copy.log_head, copy.id) for copy in with_head}
        if len(pairs) > 1:
            return (
                _log_break(
                    BreakKind.DUPLICATE,
                    copies[0],
                    f"{len(pairs)} different events or heads at position {position}",
                ),
                head,
                last_position,
            )
        envelope = with_head[0]
        assert envelope.hash is not None
        assert envelope.log_head is not None
        expected = next_log_head(head, envelope.hash)
        if envelope.log_head != expected:
            after = f"position {last_position}" if last_position is not None else "the start"
            return (
                _log_break(
                    BreakKind.MISSING_FROM_LOG,
                    envelope,
                    f"the log head {envelope.log_head} does not follow from {after} "
                    f"(expected {expected}): an event between them is missing, or this "
                    "event's hash or head was altered",
                ),
                head,
                last_position,
            )
        head, last_position = envelope.log_head, position
    return None, (head if last_position is not None else None), last_position


def _log_break(kind: BreakKind, envelope: EventEnvelope, detail: str) -> ChainBreak:
    return ChainBreak(
        kind=kind,
        stream_id=envelope.stream_id,
        version=envelope.stream_version,
        event_id=str(envelope.id),
        position=envelope.position,
        detail=detail,
    )


def _log_order(found: ChainBreak) -> tuple[float, str, int]:
    position = float("inf") if found.position is None else float(found.position)
    return position, found.stream_id, found.version
