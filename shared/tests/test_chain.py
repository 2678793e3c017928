"""The canonical encoding, the event hash, the log head, and what the verifier finds."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from gatehouse.events.envelope import EventEnvelope, from_kafka_record, to_kafka_record
from gatehouse.eventstore.chain import (
    GENESIS_HASH,
    BreakKind,
    ChainVerifier,
    canonical_encoding,
    envelope_hash,
    event_hash,
    next_log_head,
)

KNOWN_EVENT: dict[str, Any] = {
    "event_id": "8f1c7c4e-2b0a-4c57-9a43-0d6f1f6f5a01",
    "source": "/gatehouse/intake",
    "stream_id": "project-1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    "version": 1,
    "type": "intake.ProjectRequested",
    "schema_version": 1,
    "data": {
        "title": "Nouveau CRM \u2013 été",
        "risk_level": "medium",
        "estimated_cost": {"currency": "EUR", "amount": "250000.00"},
    },
    "recorded_at": datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC),
    "actor": "alice",
    "correlation_id": "corr-1",
    "causation_id": None,
    "prev_hash": GENESIS_HASH,
}
KNOWN_ENCODING = (
    '{"actor":"alice","causation_id":null,"correlation_id":"corr-1","data":{"estimated_cost":'
    '{"amount":"250000.00","currency":"EUR"},"risk_level":"medium",'
    '"title":"Nouveau CRM \u2013 été"},'
    '"event_id":"8f1c7c4e-2b0a-4c57-9a43-0d6f1f6f5a01","prev_hash":"'
    + "0"
    * 64
    + '","recorded_at":"2026-11-23T10:00:00.123456Z","schema_version":1,'
    '"source":"/gatehouse/intake","stream_id":"project-1b4e28ba-2fa1-11d2-883f-0016d3cca427",'
    '"type":"intake.ProjectRequested","version":1}'
)
# sha256 of KNOWN_ENCODING, computed independently (printf '%s' ... | sha256sum).
KNOWN_HASH = "8233c525251e6a6ec08fc89dee5581bfd4c308f5236784e0ae134745b3c1a5a1"
# sha256 of the ASCII string "0" * 64 + KNOWN_HASH.
KNOWN_FIRST_LOG_HEAD = "7a879c0d43da10265e28d23a3b27ad92be9134af886681a4055b7d831e27cb39"


def test_the_canonical_encoding_and_hash_of_a_known_event_are_pinned() -> None:
    assert canonical_encoding(**KNOWN_EVENT) == KNOWN_ENCODING.encode("utf-8")
    assert event_hash(**KNOWN_EVENT) == KNOWN_HASH
    assert next_log_head(GENESIS_HASH, KNOWN_HASH) == KNOWN_FIRST_LOG_HEAD


def test_the_encoding_does_not_depend_on_how_the_time_or_id_is_given() -> None:
    other_offset = KNOWN_EVENT["recorded_at"].astimezone(datetime.now(UTC).astimezone().tzinfo)
    same = {**KNOWN_EVENT, "event_id": UUID(KNOWN_EVENT["event_id"]), "recorded_at": other_offset}
    assert event_hash(**same) == KNOWN_HASH
    whole_second = {**KNOWN_EVENT, "recorded_at": datetime(2026, 11, 23, 10, tzinfo=UTC)}
    assert b'"recorded_at":"2026-11-23T10:00:00.000000Z"' in canonical_encoding(**whole_second)
    with pytest.raises(ValueError, match="no UTC offset"):
        event_hash(**{**KNOWN_EVENT, "recorded_at": datetime(2026, 11, 23, 10)})


def test_the_envelope_hash_survives_the_kafka_wire_format() -> None:
    envelope = EventEnvelope(
        id=UUID(KNOWN_EVENT["event_id"]),
        source=KNOWN_EVENT["source"],
        type=KNOWN_EVENT["type"],
        time=KNOWN_EVENT["recorded_at"],
        subject=KNOWN_EVENT["stream_id"],
        data=KNOWN_EVENT["data"],
        stream_id=KNOWN_EVENT["stream_id"],
        stream_version=1,
        position=7,
        actor="alice",
        correlation_id="corr-1",
        prev_hash=GENESIS_HASH,
        hash=KNOWN_HASH,
        log_head=KNOWN_FIRST_LOG_HEAD,
    )
    record = to_kafka_record(envelope)
    headers = dict(record.headers)
    assert headers["ce_gatehousehash"] == KNOWN_HASH.encode()
    assert headers["ce_gatehouseprevhash"] == GENESIS_HASH.encode()
    assert headers["ce_gatehouseloghead"] == KNOWN_FIRST_LOG_HEAD.encode()

    decoded = from_kafka_record(record.value, record.headers)
    assert decoded == envelope
    assert envelope_hash(decoded) == KNOWN_HASH


# --- the verifier -------------------------------------------------------------------------

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def published_log(streams: int = 3, per_stream: int = 4) -> list[EventEnvelope]:
    """A correctly chained log, interleaved across streams, as the relay publishes it."""
    previous: dict[str, str] = {}
    head = GENESIS_HASH
    log: list[EventEnvelope] = []
    position = 0
    for version in range(1, per_stream + 1):
        for stream in range(streams):
            position += 2  # positions have holes, as rolled-back appends leave them
            stream_id = f"s-{stream}"
            envelope = EventEnvelope(
                id=uuid4(),
                source="/gatehouse/test",
                type="test.Happened",
                time=START + timedelta(seconds=position, microseconds=position * 7),
                subject=stream_id,
                data={"n": version, "text": "ünïcode"},
                stream_id=stream_id,
                stream_version=version,
                position=position,
                actor=f"user-{stream}",
                correlation_id="corr",
                causation_id=None,
                prev_hash=previous.get(stream_id, GENESIS_HASH),
            )
            envelope = rehash(envelope)
            previous[stream_id] = envelope.hash or ""
            head = next_log_head(head, envelope.hash or "")
            log.append(dataclasses.replace(envelope, log_head=head))
    return log


def rehash(envelope: EventEnvelope) -> EventEnvelope:
    """What a forger who knows the algorithm does: make the event's own hash fit again."""
    return dataclasses.replace(envelope, hash=envelope_hash(envelope))


