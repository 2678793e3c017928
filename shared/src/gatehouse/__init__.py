"""Gatehouse common library: events, event store, messaging, settings, auth and web plumbing."""
