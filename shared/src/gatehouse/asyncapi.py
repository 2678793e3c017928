"""The event contract as an AsyncAPI 3.0 document, generated from the event classes themselves.

Channels: each producing service's Kafka topic (binary CloudEvents: the data is the record
value, the attributes ``ce_*`` headers, the key the stream id) and reporting's live stream
(Server-Sent Events). Every message's payload schema is the JSON schema of its event class, so
the document cannot drift from what the code sends. Every service serves it at
``/asyncapi.json``.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from pydantic import TypeAdapter

from gatehouse.events.base import DomainEvent, EventRegistry
from gatehouse.events.governance import governance_events
from gatehouse.events.intake import intake_events
from gatehouse.events.topics import governance_events_topic, intake_events_topic

__all__ = ["asyncapi_document", "message_name"]

REF = "#/components/schemas/{model}"

CLOUDEVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes in the Kafka binary binding (ce_ headers)",
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "format": "uuid"},
        "ce_source": {"type": "string", "examples": ["/gatehouse/intake"]},
        "ce_type": {"type": "string", "description": "The message's event type"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "The stream id"},
        "ce_streamid": {"type": "string", "description": "The aggregate's stream"},
        "ce_streamversion": {"type": "string", "description": "Version in the stream"},
        "ce_schemaversion": {"type": "string"},
        "ce_position": {"type": "string", "description": "Place in the producer's log"},
        "ce_correlationid": {"type": "string"},
        "ce_causationid": {"type": "string"},
        "ce_actor": {"type": "string"},
        "ce_gatehousehash": {
            "type": "string",
            "description": "SHA-256 of the event's canonical encoding",
        },
        "ce_gatehouseprevhash": {
            "type": "string",
            "description": "The previous event's hash in the stream (64 zeros for the first)",
        },
        "ce_gatehouseloghead": {
            "type": "string",
            "description": "The producer log's running chain head after this event",
        },
        "content-type": {"type": "string", "const": "application/json"},
    },
    "required": [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "ce_subject",
        "ce_streamid",
        "ce_streamversion",
    ],
}

PRODUCERS: tuple[tuple[str, str, str, EventRegistry], ...] = (
    (
        "intakeEvents",
        intake_events_topic(),
        "Everything intake decides: requests, the lifecycle, scores, status and RAID",
        intake_events,
    ),
    (
        "governanceEvents",
        governance_events_topic(),
        "Everything governance decides: gate "
        "templates, reviews, votes, outcomes, conditions, delegations",
        governance_events,
    ),
)


def message_name(event_class: type[DomainEvent]) -> str:
    return event_class.event_type.rsplit(".", 1)[-1]


@functools.cache
def asyncapi_document(version: str = "0.1.0") -> dict[str, Any]:
    """The document (built once; treat it as read-only)."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    every_message: dict[str, Any] = {}
    for channel, topic, description, registry in PRODUCERS:
        channel_messages: dict[str, Any] = {}
        for event_type in registry.event_types:
            event_class = registry.class_for(event_type)
            name = message_name(event_class)
            schema = TypeAdapter(event_class).json_schema(ref_template=REF)
            schemas.update(schema.pop("$defs", {}))
            schemas[name] = schema
            messages[name] = {
                "name": name,
                "title": event_type,
                "summary": _summary(event_class),
                "contentType": "application/json",
                "headers": CLOUDEVENT_HEADERS,
                "payload": {"$ref": REF.format(model=name)},
                "bindings": {"kafka": {"key": {"type": "string", "description": "The stream id"}}},
                "x-schema-version": event_class.schema_version,
            }
            channel_messages[name] = {"$ref": f"#/components/messages/{name}"}
        every_message.update(channel_messages)
        channels[channel] = {
            "address": topic,
            "description": description + ". The record key is the stream "
            "id, so one aggregate's events stay in order on one partition. Topic names take "
            "the deployment's namespace prefix.",
            "messages": channel_messages,
            "bindings": {"kafka": {"topic": topic}},
        }
        operations[f"publish{channel[0].upper()}{channel[1:]}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"The {channel.removesuffix('Events')} service's outbox relay "
            "publishes each stored event once it is committed",
        }
    channels["liveEvents"] = {
        "address": "/v1/events/stream",
        "description": "reporting's Server-Sent Events: every consumed event (filters `type`, "
        "`project_id`) as far as the caller's roles may read it (whole, some of its fields or "
        "not at all; see docs/SECURITY.md), `id` = place in reporting's log (resume with "
        "Last-Event-ID), "
        "`event` = the message name, `data` = {seq, event_id, type, source, time, actor, "
        "project_id, stream_id, stream_version, data (the payload)}; heartbeat comments "
        "when idle. Needs a bearer token.",
        "messages": every_message,
        "bindings": {"http": {"method": "GET"}},
    }
    operations["receiveLiveEvents"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/liveEvents"},
        "summary": "Dashboards follow the system live",
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Gatehouse events",
            "version": version,
            "description": "The events every Gatehouse service publishes, as the code "
            "defines them.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _summary(event_class: type[DomainEvent]) -> str:
    doc = inspect.getdoc(event_class) or ""
    if doc.startswith(f"{event_class.__name__}("):
        return event_class.event_type  # the dataclass's generated signature, not prose
    return " ".join(doc.split("\n\n", 1)[0].split())
