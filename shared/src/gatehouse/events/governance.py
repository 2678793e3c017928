"""Public events produced by the governance service on ``gatehouse.governance.events``.

``GateDecided`` is the one other services act on: intake moves a project on a gate's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from gatehouse.events.base import DomainEvent, EventRegistry

__all__ = ["SOURCE", "GateDecided", "GateOutcome", "governance_events"]

SOURCE = "/gatehouse/governance"

GateOutcome = Literal["go", "conditional_go", "hold", "recycle", "kill"]


@dataclass(frozen=True, kw_only=True)
class GateDecided(DomainEvent):
    """A gate review closed with an outcome.

    Intake moves the project on ``go`` and ``conditional_go``, defers or pauses it on
    ``hold``, sends it back for rework on ``recycle`` and ends it on ``kill``.
    """

    event_type = "gatehouse.governance.GateDecided"

    review_id: UUID
    project_id: UUID
    gate: str
    outcome: GateOutcome
    template_version: int = 1
    rationale: str = ""
    decided_by: tuple[str, ...] = ()


governance_events = EventRegistry([GateDecided])