def verify(log: list[EventEnvelope], *, shuffle: bool = True) -> Any:
    verifier = ChainVerifier()
    fed = list(log)
    if shuffle:
        random.Random(4).shuffle(fed)
    verifier.add_all(fed)
    return verifier.report()


def at(log: list[EventEnvelope], stream_id: str, version: int) -> int:
    return next(
        i for i, e in enumerate(log) if e.stream_id == stream_id and e.stream_version == version
    )


def test_an_intact_log_verifies_in_any_order() -> None:
    log = published_log()
    report = verify(log)

    assert report.intact, report.breaks
    assert report.events_checked == 12
    assert report.streams_checked == 3
    assert report.log_head == log[-1].log_head
    assert report.log_position == log[-1].position


def test_republished_copies_of_an_event_count_once() -> None:
    log = published_log()
    report = verify(log + log[4:9])

    assert report.intact
    assert report.records == 17
    assert report.events_checked == 12


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("data", {"n": 2, "text": "ünïcode", "approved": True}),
        ("actor", "mallory"),
        ("type", "test.SomethingElse"),
        ("time", START),
        ("correlation_id", None),
    ],
)
def test_an_edited_event_is_a_hash_mismatch(field: str, value: Any) -> None:
    log = published_log()
    index = at(log, "s-1", 2)
    log[index] = dataclasses.replace(log[index], **{field: value})

    report = verify(log)

    found = report.first_break
    assert found is not None
    assert (found.kind, found.stream_id, found.version) == (BreakKind.HASH_MISMATCH, "s-1", 2)
    assert found.event_id == str(log[index].id)
    assert len(report.breaks) == 1, "the log heads only chain the carried hashes"


def test_an_edited_event_whose_hash_is_recomputed_breaks_the_next_link() -> None:
    log = published_log()
    index = at(log, "s-1", 2)
    log[index] = rehash(dataclasses.replace(log[index], data={"n": 2, "approved": True}))

    report = verify(log)

    found = report.first_break
    assert found is not None
    assert (found.kind, found.stream_id, found.version) == (BreakKind.PREV_HASH_MISMATCH, "s-1", 3)
    log_break = report.breaks[-1]
    assert (log_break.kind, log_break.stream_id, log_break.version) == (
        BreakKind.MISSING_FROM_LOG,
        "s-1",
        2,
    ), "its head no longer follows either"


