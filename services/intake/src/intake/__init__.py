"""Gatehouse intake: demand capture, the project registry and its lifecycle."""
