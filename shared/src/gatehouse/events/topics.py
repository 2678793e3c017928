"""Kafka topic names. A namespace prefix keeps test runs (and tenants) apart."""

from __future__ import annotations

__all__ = ["dead_letter_topic", "governance_events_topic", "intake_events_topic"]


def intake_events_topic(namespace: str = "") -> str:
    return f"{namespace}gatehouse.intake.events"


def governance_events_topic(namespace: str = "") -> str:
    return f"{namespace}gatehouse.governance.events"


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"
