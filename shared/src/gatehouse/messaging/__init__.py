"""Kafka plumbing: the outbox relay, the tracking consumer and topic administration."""
