"""Decoding a Kafka record into an envelope: the CloudEvents binary mode's headers, read in one
pass, and the records that are not Gatehouse CloudEvents refused with the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from gatehouse.events.envelope import (
    EnvelopeDecodeError,
    EventEnvelope,
    from_kafka_record,
    to_kafka_record,
)


def envelope() -> EventEnvelope:
    return EventEnvelope(
        id=uuid4(),
        source="/gatehouse/intake",
        type="intake.ProjectRequested",
        time=datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC),
        subject="project-1",
        data={"project_id": "p-1", "title": "CRM"},
        stream_id="project-1",
        stream_version=3,
        position=42,
        correlation_id="corr",
        causation_id="cause",
        actor="alice",
        schema_version=2,
        hash="a" * 64,
        prev_hash="b" * 64,
        log_head="c" * 64,
    )


def test_an_envelope_comes_back_from_its_record_as_it_went() -> None:
    sent = envelope()
    record = to_kafka_record(sent)

    assert from_kafka_record(record.value, record.headers) == sent


def test_headers_this_version_does_not_read_and_headers_without_a_value_are_passed_over() -> None:
    sent = envelope()
    record = to_kafka_record(sent)
    headers = [
        ("ce_futureextension", b"x"),
        ("traceparent", b"00-ab"),
        *record.headers,
        ("ce_actor", None),
    ]

    decoded = from_kafka_record(record.value, headers)  # type: ignore[arg-type]

    assert decoded == sent


def test_the_first_content_type_counts_and_the_last_copy_of_an_attribute() -> None:
    record = to_kafka_record(envelope())
    headers = [
        ("content-type", b"application/json; charset=utf-8"),
        *record.headers,
        ("content-type", b"text/plain"),
        ("ce_actor", b"bob"),
    ]

    decoded = from_kafka_record(record.value, headers)

    assert decoded.datacontenttype == "application/json; charset=utf-8"
    assert decoded.actor == "bob"


def test_a_record_without_a_content_type_is_json() -> None:
    record = to_kafka_record(envelope())
    headers = [header for header in record.headers if header[0] != "content-type"]

    assert from_kafka_record(record.value, headers).datacontenttype == "application/json"


def test_a_record_missing_required_headers_is_refused_naming_them() -> None:
    record = to_kafka_record(envelope())
    headers = [header for header in record.headers if header[0] not in ("ce_streamid", "ce_time")]

    with pytest.raises(EnvelopeDecodeError, match="missing CloudEvents headers: time, streamid"):
        from_kafka_record(record.value, headers)


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("ce_specversion", b"0.3", "unsupported specversion '0.3'"),
        ("content-type", b"application/xml", "unsupported content-type 'application/xml'"),
        ("ce_streamversion", b"three", "invalid CloudEvent"),
        ("ce_time", b"2026-11-24T10:00:00", "event time must carry a UTC offset"),
    ],
)
def test_a_record_that_is_not_a_gatehouse_cloudevent_is_refused_with_the_reason(
    header: str, value: bytes, reason: str
) -> None:
    record = to_kafka_record(envelope())
    headers = [(name, value if name == header else raw) for name, raw in record.headers]

    with pytest.raises(EnvelopeDecodeError, match=reason):
        from_kafka_record(record.value, headers)


def test_data_that_is_not_a_json_object_is_refused() -> None:
    record = to_kafka_record(envelope())

    with pytest.raises(EnvelopeDecodeError, match="must be a JSON object"):
        from_kafka_record(b"[1, 2]", record.headers)
