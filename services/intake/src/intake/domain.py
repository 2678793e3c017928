"""The project aggregate: commands in, events out. Plain Python, no framework.

``decide(state, command)`` answers which events a command causes (or raises why not);
``evolve(state, event)`` folds one event into the state. Replaying a stream is a fold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from gatehouse.errors import Conflict
from gatehouse.events.base import DomainEvent
from gatehouse.events.intake import ProjectRequested
from gatehouse.events.types import Money

__all__ = [
    "DemandStatus",
    "Project",
    "ProjectAlreadyExists",
    "RequestProject",
    "decide",
    "evolve",
    "replay",
    "stream_id",
]


class DemandStatus(StrEnum):
    DRAFT = "draft"


@dataclass(frozen=True, kw_only=True)
class RequestProject:
    """Capture a new project request."""

    project_id: UUID
    title: str
    description: str
    sponsor: str
    business_unit: str
    project_type: str
    estimated_cost: Money
    requested_by: str


Command = RequestProject


@dataclass(frozen=True, kw_only=True)
class Project:
    id: UUID
    title: str
    description: str
    sponsor: str
    business_unit: str
    project_type: str
    estimated_cost: Money
    requested_by: str
    status: DemandStatus


class ProjectAlreadyExists(Conflict):
    slug = "project-exists"


def stream_id(project_id: UUID) -> str:
    return f"project-{project_id}"


def decide(state: Project | None, command: Command) -> list[DomainEvent]:
    match command:
        case RequestProject():
            if state is not None:
                raise ProjectAlreadyExists(f"project {command.project_id} already exists")
            return [ProjectRequested(
                project_id=command.project_id, title=command.title,
                description=command.description, sponsor=command.sponsor,
                business_unit=command.business_unit, project_type=command.project_type,
                estimated_cost=command.estimated_cost, requested_by=command.requested_by)]


def evolve(state: Project | None, event: DomainEvent) -> Project | None:
    match event:
        case ProjectRequested():
            return Project(
                id=event.project_id, title=event.title, description=event.description,
                sponsor=event.sponsor, business_unit=event.business_unit,
                project_type=event.project_type, estimated_cost=event.estimated_cost,
                requested_by=event.requested_by, status=DemandStatus.DRAFT)
        case _:
            return state


def replay(events: Iterable[DomainEvent]) -> Project | None:
    state: Project | None = None
    for event in events:
        state = evolve(state, event)
    return state
