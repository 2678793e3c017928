"""The AsyncAPI document is generated from the event classes, so it describes what is sent:
every event type has a message on its producer's channel and on the live stream, and every
event the code can produce validates against its message's payload schema."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from gatehouse.asyncapi import asyncapi_document, message_name
from gatehouse.events.base import DomainEvent, EventRegistry
from gatehouse.events.governance import governance_events
from gatehouse.events.intake import intake_events

DOCUMENT = asyncapi_document()
EVERY_EVENT = [
    (registry, registry.class_for(event_type))
    for registry in (intake_events, governance_events)
    for event_type in registry.event_types
]


def validator_for(name: str) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(
        "urn:gatehouse:asyncapi", DRAFT202012.create_resource(DOCUMENT)
    )
    return Draft202012Validator(
        {"$ref": f"urn:gatehouse:asyncapi#/components/schemas/{name}"}, registry=registry
    )


def test_the_document_is_asyncapi_3_with_a_channel_per_topic_and_the_live_stream() -> None:
    assert DOCUMENT["asyncapi"] == "3.0.0"
    assert {channel["address"] for channel in DOCUMENT["channels"].values()} == {
        "gatehouse.intake.events",
        "gatehouse.governance.events",
        "/v1/events/stream",
    }
    for operation in DOCUMENT["operations"].values():
        assert operation["channel"]["$ref"].removeprefix("#/channels/") in DOCUMENT["channels"]


@pytest.mark.parametrize(
    ("registry", "event_class"), EVERY_EVENT, ids=[cls.event_type for _, cls in EVERY_EVENT]
)
def test_every_event_type_has_its_message(
    registry: EventRegistry, event_class: type[DomainEvent]
) -> None:
    name = message_name(event_class)
    channel = "intakeEvents" if registry is intake_events else "governanceEvents"
    message = DOCUMENT["components"]["messages"][name]
    assert message["title"] == event_class.event_type
    assert message["payload"] == {"$ref": f"#/components/schemas/{name}"}
    assert name in DOCUMENT["channels"][channel]["messages"]
    assert name in DOCUMENT["channels"]["liveEvents"]["messages"]
    assert message["summary"]


@pytest.mark.parametrize(
    ("registry", "event_class"), EVERY_EVENT, ids=[cls.event_type for _, cls in EVERY_EVENT]
)
def test_what_the_code_sends_validates_against_the_document(
    registry: EventRegistry, event_class: type[DomainEvent]
) -> None:
    validator = validator_for(message_name(event_class))

    @settings(
        max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(st.from_type(event_class))
    def check(event: DomainEvent) -> None:
        data = registry.serialize(event)
        errors = [error.message for error in validator.iter_errors(data)]
        assert errors == []

    check()


def test_a_payload_missing_a_required_field_does_not_validate() -> None:
    validator = validator_for("ProjectRequested")
    assert not validator.is_valid({"title": "no id, no sponsor"})
