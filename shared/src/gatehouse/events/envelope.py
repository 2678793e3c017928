"""The event envelope: CloudEvents 1.0 attributes plus Gatehouse's extensions.

On Kafka an envelope travels in the CloudEvents Kafka protocol binding, binary content mode:
the data is the record value (JSON), every attribute is a ``ce_<name>`` header, the content
type is the ``content-type`` header, and the record key is the stream id so that all events
of one aggregate land on one partition in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pydantic_core

__all__ = [
    "CLOUDEVENTS_SPEC_VERSION",
    "JSON_CONTENT_TYPE",
    "EnvelopeDecodeError",
    "EventEnvelope",
    "KafkaRecord",
    "from_kafka_record",
    "to_kafka_record",
]

CLOUDEVENTS_SPEC_VERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"

Headers = Sequence[tuple[str, bytes]]


class EnvelopeDecodeError(ValueError):
    """A Kafka record is not a valid Gatehouse CloudEvent."""


@dataclass(frozen=True, kw_only=True)
class EventEnvelope:
    """One recorded event, as stored and as published.

    ``position`` is the event's place in its producing service's global feed; it is ``None``
    only for an envelope that has not been stored yet. ``hash`` and ``prev_hash`` chain the
    events of a stream, ``log_head`` is the running head of the producer's published log (see
    :mod:`gatehouse.eventstore.chain`); the relay sets ``log_head`` when it publishes.
    """

    id: UUID = field(default_factory=uuid4)
    source: str
    type: str
    time: datetime
    subject: str
    data: Mapping[str, Any]
    stream_id: str
    stream_version: int
    position: int | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    actor: str | None = None
    schema_version: int = 1
    hash: str | None = None
    prev_hash: str | None = None
    log_head: str | None = None
    specversion: str = CLOUDEVENTS_SPEC_VERSION
    datacontenttype: str = JSON_CONTENT_TYPE

    def to_cloudevent(self) -> dict[str, Any]:
        """The structured (JSON) CloudEvents form, e.g. for HTTP or an audit export."""
        event: dict[str, Any] = {
            "specversion": self.specversion,
            "id": str(self.id),
            "source": self.source,
            "type": self.type,
            "time": _format_time(self.time),
            "subject": self.subject,
            "datacontenttype": self.datacontenttype,
            "data": dict(self.data),
        }
        event.update(dict(self._extensions().items()))
        return event

    def _extensions(self) -> dict[str, str | int]:
        extensions: dict[str, str | int] = {
            "streamid": self.stream_id,
            "streamversion": self.stream_version,
            "schemaversion": self.schema_version,
        }
        optional: dict[str, str | int | None] = {
            "position": self.position,
            "correlationid": self.correlation_id,
            "causationid": self.causation_id,
            "actor": self.actor,
            "gatehousehash": self.hash,
            "gatehouseprevhash": self.prev_hash,
            "gatehouseloghead": self.log_head,
        }
        extensions.update({k: v for k, v in optional.items() if v is not None})
        return extensions


@dataclass(frozen=True)
class KafkaRecord:
    """What goes onto (or comes off) a Kafka topic for one envelope."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


_REQUIRED_HEADERS = (
    "id",
    "source",
    "type",
    "specversion",
    "time",
    "subject",
    "streamid",
    "streamversion",
)
_CONTENT_TYPE = "content-type"
# The headers a decoder reads, and the attribute each carries.
_ATTRIBUTE_OF_HEADER = {
    **{
        f"ce_{name}": name
        for name in (
            *_REQUIRED_HEADERS,
            "position",
            "correlationid",
            "causationid",
            "actor",
            "schemaversion",
            "gatehousehash",
            "gatehouseprevhash",
            "gatehouseloghead",
        )
    },
    _CONTENT_TYPE: _CONTENT_TYPE,
}


def to_kafka_record(envelope: EventEnvelope) -> KafkaRecord:
    """Encode an envelope in the CloudEvents Kafka binding, binary content mode."""
    attributes: dict[str, str | int] = {
        "specversion": envelope.specversion,
        "id": str(envelope.id),
        "source": envelope.source,
        "type": envelope.type,
        "time": _format_time(envelope.time),
        "subject": envelope.subject,
    }
    attributes.update(envelope._extensions())
    headers = [(f"ce_{name}", str(value).encode()) for name, value in attributes.items()]
    headers.append(("content-type", envelope.datacontenttype.encode()))
    value = pydantic_core.to_json(envelope.data)
    return KafkaRecord(key=envelope.stream_id.encode(), value=value, headers=headers)


def from_kafka_record(value: bytes | None, headers: Headers) -> EventEnvelope:
    """Decode a binary-mode CloudEvent; raises :class:`EnvelopeDecodeError` when it is not one."""
    attributes: dict[str, str] = {}
    for name, raw in headers:  # one pass, one lookup a header: a consumer reads every record
        attribute = _ATTRIBUTE_OF_HEADER.get(name)
        if attribute is None or raw is None:
            continue  # an extension this version does not read, or no value
        if attribute == _CONTENT_TYPE and attribute in attributes:
            continue  # the first content type counts; for the others, the last header
        attributes[attribute] = raw.decode()
    content_type = attributes.get(_CONTENT_TYPE)
    missing = [name for name in _REQUIRED_HEADERS if name not in attributes]
    if missing:
        raise EnvelopeDecodeError(f"missing CloudEvents headers: {', '.join(missing)}")
    if attributes["specversion"] != CLOUDEVENTS_SPEC_VERSION:
        raise EnvelopeDecodeError(f"unsupported specversion {attributes['specversion']!r}")
    if content_type is None:
        content_type = JSON_CONTENT_TYPE
    if not content_type.startswith(JSON_CONTENT_TYPE):
        raise EnvelopeDecodeError(f"unsupported content-type {content_type!r}")
    try:
        data = pydantic_core.from_json(value or b"null")
        envelope = EventEnvelope(
            id=UUID(attributes["id"]),
            source=attributes["source"],
            type=attributes["type"],
            time=datetime.fromisoformat(attributes["time"]),
            subject=attributes["subject"],
            data=data,
            stream_id=attributes["streamid"],
            stream_version=int(attributes["streamversion"]),
            position=int(attributes["position"]) if "position" in attributes else None,
            correlation_id=attributes.get("correlationid"),
            causation_id=attributes.get("causationid"),
            actor=attributes.get("actor"),
            schema_version=int(attributes.get("schemaversion", "1")),
            hash=attributes.get("gatehousehash"),
            prev_hash=attributes.get("gatehouseprevhash"),
            log_head=attributes.get("gatehouseloghead"),
            datacontenttype=content_type,
        )
    except (ValueError, TypeError) as error:
        raise EnvelopeDecodeError(f"invalid CloudEvent: {error}") from error
    if not isinstance(envelope.data, dict):
        raise EnvelopeDecodeError("event data must be a JSON object")
    if envelope.time.tzinfo is None:
        raise EnvelopeDecodeError("event time must carry a UTC offset")
    return envelope


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
