"""Verification in reporting: events published before the hash chain existed are republished
with it when a service upgrades; reporting keeps the chained copy's hashes, so its
verification then covers them, and a chain that holds reads as intact."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gatehouse.events.envelope import EventEnvelope
from gatehouse.eventstore.chain import GENESIS_HASH, envelope_hash, next_log_head

from .conftest import Producers, Reporting

pytestmark = pytest.mark.kafka

T0 = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


def chained(copies: list[tuple[str, EventEnvelope]]) -> list[tuple[str, EventEnvelope]]:
    """The copies a service republishes after its upgrade: hashes, positions and log heads."""
    result = []
    previous_in_stream: dict[str, str] = {}
    head = GENESIS_HASH
    for position, (topic, envelope) in enumerate(copies, start=1):
        prev_hash = previous_in_stream.get(envelope.stream_id, GENESIS_HASH)
        digest = envelope_hash(envelope, prev_hash)
        head = next_log_head(head, digest)
        previous_in_stream[envelope.stream_id] = digest
        result.append(
            (
                topic,
                replace(
                    envelope, position=position, prev_hash=prev_hash, hash=digest, log_head=head
                ),
            )
        )
    return result


async def test_chained_copies_of_legacy_events_make_them_verifiable(
    producers: Producers, reporting: Reporting
) -> None:
    first = await producers.request(T0, title="ERP")
    await producers.submit(first, T0)
    second = await producers.request(T0, title="CRM")
    await reporting.caught_up()

    legacy = await reporting.get("/v1/audit/verify", headers=reporting.auditor)
    assert legacy["intact"] is False
    assert legacy["first_break"]["kind"] == "missing_hash"

    await producers.redeliver(chained(producers.published))
    await reporting.caught_up()

    verified = await reporting.get("/v1/audit/verify", headers=reporting.auditor)
    assert verified["intact"] is True, verified["first_break"]
    assert verified["events_checked"] == 3
    assert verified["streams_checked"] == 2
    (source,) = verified["sources"]
    assert source["log_checked"] is True
    assert source["log_head"] is not None
    assert second != first