def test_a_removed_event_is_a_missing_version() -> None:
    log = published_log()
    del log[at(log, "s-2", 2)]

    report = verify(log)

    kinds = {(b.kind, b.stream_id, b.version) for b in report.breaks}
    assert (BreakKind.MISSING_VERSION, "s-2", 2) in kinds
    assert any(b.kind is BreakKind.MISSING_FROM_LOG for b in report.breaks)


def test_a_removed_last_event_of_a_stream_is_missing_from_the_log() -> None:
    log = published_log()
    removed = log.pop(at(log, "s-0", 4))

    found = verify(log).first_break

    assert found is not None
    assert found.kind is BreakKind.MISSING_FROM_LOG
    assert found.position is not None
    assert removed.position is not None
    assert found.position > removed.position
    assert "missing" in found.describe()


def test_the_newest_events_not_yet_published_are_no_break() -> None:
    log = published_log()
    assert verify(log[:7]).intact


def test_a_reordered_version_is_found() -> None:
    log = published_log()
    second, third = at(log, "s-0", 2), at(log, "s-0", 3)
    log[second], log[third] = (
        dataclasses.replace(log[second], stream_version=3),
        dataclasses.replace(log[third], stream_version=2),
    )

    found = verify(log).first_break

    assert found is not None
    assert (found.kind, found.stream_id, found.version) == (BreakKind.HASH_MISMATCH, "s-0", 2)


def test_a_reordered_version_rehashed_by_a_forger_breaks_the_links() -> None:
    log = published_log()
    second, third = at(log, "s-0", 2), at(log, "s-0", 3)
    log[second], log[third] = (
        rehash(dataclasses.replace(log[second], stream_version=3)),
        rehash(dataclasses.replace(log[third], stream_version=2)),
    )

    found = verify(log).first_break

    assert found is not None
    assert (found.kind, found.stream_id, found.version) == (BreakKind.PREV_HASH_MISMATCH, "s-0", 2)


def test_a_forged_prev_hash_is_found() -> None:
    log = published_log()
    index = at(log, "s-2", 3)
    log[index] = rehash(dataclasses.replace(log[index], prev_hash="ab" * 32))

    found = verify(log).first_break

    assert found is not None
    assert (found.kind, found.stream_id, found.version) == (BreakKind.PREV_HASH_MISMATCH, "s-2", 3)
    assert "ab" * 32 in found.detail


def test_a_second_event_at_one_version_is_a_duplicate() -> None:
    log = published_log()
    original = log[at(log, "s-1", 4)]
    forged = rehash(dataclasses.replace(original, id=uuid4(), data={"n": 99}))

    found = verify([*log, forged]).first_break

    assert found is not None
    assert (found.kind, found.stream_id, found.version) == (BreakKind.DUPLICATE, "s-1", 4)


def test_one_event_id_at_two_places_is_a_duplicate() -> None:
    log = published_log()
    index = at(log, "s-1", 4)
    log[index] = rehash(dataclasses.replace(log[index], id=log[0].id))

    report = verify(log)

    assert any(
        b.kind is BreakKind.DUPLICATE and "several places" in b.detail for b in report.breaks
    )


def test_an_event_without_a_hash_is_a_break_unless_a_chained_copy_matches() -> None:
    log = published_log()
    legacy = [dataclasses.replace(e, hash=None, prev_hash=None, log_head=None) for e in log]

    assert verify(legacy + log).intact, "pre-chain copies of republished events are fine"

    tampered = dataclasses.replace(legacy[3], data={"n": 1, "approved": True})
    found = verify([tampered, *log]).first_break
    assert found is not None
    assert found.kind is BreakKind.HASH_MISMATCH
    assert "unchained copy" in found.detail

    found = verify(legacy).first_break
    assert found is not None
    assert found.kind is BreakKind.MISSING_HASH


def test_a_changed_log_head_is_found() -> None:
    log = published_log()
    log[5] = dataclasses.replace(log[5], log_head="cd" * 32)

    found = verify(log).first_break

    assert found is not None
    assert found.kind is BreakKind.MISSING_FROM_LOG
    assert found.position == log[5].position


def test_the_stream_chains_alone_can_be_checked() -> None:
    log = [dataclasses.replace(e, log_head=None) for e in published_log()]
    verifier = ChainVerifier(check_log=False)
    verifier.add_all(log)
    report = verifier.report()

    assert report.intact
    assert report.log_head is None
    assert report.as_dict()["intact"] is True
