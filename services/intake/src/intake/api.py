"""Intake's HTTP routes: parse, build the command, call the handler, shape the response."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Request, Response, status

from gatehouse.auth import Role
from gatehouse.events.intake import intake_events
from gatehouse.events.types import Money
from gatehouse.runtime import ServiceRuntime
from gatehouse.unit_of_work import UnitOfWork, unit_of_work
from gatehouse.web import CurrentPrincipal, runtime_of
from intake import handlers
from intake.domain import RequestProject
from intake.handlers import VersionedProject
from intake.schemas import MoneyBody, ProjectRequestBody, ProjectView

__all__ = ["router"]

router = APIRouter(tags=["projects"])

Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]

PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    403: {"description": "The caller lacks the role"},
    422: {"description": "Invalid input, naming the field"},
}


@router.post("/projects", status_code=status.HTTP_201_CREATED, response_model=ProjectView,
             summary="Request a project (demand capture)", responses=PROBLEMS)
async def request_project(body: ProjectRequestBody, principal: CurrentPrincipal,
                          runtime: Runtime, request: Request, response: Response) -> ProjectView:
    principal.require(Role.REQUESTER, Role.PMO_ADMIN)
    command = RequestProject(
        project_id=uuid4(), title=body.title, description=body.description,
        sponsor=body.sponsor, business_unit=body.business_unit, project_type=body.project_type,
        estimated_cost=Money(body.estimated_cost.amount, body.estimated_cost.currency),
        requested_by=principal.subject)
    async with _unit_of_work(runtime, principal.subject) as uow:
        result = await handlers.request_project(command, uow)
    response.headers["Location"] = str(request.url_for("get_project",
                                                       project_id=result.project.id))
    response.headers["ETag"] = _etag(result.version)
    return _view(result)


@router.get("/projects/{project_id}", response_model=ProjectView, summary="A project",
            responses={**PROBLEMS, 404: {"description": "No such project"}})
async def get_project(project_id: UUID, principal: CurrentPrincipal, runtime: Runtime,
                      response: Response) -> ProjectView:
    async with _unit_of_work(runtime, principal.subject) as uow:
        result = await handlers.get_project(project_id, uow)
    response.headers["ETag"] = _etag(result.version)
    return _view(result)


def _unit_of_work(runtime: ServiceRuntime, actor: str) -> AbstractAsyncContextManager[UnitOfWork]:
    assert runtime.event_store is not None
    return unit_of_work(runtime.database, runtime.event_store, intake_events, actor=actor)


def _etag(version: int) -> str:
    return f'"{version}"'


def _view(result: VersionedProject) -> ProjectView:
    project = result.project
    return ProjectView(
        id=project.id, title=project.title, description=project.description,
        sponsor=project.sponsor, business_unit=project.business_unit,
        project_type=project.project_type,
        estimated_cost=MoneyBody(amount=project.estimated_cost.amount,
                                 currency=project.estimated_cost.currency),
        requested_by=project.requested_by, status=project.status.value, version=result.version)
