"""Public events produced by the governance service on ``gatehouse.governance.events``.

The walking skeleton's governance service only consumes; its events arrive with the
governance capability.
"""

from __future__ import annotations

from gatehouse.events.base import EventRegistry

__all__ = ["SOURCE", "governance_events"]

SOURCE = "/gatehouse/governance"

governance_events = EventRegistry([])
