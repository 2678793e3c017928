"""Public events produced by the intake service on ``gatehouse.intake.events``."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from gatehouse.events.base import DomainEvent, EventRegistry
from gatehouse.events.types import Money

__all__ = ["SOURCE", "ProjectRequested", "intake_events"]

SOURCE = "/gatehouse/intake"


@dataclass(frozen=True, kw_only=True)
class ProjectRequested(DomainEvent):
    """A project request (demand) was captured; the project starts in ``draft``."""

    event_type = "gatehouse.intake.ProjectRequested"

    project_id: UUID
    title: str
    description: str
    sponsor: str
    business_unit: str
    project_type: str
    estimated_cost: Money
    requested_by: str


intake_events = EventRegistry([ProjectRequested])
