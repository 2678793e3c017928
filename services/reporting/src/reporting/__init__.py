"""Gatehouse reporting: read models projected from every service's events."""
