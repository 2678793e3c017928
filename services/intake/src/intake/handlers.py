"""Command handlers: load the aggregate, decide, append. They never commit."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from gatehouse.errors import NotFound
from gatehouse.unit_of_work import UnitOfWork
from intake import domain
from intake.domain import Project, RequestProject

__all__ = ["VersionedProject", "get_project", "request_project"]


@dataclass(frozen=True)
class VersionedProject:
    project: Project
    version: int


async def request_project(command: RequestProject, uow: UnitOfWork) -> VersionedProject:
    return await _execute(uow, command.project_id, command)


async def get_project(project_id: UUID, uow: UnitOfWork) -> VersionedProject:
    state, version = await _load(uow, project_id)
    if state is None:
        raise NotFound(f"no project {project_id}")
    return VersionedProject(state, version)


async def _load(uow: UnitOfWork, project_id: UUID) -> tuple[Project | None, int]:
    history = await uow.load(domain.stream_id(project_id))
    state = domain.replay(event for event, _ in history)
    version = history[-1][1].stream_version if history else 0
    return state, version


async def _execute(uow: UnitOfWork, project_id: UUID, command: domain.Command
                   ) -> VersionedProject:
    state, version = await _load(uow, project_id)
    new_events = domain.decide(state, command)
    await uow.append(domain.stream_id(project_id), new_events, expected_version=version)
    for event in new_events:
        state = domain.evolve(state, event)
    assert state is not None
    return VersionedProject(state, version + len(new_events))
