"""Governance's HTTP routes."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends

from gatehouse.auth import Role
from gatehouse.errors import NotFound
from gatehouse.runtime import ServiceRuntime
from gatehouse.web import CurrentPrincipal, runtime_of
from governance import queries
from governance.schemas import KnownProjectView

__all__ = ["router"]

router = APIRouter(tags=["projects"])

Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]


@router.get("/projects/{project_id}", response_model=KnownProjectView,
            summary="A project as governance knows it (from intake's events)",
            responses={401: {"description": "Missing or invalid bearer token"},
                       403: {"description": "The caller lacks the role"},
                       404: {"description": "Governance has not seen this project"}})
async def get_known_project(project_id: UUID, principal: CurrentPrincipal,
                            runtime: Runtime) -> KnownProjectView:
    principal.require(Role.PMO_ADMIN, Role.APPROVER, Role.REQUESTER, Role.AUDITOR)
    async with runtime.database.engine.connect() as connection:
        project = await queries.known_project(connection, project_id)
    if project is None:
        raise NotFound(f"governance has not seen project {project_id}")
    return KnownProjectView(id=project.id, title=project.title, sponsor=project.sponsor,
                            requested_by=project.requested_by,
                            business_unit=project.business_unit,
                            project_type=project.project_type, status=project.status)
