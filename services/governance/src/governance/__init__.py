"""Gatehouse governance: stage gates, approvals and decisions."""
